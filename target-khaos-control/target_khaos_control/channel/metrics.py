"""`/metrics`: the client's state in Prometheus's text format, for dashboards and alert rules
(a sample rule file is `deploy/prometheus/alerts.yml`).

Everything but the pull latency is read from the store at each scrape, so every channel
process of a client answers the same, and a restart loses nothing: open exceptions by
owner and kind, money at stake per currency, documents by state, and the last finished
sync and the last pull. The pull latency is this process's own histogram. Every series
carries the `client` label, so one Prometheus can watch every client.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.responses import Response

from target_khaos_control import at_stake
from target_khaos_control.channel.reader_process import read_apart
from target_khaos_control.served_marks import settled_first
from target_khaos_control.states import DocumentState, ExceptionStatus
from target_khaos_control.store import documents, exceptions, pulls, runs
from target_khaos_control.times import utc

PREFIX = "reveni_khaos"


class StoreCollector(Collector):
    """The store's figures, read at each scrape."""

    def __init__(self, engine: Engine, client: str) -> None:
        """Read this store's figures for this client's label."""
        self.engine, self.client = engine, client

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The gauges at this scrape: open exceptions, money at stake, documents by state, the last sync and pull."""
        settled_first(self.engine)  # documents by state: served once Khaos was served them
        with self.engine.connect() as conn:
            open_rows = conn.execute(
                sa.select(exceptions.c.owner, exceptions.c.kind, exceptions.c.return_id)
                .add_columns(exceptions.c.item_id, exceptions.c.details)
                .where(exceptions.c.status == ExceptionStatus.OPEN)
            ).all()
            by_state = dict(
                conn.execute(sa.select(documents.c.state, sa.func.count()).group_by(documents.c.state)).tuples().all()
            )
            last_sync = conn.execute(
                sa.select(sa.func.max(runs.c.finished_at)).where(runs.c.kind == "sync", runs.c.finished_at.is_not(None))
            ).scalar()
            last_pull = conn.execute(sa.select(sa.func.max(pulls.c.at))).scalar()

        counts = GaugeMetricFamily(
            f"{PREFIX}_open_exceptions", "Open exceptions, by owner and kind", labels=["client", "owner", "kind"]
        )
        # By position (owner, kind): a row's attribute by name costs more than the count (0.5 s at 264k open).
        tally = Counter((row[0], row[1]) for row in open_rows)
        for (owner, kind), count in sorted(tally.items()):
            counts.add_metric([self.client, owner, kind], count)
        yield counts

        money = GaugeMetricFamily(
            f"{PREFIX}_money_at_stake",
            "What open exceptions hold back, per currency (each item once)",
            labels=["client", "currency"],
        )
        for currency, amount in at_stake.by_currency(open_rows).items():
            money.add_metric([self.client, currency], float(amount))  # Prometheus's samples are floats
        yield money

        states = GaugeMetricFamily(f"{PREFIX}_documents", "Khaos documents, by state", labels=["client", "state"])
        for state in DocumentState:
            states.add_metric([self.client, str(state)], by_state.get(state, 0))
        yield states

        for name, moment, what in (
            ("last_sync_success_timestamp_seconds", last_sync, "When the last sync finished"),
            ("last_pull_timestamp_seconds", last_pull, "When Khaos last pulled returns"),
        ):
            gauge = GaugeMetricFamily(f"{PREFIX}_{name}", f"{what} (Unix time; absent: never)", labels=["client"])
            if moment is not None:
                gauge.add_metric([self.client], _unix(moment))
            yield gauge


class Metrics:
    """One channel's metrics: the store's figures, read apart from the channel (they read
    every open exception: reader_process), and this process's pull latency."""

    def __init__(self, engine: Engine, client: str) -> None:
        """This store's figures, and a histogram of the pulls this process serves."""
        self.engine, self.client = engine, client
        self.registry = CollectorRegistry(auto_describe=True)  # this process's own: the pull latency
        self.pull_seconds = Histogram(
            f"{PREFIX}_pull_duration_seconds",
            "Time to answer one pull of returns by Khaos",
            labelnames=["client"],
            registry=self.registry,
        )

    def observe_pull(self, seconds: float) -> None:
        """Count one pull that took `seconds`."""
        self.pull_seconds.labels(self.client).observe(seconds)

    async def endpoint(self, request: Request) -> Response:
        """GET /metrics: the text exposition format, the store's figures then the pull latency."""
        figures = await read_apart(self.engine, store_figures, self.client)
        return Response(figures + generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def store_figures(engine: Engine, client: str) -> bytes:
    """The store's figures for this client's label, in the text exposition format."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(StoreCollector(engine, client))
    return generate_latest(registry)


def _unix(moment: datetime) -> float:
    return utc(moment).timestamp()
