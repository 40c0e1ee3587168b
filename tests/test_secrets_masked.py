"""The password in `database_url` is never printed, whichever command shows the URL.

Given with the wrong type (a list or an object, as an environment variable holding JSON
makes it), the setting used to be printed whole by the target, `exceptions` and `serve`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from target_khaos_control.config_errors import without_passwords

from tests.servers import BIN, DEMO_RULES

PASSWORD = "S3cretPw-81"
URL = f"postgresql://khaos:{PASSWORD}@db.internal:5432/khaos"
COMMANDS = {
    "target": [str(BIN / "target-khaos-control"), "--config"],
    "exceptions": [str(BIN / "reveni-khaos"), "exceptions", "--config"],
    "serve": [str(BIN / "reveni-khaos"), "serve", "--port", "0", "--config"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_database_url_of_the_wrong_type_is_refused_without_its_password(tmp_path: Path, command: str) -> None:
    config = tmp_path / "config.json"
    settings = {
        "database_url": {"url": URL},
        "rules_path": str(DEMO_RULES),
        "channel_username": "u",
        "channel_password": "p",
    }
    config.write_text(json.dumps(settings))

    done = subprocess.run(
        [*COMMANDS[command], str(config)], input="", capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode != 0
    assert PASSWORD not in done.stdout + done.stderr
    assert "database_url" in done.stderr
    assert "Traceback" not in done.stderr


def test_every_url_in_a_message_is_shown_without_its_password() -> None:
    text = f"bad: ['{URL}'] and {{'u': 'https://user:p%40ss@host/x'}}, keep http://host:8803/khaos and a@b.c"

    assert without_passwords(text) == (
        "bad: ['postgresql://khaos:***@db.internal:5432/khaos'] and {'u': 'https://user:***@host/x'}, "
        "keep http://host:8803/khaos and a@b.c"
    )
