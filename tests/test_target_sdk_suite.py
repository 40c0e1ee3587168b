"""singer-sdk's own standard target tests, the subset that applies to a target that loads
one stream (`returns`), plus that stream through the SDK's runner.

The SDK's other standard tests feed streams of their own (`camelcase`, `array_data`, ...)
which this target refuses by design: it loads tap-reveni's returns and nothing else.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import sqlalchemy as sa
from singer_sdk.testing import get_target_test_class
from singer_sdk.testing.suites import SingerTestSuite
from singer_sdk.testing.target_tests import TargetCliPrintsTest, TargetRecordBeforeSchemaTest
from singer_sdk.testing.templates import TargetFileTestTemplate
from target_khaos_control.target import TargetKhaosControl

from tests.servers import DEMO_RULES

STORE = Path(tempfile.mkdtemp(prefix="sdk-target-")) / "store.db"
CONFIG = {
    "database_url": f"sqlite:///{STORE}",
    "rules_path": str(DEMO_RULES),
    "channel_username": "khaos",
    "channel_password": "sdk-suite-password",
    "public_url": "http://127.0.0.1:8803",
    "exceptions_path": str(STORE.parent / "exceptions"),
}


class TargetLoadsReveniReturns(TargetFileTestTemplate):
    """Two of tap-reveni's returns through the SDK's runner become two Khaos documents,
    and the STATE that covers them is passed on."""

    name = "loads_reveni_returns"

    @property
    def singer_filepath(self) -> Path:
        return Path(__file__).parent / "fixtures" / "returns.singer"

    def validate(self) -> None:
        with sa.create_engine(CONFIG["database_url"]).connect() as conn:
            refs = set(conn.execute(sa.text("select associated_ref from documents")).scalars())
        assert refs == {"RV-sdk-1", "RV-sdk-2"}
        last = self.runner.state_messages[-1]
        state = json.loads(last) if isinstance(last, str) else last
        assert state["bookmarks"]["returns"]["replication_key_value"] == "2026-11-20T10:00:00Z"


TestTargetKhaosControl = get_target_test_class(
    TargetKhaosControl,
    config=CONFIG,
    include_target_tests=False,
    custom_suites=[
        SingerTestSuite(
            kind="target",
            tests=[TargetCliPrintsTest, TargetRecordBeforeSchemaTest, TargetLoadsReveniReturns],
        )
    ],
)
