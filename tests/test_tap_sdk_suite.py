"""singer-sdk's own standard tap tests, run against the shared Reveni sandbox."""

from __future__ import annotations

import os

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class
from tap_reveni.tap import TapReveni

from tests.servers import SANDBOX_KEY, STORE_ID

# The suite reads the shared sandbox, started on first use.
pytestmark = pytest.mark.usefixtures("demo_sandbox")

TestTapReveni = get_tap_test_class(
    TapReveni,
    config={"api_url": os.environ["TEST_REVENI_SANDBOX_URL"], "api_key": SANDBOX_KEY, "store_id": STORE_ID},
    suite_config=SuiteConfig(max_records_limit=None),
)
