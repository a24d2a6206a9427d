"""Observability end to end, through the HTTP API to a real webhook target: a sender's trace reaches the target on
every delivery (also one retried an hour later), the message, its events and deliveries share one correlation id,
spans are recorded around intake, handling and delivery, /metrics tells what happened, and the logs are JSON lines
with the correlation id and without payloads or secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from crossdock.observability import logs, tracing
from tests.e2e.conftest import ORDER_EVENT, Estate, EstateFactory, order
from tests.unit.connectors.local_http import LocalHttpServer, Received, Reply, local_http_server

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
INCOMING = f"00-{TRACE_ID}-{CALLER_SPAN}-01"


@pytest.fixture
def target() -> Iterator[LocalHttpServer]:
    with local_http_server() as server:
        yield server


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return tracing.recorder()


def traced(make_estate: EstateFactory, target: LocalHttpServer, **overrides: Any) -> Estate:
    """The estate with its ERP webhook on the local target (which records headers), database gauges read at once."""
    settings: dict[str, Any] = {
        "destinations": {"erp": {"url": target.url("/erp")}},
        "observability": {"metrics_refresh_seconds": 0},
    }
    return make_estate(**{**settings, **overrides})


def answers(*statuses: int) -> Callable[[Received], Reply]:
    """The target answers these statuses in turn, then 200 for ever."""
    queue = list(statuses)
    return lambda _request: Reply(queue.pop(0) if queue else 200)


def post(estate: Estate, source: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = estate.client.post(
        f"/v1/inbound/{source}",
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json", **headers},
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


def parts(traceparent: str) -> tuple[str, str]:
    _version, trace_id, parent, _flags = traceparent.split("-")
    return trace_id, parent


def named(spans: InMemorySpanExporter, prefix: str) -> list[ReadableSpan]:
    return [span for span in spans.get_finished_spans() if span.name.startswith(prefix)]


def ancestors(spans: InMemorySpanExporter, span: ReadableSpan) -> list[str | None]:
    """The span ids above a span, nearest first, ending with None at a root or with a remote caller's span id."""
    by_id = {span_id_of(s): s for s in spans.get_finished_spans()}
    found: list[str | None] = []
    while span.parent is not None:
        parent = format(span.parent.span_id, "016x")
        found.append(parent)
        if parent not in by_id:
            return found
        span = by_id[parent]
    return [*found, None]


def trace_of(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.trace_id, "032x")


def span_id_of(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.span_id, "016x")


# ---- trace propagation ---------------------------------------------------------------------------------------


def test_a_senders_trace_reaches_the_target_on_every_attempt_even_one_retried_an_hour_later(
    make_estate: EstateFactory, target: LocalHttpServer, spans: InMemorySpanExporter
) -> None:
    estate = traced(make_estate, target)
    target.answer(answers(503))
    post(estate, "shop", order("SO-1"), traceparent=INCOMING)
    estate.drain()
    estate.clock.advance(3600)
    estate.drain()

    sent = target.received
    assert len(sent) == 2, "one failed attempt, one retry an hour later"
    for request in sent:
        assert parts(request.headers["traceparent"])[0] == TRACE_ID, "every attempt stays in the sender's trace"

    (intake,) = named(spans, "intake POST /v1/inbound/shop")
    assert intake.kind is SpanKind.SERVER and trace_of(intake) == TRACE_ID
    assert CALLER_SPAN in ancestors(spans, intake), "the intake continues the caller's span"
    handled = named(spans, f"handle {ORDER_EVENT}")
    assert handled and {trace_of(span) for span in handled} == {TRACE_ID}
    deliveries = named(spans, f"deliver {ORDER_EVENT} to erp")
    assert len(deliveries) == 2 and {trace_of(span) for span in deliveries} == {TRACE_ID}
    # The target's parent is the delivery span of that very attempt.
    assert [parts(r.headers["traceparent"])[1] for r in sent] == [span_id_of(span) for span in deliveries]
    assert [span.attributes["crossdock.outcome"] for span in deliveries if span.attributes] == [
        "retryable",
        "delivered",
    ]


