"""A replay of any size never blocks the channel: its rules run outside any transaction
and it writes a chunk of returns per short transaction, so Khaos's pulls go on between
chunks and see each chunk's documents as soon as it is written (issue 18, item 10)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from target_khaos_control.channel import feed
from target_khaos_control.operations import commands
from target_khaos_control.rules.engine import RuleSet
from target_khaos_control.store import now, open_store

from tests.in_process import TargetCommand
from tests.servers import DEMO_RULES, target_config
from tests.test_target_khaos_control import _a_return, _records


def test_a_replay_writes_in_short_transactions_and_pulls_go_on_between_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target_here: TargetCommand
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(DEMO_RULES, rules)
    config = target_config(tmp_path, rules_path=str(rules))
    unknown = [
        {**_a_return("accepted", refunded=True, reason="colour_not_as_pictured"), "id": f"ret-{n}"} for n in range(5)
    ]
    assert target_here(tmp_path, config, _records(*unknown)).returncode == 0
    text = (rules / "rules.yml").read_text()
    (rules / "rules.yml").write_text(
        text.replace("  - reason: wrong_item\n", "  - reason: [wrong_item, colour_not_as_pictured]\n")
    )
    engine = open_store(config["database_url"])
    commits: list[int] = []
    sa.event.listen(engine, "commit", lambda conn: commits.append(1))
    seen_mid_replay: list[list[str]] = []
    draft = RuleSet.draft

    def draft_and_pull(self: RuleSet, record: dict[str, Any], catalogue: Any = None) -> Any:
        if record["id"] == "ret-4":  # the last chunk: Khaos pulls while it is worked out
            with engine.begin() as conn:
                seen_mid_replay.append(feed.next_batch(conn, "2026-11-26 14:00:00Z", 100, "JSON", now()).refs)
        return draft(self, record, catalogue)

    monkeypatch.setattr(commands, "REPLAY_CHUNK", 2, raising=False)
    monkeypatch.setattr(RuleSet, "draft", draft_and_pull)
    out = io.StringIO()

    assert commands.replay(engine, str(rules), ids=[], kinds=["unknown_reason"], owners=[], out=out) == 0

    with engine.connect() as conn:
        published = conn.execute(sa.text("select count(*) from documents where feed_position is not null")).scalar()
        run = conn.execute(sa.text("select finished_at, counts from runs where kind = 'replay'")).one()
    assert "Replayed 5 returns" in out.getvalue()
    assert published == 5
    assert len(seen_mid_replay[0]) == 4, "the first two chunks were already Khaos's to pull"
    assert len(commits) >= 5, "one transaction to start the run, one per chunk of 2, one to finish it (and the pull)"
    assert run.finished_at is not None
    assert json.loads(run.counts)["returns"] == 5
