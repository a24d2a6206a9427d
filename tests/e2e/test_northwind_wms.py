"""The demo's simulated WMS speaks the API of the WMS connector's README, as the connector's own sender sees it: pick
releases keyed by the delivery id (a retry whose answer was lost picks nothing twice), cancellations off the newest
release at the warehouse named, the token and the Idempotency-Key enforced, a key reused with another body refused,
and 503 with Retry-After while it is down, which the sender retries."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from crossdock.connectors.wms import client as wms_client
from crossdock.connectors.wms.mapping import ShipTo, Warehouses
from crossdock.connectors.wms.outbound import WmsSender
from crossdock.domain import catalog
from crossdock.domain.documents import Quantity, ShipmentLine
from crossdock.entrypoints.cli_demo import NORTH, SOUTH, SimulatedWms, WmsLink
from crossdock.hub.ports import AttemptOutcome, Delivery, SendResult
from tests.e2e.conftest import free_port
from tests.unit.factories import make_delivery

CODES = {NORTH: "NORTH", SOUTH: "SOUTH"}
TOKEN = "wms-token"


@pytest.fixture
def wms() -> Iterator[SimulatedWms]:
    simulated = SimulatedWms(WmsLink("127.0.0.1", free_port(), TOKEN, CODES, secret=None))
    simulated.start()
    yield simulated
    simulated.stop()


def url(wms: SimulatedWms) -> str:
    return f"http://127.0.0.1:{wms.link.port}"


def sender(wms: SimulatedWms, token: str = TOKEN) -> WmsSender:
    client = wms_client.WmsClient(url(wms), token, timeout_seconds=5)
    return WmsSender("wms", Warehouses(CODES), client, ship_to=lambda order: ShipTo(customer="C-1001", name="Contoso"))


def delivery(payload: catalog.Payload, delivery_id: str) -> Delivery:
    data = catalog.data_of(payload)
    return make_delivery(id=delivery_id, event_type=payload.event_type, payload={"data": data}, destination="wms")


def released(release: str, location: str, *lines: tuple[int, str, int]) -> catalog.ShipmentReleased:
    return catalog.ShipmentReleased(
        release=release,
        order="SO-1",
        from_location=location,
        lines=tuple(
            ShipmentLine(line=n, sku=sku, quantity=Quantity(value=Decimal(q), unit="EA")) for n, sku, q in lines
        ),
    )


def cancelled(location: str | None, line: int, sku: str, quantity: int) -> catalog.ReleaseCancelled:
    return catalog.ReleaseCancelled.model_validate(
        {
            "order": "SO-1",
            "from_location": location,
            "lines": [{"line_id": str(line), "sku": sku, "quantity": str(quantity)}],
            "reason": "the customer changed its mind",
        }
    )


def send(wms: SimulatedWms, *deliveries: Delivery, token: str = TOKEN) -> list[SendResult]:
    out = sender(wms, token)
    try:
        return out.send(list(deliveries))
    finally:
        out.close()


def open_lines(wms: SimulatedWms) -> dict[str, dict[int, tuple[str, Decimal]]]:
    return {picks.release: picks.open for picks in wms.to_ship()}


def test_a_release_sent_again_under_its_delivery_id_gets_the_first_answer_and_is_picked_once(
    wms: SimulatedWms,
) -> None:
    release = delivery(released("REL-1", NORTH, (1, "WIDGET-1", 24)), "dlv-1")

    first, again = send(wms, release, release)

    assert (first.outcome, first.status_code) == (AttemptOutcome.DELIVERED, 201)
    assert (again.outcome, again.status_code) == (AttemptOutcome.DELIVERED, 201)
    assert open_lines(wms) == {"REL-1": {1: ("WIDGET-1", Decimal(24))}}
    assert (wms.taken, wms.repeats) == (1, 1)


def test_a_cancellation_stops_unpicked_quantities_at_the_warehouse_named_newest_release_first(
    wms: SimulatedWms,
) -> None:
    send(
        wms,
        delivery(released("REL-1", NORTH, (1, "WIDGET-1", 10)), "dlv-1"),
        delivery(released("REL-2", NORTH, (1, "WIDGET-1", 4)), "dlv-2"),
        delivery(released("REL-3", SOUTH, (1, "WIDGET-1", 6)), "dlv-3"),
    )

    [result] = send(wms, delivery(cancelled(NORTH, 1, "WIDGET-1", 6), "dlv-4"))

    assert result.outcome is AttemptOutcome.DELIVERED
    assert open_lines(wms) == {
        "REL-1": {1: ("WIDGET-1", Decimal(8))},  # 4 off the newest release, which is then empty, 2 off this one
        "REL-3": {1: ("WIDGET-1", Decimal(6))},  # the other warehouse's release is not touched
    }


def test_a_cancellation_for_an_order_it_holds_nothing_of_is_404_which_the_hub_takes_as_delivered(
    wms: SimulatedWms,
) -> None:
    [result] = send(wms, delivery(cancelled(SOUTH, 1, "WIDGET-1", 1), "dlv-1"))

    assert (result.outcome, result.status_code) == (AttemptOutcome.DELIVERED, 404)


def test_while_it_is_down_it_answers_503_with_retry_after_and_the_release_is_retried_then_taken(
    wms: SimulatedWms,
) -> None:
    release = delivery(released("REL-1", NORTH, (1, "WIDGET-1", 2)), "dlv-1")
    wms.down = True
    [refused] = send(wms, release)
    wms.down = False
    [taken] = send(wms, release)

    assert (refused.outcome, refused.status_code, refused.retry_after_seconds) == (AttemptOutcome.RETRYABLE, 503, 1.0)
    assert taken.outcome is AttemptOutcome.DELIVERED
    assert (wms.refused, wms.taken) == (1, 1)


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        # no bearer token
        ({"Idempotency-Key": "k-1"}, {"order_ref": "SO-1"}, 401),
        # a write without an Idempotency-Key
        ({"Authorization": f"Bearer {TOKEN}"}, {"order_ref": "SO-1"}, 400),
        # a warehouse it does not run
        (
            {"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": "k-2"},
            {
                "release_ref": "REL-9",
                "order_ref": "SO-1",
                "warehouse": "EAST",
                "ship_to": {"customer": "C-1"},
                "lines": [{"line": 1, "sku": "WIDGET-1", "quantity": "1"}],
            },
            422,
        ),
    ],
)
def test_a_call_the_api_does_not_allow_is_refused_with_its_status(
    wms: SimulatedWms, headers: dict[str, str], body: dict[str, Any], status: int
) -> None:
    answer = httpx.post(f"{url(wms)}{wms_client.PICK_RELEASES}", json=body, headers=headers)

    assert answer.status_code == status, answer.text
    assert wms.to_ship() == []


def test_a_key_used_again_with_another_body_is_refused_and_changes_nothing(wms: SimulatedWms) -> None:
    send(wms, delivery(released("REL-1", NORTH, (1, "WIDGET-1", 2)), "dlv-1"))

    [result] = send(wms, delivery(released("REL-2", NORTH, (1, "GADGET-2", 5)), "dlv-1"))

    assert (result.outcome, result.status_code) == (AttemptOutcome.PERMANENT, 422)
    assert open_lines(wms) == {"REL-1": {1: ("WIDGET-1", Decimal(2))}}
