"""Silence and quiet failure, through a running worker: a source that stops sending, or whose messages are taken in
but fail, opens one exception for integration, seen at /v1/exceptions, and it closes by itself once the source sends
again, or sends good messages again. The clock is stepped by hand; the worker's timer loop notices within a second."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from crossdock.entrypoints.worker import Worker
from crossdock.observability.metrics import Metrics
from tests.e2e.conftest import START, Estate, EstateFactory, order

WAIT_SECONDS = 15.0


@pytest.fixture
def watched(make_estate: EstateFactory) -> Iterator[Estate]:
    """Shop orders are expected every 30 minutes; partner portal messages must mostly map; a worker runs."""
    estate = make_estate(
        sources={
            "shop": {"expect_every_minutes": 30},
            "portal": {"kind": "canonical", "event_type": "crossdock.order.received.v1"},
        },
        observability={"watch_every_minutes": 1, "failing_at_least": 4, "failing_share": 0.5},
    )
    worker = Worker(estate.hub, Metrics(), idle_sleep=0.01)
    worker.start()
    yield estate
    worker.stop()


def exceptions(estate: Estate, reason: str, status: str = "open") -> list[dict[str, Any]]:
    response = estate.client.get("/v1/exceptions", params={"owner": "integration", "status": status})
    assert response.status_code == 200, response.text
    return [e for e in response.json()["items"] if e["reason_code"] == reason]


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    pytest.fail(f"the worker never {what}")


def step_minutes(estate: Estate, minutes: float) -> None:
    """Move the clock, and wait for the source watch's timer to have fired at the new time."""
    estate.clock.advance(minutes * 60)
    now = estate.clock.now()

    def watched_now() -> bool:
        with estate.hub.begin() as uow:
            return not [t for t in uow.timers.pending(limit=1000) if t.kind == "source-watch" and t.due_at <= now]

    eventually(watched_now, "ran the source watch")


def post(estate: Estate, source: str, body: dict[str, Any]) -> None:
    response = estate.client.post(
        f"/v1/inbound/{source}", content=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 202, response.text


def test_a_source_silent_past_its_interval_raises_one_exception_that_clears_when_it_sends_again(
    watched: Estate,
) -> None:
    step_minutes(watched, 20)
    assert exceptions(watched, "source-silent") == [], "20 minutes of quiet is within the expected 30"

    step_minutes(watched, 12)
    (silent,) = exceptions(watched, "source-silent")
    assert silent["about"] == {"kind": "source", "key": "shop"}
    assert "shop" in silent["message"] and START.isoformat() in silent["message"]

    step_minutes(watched, 30)
    assert len(exceptions(watched, "source-silent")) == 1, "still silent: the same exception, not a second one"

    post(watched, "shop", order("SO-1"))
    eventually(lambda: watched.hub.drain("e2e-check").processed == 0, "processed the order")
    step_minutes(watched, 1)
    assert exceptions(watched, "source-silent") == []
    (cleared,) = exceptions(watched, "source-silent", status="resolved")
    (action,) = cleared["actions"]
    assert action["actor"] == "crossdock/source-watch" and "shop sent again" in action["note"]


def test_a_source_whose_messages_are_taken_in_but_fail_raises_source_failing_until_good_ones_come(
    watched: Estate,
) -> None:
    for number in range(4):
        post(watched, "portal", {"number": f"SO-{number}"})  # accepted at intake, refused when mapped
    eventually(lambda: _failed(watched) == 4, "processed the portal's messages")
    step_minutes(watched, 1)
    (failing,) = exceptions(watched, "source-failing")
    assert "portal" in failing["message"] and "4 of the 4" in failing["message"]

    for number in range(5):
        post(watched, "portal", {"specversion": "1.0", "id": f"ok-{number}", "source": "portal", **_good(number)})
    eventually(lambda: _failed(watched) == 4 and _pending(watched) == 0, "processed the good messages")
    step_minutes(watched, 1)
    assert exceptions(watched, "source-failing") == [], "4 failed of 9 is under half"


def _good(number: int) -> dict[str, Any]:
    return {
        "type": "crossdock.order.received.v1",
        "subject": f"SO-G{number}",
        "data": {
            "order": {
                "number": f"SO-G{number}",
                "customer": "C-1",
                "channel": "portal",
                "currency": "EUR",
                "lines": [{"line": 1, "sku": "SKU-1", "quantity": {"value": "1", "unit": "EA"}, "unit_price": "1"}],
            }
        },
    }


def _failed(estate: Estate) -> int:
    return int(estate.status()["messages"].get("failed", 0))


def _pending(estate: Estate) -> int:
    return int(estate.status()["messages"].get("pending", 0))
