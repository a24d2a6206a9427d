from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from crossdock.connectors.x12 import mapping
from crossdock.domain import documents, procurement
from tests.unit.connectors.x12.mapping.helpers import only, read_back, rules, sent, through_the_wire, trailer_counts

CROSSDOCK = "x12-856/ediengine_856_crossdock_sotpi_newline-terminated.edi"
SOPI = "x12-856/nodex12_856_sopi_4060.edi"
PIPES = "x12-856/vscodex12_856_amerisourcebergen_pipe-separated.edi"


def qty(value: int | str, unit: str = "EA") -> documents.Quantity:
    return documents.Quantity(value=Decimal(value), unit=unit)


def test_a_crossdock_856_gives_one_notice_per_order_level_with_its_packs() -> None:
    first, second = mapping.ship_notices_from_856(only(CROSSDOCK, "856"), rules("UP", "EN", supplier="SOME"))

    for notice in (first, second):
        assert (notice.shipment, notice.supplier, notice.carrier) == ("000009", "SOME", "OVNT")
        assert (notice.shipped_on, notice.expected_on) == (date(2009, 9, 21), date(2009, 9, 25))
    assert first.order == "POREF00"
    assert [p.id for p in first.packs] == [
        "00000715670002152360",
        "00000715670002152377",
        "00000715670002152384",
        "00000715670002152391",
    ]
    assert first.packs[0].weight == qty(6, "LB") and first.packs[1].weight is None
    # No LIN01/SN101: lines are numbered by each item's first appearance in the order.
    assert [(ln.line, ln.sku, ln.quantity, ln.pack) for ln in first.lines] == [
        (1, "0000000000642", qty(12), "00000715670002152360"),
        (2, "0000000000831", qty(12), "00000715670002152377"),
        (3, "0000000000283", qty(12), "00000715670002152384"),
        (4, "0000000000203", qty(12), "00000715670002152391"),
    ]
    assert second.order == "POREF01"
    assert [p.id for p in second.packs] == ["00000715670002152111"]
    assert [(ln.line, ln.sku, ln.pack) for ln in second.lines] == [(1, "0000000000642", "00000715670002152111")]


def test_a_sopi_856_without_packs_ships_loose_items_on_their_po_lines() -> None:
    partner = rules("BP", "UP", supplier="EDI SOURCE", transit_days=3)

    notice = mapping.ship_notice_from_856(only(SOPI, "856"), partner)

    assert (notice.shipment, notice.order, notice.packs) == ("829716", "99999817", ())
    assert (notice.shipped_on, notice.expected_on) == (date(2011, 12, 6), date(2011, 12, 9))  # shipped + 3 days
    assert [(ln.line, ln.sku, ln.supplier_item, ln.quantity, ln.pack) for ln in notice.lines] == [
        (1, "999999310145", "87787D", qty(24), None),
        (2, "999999311746", "99887D", qty(6), None),
    ]
    assert sum(q.value for q in notice.quantities().values()) == 30  # CTT02


def test_an_856_without_a_delivery_date_needs_the_partners_transit_days() -> None:
    with pytest.raises(mapping.X12MappingError, match=r"^856 0008, segment DTM, element DTM01: the estimated delivery"):
        mapping.ship_notice_from_856(only(SOPI, "856"), rules("UP"))


def test_the_pipe_separated_856_reads_its_pack_lot_and_expiry() -> None:
    notice = mapping.ship_notice_from_856(only(PIPES, "856"), rules("N4", supplier="ABC"))

    assert (notice.shipment, notice.order, notice.carrier) == ("177164933", "6218", "UPS NxtDay Air Svr")
    assert (notice.shipped_on, notice.expected_on) == (date(2019, 9, 16), date(2019, 9, 16))
    assert [p.id for p in notice.packs] == ["0354023220190916"]
    (line,) = notice.lines
    assert (line.line, line.sku, line.quantity, line.pack) == (1, "50242005306", qty(4), "0354023220190916")
    assert line.lots == (procurement.Lot(number="3308212", quantity=qty(4), expires_on=date(2021, 10, 31)),)


