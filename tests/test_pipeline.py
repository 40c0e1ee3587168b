"""The whole path on one machine: Reveni sandbox -> tap-reveni -> target-khaos-control
-> store -> `reveni-khaos serve` <- Khaos Control sandbox polling, as Khaos does.

The tap, the target, the channel and Khaos's sandbox are processes; Reveni's sandbox is
served from the test's process, and the empty store is made in it too (no product code
is spared a process by that, only start-up time). Where what is tested is between Khaos
and the channel, the syncs before are given: the tap and target commands run in the
test's process (`pipeline_syncing_here`); the whole path is run by the first two tests."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from target_khaos_control.served_marks import settled_first

from tests.in_process import InProcessReveniSandbox, run_tap_here, run_target_here
from tests.servers import (
    ChannelServer,
    KhaosSandbox,
    ReveniSandbox,
    TapRun,
    TargetRun,
    run_tap,
    run_target,
    tap_output,
    target_config,
)


@dataclass
class Pipeline:
    reveni: ReveniSandbox
    khaos: KhaosSandbox
    channel: ChannelServer
    workdir: Path
    state: dict[str, Any] | None = None
    tap_command: Callable[..., TapRun] = run_tap
    target_command: Callable[..., TargetRun] = run_target

    def sync(self) -> TapRun:
        """One scheduled run: tap from the last bookmark into the target."""
        tap = self.tap_command(self.workdir, self.reveni.tap_config(), state=self.state)
        assert tap.returncode == 0, tap.stderr
        target = self.target_command(self.workdir, target_config(self.workdir), tap_output(tap))
        assert target.returncode == 0, target.stderr
        self.state = target.states[-1] if target.states else self.state
        return tap

    def documents(self) -> dict[str, str]:
        engine = sa.create_engine(f"sqlite:///{self.workdir / 'store.db'}")
        settled_first(engine)  # as every reader of states: the pulls' marks written first
        with engine.connect() as conn:
            return {
                row.associated_ref: row.state
                for row in conn.execute(sa.text("select associated_ref, state from documents"))
            }


@pytest.fixture
def pipeline(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> Iterator[Pipeline]:
    reveni, khaos = InProcessReveniSandbox().start(), KhaosSandbox().start()
    run_target_here(capfd, tmp_path, target_config(tmp_path), [])  # creates the store the channel serves
    channel = ChannelServer(target_config(tmp_path, batch_size=40), tmp_path).start()
    try:
        yield Pipeline(reveni, khaos, channel, tmp_path)
    finally:
        for server in (channel, khaos, reveni):
            server.stop()


@pytest.fixture
def pipeline_syncing_here(pipeline: Pipeline, capfd: pytest.CaptureFixture[str]) -> Pipeline:
    """The pipeline, its syncs run by the tap's and the target's commands in this process."""
    pipeline.tap_command = functools.partial(run_tap_here, capfd)
    pipeline.target_command = functools.partial(run_target_here, capfd)
    return pipeline


def _outcomes(khaos: KhaosSandbox) -> dict[str, dict[str, Any]]:
    return {r["AssociatedRef"]: r for r in khaos.get("returns")}


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_every_published_return_imports_exactly_once(pipeline: Pipeline, fmt: str) -> None:
    pipeline.sync()
    pipeline.khaos.link_to(pipeline.channel, fmt)

    polled = pipeline.khaos.act("poll")

    published = {ref for ref, state in pipeline.documents().items() if state == "served"}
    outcomes = _outcomes(pipeline.khaos)
    assert set(outcomes) == published, "Khaos pulled every published document"
    assert polled["pulls"] >= 3, "in batches of 40, following the continuation"
    pulled = Counter(ref for pull in pipeline.khaos.get("pulls") for ref in [*pull["imported"], *pull["failed"]])
    assert set(pulled.values()) == {1}, "each document pulled once"
    failed = {ref: r["reasons"] for ref, r in outcomes.items() if r["status"] == "failed"}
    for reasons in failed.values():
        # The one failure the demo data plants that our mapping cannot see: Khaos has
        # discontinued the wool scarf since it was sold.
        assert all("SCARF-WOOL-RED" in reason and "discontinued" in reason for reason in reasons), reasons
    assert len(outcomes) - len(failed) > 50


def test_running_everything_again_creates_nothing_new(pipeline: Pipeline) -> None:
    pipeline.sync()
    pipeline.khaos.link_to(pipeline.channel)
    pipeline.khaos.act("poll")
    before = pipeline.documents()

    again = pipeline.sync()
    polled = pipeline.khaos.act("poll")

    assert pipeline.documents() == before
    assert polled["returns"] == 0
    assert len(again.records) <= 5, "only the look-back window is read again"


def test_a_return_accepted_later_reaches_khaos_and_is_processed(pipeline_syncing_here: Pipeline) -> None:
    pipeline = pipeline_syncing_here
    pipeline.sync()
    pipeline.khaos.link_to(pipeline.channel)
    pipeline.khaos.act("poll")
    received = next(
        r
        for r in pipeline.reveni.all_returns()
        if r["status"] == "received"
        and not r["instant"]
        and all(
            i["sku"] != "SCARF-WOOL-RED" and "tax_rate" in i and i["return_reason"]["code"] != "colour_not_as_pictured"
            for i in r["return_items"]
        )
    )
    verdicts = [{"item_id": i["id"], "quantity": i["quantity"], "status": "accepted"} for i in received["return_items"]]
    pipeline.reveni.post(f"returns/{received['id']}/partial_validate", {"items": verdicts})

    pipeline.sync()
    pipeline.khaos.act("poll")

    outcome = _outcomes(pipeline.khaos)[f"RV-{received['id']}"]
    assert outcome["status"] == "processed", outcome
    notes = {note["AssociatedRef"]: note for note in pipeline.khaos.get("credit-notes.json")}
    expected = sum(float(i["total"]) for i in received["return_items"] if i["exchange"] is None)
    if expected:
        assert float(notes[f"RV-{received['id']}"]["Gross"]) == pytest.approx(expected)


def test_faulty_goods_go_to_quarantine_and_khaos_pushes_the_levels_back(pipeline_syncing_here: Pipeline) -> None:
    pipeline = pipeline_syncing_here
    pipeline.sync()
    pipeline.khaos.link_to(pipeline.channel)
    pipeline.khaos.act("poll")

    processed = [r for r in _outcomes(pipeline.khaos).values() if r["status"] == "processed"]
    faulty = [item for r in processed for item in r["document"]["ReturnedItems"] if item["ReturnReason"]["ID"] == "2"]
    assert faulty, "the demo data processes at least one faulty item"
    with sa.create_engine(f"sqlite:///{pipeline.workdir / 'store.db'}").connect() as conn:
        quarantined = {
            row.stock_code: row.available
            for row in conn.execute(
                sa.text("select stock_code, available from stock_levels where site_id = '2' and available > 0")
            )
        }
    assert {item["SKU"] for item in faulty} <= set(quarantined)


def test_a_failed_import_retried_by_khaos_comes_back_by_specific_ids(pipeline_syncing_here: Pipeline) -> None:
    pipeline = pipeline_syncing_here
    pipeline.sync()
    pipeline.khaos.link_to(pipeline.channel)
    pipeline.khaos.act("poll")
    failed = [ref for ref, r in _outcomes(pipeline.khaos).items() if r["status"] == "failed"]
    assert failed
    stock = pipeline.khaos.get("stock")
    for item in stock:
        item["Discontinued"] = False  # a Khaos user reinstates the scarf
    pipeline.khaos.act("load", {"stock": stock})

    retried = pipeline.khaos.act("retry", {"refs": failed})

    assert sorted(retried["imported"]) == sorted(failed)
    assert {pipeline.documents()[ref] for ref in failed} == {"re_requested"}
