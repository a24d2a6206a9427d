from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from crossdock.connectors import x12
from crossdock.connectors.x12 import mapping
from crossdock.domain import catalog, documents
from tests.unit.connectors.x12.mapping.helpers import (
    only,
    read_back,
    rules,
    sent,
    through_the_wire,
    trailer_counts,
    transactions,
)

THREE_PL = rules("VN", location="3PL-RENO", timezone="America/Los_Angeles")


def qty(value: int | str, unit: str = "EA") -> documents.Quantity:
    return documents.Quantity(value=Decimal(value), unit=unit)


def test_the_940_sample_reads_as_a_warehouse_order() -> None:
    order = mapping.warehouse_order_from_940(
        only("x12-940/ediengine_940_3-lines_newline-terminated.edi", "940"), THREE_PL
    )

    assert (order.order, order.customer_reference, order.release, order.warehouse) == (
        "538686",
        None,
        "538686",
        "0000000000140",
    )
    assert order.ship_to == mapping.Address(
        name="ST COMPANY", id="00000001", street=("ADDRESS",), city="CITY", state="CA", postal_code="00003"
    )
    assert (order.requested_ship_on, order.requested_delivery_on, order.carrier) == (
        date(2000, 2, 4),
        date(2000, 2, 7),
        "MTEN",
    )
    assert [(ln.line, ln.sku, ln.quantity, ln.description) for ln in order.lines] == [
        (1, "000100", qty(12, "CASE"), "11.500 STRUD BLUBRY"),
        (2, "000200", qty(32, "CASE"), "11.500 STRUD CINN"),
        (3, "000300", qty(12, "CASE"), "11.500 STRUDEL RASPBRY"),
    ]
    assert sum(ln.quantity.value for ln in order.lines) == 56  # W76


def test_every_940_of_two_interchanges_reads_as_a_one_line_order() -> None:
    orders = [
        mapping.warehouse_order_from_940(tx, THREE_PL)
        for tx in transactions("x12-940/ediengine_940_two-interchanges_four-groups.edi", "940")
    ]

    assert len(orders) == 6
    assert {(o.order, len(o.lines), o.lines[0].quantity) for o in orders} == {("538686", 1, qty(12, "CASE"))}


def test_a_warehouse_release_goes_out_as_a_940_and_reads_back_equal() -> None:
    release = catalog.ShipmentReleased(
        release="REL-3",
        order="SO-9",
        from_location="3PL-RENO",
        lines=(
            documents.ShipmentLine(line=1, sku="SKU-1", quantity=qty(5)),
            documents.ShipmentLine(line=2, sku="SKU-2", quantity=qty(2, "CASE")),
        ),
    )
    ship_to = mapping.Address(
        name="Store 12",
        id="ST-12",
        street=("1 Main St", "Dock 4"),
        city="Reno",
        state="NV",
        postal_code="89501",
        country="US",
    )
    order = mapping.warehouse_order_from_release(
        release,
        ship_to=ship_to,
        customer_reference="THEIR-PO",
        requested_ship_on=date(2024, 3, 4),
        carrier="UPSN",
        descriptions={"SKU-1": "Blue widget"},
    )

    text = sent(THREE_PL, [mapping.warehouse_order_to_940(order, THREE_PL)])

    (back,) = read_back(text)
    assert trailer_counts(text) == {"SE": ["15"], "GE": ["1"], "IEA": ["1"]}
    assert "GS*OW*" in text and "W05*N*SO-9*THEIR-PO**REL-3~" in text
    assert mapping.warehouse_order_from_940(back, THREE_PL) == order


def a_shipment() -> documents.Shipment:
    return documents.Shipment(
        number="3PL-SHIP-1",
        order="SO-9",
        from_location="3PL-RENO",
        carrier="UPSN",
        tracking_numbers=("1Z999", "1Z998"),
        shipped_at=datetime(2024, 3, 4, 15, 10, tzinfo=THREE_PL.zone),
        lines=(
            documents.ShipmentLine(line=1, sku="SKU-1", quantity=qty(5)),
            documents.ShipmentLine(line=2, sku="SKU-2", quantity=qty(1, "CASE")),
        ),
    )


def test_a_shipment_survives_945_and_back() -> None:
    shipment = a_shipment()

    tx = mapping.shipment_to_945(shipment, THREE_PL)

    assert mapping.shipment_from_945(through_the_wire(THREE_PL, tx), THREE_PL) == shipment


# A 3PL's 945 as its implementation guide has it: one line short-shipped, one not shipped at all, tracking per
# carton in MAN*CP, the warehouse's own N1*WH id.
ADVICE = """ISA*00*          *00*          *ZZ*RENO3PL        *ZZ*CROSSDOCK      *240304*1530*U*00401*000000311*0*P*>~
GS*SW*RENO3PL*CROSSDOCK*20240304*1530*311*X*004010~
ST*945*0001~
W06*F*SO-9*20240304*BOL-4471***THEIR-PO~
N1*WH*RENO DC*9*0614141000005~
N1*ST*Store 12*92*ST-12~
G62*11*20240304*8*1505~
W27*M*FDEG*FedEx Ground~
LX*1~
MAN*CP*7946001~
W12*CP*10*8*2*EA**VN*SKU-1~
LX*2~
W12*CC*3*3*0*CA**VN*SKU-2~
MAN*CP*7946002~
LX*3~
W12*CL*4*0*4*EA**VN*SKU-3~
W03*11*42.5*LB~
SE*16*0001~
GE*1*311~
IEA*1*000000311~
"""


def test_a_3pls_945_becomes_the_shipment_of_what_left() -> None:
    (tx,) = mapping.transactions_of(x12.parse(ADVICE), "945")

    shipment = mapping.shipment_from_945(tx, THREE_PL)

    assert (shipment.number, shipment.order, shipment.from_location, shipment.carrier) == (
        "BOL-4471",
        "SO-9",
        "3PL-RENO",  # our code for the partner's warehouse, not its GLN
        "FDEG",
    )
    assert shipment.shipped_at == datetime(2024, 3, 4, 15, 5, tzinfo=THREE_PL.zone)
    assert shipment.tracking_numbers == ("7946001", "7946002")
    # Line 3 shipped nothing: it is not a shipment line.
    assert [(ln.line, ln.sku, ln.quantity) for ln in shipment.lines] == [
        (1, "SKU-1", qty(8)),
        (2, "SKU-2", qty(3, "CASE")),
    ]


def test_a_945_from_a_partner_without_a_location_needs_its_warehouse_id() -> None:
    (tx,) = mapping.transactions_of(x12.parse(ADVICE), "945")

    assert mapping.shipment_from_945(tx, rules("VN")).from_location == "0614141000005"
    nameless = tx.__class__(
        set_id="945", control_number="0001", segments=tuple(seg for seg in tx.segments if seg.tag != "N1")
    )
    with pytest.raises(mapping.X12MappingError, match=r"^945 0001, segment N1: the ship-from warehouse"):
        mapping.shipment_from_945(nameless, rules("VN"))
