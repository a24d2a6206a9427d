"""The WMS connector end to end: releases out as pick releases to a fake WMS that enforces its token and idempotency
keys, and the WMS's signed webhooks in through the intake API into the order, stock and purchase-order desks."""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from crossdock.domain import catalog
from crossdock.domain.procurement import PurchaseOrder, PurchaseOrderLine
from crossdock.domain.workflows.order_to_cash import OrderStatus
from crossdock.domain.workflows.procure_to_pay import POState
from crossdock.entrypoints import cli_governance
from crossdock.entrypoints.api.app import create_app
from crossdock.hub import governance
from crossdock.hub.ports import DeliveryFilter, DeliveryStatus, MessageStatus
from tests.e2e.order_to_cash_estate import OrderToCashEstate, sales_order, settings_for
from tests.fakes.wms import FakeWms

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

WMS, OUT, ERP = "wms", "wms-out", "erp"
NORTH, SOUTH = "WH-NORTH", "WH-SOUTH"
D = Decimal


@pytest.fixture
def fake() -> Iterator[FakeWms]:
    wms = FakeWms()
    wms.start()
    yield wms
    wms.stop()


@dataclass
class WmsEstate:
    estate: OrderToCashEstate
    client: TestClient
    fake: FakeWms

    @property
    def hub(self) -> Any:
        return self.estate.hub

    def webhook(self, event_type: str, data: dict[str, Any], **given: Any) -> httpx.Response:
        body, headers = self.fake.webhook(event_type, data, **given)
        response: httpx.Response = self.client.post(f"/v1/inbound/{WMS}", content=body, headers=headers)
        return response

    def on_hand(self, sku: str, location: str = NORTH) -> Decimal:
        with self.hub.begin() as uow:
            return Decimal(uow.inventory.load([sku]).position(sku, location).on_hand)

    def stock(self, sku: str, quantity: int) -> None:
        """Stock the WMS found on its shelves (it owns on-hand at WH-NORTH)."""
        data = {"adjustment_ref": f"ADJ-{uuid.uuid4().hex[:6]}", "sku": sku, "change": str(quantity), "reason": "found"}
        assert self.webhook("inventory.adjusted", data).status_code == 202
        self.estate.drain()

    def released(self, order: str) -> list[dict[str, Any]]:
        """Pick releases the WMS holds for an order."""
        return [r for r in self.fake.releases.values() if r["order_ref"] == order]

    def head(self) -> int:
        with self.hub.begin() as uow:
            return int(uow.log.head())

    def po_state(self, po: str) -> POState:
        with self.hub.begin() as uow:
            record = uow.purchase_orders.load(po)
        assert record is not None
        return POState.model_validate(record.state)


@pytest.fixture
def wms(tmp_path: Path, fake: FakeWms, database_url: str) -> Iterator[WmsEstate]:
    """Once on SQLite and once on PostgreSQL (database_url)."""
    warehouses = {NORTH: "NORTH"}
    settings = settings_for(
        tmp_path,
        storage={"url": database_url},
        sources={
            WMS: {"kind": "wms", "options": {"warehouses": warehouses, "secret": fake.secret}},
            ERP: {"kind": "canonical"},
        },
        destinations={
            OUT: {
                "kind": "wms",
                "options": {"base_url": fake.url, "token": fake.token, "warehouses": warehouses},
                "retry": {"base_seconds": 1, "max_delay_seconds": 30, "max_attempts": 50},
                "breaker": {"failure_threshold": 3, "reset_seconds": 30},
            }
        },
        subscriptions=[
            {
                "destination": OUT,
                "events": [catalog.ShipmentReleased.event_type, catalog.ReleaseCancelled.event_type],
            }
        ],
        inventory={"authority": [{"location": NORTH, "owner": WMS}]},
        procurement={"suppliers": [{"number": "SUP-1", "currency": "EUR"}]},
    )
    estate = OrderToCashEstate(tmp_path, settings)
    assert estate.runtime is not None
    _, token = cli_governance.create_key(
        estate.hub.begin, estate.clock.now(), name="wms-admin", scopes=[governance.ADMIN], created_by="test"
    )
    with TestClient(create_app(estate.runtime), headers={"Authorization": f"Bearer {token}"}) as client:
        yield WmsEstate(estate, client, fake)
    estate.stop()


def shipped(order: str, *lines: tuple[int, str, int], number: str = "SHP-1") -> dict[str, Any]:
    return {
        "shipment_ref": number,
        "order_ref": order,
        "carrier": "UPS",
        "tracking_numbers": ["1Z999AA10123456784"],
        "shipped_at": "2025-03-03T15:30:00+00:00",
        "lines": [{"line": n, "sku": sku, "quantity": str(q)} for n, sku, q in lines],
    }


