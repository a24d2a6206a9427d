"""What a webhook target is told about the trace: each attempt carries a `traceparent` in the trace stored with the
event (so a retry hours later joins it) whose parent is that attempt's own span, and the event's correlation id."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crossdock.connectors.generic.outbound import WebhookSender
from crossdock.hub.ports import AttemptOutcome
from crossdock.observability import context, tracing
from tests.unit.connectors.local_http import LocalHttpServer, Reply, local_http_server
from tests.unit.factories import make_delivery

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
STORED = f"00-{TRACE_ID}-b7ad6b7169203331-01"


@pytest.fixture
def server() -> Iterator[LocalHttpServer]:
    with local_http_server() as running:
        yield running


def send_twice(server: LocalHttpServer, payload: dict[str, object]) -> list[str]:
    sender = WebhookSender(server.url("/hook"), timeout_seconds=5)
    try:
        server.answer(Reply(503))
        first = make_delivery(payload=payload)
        assert sender.send([first])[0].outcome is AttemptOutcome.RETRYABLE
        server.answer(Reply(200))
        assert sender.send([make_delivery(payload=payload, attempts=1)])[0].outcome is AttemptOutcome.DELIVERED
    finally:
        sender.close()
    return [request.headers["traceparent"] for request in server.received]


def test_every_attempt_carries_the_stored_trace_and_its_own_span_as_parent(server: LocalHttpServer) -> None:
    spans = tracing.recorder()
    sent = send_twice(server, {"id": "evt-1", "traceparent": STORED, "correlationid": "checkout-9"})
    assert [header.split("-")[1] for header in sent] == [TRACE_ID, TRACE_ID]
    attempts = spans.get_finished_spans()
    assert [span.name for span in attempts] == ["deliver crossdock.order.accepted.v1 to erp"] * 2
    assert [header.split("-")[2] for header in sent] == [f"{s.context.span_id:016x}" for s in attempts if s.context]
    assert {r.headers["x-correlation-id"] for r in server.received} == {"checkout-9"}


def test_an_event_stored_without_a_trace_still_sends_a_valid_traceparent(server: LocalHttpServer) -> None:
    tracing.recorder()
    sent = send_twice(server, {"id": "evt-2"})
    assert all(context.valid_traceparent(header) for header in sent)
    assert "x-correlation-id" not in server.received[0].headers
