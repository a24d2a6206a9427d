"""Delivery through a real HTTP target: circuit breaker, Retry-After, dead-lettering after the last attempt,
and the trace an operator follows. The clock is stepped by hand; nothing here sleeps."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.e2e.conftest import Estate, EstateFactory, order


def _at(value: str | None) -> datetime:
    assert value is not None
    return datetime.fromisoformat(value)


def _attempts_by_subject(estate: Estate) -> dict[str, int]:
    return {d["subject"]: d["attempts"] for d in estate.all_deliveries()}


def _trip_the_breaker(make_estate: EstateFactory) -> Estate:
    """Three orders fail against a breaker with threshold 3 and a 30 s reset; two more queue up behind it."""
    estate = make_estate(destinations={"erp": {"breaker": {"failure_threshold": 3, "reset_seconds": 30}}})
    estate.sink.program(always={"status": 503})
    for number in ("SO-1", "SO-2", "SO-3"):
        estate.post("shop", order(number))
    estate.drain()
    estate.post("shop", order("SO-4"))
    estate.post("shop", order("SO-5"))
    estate.drain()
    return estate


def _probe_after_the_reset(estate: Estate, *, healthy: bool) -> int:
    """Move past the breaker's deadline and run one worker round; returns how many were sent."""
    if healthy:
        estate.sink.heal()
    open_until = _at(estate.breaker("erp")["open_until"])
    estate.clock.set(open_until + timedelta(seconds=1))
    return estate.work_once().sent


def test_an_open_breaker_holds_deliveries_back_uncharged_and_lets_exactly_one_probe_through_after_the_reset(
    make_estate: EstateFactory,
) -> None:
    estate = _trip_the_breaker(make_estate)
    opened_at = estate.clock.now()
    assert len(estate.sink.received()) == 3
    breaker = estate.breaker("erp")
    assert breaker["breaker"] == "open", "three failures in a row must open a breaker whose threshold is 3"
    assert _at(breaker["open_until"]) == opened_at + timedelta(seconds=30)

    # The first three become due for their retry while the breaker is still open.
    estate.clock.advance(10)
    estate.drain()

    assert len(estate.sink.received()) == 3, "no request may reach an endpoint whose breaker is open"
    assert _attempts_by_subject(estate) == {"SO-1": 1, "SO-2": 1, "SO-3": 1, "SO-4": 0, "SO-5": 0}, (
        "deliveries held back by an open breaker must not be charged an attempt"
    )
    assert all(_at(d["next_attempt_at"]) >= opened_at + timedelta(seconds=30) for d in estate.deliveries("pending"))

    # Past the reset, with the endpoint still down: one probe, it fails, the breaker opens again.
    assert _probe_after_the_reset(estate, healthy=False) == 1, "a half-open breaker lets exactly one probe through"
    estate.drain()
    assert len(estate.sink.received()) == 4
    assert estate.breaker("erp")["breaker"] == "open", "a failed probe opens the breaker again"
    assert sum(_attempts_by_subject(estate).values()) == 4, "only the probe is charged an attempt"

    # Past the next reset, with the endpoint back: one probe, it succeeds, the breaker closes.
    assert _probe_after_the_reset(estate, healthy=True) == 1, "a half-open breaker lets exactly one probe through"
    assert len(estate.sink.received()) == 5
    assert estate.breaker("erp") | {"open_until": None} == {
        "endpoint": "erp",
        "breaker": "closed",
        "failures": 0,
        "open_until": None,
    }

    # Nothing is left behind: once due, the whole backlog is delivered, each delivery once.
    estate.clock.advance(60)
    estate.drain()
    assert estate.status()["deliveries"] == {"delivered": 5}
    assert sorted(item["subject"] for item in estate.sink.accepted()) == ["SO-1", "SO-2", "SO-3", "SO-4", "SO-5"]