def test_an_order_released_during_a_wms_outage_reaches_the_wms_once_when_it_returns(wms: WmsEstate) -> None:
    wms.stock("A", 10)
    wms.fake.down = True
    wms.estate.order(sales_order("SO-1", ("A", 4, "5.00"), customer="C1"))
    wms.estate.drain()
    assert wms.released("SO-1") == []
    assert [c.status for c in wms.fake.calls("/pick-releases")] == [503]  # tried, refused, queued

    wms.fake.down = False
    wms.estate.later(seconds=60)
    wms.estate.later(seconds=60)  # and nothing more is sent once it went through

    [release] = wms.released("SO-1")
    assert release["warehouse"] == "NORTH"
    assert release["ship_to"]["customer"] == "C1"
    assert [(ln["line"], ln["sku"], ln["quantity"]) for ln in release["lines"]] == [(1, "A", "4")]
    accepted = wms.fake.calls("/pick-releases", status=201)
    assert len(accepted) == 1
    # The retry carried the key of the first try: the delivery's id.
    assert {c.idempotency_key for c in wms.fake.calls("/pick-releases")} == {accepted[0].idempotency_key}
    assert wms.estate.state("SO-1").status is OrderStatus.RELEASED


def test_a_release_whose_answer_was_lost_is_not_picked_twice(wms: WmsEstate) -> None:
    wms.stock("A", 10)
    wms.fake.lose_answers = 1  # the WMS creates the pick release, the gateway loses its answer
    wms.estate.order(sales_order("SO-2", ("A", 3, "5.00")))
    wms.estate.drain()
    wms.estate.later(seconds=60)
    assert [c.status for c in wms.fake.calls("/pick-releases")] == [503, 201]
    assert len(wms.released("SO-2")) == 1  # the second try got the first answer, not a second pick release


def test_a_partial_ship_confirmation_with_tracking_shows_the_shipped_part_on_the_order(wms: WmsEstate) -> None:
    wms.stock("A", 10)
    wms.estate.order(sales_order("SO-3", ("A", 4, "5.00")))
    wms.estate.drain()
    [release] = wms.released("SO-3")
    picked = {
        "order_ref": "SO-3",
        "release_ref": release["release_ref"],
        "lines": [{"line": 1, "sku": "A", "quantity": "3"}],
    }
    assert wms.webhook("pick.confirmed", picked).status_code == 202
    assert wms.webhook("shipment.shipped", shipped("SO-3", (1, "A", 3))).status_code == 202
    wms.estate.drain()

    state = wms.estate.state("SO-3")
    assert state.status is OrderStatus.PARTIALLY_SHIPPED
    [line] = state.lines
    assert (line.shipped, line.open) == (D(3), D(4))
    [confirmed] = wms.estate.events(catalog.ShipmentConfirmed.event_type, "SO-3")
    assert confirmed["shipment"]["carrier"] == "UPS"
    assert confirmed["shipment"]["tracking_numbers"] == ["1Z999AA10123456784"]
    assert confirmed["shipment"]["from_location"] == NORTH
    assert wms.on_hand("A") == D(7)
    # The pick is kept in the order's history, though no business rule acts on it.
    assert len(wms.estate.events(catalog.ShipmentPicked.event_type, "SO-3")) == 1


def test_a_receipt_with_damage_stocks_the_good_units_and_reaches_the_purchase_order(wms: WmsEstate) -> None:
    order = PurchaseOrder(
        number="PO-7",
        supplier="SUP-1",
        currency="EUR",
        ship_to=NORTH,
        lines=(
            PurchaseOrderLine(line=1, sku="B", quantity=catalog.Quantity(value=D(12), unit="EA"), unit_price=D("2.00")),
        ),
    )
    wms.estate.event(
        ERP, catalog.PurchaseOrderIssued.event_type, catalog.data_of(catalog.PurchaseOrderIssued(purchase_order=order))
    )
    wms.estate.drain()
    received = {
        "receipt_ref": "GR-7",
        "po_ref": "PO-7",
        "received_on": "2025-03-03",
        "lines": [
            {
                "line": 1,
                "sku": "B",
                "quantity": "12",
                "damaged": "2",
                "lots": [{"lot": "L-1", "quantity": "7"}, {"lot": "L-2", "quantity": "5", "expires_on": "2026-01-31"}],
            }
        ],
    }
    assert wms.webhook("receipt.completed", received).status_code == 202
    wms.estate.drain()

    assert wms.on_hand("B") == D(10)  # the two damaged units never reach stock
    [line] = wms.po_state("PO-7").lines
    assert (line.received, line.damaged) == (D(10), D(2))
    [posted] = wms.estate.events(catalog.GoodsReceiptPosted.event_type, "PO-7")
    assert [lot["number"] for lot in posted["receipt"]["lines"][0]["lots"]] == ["L-1", "L-2"]


