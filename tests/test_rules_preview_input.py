"""What `reveni-khaos rules preview --input` reads: returns, or the tap's Singer lines; a
line of any other shape is refused naming the file and line, never a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from target_khaos_control.operations.rules_commands import read_returns


def test_returns_and_singer_records_are_read_and_other_messages_passed_over(tmp_path: Path) -> None:
    given = tmp_path / "returns.jsonl"
    given.write_text(
        '{"id": "ret-1", "return_items": []}\n'
        '{"type": "SCHEMA", "stream": "returns"}\n'
        '{"type": "RECORD", "stream": "returns", "record": {"id": "ret-2"}}\n'
    )

    assert read_returns(str(given)) == [{"id": "ret-1", "return_items": []}, {"id": "ret-2"}]


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ('["ret-1"]', "returns.jsonl:2: not a return or a Singer message: a JSON object is expected"),
        ('{"type": "RECORD", "record": "ret-1"}', "returns.jsonl:2: a RECORD whose `record` is not a JSON object"),
    ],
)
def test_a_line_that_is_no_json_object_is_refused_with_its_file_and_line(tmp_path: Path, line: str, said: str) -> None:
    given = tmp_path / "returns.jsonl"
    given.write_text('{"id": "ret-1", "return_items": []}\n' + line + "\n")

    with pytest.raises(ValueError, match=re.escape(said) + "$"):
        read_returns(str(given))