def test_a_message_sent_without_a_trace_is_traced_from_its_intake_to_the_target(
    make_estate: EstateFactory, target: LocalHttpServer, spans: InMemorySpanExporter
) -> None:
    estate = traced(make_estate, target)
    post(estate, "shop", order("SO-2"))
    estate.drain()

    (intake,) = named(spans, "intake POST /v1/inbound/shop")
    assert ancestors(spans, intake)[-1] is None, "the intake request begins the trace"
    (request,) = target.received
    assert parts(request.headers["traceparent"])[0] == trace_of(intake)
    assert {trace_of(span) for span in named(spans, "handle ")} == {trace_of(intake)}


def test_a_malformed_traceparent_starts_a_trace_instead_of_failing_the_message(
    make_estate: EstateFactory, target: LocalHttpServer, spans: InMemorySpanExporter
) -> None:
    estate = traced(make_estate, target)
    post(estate, "shop", order("SO-3"), traceparent="00-not-a-trace-01")
    result = estate.drain()

    assert result.processed == 1
    (request,) = target.received
    (intake,) = named(spans, "intake POST")
    assert parts(request.headers["traceparent"])[0] == trace_of(intake)


# ---- correlation ---------------------------------------------------------------------------------------------


def correlation_ids(estate: Estate, message_id: int) -> tuple[set[str | None], set[Any]]:
    """The correlation ids of a message's events, and of their deliveries' payloads."""
    with estate.hub.begin() as uow:
        events = uow.log.for_message(message_id)
        deliveries = [d for e in events for d in uow.outbox.for_event(e.envelope.id)]
    assert events and deliveries
    return {e.envelope.correlationid for e in events}, {d.payload.get("correlationid") for d in deliveries}


def test_the_message_its_events_and_its_deliveries_share_the_senders_correlation_id(
    make_estate: EstateFactory, target: LocalHttpServer
) -> None:
    estate = traced(make_estate, target)
    accepted = post(estate, "shop", order("SO-4"), **{"x-correlation-id": "checkout-7781"})
    estate.drain()

    assert correlation_ids(estate, accepted["message_id"]) == ({"checkout-7781"}, {"checkout-7781"})
    assert {r.headers["x-correlation-id"] for r in target.received} == {"checkout-7781"}


def test_a_message_without_a_correlation_id_gets_one_its_events_and_deliveries_share(
    make_estate: EstateFactory, target: LocalHttpServer
) -> None:
    estate = traced(make_estate, target)
    first = post(estate, "shop", order("SO-5"))
    # A correlation id too long to store is replaced, not allowed to fail the message.
    second = post(estate, "shop", order("SO-6"), **{"x-correlation-id": "x" * 500})
    estate.drain()

    for accepted in (first, second):
        events, deliveries = correlation_ids(estate, accepted["message_id"])
        assert len(events) == 1 and events == deliveries
        assert len(next(iter(events)) or "") <= 64
    response = estate.client.get(f"/v1/trace/{next(iter(correlation_ids(estate, first['message_id'])[0]))}")
    assert response.status_code == 200, "the correlation id finds the message's trace"


# ---- metrics -------------------------------------------------------------------------------------------------