def test_the_backlog_drains_as_soon_as_a_successful_probe_closes_the_breaker(make_estate: EstateFactory) -> None:
    estate = _trip_the_breaker(make_estate)
    assert _probe_after_the_reset(estate, healthy=True) == 1
    assert estate.breaker("erp")["breaker"] == "closed"

    estate.drain()

    assert estate.status()["deliveries"] == {"delivered": 5}


def test_retry_after_from_the_target_is_honoured_before_the_delivery_is_sent_again(estate: Estate) -> None:
    estate.sink.program(fail_next=[{"status": 429, "retry_after": "120"}])
    estate.post("shop", order("SO-1"))
    failed_at = estate.clock.now()
    estate.drain()

    [waiting] = estate.deliveries("pending")
    assert waiting["attempts"] == 1
    assert _at(waiting["next_attempt_at"]) >= failed_at + timedelta(seconds=120)

    estate.clock.set(failed_at + timedelta(seconds=119))
    estate.drain()
    assert len(estate.sink.received()) == 1, "nothing may be resent before the target's Retry-After has passed"

    estate.clock.set(_at(waiting["next_attempt_at"]))
    estate.drain()
    assert [item["status"] for item in estate.sink.received()] == [429, 200]
    assert estate.delivery(waiting["id"])["status"] == "delivered"


def test_a_delivery_that_keeps_failing_is_dead_lettered_after_its_last_attempt_with_every_error_kept(
    make_estate: EstateFactory,
) -> None:
    estate = make_estate(destinations={"erp": {"retry": {"max_attempts": 3}}})
    estate.sink.program(always={"status": 500})
    estate.post("shop", order("SO-1"))

    for _ in range(5):
        estate.drain()
        estate.clock.advance(60)

    [dead] = estate.deliveries("dead")
    shown = estate.delivery(dead["id"])
    assert shown["status"] == "dead"
    assert shown["attempts"] == 3
    assert [(a["number"], a["outcome"], a["status_code"]) for a in shown["history"]] == [
        (1, "retryable", 500),
        (2, "retryable", 500),
        (3, "retryable", 500),
    ]
    assert all("HTTP 500" in a["error"] for a in shown["history"])
    assert "HTTP 500" in shown["last_error"]
    assert len(estate.sink.received()) == 3, "a dead letter is not sent again by itself"


def test_a_permanent_refusal_is_dead_lettered_at_once_after_one_attempt(estate: Estate) -> None:
    estate.sink.program(fail_next=[{"status": 400}])
    estate.post("shop", order("SO-1"))
    estate.drain()

    [dead] = estate.deliveries("dead")
    shown = estate.delivery(dead["id"])
    assert shown["attempts"] == 1
    assert [(a["outcome"], a["status_code"]) for a in shown["history"]] == [("permanent", 400)]
    assert "HTTP 400" in shown["history"][0]["error"]


def test_the_trace_of_a_business_key_leads_from_message_to_event_to_delivery_with_every_attempt(
    estate: Estate,
) -> None:
    estate.sink.program(fail_next=[{"status": 503}])
    message_id = estate.post("shop", order("SO-42")).json()["message_id"]
    estate.drain()
    estate.post("shop", order("SO-43"))  # another order, which the trace of SO-42 must leave out
    estate.clock.advance(60)
    estate.drain()

    response = estate.client.get("/v1/trace/SO-42")

    assert response.status_code == 200
    trace = response.json()
    assert [(m["id"], m["status"]) for m in trace["messages"]] == [(message_id, "processed")]
    [event] = trace["events"]
    assert (event["type"], event["subject"]) == ("crossdock.order.placed.v1", "SO-42")
    [delivery] = event["deliveries"]
    assert (delivery["destination"], delivery["status"], delivery["event_id"]) == ("erp", "delivered", event["id"])
    assert [(a["outcome"], a["status_code"]) for a in delivery["history"]] == [("retryable", 503), ("delivered", 200)]
    missing = estate.client.get("/v1/trace/SO-404")
    assert missing.status_code == 404 and missing.json()["code"] == "nothing-found"
