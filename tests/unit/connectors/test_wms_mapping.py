"""The WMS's webhooks and requests as the connector's README documents them, mapped to and from the catalogue."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from crossdock.connectors.wms import mapping
from crossdock.domain import catalog
from crossdock.hub.errors import MappingError

WAREHOUSES = mapping.Warehouses({"WH-NORTH": "NORTH", "WH-SOUTH": "SOUTH"})
D = Decimal


def event(event_type: str, data: dict[str, Any], warehouse: str = "NORTH") -> mapping.WmsEvent:
    body = {
        "event_id": "evt-1",
        "type": event_type,
        "occurred_at": "2025-03-03T10:00:00+00:00",
        "warehouse": warehouse,
        "data": data,
    }
    return mapping.read_event(json.dumps(body).encode())


def line(n: int, sku: str, quantity: str, **extra: Any) -> dict[str, Any]:
    return {"line": n, "sku": sku, "quantity": quantity, **extra}


def test_a_shipment_lists_only_what_left_from_the_hub_location_of_the_warehouse() -> None:
    shipped = event(
        "shipment.shipped",
        {
            "shipment_ref": "SHP-1",
            "order_ref": "SO-1",
            "carrier": "UPS",
            "tracking_numbers": ["1Z1", "1Z2"],
            "lines": [line(1, "A", "3"), line(2, "B", "0")],
        },
        warehouse="SOUTH",
    )
    [fact] = mapping.facts(shipped, WAREHOUSES)
    confirmed = catalog.ShipmentConfirmed.model_validate(fact.data)
    assert (fact.type, fact.subject) == (catalog.ShipmentConfirmed.event_type, "SO-1")
    assert confirmed.shipment.from_location == "WH-SOUTH"
    assert confirmed.shipment.tracking_numbers == ("1Z1", "1Z2")
    assert [(ln.line, ln.quantity.value) for ln in confirmed.shipment.lines] == [(1, D(3))]
    assert confirmed.shipment.shipped_at == shipped.occurred_at  # no shipped_at: when the event happened


def test_a_shipment_of_nothing_is_refused() -> None:
    nothing = event("shipment.shipped", {"shipment_ref": "S", "order_ref": "SO-1", "lines": [line(1, "A", "0")]})
    with pytest.raises(MappingError, match="nothing was shipped"):
        mapping.facts(nothing, WAREHOUSES)


def test_a_warehouse_the_wms_does_not_run_for_the_hub_is_refused_by_its_code() -> None:
    elsewhere = event(
        "inventory.adjusted", {"adjustment_ref": "1", "sku": "A", "change": "1", "reason": "found"}, "EAST"
    )
    with pytest.raises(MappingError, match="'EAST' is not a warehouse this WMS runs"):
        mapping.facts(elsewhere, WAREHOUSES)


def test_a_receipt_against_a_purchase_order_is_a_goods_receipt_with_its_damage_and_lots() -> None:
    received = event(
        "receipt.completed",
        {
            "receipt_ref": "GR-1",
            "po_ref": "PO-1",
            "asn_ref": "ASN-1",
            "lines": [line(1, "A", "12", damaged="2", lots=[{"lot": "L1", "quantity": "12"}])],
        },
    )
    [fact] = mapping.facts(received, WAREHOUSES)
    receipt = catalog.GoodsReceiptPosted.model_validate(fact.data).receipt
    assert (fact.subject, receipt.location, receipt.asn) == ("PO-1", "WH-NORTH", "ASN-1")
    [got] = receipt.lines
    assert (got.quantity.value, got.damaged, got.accepted, got.lots[0].number) == (D(12), D(2), D(10), "L1")


def test_more_damaged_than_received_is_refused_naming_the_line() -> None:
    received = event(
        "receipt.completed", {"receipt_ref": "GR-1", "po_ref": "PO-1", "lines": [line(1, "A", "2", damaged="3")]}
    )
    with pytest.raises(MappingError, match="line 1: 3 damaged of 2 received"):
        mapping.facts(received, WAREHOUSES)


def test_a_receipt_without_a_purchase_order_stocks_only_the_good_units_as_a_return() -> None:
    returned = event(
        "receipt.completed",
        {"receipt_ref": "RMA-1", "lines": [line(1, "A", "3", damaged="1"), line(2, "B", "1", damaged="1")]},
    )
    [fact] = mapping.facts(returned, WAREHOUSES)  # B came back broken: nothing to stock
    adjusted = catalog.InventoryAdjusted.model_validate(fact.data)
    assert (adjusted.sku, adjusted.change.value, adjusted.reason) == ("A", D(2), catalog.AdjustmentReason.RETURN)


def test_a_cycle_count_posts_each_variance_signed_and_nothing_for_what_counted_as_expected() -> None:
    counted = event(
        "cycle_count.completed",
        {
            "count_ref": "CC-1",
            "lines": [
                {"sku": "A", "expected": "10", "counted": "8"},
                {"sku": "B", "expected": "4", "counted": "4"},
                {"sku": "C", "expected": "0", "counted": "2"},
            ],
        },
    )
    found = [catalog.InventoryAdjusted.model_validate(f.data) for f in mapping.facts(counted, WAREHOUSES)]
    assert [(a.sku, a.change.value, a.reason) for a in found] == [
        ("A", D(-2), catalog.AdjustmentReason.CYCLE_COUNT),
        ("C", D(2), catalog.AdjustmentReason.CYCLE_COUNT),
    ]


def test_a_sku_counted_twice_in_one_count_is_refused() -> None:
    twice = event(
        "cycle_count.completed", {"count_ref": "CC", "lines": [{"sku": "A", "expected": "1", "counted": "1"}] * 2}
    )
    with pytest.raises(MappingError, match="sku A is counted twice"):
        mapping.facts(twice, WAREHOUSES)


@pytest.mark.parametrize(
    ("event_type", "data", "named"),
    [
        # a line without its sku: the path into the payload is named
        (
            "shipment.shipped",
            {"shipment_ref": "S", "order_ref": "O", "lines": [{"line": 1, "quantity": "1"}]},
            "data.lines.0.sku",
        ),
        # a negative quantity shipped
        (
            "shipment.shipped",
            {"shipment_ref": "S", "order_ref": "O", "lines": [line(1, "A", "-1")]},
            "data.lines.0.quantity",
        ),
        # an adjustment reason the API does not list
        ("inventory.adjusted", {"adjustment_ref": "1", "sku": "A", "change": "1", "reason": "theft"}, "data.reason"),
    ],
)
def test_a_bad_field_is_named_by_its_place_in_the_payload(event_type: str, data: dict[str, Any], named: str) -> None:
    with pytest.raises(MappingError, match=named.replace(".", r"\.")):
        mapping.facts(event(event_type, data), WAREHOUSES)


def test_an_unknown_event_type_is_refused_at_reading() -> None:
    body = {
        "event_id": "e",
        "type": "order.teleported",
        "occurred_at": "2025-03-03T10:00:00Z",
        "warehouse": "N",
        "data": {},
    }
    with pytest.raises(MappingError, match=r"^type: "):
        mapping.read_event(json.dumps(body).encode())


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        (None, "is missing"),  # unsigned, to a source that has a secret
        ("sha256=00", "does not match"),  # signed with something else
    ],
)
def test_a_source_with_a_secret_refuses_what_it_did_not_sign(given: str | None, problem: str) -> None:
    with pytest.raises(MappingError, match=problem):
        mapping.check_signature("s3cret", b"{}", given)


def test_a_body_signed_with_the_secret_passes() -> None:
    mapping.check_signature("s3cret", b"{}", mapping.signature("s3cret", b"{}"))
    mapping.check_signature(None, b"{}", None)  # a source without a secret takes unsigned webhooks


def test_a_release_becomes_a_pick_release_with_the_wms_warehouse_code_and_the_ship_to() -> None:
    released = catalog.ShipmentReleased.model_validate(
        {
            "release": "REL-1",
            "order": "SO-1",
            "from_location": "WH-NORTH",
            "lines": [{"line": 2, "sku": "A", "quantity": {"value": "4", "unit": "EA"}}],
        }
    )
    body = mapping.pick_release(released, "NORTH", mapping.ShipTo("C1", "Contoso", customer_reference="PO-77"))
    assert body == {
        "release_ref": "REL-1",
        "order_ref": "SO-1",
        "warehouse": "NORTH",
        "ship_to": {"customer": "C1", "name": "Contoso"},
        "customer_reference": "PO-77",
        "lines": [{"line": 2, "sku": "A", "quantity": "4", "unit": "EA"}],
    }


def test_a_cancellation_that_does_not_say_how_much_cannot_reach_the_wms() -> None:
    vague = catalog.ReleaseCancelled.model_validate({"order": "SO-1", "lines": [{"line_id": "1"}]})
    with pytest.raises(MappingError, match="does not say how much of line 1"):
        mapping.cancellation(vague)


def test_two_hub_locations_cannot_share_a_wms_warehouse_code() -> None:
    with pytest.raises(ValueError, match="same WMS warehouse code"):
        mapping.Warehouses({"WH-1": "N", "WH-2": "N"})
