"""Prometheus metrics for the pipeline, on a registry of its own so that tests and several hubs in one process do
not collide. Counters and histograms are fed as work happens (the worker, the API, and the hub's hooks); gauges
that need the database are read by a collector when scraped, at most every `refresh_seconds`, never per event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from crossdock.domain.inventory import ReconciliationReport
from crossdock.hub.ports import AttemptOutcome, BreakerState
from crossdock.hub.runtime import Hub
from crossdock.observability.activity import Figures

log = logging.getLogger(__name__)

HANDLING_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.received = Counter(
            "crossdock_messages_received_total",
            "Inbound messages by source and intake outcome",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.processed = Counter(
            "crossdock_messages_processed_total", "Messages processed by result", ["result"], registry=self.registry
        )
        self.handling = Histogram(
            "crossdock_event_handling_seconds",
            "Time the handlers of one event took, by event type",
            ["event_type"],
            buckets=HANDLING_BUCKETS,
            registry=self.registry,
        )
        self.sent = Counter(
            "crossdock_delivery_rounds_sent_total", "Deliveries sent (any outcome)", registry=self.registry
        )
        self.attempts = Counter(
            "crossdock_delivery_attempts_total",
            "Delivery attempts by destination and outcome (delivered, retryable, permanent)",
            ["destination", "outcome"],
            registry=self.registry,
        )
        self.failures = Counter(
            "crossdock_delivery_failures_total",
            "Delivery attempts that failed, by destination and outcome (retryable, permanent)",
            ["destination", "outcome"],
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "crossdock_deliveries_dead_lettered_total",
            "Deliveries given up and dead-lettered, by destination",
            ["destination"],
            registry=self.registry,
        )
        self.timers = Counter("crossdock_timers_fired_total", "Timers fired", registry=self.registry)
        self.intake_batch = Histogram(
            "crossdock_intake_batch_size",
            "Messages per intake commit",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
            registry=self.registry,
        )
        self.reconciled_drift = Gauge(
            "crossdock_reconciliation_drift",
            "Positions of the last inventory reconciliation run here that differed from the ledger, by counting "
            "source, location and what was done (adjust, wait, ignore, exception)",
            ["source", "location", "action"],
            registry=self.registry,
        )
        self.reconciled_units = Gauge(
            "crossdock_reconciliation_unexplained_units",
            "Sum of the unexplained drift of the last reconciliation run here: its size in base units, whichever way",
            ["source", "location"],
            registry=self.registry,
        )
        self._reconciled: dict[str, list[tuple[str, ...]]] = {}  # label sets set per counting source

    # ---- fed as work happens ---------------------------------------------------------------------------------
    def observe_handling(self, event_type: str, seconds: float) -> None:
        self.handling.labels(event_type).observe(seconds)

    def observe_attempt(self, destination: str, outcome: AttemptOutcome, dead: bool) -> None:
        self.attempts.labels(destination, outcome.value).inc()
        if outcome is not AttemptOutcome.DELIVERED:
            self.failures.labels(destination, outcome.value).inc()
        if dead:
            self.dead_lettered.labels(destination).inc()

    def attach(self, hub: Hub) -> None:
        """Be told of the hub's work done in this process: event handling times and delivery attempts."""
        hub.processor.on_handled = self.observe_handling
        hub.outbox.on_attempt = self.observe_attempt

    def reconciled(self, report: ReconciliationReport) -> None:
        """The figures of an inventory reconciliation run in this process (they replace the source's last ones)."""
        for labels in self._reconciled.pop(report.source, ()):
            (self.reconciled_drift if len(labels) == 3 else self.reconciled_units).remove(*labels)
        counts: dict[tuple[str, str], int] = {}
        units: dict[str, float] = {}
        for drift in report.drifts:
            counts[(drift.location, drift.action.value)] = counts.get((drift.location, drift.action.value), 0) + 1
            units[drift.location] = units.get(drift.location, 0.0) + float(drift.unexplained)
        self._reconciled[report.source] = [(report.source, *key) for key in counts] + [
            (report.source, location) for location in units
        ]
        for (location, action), count in counts.items():
            self.reconciled_drift.labels(report.source, location, action).set(count)
        for location, total in units.items():
            self.reconciled_units.labels(report.source, location).set(total)

    # ---- read from the database when scraped -------------------------------------------------------------------
    def watch(
        self, read: Callable[[datetime], Figures], now: Callable[[], datetime], refresh_seconds: float = 5.0
    ) -> None:
        """Register the gauges read from the database (backlog, lag, dead letters, breakers, exceptions, drift)."""
        self.registry.register(DatabaseCollector(read, now, refresh_seconds))