def test_several_orders_are_not_one_notice() -> None:
    with pytest.raises(mapping.X12MappingError, match="covers 2 orders"):
        mapping.ship_notice_from_856(only(CROSSDOCK, "856"), rules("UP", "EN"))


def a_notice() -> procurement.AdvanceShipNotice:
    return procurement.AdvanceShipNotice(
        shipment="ASN-77",
        order="PO-1001",
        supplier="ACME",
        shipped_on=date(2024, 3, 4),
        expected_on=date(2024, 3, 7),
        carrier="UPSN",
        packs=(
            procurement.Pack(id="00012345678901234567", kind="pallet", weight=qty(400, "LB")),
            procurement.Pack(id="00012345678901234574"),
        ),
        lines=(
            procurement.ShipNoticeLine(line=1, sku="SKU-1", supplier_item="AC-77", quantity=qty(10)),
            procurement.ShipNoticeLine(
                line=1,
                sku="SKU-1",
                supplier_item="AC-77",
                quantity=qty(14),
                pack="00012345678901234567",
                lots=(
                    procurement.Lot(number="L1", quantity=qty(10), expires_on=date(2025, 1, 31)),
                    procurement.Lot(number="L2", quantity=qty(4)),
                ),
            ),
            procurement.ShipNoticeLine(line=2, sku="SKU-2", quantity=qty(3, "CASE"), pack="00012345678901234574"),
        ),
    )


def test_a_ship_notice_survives_856_and_back_with_packs_and_lots() -> None:
    partner = rules("BP", supplier="ACME")
    notice = a_notice()

    tx = mapping.ship_notice_to_856(notice, partner)

    levels = [str(seg) for seg in tx.segments if seg.tag == "HL"]
    assert levels == ["HL*1**S", "HL*2*1*O", "HL*3*2*I", "HL*4*2*T", "HL*5*4*I", "HL*6*4*I", "HL*7*2*P", "HL*8*7*I"]
    assert str(tx.segments[-1]) == "CTT*8"
    assert mapping.ship_notice_from_856(through_the_wire(partner, tx), partner) == notice


def test_our_shipment_goes_out_as_an_856_and_reads_back_equal() -> None:
    customer = rules("VP", timezone="America/New_York")
    shipment = documents.Shipment(
        number="SH-1",
        order="SO-9",
        from_location="DC-EAST",
        carrier="FDEG",
        tracking_numbers=("7946", "7947"),
        shipped_at=datetime(2024, 3, 4, 16, 45, tzinfo=customer.zone),
        lines=(
            documents.ShipmentLine(line=1, sku="SKU-1", quantity=qty(5)),
            documents.ShipmentLine(line=3, sku="SKU-3", quantity=qty("2.5", "KG")),
        ),
    )

    text = sent(customer, [mapping.shipment_to_856(shipment, customer)])

    (back,) = read_back(text)
    assert trailer_counts(text) == {"SE": ["18"], "GE": ["1"], "IEA": ["1"]}
    assert "BSN*00*SH-1*20240304*1645*0004~" in text
    assert mapping.shipment_from_856(back, customer) == shipment
    # With the customer's PO number in PRF01, the customer reads its own order.
    referenced = mapping.shipment_to_856(shipment, customer, customer_reference="THEIR-PO")
    assert mapping.shipment_from_856(referenced, customer).order == "THEIR-PO"


def test_a_sample_856_reads_as_a_shipment_of_its_order() -> None:
    shipment = mapping.shipment_from_856(only(PIPES, "856"), rules("N4", timezone="America/Los_Angeles"))

    assert (shipment.number, shipment.order, shipment.from_location) == ("177164933", "6218", "CBV7R5L00")
    assert shipment.shipped_at == datetime(2019, 9, 16, tzinfo=rules(timezone="America/Los_Angeles").zone)
    assert [(ln.line, ln.sku, ln.quantity) for ln in shipment.lines] == [(1, "50242005306", qty(4))]
