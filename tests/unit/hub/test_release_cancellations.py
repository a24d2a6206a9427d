"""Where a release cancellation goes: the order desk tells each location its own part of what it was released (newest
release first, shipped quantities no longer there), and a CSV 3PL's cancel files name its shipping orders."""

from __future__ import annotations

from decimal import Decimal
from itertools import count
from typing import Any

import pytest
from pydantic import ValidationError

from crossdock.connectors.threepl import mapping
from crossdock.domain import catalog, documents
from crossdock.domain.events import Envelope
from crossdock.hub.handlers.orders import released_where
from tests.unit.factories import make_envelope

D = Decimal
ORDER = "SO-1"
_ids = count(1)


def fact(payload: catalog.Payload, event_id: str | None = None) -> Envelope:
    return make_envelope(
        id=event_id or f"evt-{next(_ids)}",
        type=catalog.type_of(payload),
        subject=ORDER,
        data=catalog.data_of(payload),
    )


def line(number: int, quantity: int) -> documents.ShipmentLine:
    return documents.ShipmentLine(line=number, sku="A", quantity=documents.Quantity(value=D(quantity), unit="EA"))


def released(release: str, location: str, *lines: documents.ShipmentLine) -> Envelope:
    return fact(catalog.ShipmentReleased(release=release, order=ORDER, from_location=location, lines=lines))


def shipped(location: str, *lines: documents.ShipmentLine) -> Envelope:
    shipment = documents.Shipment(number=f"SHP-{next(_ids)}", order=ORDER, from_location=location, lines=lines)
    return fact(catalog.ShipmentConfirmed(shipment=shipment))


def cancelled(quantity: int, location: str | None, event_id: str | None = None) -> Envelope:
    taken = (catalog.CancelledLine(line_id="1", sku="A", quantity=D(quantity)),)
    payload = catalog.ReleaseCancelled(order=ORDER, lines=taken, reason="lines cancelled", from_location=location)
    return fact(payload, event_id)


def test_what_is_still_with_each_warehouse_is_listed_newest_release_first() -> None:
    history = [released("REL-1", "NORTH", line(1, 3)), released("REL-2", "SOUTH", line(1, 2))]

    assert released_where(ORDER, history) == {"1": [("SOUTH", D(2)), ("NORTH", D(3))]}


def test_shipped_and_already_cancelled_quantities_are_no_longer_with_the_warehouse() -> None:
    history = [
        released("REL-1", "NORTH", line(1, 3)),
        released("REL-2", "SOUTH", line(1, 2)),
        shipped("NORTH", line(1, 1)),
        cancelled(2, "SOUTH"),
    ]

    assert released_where(ORDER, history) == {"1": [("NORTH", D(2))]}


def test_a_cancellation_recorded_before_cancellations_named_their_location_takes_the_newest_release_first() -> None:
    history = [released("REL-1", "NORTH", line(1, 3)), released("REL-2", "SOUTH", line(1, 2)), cancelled(3, None)]

    assert released_where(ORDER, history) == {"1": [("NORTH", D(2))]}


def test_a_release_cancelled_event_recorded_without_a_location_still_reads() -> None:
    data: dict[str, Any] = {"order": ORDER, "lines": [{"line_id": "1", "sku": "A", "quantity": "1"}], "reason": "x"}

    read = catalog.payload_as(
        make_envelope(type=catalog.ReleaseCancelled.event_type, data=data), catalog.ReleaseCancelled
    )

    assert read.from_location is None


def test_a_handled_quantity_below_zero_is_refused() -> None:
    with pytest.raises(ValidationError, match="never below 0"):
        catalog.HandledLine(line=1, sku="A", quantity=documents.Quantity(value=D(-1), unit="EA"))


def test_a_3pl_cancel_file_spreads_a_cancellation_over_its_shipping_orders_newest_first() -> None:
    history = [
        released("REL-1", "WH-3PL", line(1, 3)),
        released("REL-X", "WH-OWN", line(1, 5)),  # another location's release: not the 3PL's to cancel
        released("REL-2", "WH-3PL", line(1, 2)),
        cancelled(1, "WH-OWN"),
        cancelled(3, "WH-3PL", "evt-cancel"),
        cancelled(1, "WH-3PL", "evt-later"),  # after the one being sent: a resend writes the same files
    ]

    found, unplaced = mapping.release_cancellations(history, "WH-3PL", "evt-cancel")

    assert [(c.release, c.lines) for c in found] == [
        ("REL-1", ((1, "A", D(1), "EA"),)),
        ("REL-2", ((1, "A", D(2), "EA"),)),
    ]
    assert unplaced == 0


def test_a_3pl_cancel_file_says_the_total_cancelled_of_its_shipping_order_so_far() -> None:
    history = [released("REL-1", "WH-3PL", line(1, 3)), cancelled(1, "WH-3PL"), cancelled(1, "WH-3PL", "evt-second")]

    [found], unplaced = mapping.release_cancellations(history, "WH-3PL", "evt-second")

    assert found.lines == ((1, "A", D(2), "EA"),)
    assert unplaced == 0


def test_what_no_shipping_order_of_the_3pl_holds_is_reported_unplaced() -> None:
    history = [released("REL-1", "WH-3PL", line(1, 1)), cancelled(3, "WH-3PL", "evt-cancel")]

    [found], unplaced = mapping.release_cancellations(history, "WH-3PL", "evt-cancel")

    assert found.lines == ((1, "A", D(1), "EA"),)
    assert unplaced == D(2)
