"""Dead letters through the HTTP API: bulk replay with a dry run, replay that delivers once under the
original delivery ids, edit-and-replay, and the filters an operator narrows them with."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from tests.e2e.conftest import START, STOCK_EVENT, Estate, EstateFactory, order


def _two_targets(make_estate: EstateFactory, **subscriptions: list[str]) -> Estate:
    """An ERP and a WMS webhook, both on the sink, subscribed as given (default: every event)."""
    return make_estate(
        destinations={"wms": {"kind": "webhook", "url": f"{make_estate.sink.url}/wms"}},
        subscriptions=[
            {"destination": name, "events": subscriptions.get(name, ["crossdock.*"])} for name in ("erp", "wms")
        ],
    )


def _ids(deliveries: list[dict[str, Any]], destination: str) -> set[str]:
    return {d["id"] for d in deliveries if d["destination"] == destination}


def _replay(estate: Estate, **request: Any) -> dict[str, Any]:
    response = estate.client.post("/v1/deliveries/replay", json=request)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_bulk_replay_dry_run_lists_the_dead_letters_and_changes_nothing(make_estate: EstateFactory) -> None:
    estate = _two_targets(make_estate)
    estate.sink.program(always={"status": 400})
    estate.post("shop", order("SO-1"))
    estate.post("shop", order("SO-2"))
    estate.drain()
    dead = estate.deliveries("dead")
    assert len(dead) == 4

    answer = _replay(estate, destination="erp", dry_run=True)

    assert answer["dry_run"] is True
    assert set(answer["ids"]) == _ids(dead, "erp")
    assert estate.deliveries("dead") == dead, "a dry run must leave every dead letter as it was"
    with estate.hub.begin() as uow:
        assert uow.replays.recent() == [], "a dry run is not a replay"


def test_replayed_dead_letters_are_delivered_once_under_their_original_delivery_ids(
    make_estate: EstateFactory,
) -> None:
    estate = _two_targets(make_estate)
    estate.sink.program(always={"status": 400})
    estate.post("shop", order("SO-1"))
    estate.post("shop", order("SO-2"))
    estate.drain()
    erp_ids = _ids(estate.deliveries("dead"), "erp")
    wms_ids = _ids(estate.deliveries("dead"), "wms")
    estate.sink.heal()

    answer = _replay(estate, destination="erp", note="ERP fixed its validation")
    estate.drain()

    assert set(answer["ids"]) == erp_ids and answer["count"] == 2
    accepted = Counter(item["delivery_id"] for item in estate.sink.accepted())
    assert accepted == Counter({delivery_id: 1 for delivery_id in erp_ids}), (
        "each replayed delivery reaches the target once, with its original id as Idempotency-Key"
    )
    assert _ids(estate.deliveries("delivered"), "erp") == erp_ids
    assert _ids(estate.deliveries("dead"), "wms") == wms_ids, "the destination filter must leave the WMS alone"
    assert all(estate.delivery(i)["replays"] == 1 for i in erp_ids)

    again = _replay(estate, destination="erp")
    assert again["count"] == 0, "a delivered replay leaves nothing to replay"

    with estate.hub.begin() as uow:
        records = uow.replays.recent()
    assert {(r.kind, r.target, r.actor, r.note) for r in records} == {
        ("delivery", i, estate.actor, "ERP fixed its validation") for i in erp_ids
    }


def test_a_dead_letter_replayed_with_an_edited_payload_delivers_the_edited_payload(estate: Estate) -> None:
    estate.sink.program(fail_next=[{"status": 422}])
    estate.post("shop", order("SO-1", customer="C-unknown"))
    estate.drain()
    [dead] = estate.deliveries("dead")
    payload = estate.delivery(dead["id"])["payload"]
    edited = {**payload, "data": {**payload["data"], "customer": "C-100"}}

    response = estate.client.post(
        f"/v1/deliveries/{dead['id']}/replay", json={"payload": edited, "note": "customer number corrected"}
    )
    estate.drain()

    assert response.status_code == 200 and response.json() == {"replayed": [dead["id"]]}
    [delivered] = estate.sink.accepted()
    assert delivered["delivery_id"] == dead["id"]
    assert delivered["data"]["customer"] == "C-100", "the target must receive the edited payload"
    assert estate.delivery(dead["id"])["status"] == "delivered"
    again = estate.client.post(f"/v1/deliveries/{dead['id']}/replay", json={"payload": edited})
    assert again.status_code == 409 and again.json()["code"] == "not-replayable"


def _dead_letters_of_all_kinds(make_estate: EstateFactory) -> Estate:
    """SO-1 (order, erp, HTTP 400) at 09:00; SO-2 (order, erp, HTTP 422) at 10:00;
    SKU-9 (stock, erp and wms, HTTP 400) at 11:00."""
    estate = _two_targets(make_estate, wms=["crossdock.stock.*"])
    for hours, (source, body, status, requests) in enumerate(
        [
            ("shop", order("SO-1"), 400, 1),
            ("shop", order("SO-2"), 422, 1),
            ("stock", {"sku": "SKU-9", "on_hand": 4}, 400, 2),
        ]
    ):
        estate.clock.set(START + timedelta(hours=hours))
        estate.sink.program(fail_next=[{"status": status}] * requests)
        estate.post(source, body)
        estate.drain()
    return estate


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # one destination
        ({"destination": "wms"}, {("SKU-9", "wms")}),
        # an event type pattern
        ({"event_type": "crossdock.order.*"}, {("SO-1", "erp"), ("SO-2", "erp")}),
        # an exact event type
        ({"event_type": STOCK_EVENT}, {("SKU-9", "erp"), ("SKU-9", "wms")}),
        # text of the last error
        ({"error": "HTTP 422"}, {("SO-2", "erp")}),
        # created at or after
        ({"since": START + timedelta(minutes=30)}, {("SO-2", "erp"), ("SKU-9", "erp"), ("SKU-9", "wms")}),
        # created before
        ({"until": START + timedelta(minutes=90)}, {("SO-1", "erp"), ("SO-2", "erp")}),
        # a window
        ({"since": START + timedelta(minutes=30), "until": START + timedelta(minutes=90)}, {("SO-2", "erp")}),
        # filters combine
        ({"destination": "erp", "event_type": "crossdock.stock.*"}, {("SKU-9", "erp")}),
    ],
)
def test_dead_letters_can_be_narrowed_by_destination_event_type_error_and_time(
    make_estate: EstateFactory, query: dict[str, Any], expected: set[tuple[str, str]]
) -> None:
    estate = _dead_letters_of_all_kinds(make_estate)
    assert len(estate.deliveries("dead")) == 4

    params = {name: value.isoformat() if hasattr(value, "isoformat") else value for name, value in query.items()}
    found = estate.deliveries("dead", **params)

    assert {(d["subject"], d["destination"]) for d in found} == expected
    replay_filter = {"error_contains" if name == "error" else name: value for name, value in params.items()}
    assert set(_replay(estate, dry_run=True, **replay_filter)["ids"]) == {d["id"] for d in found}, (
        "a bulk replay must choose what the same filter lists"
    )
