"""A client's rule set written for one test, and what the loader says of it."""

from __future__ import annotations

from pathlib import Path

import pytest
from target_khaos_control.rules import RuleSetError, load_ruleset


def write_rules(tmp_path: Path, text: str) -> Path:
    """`text` as the rules.yml of a client folder under `tmp_path`; the folder."""
    folder = tmp_path / "client"
    folder.mkdir(exist_ok=True)
    (folder / "rules.yml").write_text(text)
    return folder


def refusals(tmp_path: Path, text: str) -> list[str]:
    """Every error the loader gives for `text`, which must be refused."""
    with pytest.raises(RuleSetError) as refused:
        load_ruleset(write_rules(tmp_path, text))
    return refused.value.errors