def scrape(estate: Estate) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = estate.client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_metrics_tell_intake_handling_delivery_dead_letters_backlog_breakers_exceptions_and_drift(
    make_estate: EstateFactory, target: LocalHttpServer
) -> None:
    estate = traced(
        make_estate,
        target,
        inventory={"authority": [{"location": "WH-3PL", "owner": "tpl"}]},
    )
    target.answer(lambda request: Reply(400) if b"SO-BAD" in request.body else Reply(200))
    post(estate, "shop", order("SO-7"))
    post(estate, "shop", order("SO-BAD"))
    assert estate.client.post("/v1/inbound/nowhere", content=b"{}").status_code == 404
    estate.drain()
    post(estate, "stock", {"sku": "SKU-1", "qty": 4})  # left waiting: the backlog
    report = estate.runtime.order_to_cash.reconcile_inventory(
        estate.hub.begin,
        estate.clock.now(),
        {("SKU-1", "WH-3PL"): Decimal(5)},
        source="wms",
        reconciliation_id="count-1",
    )
    assert report.exceptions, "the count at a location wms does not own is raised"
    estate.clock.advance(2 * 3600)
    samples = scrape(estate)

    assert value(samples, "crossdock_messages_received_total", source="shop", outcome="accepted") == 2
    assert value(samples, "crossdock_messages_received_total", source="nowhere", outcome="unknown-source") == 1
    assert value(samples, "crossdock_event_handling_seconds_count", event_type=ORDER_EVENT) == 2
    assert value(samples, "crossdock_delivery_attempts_total", destination="erp", outcome="delivered") == 1
    assert value(samples, "crossdock_delivery_attempts_total", destination="erp", outcome="permanent") == 1
    assert value(samples, "crossdock_delivery_failures_total", destination="erp", outcome="permanent") == 1
    assert value(samples, "crossdock_deliveries_dead_lettered_total", destination="erp") == 1
    assert value(samples, "crossdock_dead_letters", destination="erp") == 1
    assert value(samples, "crossdock_breaker_state", destination="erp", state="closed") == 1
    assert value(samples, "crossdock_breaker_state", destination="erp", state="open") == 0
    assert value(samples, "crossdock_inbox_backlog", source="stock") == 1
    assert value(samples, "crossdock_inbox_lag_seconds", source="stock") == 2 * 3600
    assert sum(v for (name, _), v in samples.items() if name == "crossdock_inbox_shard_backlog") == 1
    assert value(samples, "crossdock_open_exceptions", owner="warehouse", age="4h") == 1
    assert value(samples, "crossdock_open_exceptions", owner="warehouse", age="1h") == 0
    assert value(samples, "crossdock_inventory_drift_open", location="WH-3PL") == 1
    assert value(samples, "crossdock_database_figures_up") == 1


def test_the_database_gauges_are_read_once_per_refresh_interval_not_per_scrape(
    make_estate: EstateFactory, target: LocalHttpServer
) -> None:
    estate = traced(make_estate, target, observability={"metrics_refresh_seconds": 3600})
    assert value(scrape(estate), "crossdock_inbox_backlog", source="shop") is None
    post(estate, "shop", order("SO-8"))
    assert value(scrape(estate), "crossdock_inbox_backlog", source="shop") is None, "served from the last read"


# ---- logs ----------------------------------------------------------------------------------------------------


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Everything logged at INFO and above, formatted as the hub formats it in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def test_a_flow_logged_at_info_is_json_with_correlation_ids_and_no_payloads_or_secrets(
    make_estate: EstateFactory, target: LocalHttpServer, json_log: io.StringIO
) -> None:
    marker = "Bramblewood-Lane-42-private"
    secret = "whsec-do-not-log-5f1e"
    estate = traced(
        make_estate,
        target,
        destinations={"erp": {"url": target.url("/erp"), "secret": secret}},
        sources={"portal": {"kind": "canonical", "event_type": "crossdock.order.received.v1"}},
    )
    token = estate.client.headers["authorization"].removeprefix("Bearer ")
    target.answer(answers(400))
    post(estate, "shop", order("SO-9", ship_to=marker), **{"x-correlation-id": "flow-9"})
    # Read at intake, refused when mapped: its failure is logged while it is handled.
    post(estate, "portal", {"number": "SO-10", "ship_to": marker})
    estate.client.post("/v1/inbound/shop", content=f"not json {marker}".encode())
    estate.drain()
    estate.client.get("/v1/status")

    lines = [line for line in json_log.getvalue().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # each line is one JSON object
    assert records, "the flow logged something"
    text = json_log.getvalue()
    for needle in (marker, secret, token):
        assert needle not in text, f"{needle!r} leaked into the logs"
    dead = [r for r in records if "dead-lettered" in r["message"]]
    assert dead and {r.get("correlation_id") for r in dead} == {"flow-9"}
    failed = [r for r in records if "failed:" in r["message"] and r["logger"] == "crossdock.hub.inbox"]
    assert failed and all(r.get("correlation_id") for r in failed)