def test_a_cycle_count_moves_on_hand_by_the_variance_the_wms_found(wms: WmsEstate) -> None:
    wms.stock("A", 10)
    wms.stock("B", 5)
    counted = {
        "count_ref": "CC-1",
        "lines": [
            {"sku": "A", "expected": "10", "counted": "8"},
            {"sku": "B", "expected": "5", "counted": "5"},  # counted as expected: nothing to post
        ],
    }
    assert wms.webhook("cycle_count.completed", counted).status_code == 202
    wms.estate.drain()
    assert (wms.on_hand("A"), wms.on_hand("B")) == (D(8), D(5))
    [adjusted] = [
        e for e in wms.estate.events(catalog.InventoryAdjusted.event_type, "A") if e["reason"] == "cycle_count"
    ]
    assert adjusted["change"]["value"] == "-2"


def test_a_count_at_a_location_another_system_owns_is_raised_not_applied(
    tmp_path: Path, fake: FakeWms, database_url: str
) -> None:
    settings = settings_for(
        tmp_path,
        storage={"url": database_url},
        sources={WMS: {"kind": "wms", "options": {"warehouses": {NORTH: "NORTH"}}}, ERP: {"kind": "canonical"}},
        inventory={"authority": [{"location": NORTH, "owner": ERP}]},
    )
    estate = OrderToCashEstate(tmp_path, settings)
    try:
        body, _ = fake.webhook(
            "cycle_count.completed", {"count_ref": "CC-2", "lines": [{"sku": "A", "expected": "0", "counted": "4"}]}
        )
        estate.hub.receive(WMS, body, {})
        estate.drain()
        with estate.hub.begin() as uow:
            assert uow.inventory.load(["A"]).position("A", NORTH).on_hand == 0
        assert [e.reason_code for e in estate.exceptions(NORTH)] == ["stock_authority_conflict"]
    finally:
        estate.stop()


def test_a_cancelled_line_stops_its_picking_at_the_wms(wms: WmsEstate) -> None:
    wms.stock("A", 10)
    wms.estate.order(sales_order("SO-4", ("A", 4, "5.00")))
    wms.estate.drain()
    cancel = {
        "order": "SO-4",
        "cancellation": "CAN-1",
        "lines": [{"line_id": "1", "quantity": "1"}],
        "reason": "customer",
    }
    wms.estate.event(ERP, catalog.OrderCancellationRequested.event_type, cancel)
    wms.estate.drain()
    [release] = wms.released("SO-4")
    assert [(ln["line"], ln["cancelled"]) for ln in release["lines"]] == [(1, "1")]
    assert wms.fake.calls("/cancellations", status=200)[0].idempotency_key is not None


def test_pick_and_pack_confirmations_show_each_releases_warehouse_stage_on_the_order(wms: WmsEstate) -> None:
    wms.stock("A", 10)
    wms.stock("B", 10)
    wms.estate.order(sales_order("SO-6", ("A", 4, "5.00"), ("B", 2, "3.00")))
    wms.estate.drain()
    [release] = wms.released("SO-6")
    ref = release["release_ref"]
    before = wms.client.get("/v1/orders/SO-6").json()["releases"]

    picked = {"order_ref": "SO-6", "release_ref": ref, "lines": [{"line": 1, "sku": "A", "quantity": "4"}]}
    short = {"order_ref": "SO-6", "release_ref": ref, "lines": [{"line": 2, "sku": "B", "quantity": "0"}]}
    packed = {
        "order_ref": "SO-6",
        "release_ref": ref,
        "packages": [{"package_ref": "PKG-1", "tracking_number": "1Z999AA10123456784"}],
        "lines": [{"line": 1, "sku": "A", "quantity": "4"}],
    }
    assert wms.webhook("pick.confirmed", picked).status_code == 202
    assert wms.webhook("pick.confirmed", short).status_code == 202  # B was not on the shelf
    wms.estate.drain()
    after_pick = wms.client.get("/v1/orders/SO-6").json()["releases"]
    assert wms.webhook("pack.confirmed", packed).status_code == 202
    wms.estate.drain()
    view = wms.client.get("/v1/orders/SO-6").json()

    assert [(r["release"], r["location"], r["stage"]) for r in before] == [(ref, NORTH, "released")]
    assert [r["stage"] for r in after_pick] == ["picked"]
    [stage] = view["releases"]
    assert stage["stage"] == "packed"
    assert [(ln["line"], ln["released"], ln["picked"], ln["packed"]) for ln in stage["lines"]] == [
        (1, "4", "4", "4"),
        (2, "2", "0", "0"),  # picked short: the view says so, the order's rules are untouched
    ]
    assert stage["packages"] == [{"package": "PKG-1", "tracking_number": "1Z999AA10123456784"}]
    assert {"released_at", "picked_at", "packed_at"} <= set(stage)
    [pack] = wms.estate.events(catalog.ShipmentPacked.event_type, "SO-6")
    assert (pack["release"], pack["from_location"]) == (ref, NORTH)
    assert view["status"] == OrderStatus.RELEASED.value, "a pick or pack moves no business rule"
    assert wms.estate.state("SO-6").lines[1].open == D(2)