class DatabaseCollector:
    """Gauges computed from one read of the database, kept for `refresh_seconds` so that an eager scraper (or
    several) costs the database one set of aggregate queries per interval."""

    def __init__(
        self, read: Callable[[datetime], Figures], now: Callable[[], datetime], refresh_seconds: float
    ) -> None:
        self._read = read
        self._now = now
        self._refresh = refresh_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def describe(self) -> list[Metric]:
        return []  # nothing to check at registration; the names are fixed below

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] >= self._refresh:
                self._cached = (time.monotonic(), self._families())
            families = self._cached[1]
        yield from families

    def _families(self) -> list[Metric]:
        up = GaugeMetricFamily("crossdock_database_figures_up", "1 when the database figures could be read")
        now = self._now()
        try:
            figures = self._read(now)
        except Exception:  # a scrape must not fail because the database is away
            log.warning("metrics: the database figures could not be read", exc_info=True)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *_gauges(figures, now)]


def _gauges(figures: Figures, now: datetime) -> list[Metric]:
    def family(name: str, text: str, labels: list[str]) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, text, labels=labels)

    inbox_backlog = family("crossdock_inbox_backlog", "Messages waiting to be processed, by source", ["source"])
    inbox_lag = family("crossdock_inbox_lag_seconds", "Age of the oldest waiting message, by source", ["source"])
    for source, backlog in sorted(figures.inbox_by_source.items()):
        inbox_backlog.add_metric([source], backlog.waiting)
        inbox_lag.add_metric([source], backlog.lag_seconds(now))
    shard_backlog = family("crossdock_inbox_shard_backlog", "Messages waiting, by partition shard", ["shard"])
    shard_lag = family("crossdock_inbox_shard_lag_seconds", "Age of the oldest waiting message, by shard", ["shard"])
    for shard, backlog in sorted(figures.inbox_by_shard.items()):
        shard_backlog.add_metric([str(shard)], backlog.waiting)
        shard_lag.add_metric([str(shard)], backlog.lag_seconds(now))
    outbox_backlog = family(
        "crossdock_outbox_backlog", "Deliveries waiting to be sent (or retried), by destination", ["destination"]
    )
    outbox_lag = family(
        "crossdock_outbox_lag_seconds", "Age of the oldest waiting delivery, by destination", ["destination"]
    )
    for destination, backlog in sorted(figures.outbox_by_destination.items()):
        outbox_backlog.add_metric([destination], backlog.waiting)
        outbox_lag.add_metric([destination], backlog.lag_seconds(now))
    out_shard_backlog = family("crossdock_outbox_shard_backlog", "Deliveries waiting, by partition shard", ["shard"])
    out_shard_lag = family(
        "crossdock_outbox_shard_lag_seconds", "Age of the oldest waiting delivery, by shard", ["shard"]
    )
    for shard, backlog in sorted(figures.outbox_by_shard.items()):
        out_shard_backlog.add_metric([str(shard)], backlog.waiting)
        out_shard_lag.add_metric([str(shard)], backlog.lag_seconds(now))
    failed = family("crossdock_messages_failed", "Inbound messages kept as failed, by source", ["source"])
    for source, count in sorted(figures.failed_messages.items()):
        failed.add_metric([source], count)
    dead = family("crossdock_dead_letters", "Dead letters waiting for a person, by destination", ["destination"])
    for destination, count in sorted(figures.dead_letters.items()):
        dead.add_metric([destination], count)
    breakers = family(
        "crossdock_breaker_state", "Circuit breaker per destination: 1 for its current state", ["destination", "state"]
    )
    for destination, state in sorted(figures.breakers.items()):
        for candidate in BreakerState:
            breakers.add_metric([destination, candidate.value], 1 if candidate.value == state else 0)
    exceptions = family(
        "crossdock_open_exceptions", "Open business exceptions by owner and age (opened within)", ["owner", "age"]
    )
    for (owner, age), count in sorted(figures.open_exceptions.items()):
        exceptions.add_metric([owner, age], count)
    drift = family("crossdock_inventory_drift_open", "Open inventory drift exceptions, by location", ["location"])
    for location, count in sorted(figures.drift_open.items()):
        drift.add_metric([location], count)
    return [
        inbox_backlog,
        inbox_lag,
        shard_backlog,
        shard_lag,
        outbox_backlog,
        outbox_lag,
        out_shard_backlog,
        out_shard_lag,
        failed,
        dead,
        breakers,
        exceptions,
        drift,
    ]
