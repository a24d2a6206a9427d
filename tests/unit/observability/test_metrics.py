"""The metrics registry: delivery attempts count failures and dead letters per destination, a reconciliation's drift
replaces the previous one of its source, and the database gauges are read once per interval and never fail a scrape."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from prometheus_client import generate_latest

from crossdock.domain.inventory import Drift, DriftAction, DriftCause, ReconciliationReport
from crossdock.hub.ports import AttemptOutcome
from crossdock.observability.activity import Backlog, Figures, age_bucket
from crossdock.observability.metrics import Metrics
from tests.unit.factories import T0


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_attempts_are_counted_by_destination_with_failures_and_dead_letters_apart() -> None:
    metrics = Metrics()
    metrics.observe_attempt("erp", AttemptOutcome.RETRYABLE, dead=False)
    metrics.observe_attempt("erp", AttemptOutcome.DELIVERED, dead=False)
    metrics.observe_attempt("wms", AttemptOutcome.PERMANENT, dead=True)
    assert sample(metrics, "crossdock_delivery_attempts_total", destination="erp", outcome="retryable") == 1
    assert sample(metrics, "crossdock_delivery_attempts_total", destination="erp", outcome="delivered") == 1
    assert sample(metrics, "crossdock_delivery_failures_total", destination="erp", outcome="retryable") == 1
    assert sample(metrics, "crossdock_delivery_failures_total", destination="erp", outcome="delivered") is None
    assert sample(metrics, "crossdock_deliveries_dead_lettered_total", destination="wms") == 1
    assert sample(metrics, "crossdock_deliveries_dead_lettered_total", destination="erp") is None


def drift(location: str, unexplained: str, action: DriftAction) -> Drift:
    return Drift(
        sku="SKU-1",
        location=location,
        ledger_on_hand=Decimal(10),
        counted=Decimal(10) + Decimal(unexplained),
        drift=Decimal(unexplained),
        cause=DriftCause.UNKNOWN,
        explained=Decimal(0),
        unexplained=Decimal(unexplained),
        action=action,
        explanation="no pending movement explains it",
    )


def report(*drifts: Drift, source: str = "wms") -> ReconciliationReport:
    return ReconciliationReport(
        reconciliation_id="count-1", source=source, as_of=T0, checked=5, matched=5 - len(drifts), drifts=drifts
    )


def test_a_reconciliation_replaces_the_drift_its_source_reported_before() -> None:
    metrics = Metrics()
    metrics.reconciled(report(drift("WH-1", "3", DriftAction.ADJUST), drift("WH-2", "2", DriftAction.EXCEPTION)))
    metrics.reconciled(report(drift("WH-2", "1", DriftAction.EXCEPTION), source="tpl"))
    assert sample(metrics, "crossdock_reconciliation_drift", source="wms", location="WH-1", action="adjust") == 1
    assert sample(metrics, "crossdock_reconciliation_unexplained_units", source="wms", location="WH-1") == 3
    metrics.reconciled(report(drift("WH-2", "4", DriftAction.EXCEPTION)))
    assert sample(metrics, "crossdock_reconciliation_drift", source="wms", location="WH-1", action="adjust") is None
    assert sample(metrics, "crossdock_reconciliation_unexplained_units", source="wms", location="WH-2") == 4
    assert sample(metrics, "crossdock_reconciliation_unexplained_units", source="tpl", location="WH-2") == 1


def test_database_gauges_are_read_at_most_once_per_interval() -> None:
    reads: list[object] = []

    def read(now: object) -> Figures:
        reads.append(now)
        return Figures(inbox_by_source={"shop": Backlog(3, T0)}, breakers={"erp": "open"})

    metrics = Metrics()
    metrics.watch(read, lambda: T0 + timedelta(seconds=90), refresh_seconds=3600)
    for _ in range(3):
        generate_latest(metrics.registry)
    assert len(reads) == 1
    assert sample(metrics, "crossdock_inbox_backlog", source="shop") == 3
    assert sample(metrics, "crossdock_inbox_lag_seconds", source="shop") == 90
    assert sample(metrics, "crossdock_breaker_state", destination="erp", state="open") == 1
    assert sample(metrics, "crossdock_breaker_state", destination="erp", state="closed") == 0


def test_a_database_that_cannot_be_read_is_reported_not_raised_to_the_scraper() -> None:
    def read(_now: object) -> Figures:
        raise ConnectionError("database unreachable")

    metrics = Metrics()
    metrics.watch(read, lambda: T0, refresh_seconds=0)
    metrics.observe_attempt("erp", AttemptOutcome.DELIVERED, dead=False)
    text = generate_latest(metrics.registry).decode()
    assert "crossdock_database_figures_up 0.0" in text
    assert sample(metrics, "crossdock_delivery_attempts_total", destination="erp", outcome="delivered") == 1


def test_open_exceptions_fall_in_the_bucket_of_their_age() -> None:
    assert age_bucket(T0 - timedelta(minutes=59), T0) == "1h"
    assert age_bucket(T0 - timedelta(hours=2), T0) == "4h"
    assert age_bucket(T0 - timedelta(hours=30), T0) == "7d"
    assert age_bucket(T0 - timedelta(days=8), T0) == "older"