def test_a_line_cancelled_after_its_release_stops_only_what_each_warehouse_was_released(wms: WmsEstate) -> None:
    wms.stock("A", 2)
    wms.estate.receipt("A", SOUTH, 2, source=ERP)
    wms.estate.drain()
    wms.estate.order(sales_order("SO-7", ("A", 4, "5.00")))
    wms.estate.drain()
    released = wms.estate.events(catalog.ShipmentReleased.event_type, "SO-7")
    assert sorted((r["from_location"], r["lines"][0]["quantity"]["value"]) for r in released) == [
        (NORTH, "2"),
        (SOUTH, "2"),
    ]
    [release] = wms.released("SO-7")  # the WMS runs the north warehouse only

    def cancel(number: str, quantity: int) -> None:
        request = {"order": "SO-7", "cancellation": number, "lines": [{"line_id": "1", "quantity": str(quantity)}]}
        wms.estate.event(ERP, catalog.OrderCancellationRequested.event_type, request | {"reason": "customer"})
        wms.estate.drain()

    cancel("CAN-1", 1)
    first = wms.estate.events(catalog.ReleaseCancelled.event_type, "SO-7")
    cancel("CAN-2", 3)
    every = wms.estate.events(catalog.ReleaseCancelled.event_type, "SO-7")

    # The newest release gives first, as the warehouses take cancellations; each location is told its own part.
    assert [(c["from_location"], c["lines"][0]["quantity"]) for c in first] == [(SOUTH, "1")]
    assert [(c["from_location"], c["lines"][0]["quantity"]) for c in every[1:]] == [(NORTH, "2"), (SOUTH, "1")]
    [call] = wms.fake.calls("/cancellations")
    assert call.status == 200
    assert (call.body["warehouse"], call.body["lines"]) == ("NORTH", [{"line": 1, "sku": "A", "quantity": "2"}])
    assert [(ln["line"], ln["cancelled"]) for ln in wms.released("SO-7")[0]["lines"]] == [(1, "2")]
    assert release["release_ref"] == wms.released("SO-7")[0]["release_ref"]
    with wms.hub.begin() as uow:
        sent = uow.outbox.find(DeliveryFilter(event_type=catalog.ReleaseCancelled.event_type, status=None))
    # The south warehouse's parts are delivered without a call: nothing there is the WMS's to stop.
    assert sorted(d.status for d in sent) == [DeliveryStatus.DELIVERED] * 3


def test_a_replayed_webhook_changes_nothing(wms: WmsEstate) -> None:
    wms.stock("A", 10)
    wms.estate.order(sales_order("SO-5", ("A", 4, "5.00")))
    wms.estate.drain()
    first = wms.webhook("shipment.shipped", shipped("SO-5", (1, "A", 4), number="SHP-5"), event_id="evt-ship-5")
    wms.estate.drain()
    head, on_hand = wms.head(), wms.on_hand("A")
    again = wms.webhook("shipment.shipped", shipped("SO-5", (1, "A", 4), number="SHP-5"), event_id="evt-ship-5")
    wms.estate.drain()
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["duplicate"] is True
    assert (wms.head(), wms.on_hand("A")) == (head, on_hand)
    [line] = wms.estate.state("SO-5").lines
    assert line.shipped == D(4)  # once, not twice
    assert len(wms.estate.events(catalog.InvoicePosted.event_type, "SO-5")) == 1


def test_a_webhook_signed_with_another_secret_is_kept_failed_and_changes_nothing(wms: WmsEstate) -> None:
    wms.stock("A", 10)
    head = wms.head()
    data = {"adjustment_ref": "ADJ-X", "sku": "A", "change": "-10", "reason": "lost"}
    response = wms.webhook("inventory.adjusted", data, secret="not the WMS's secret")
    wms.estate.drain()
    assert response.status_code == 422
    assert "X-Wms-Signature does not match" in response.json()["detail"]
    with wms.hub.begin() as uow:
        [kept] = [m for m in uow.inbox.find(source=WMS, limit=100) if m.status is MessageStatus.FAILED]
    assert json.loads(kept.body)["data"]["adjustment_ref"] == "ADJ-X"
    assert (wms.head(), wms.on_hand("A")) == (head, D(10))
