"""The bench's own measuring: percentiles, medians, the CPU of a child, and the matched no-op."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from reveni_khaos_sandbox.reveni_data import ReturnGenerator
from singer_sdk.target_base import Target
from tap_reveni.schemas import RETURN
from target_khaos_control.store import documents, open_store

from bench import channel_drain
from bench.matched_noop_target import MatchedNoopTarget
from bench.measure import Run, against, median_run, percentile, run_child
from tests.servers import PG_BIN, PostgresServer

BENCH = Path(__file__).resolve().parent.parent / "bench"
# A child that spends 0.3 s of its own CPU, whatever the machine is doing.
BURN = "import time\nwhile time.process_time() < 0.3:\n    pass\n"


def test_percentiles_are_nearest_rank() -> None:
    # given pulls of 1, 2, ... 100 ms, in any order
    times = [n / 1000 for n in range(100, 0, -1)]
    # expect the 50th, 95th and 99th of them
    assert percentile(times, 50) == 0.050
    assert percentile(times, 95) == 0.095
    assert percentile(times, 99) == 0.099
    # given only 6 pulls, p95 and p99 are the slowest one (no interpolation past it)
    assert percentile([0.004, 0.001, 0.038, 0.002, 0.003, 0.005], 95) == 0.038
    assert percentile([0.004, 0.001, 0.038, 0.002, 0.003, 0.005], 50) == 0.003


def test_no_pulls_have_no_percentile() -> None:
    with pytest.raises(ValueError, match="no times"):
        percentile([], 95)


def test_the_median_of_three_runs_is_taken_figure_by_figure() -> None:
    runs = [Run(3.0, 1.0, 90.0), Run(1.0, 2.5, 95.0), Run(2.0, 1.5, 80.0)]
    assert median_run(runs) == Run(2.0, 1.5, 90.0)


def test_a_figure_is_printed_beside_its_goal() -> None:
    assert against(13.25, 12, " s") == "13.25 s (goal <= 12 s: NOT met)"
    assert against(0.84, 3, "x", at_most=False) == "0.84x (goal >= 3x: NOT met)"
    assert against(2.0, 3, "x") == "2.00x (goal <= 3x: met)"


def test_a_child_process_cpu_is_counted_with_the_processes_it_waits_for() -> None:
    # given a child that spends 0.3 s of CPU itself
    alone = run_child([sys.executable, "-c", BURN])
    # and one that only waits while its own child spends 0.3 s (as Meltano waits for its plugins)
    spawner = f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {BURN!r}], check=True)\n"
    waiting = run_child([sys.executable, "-c", spawner])
    # expect both counted at no less than what was spent
    assert alone.cpu >= 0.3
    assert waiting.cpu >= 0.3


def test_a_failing_child_stops_the_bench_saying_why() -> None:
    said = "import sys\nprint('no store here', file=sys.stderr)\nsys.exit(3)\n"
    with pytest.raises(SystemExit, match=r"failed with exit 3:\nno store here"):
        run_child([sys.executable, "-c", said])


def test_the_matched_no_op_checks_every_record_fully(tmp_path: Path) -> None:
    # given a good return and one whose currency is a number (a break of the tap's schema
    # that singer-sdk validation off would let through unchecked)
    good = ReturnGenerator(seed=7, count=2).build(0)
    broken = {**ReturnGenerator(seed=7, count=2).build(1), "currency": 978}
    lines = [
        {"type": "SCHEMA", "stream": "returns", "schema": RETURN, "key_properties": ["id"]},
        {"type": "RECORD", "stream": "returns", "record": good},
        {"type": "RECORD", "stream": "returns", "record": broken},
    ]
    singer = tmp_path / "returns.singer"
    singer.write_text("".join(json.dumps(line) + "\n" for line in lines))
    log = tmp_path / "stderr"
    with singer.open("rb") as stdin, log.open("wb") as stderr:
        subprocess.run([sys.executable, str(BENCH / "matched_noop_target.py")], stdin=stdin, stderr=stderr, check=True)
    # expect the broken one, and only it, found by the target's own full check
    assert "checked records: 1 broke the contract" in log.read_text()


def test_the_matched_no_op_takes_the_targets_plain_way_to_its_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given tap-reveni's records, expect the matched no-op to hand each to its sink by the
    target's plain path (`PlainRecordsTarget`), never singer-sdk's: its plumbing matches the target's."""
    sdk_path_taken: list[str] = []
    monkeypatch.setattr(Target, "_process_record_message", lambda _, message: sdk_path_taken.append(message["stream"]))
    returns = [ReturnGenerator(seed=7, count=3).build(n) for n in range(3)]
    lines = [
        {"type": "SCHEMA", "stream": "returns", "schema": RETURN, "key_properties": ["id"]},
        *({"type": "RECORD", "stream": "returns", "record": record} for record in returns),
    ]
    noop = MatchedNoopTarget(config={})

    noop.listen(io.StringIO("".join(json.dumps(line) + "\n" for line in lines)))

    assert sdk_path_taken == []
    assert noop._sinks_active["returns"]._total_records_read == 3


@pytest.mark.skipif(not (PG_BIN / "initdb").exists(), reason="no PostgreSQL server binaries")
def test_the_drain_bench_builds_its_feed_on_postgres_with_the_stores_columns_as_they_are(
    postgres: PostgresServer,
) -> None:
    # given the store as the migrations make it today (columns the bench does not fill included)
    engine = open_store(postgres.new_database())
    # when the drain bench builds its feed with COPY
    channel_drain.build(engine, 3)
    with engine.connect() as conn:
        built = conn.execute(
            sa.select(documents.c.associated_ref, documents.c.feed_position, documents.c.state).order_by(
                documents.c.feed_position
            )
        ).all()
    engine.dispose()
    # expect three published documents, in feed order
    assert [tuple(row) for row in built] == [
        ("RV-ret00000001", 1, "published"),
        ("RV-ret00000002", 2, "published"),
        ("RV-ret00000003", 3, "published"),
    ]


def test_the_drain_reads_its_documents_as_khaos_defines_them() -> None:
    # given an answer of the drain bench's feed, two documents, as the channel splices it
    answer = '{"Returns":[' + channel_drain.body(1) + "," + channel_drain.body(2) + "],"
    answer += '"ApiVersion":1000,"Config":{"MatchAddressOn":["Postcode"],"MatchContactOn":["Email"]}}'

    # when Khaos's side of the bench reads it
    read = channel_drain.READ.decode(answer.encode())

    # expect each document read whole into Khaos's definition, its prices as the rules write them
    assert [r.AssociatedRef for r in read.Returns] == ["RV-ret00000001", "RV-ret00000002"]
    items = read.Returns[0].ReturnedItems
    assert [(i.SKU, i.Quantity, i.UnitPrice and i.UnitPrice.Gross) for i in items] == [
        ("SKU-00001", 1, Decimal("24.99")),
        ("SKU-00001", 1, Decimal("24.99")),
    ]
