"""EDIFACT with a supplier: our purchase order out as ORDERS, the supplier's ORDRSP, DESADV and INVOIC back as the
procurement documents, each written and read again with both decimal marks and service characters in the data."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from crossdock.connectors import edifact
from crossdock.connectors.edifact import mapping, writer
from crossdock.connectors.edifact.syntax import Message
from crossdock.domain.documents import Quantity
from crossdock.domain.procurement import (
    AcknowledgementLine,
    AcknowledgementStatus,
    AdvanceShipNotice,
    LineAcknowledgementStatus,
    Lot,
    Pack,
    POAcknowledgement,
    PurchaseOrder,
    PurchaseOrderLine,
    ShipNoticeLine,
    SupplierInvoice,
    SupplierInvoiceLine,
)
from tests.unit.connectors.edifact.samples import DESADV_BOOKS, sample

D = Decimal
AS_BUYER = mapping.MappingOptions(item_ids=mapping.BUYER_ITEM_IDS, currency="EUR")


def qty(value: str, unit: str = "EA") -> Quantity:
    return Quantity(value=D(value), unit=unit)


def purchase_order() -> PurchaseOrder:
    return PurchaseOrder(
        number="PO-7",
        supplier="SUP-1",
        currency="EUR",
        ship_to="WH1",
        ordered_on=date(2025, 3, 3),
        requested_on=date(2025, 3, 14),
        lines=(
            # The supplier's own number holds every EDIFACT service character: it must travel released.
            PurchaseOrderLine(
                line=1, sku="SKU-1", supplier_item="AC+1:'?*", quantity=qty("12.5", "KG"), unit_price=D("10.125")
            ),
            PurchaseOrderLine(
                line=2, sku="SKU-2", quantity=qty("5"), unit_price=D("4.25"), requested_on=date(2025, 3, 20)
            ),
        ),
    )


def wrapped(message: Message, decimal: str = ".") -> bytes:
    built = writer.interchange(
        "77",
        sender=("4000000000006", "14"),
        recipient=("5400000000003", "14"),
        prepared=datetime(2025, 3, 3, 9, 0),
        messages=[message],
        delimiters=edifact.Delimiters(decimal=decimal),
    )
    return edifact.render(built)


def read_back(data: bytes) -> tuple[Message, edifact.Interchange]:
    """The one message of the data and its interchange, in the order the mappings take them."""
    [interchange] = edifact.parse(data)
    [message] = interchange.messages
    return message, interchange


@pytest.mark.parametrize("decimal", [".", ","])
def test_a_purchase_order_goes_out_as_orders_and_reads_back_as_the_same_order(decimal: str) -> None:
    order = purchase_order()

    data = wrapped(mapping.purchase_order_message(order, "1", buyer="4000000000006", decimal_mark=decimal), decimal)
    back, refs = mapping.to_purchase_order(*read_back(data), AS_BUYER)

    assert back == order
    assert data.startswith(f"UNA:+{decimal}? '".encode())
    assert f"QTY+21:12{decimal}5:KGM'".encode() in data
    assert b"AC?+1?:?'??*:SA" in data, "service characters in the supplier's number are released"
    assert refs.party("BY") is not None and refs.party("BY").id == "4000000000006"  # type: ignore[union-attr]


def test_a_later_revision_of_a_purchase_order_replaces_the_one_sent_before() -> None:
    message, _ = read_back(wrapped(mapping.purchase_order_message(purchase_order(), "1", revision=2)))

    assert message.segments[0].tag == "BGM" and message.segments[0].value(3) == "5"


def test_a_line_without_the_suppliers_number_carries_only_ours_never_our_sku_in_the_suppliers_name() -> None:
    message, _ = read_back(wrapped(mapping.purchase_order_message(purchase_order(), "1")))
    refs = mapping.extract(message)

    assert [line.item_ids for line in refs.lines] == [(("IN", "SKU-1"), ("SA", "AC+1:'?*")), (("IN", "SKU-2"),)]


def acknowledgement() -> POAcknowledgement:
    return POAcknowledgement(
        number="RSP-1",
        order="PO-7",
        supplier="SUP-1",
        status=AcknowledgementStatus.ACCEPTED_WITH_CHANGES,
        acknowledged_on=date(2025, 3, 4),
        lines=(
            AcknowledgementLine(
                line=1,
                status=LineAcknowledgementStatus.CHANGED,
                quantity=qty("10.5", "KG"),
                unit_price=D("10.2"),
                delivery_on=date(2025, 3, 16),
            ),
            AcknowledgementLine(line=2, status=LineAcknowledgementStatus.CHANGED, substitute_sku="SKU-2B"),
            AcknowledgementLine(line=3, status=LineAcknowledgementStatus.REJECTED),
        ),
    )


@pytest.mark.parametrize("decimal", [".", ","])
def test_an_ordrsp_with_changed_substituted_and_rejected_lines_reads_as_that_acknowledgement(decimal: str) -> None:
    ack = acknowledgement()

    data = wrapped(mapping.acknowledgement_message(ack, "5", purchase_order(), decimal_mark=decimal), decimal)
    back, _ = mapping.to_acknowledgement(*read_back(data), AS_BUYER, supplier="SUP-1")

    assert back == ack


@pytest.mark.parametrize(
    ("status", "lines"),
    [
        (AcknowledgementStatus.ACCEPTED, ()),  # accepted as ordered, no line listed
        (AcknowledgementStatus.REJECTED, ()),  # the whole order refused
        (AcknowledgementStatus.ACCEPTED, (AcknowledgementLine(line=1, status=LineAcknowledgementStatus.ACCEPTED),)),
    ],
)
def test_an_ordrsp_without_changes_keeps_its_header_status(
    status: AcknowledgementStatus, lines: tuple[AcknowledgementLine, ...]
) -> None:
    ack = POAcknowledgement(number="RSP-2", order="PO-7", supplier="SUP-1", status=status, lines=lines)

    back, _ = mapping.to_acknowledgement(*read_back(wrapped(mapping.acknowledgement_message(ack, "5"))), supplier="S")

    assert (back.status, back.lines, back.supplier) == (status, lines, "S")


def test_an_ordrsp_that_rejects_the_order_but_accepts_a_line_is_refused_naming_the_contradiction() -> None:
    ack = POAcknowledgement(
        number="RSP-3",
        order="PO-7",
        supplier="SUP-1",
        status=AcknowledgementStatus.ACCEPTED,
        lines=(AcknowledgementLine(line=1, status=LineAcknowledgementStatus.ACCEPTED),),
    )
    message = mapping.acknowledgement_message(ack, "5")
    rejecting = [s if s.tag != "BGM" else edifact.Segment.of("BGM", "231", "RSP-3", "27") for s in message.segments]
    tampered = writer.message("5", "ORDRSP", rejecting)

    with pytest.raises(edifact.EdifactMappingError) as refused:
        mapping.to_acknowledgement(*read_back(wrapped(tampered)), supplier="SUP-1")

    assert refused.value.rule == "response-contradicts-lines"


def ship_notice() -> AdvanceShipNotice:
    """Line 1 in a carton and on a pallet, the pallet's goods in two lots; line 2 loose: a partial despatch."""
    return AdvanceShipNotice(
        shipment="DES-1",
        order="PO-7",
        supplier="SUP-1",
        shipped_on=date(2025, 3, 10),
        expected_on=date(2025, 3, 12),
        carrier="DHL",
        packs=(Pack(id="00012345600000000017"), Pack(id="00012345600000000024", kind="pallet")),
        lines=(
            ShipNoticeLine(line=2, sku="SKU-2", quantity=qty("3")),
            ShipNoticeLine(
                line=1, sku="SKU-1", supplier_item="AC-1", quantity=qty("4.5", "KG"), pack="00012345600000000017"
            ),
            ShipNoticeLine(
                line=1,
                sku="SKU-1",
                supplier_item="AC-1",
                quantity=qty("6", "KG"),
                pack="00012345600000000024",
                lots=(
                    Lot(number="L-1", quantity=qty("2", "KG"), expires_on=date(2026, 1, 31)),
                    Lot(number="L-2", quantity=qty("4", "KG")),
                ),
            ),
        ),
    )


@pytest.mark.parametrize("decimal", [".", ","])
def test_a_desadv_with_packs_pallets_and_lots_reads_back_as_the_same_ship_notice(decimal: str) -> None:
    notice = ship_notice()

    data = wrapped(mapping.ship_notice_message(notice, "9", decimal_mark=decimal), decimal)
    notices, _ = mapping.to_ship_notices(*read_back(data), AS_BUYER, supplier="SUP-1")

    assert notices == [notice]


def test_a_suppliers_desadv_without_an_arrival_date_is_expected_after_the_transit_days() -> None:
    message, interchange = read_back(sample(DESADV_BOOKS))

    notices, _ = mapping.to_ship_notices(message, interchange, supplier="SUP-9", transit_days=2)

    assert [(n.shipment, n.order, n.shipped_on, n.expected_on) for n in notices] == [
        ("Y02197250", "6877871", date(2016, 7, 26), date(2016, 7, 28)),
        ("Y02197250", "6905456", date(2016, 7, 26), date(2016, 7, 28)),
    ]
    assert [[(ln.line, ln.sku, ln.quantity.value) for ln in n.lines] for n in notices] == [
        [(1, "9780738507330", 1)],
        [(2, "9781568361871", 1)],
    ]
    with pytest.raises(edifact.EdifactMappingError) as refused:
        mapping.to_ship_notices(message, interchange, supplier="SUP-9")
    assert refused.value.rule == "expected-date-missing"


def supplier_invoice() -> SupplierInvoice:
    return SupplierInvoice(
        number="SI-1",
        supplier="SUP-1",
        order="PO-7",
        currency="EUR",
        issued_on=date(2025, 3, 14),
        due_on=date(2025, 4, 13),
        lines=(
            SupplierInvoiceLine(line=1, sku="SKU-1", quantity=qty("10.5", "KG"), unit_price=D("10.30")),
            SupplierInvoiceLine(line=2, sku="SKU-2", quantity=qty("3"), unit_price=D("4.25")),
        ),
        tax=D("23.00"),
        total=D("143.90"),  # as stated: the supplier's sum, not ours (108.15 + 12.75 + 23.00 = 143.90)
    )


@pytest.mark.parametrize("decimal", [".", ","])
def test_a_suppliers_invoic_reads_back_with_its_stated_tax_and_total(decimal: str) -> None:
    invoice = supplier_invoice()

    data = wrapped(mapping.supplier_invoice_message(invoice, "3", decimal_mark=decimal), decimal)
    back, _ = mapping.to_supplier_invoice(*read_back(data), AS_BUYER, supplier="SUP-1")

    assert back == invoice
    assert f"MOA+77:143{decimal}90'".encode() in data


def test_a_suppliers_invoic_without_a_total_is_refused_naming_it() -> None:
    message = mapping.supplier_invoice_message(supplier_invoice(), "3")
    untotalled = writer.message("3", "INVOIC", [s for s in message.segments if s.value(1, 1) != "77"])

    with pytest.raises(edifact.EdifactMappingError) as refused:
        mapping.to_supplier_invoice(*read_back(wrapped(untotalled)), AS_BUYER, supplier="SUP-1")

    assert refused.value.rule == "total-missing"


def test_a_message_a_supplier_does_not_send_is_refused_by_type() -> None:
    message, interchange = read_back(wrapped(mapping.purchase_order_message(purchase_order(), "1")))

    with pytest.raises(edifact.EdifactMappingError) as refused:
        mapping.from_supplier(message, interchange, AS_BUYER, supplier="SUP-1")

    assert refused.value.rule == "message-type"


def test_a_suppliers_article_number_that_happens_to_equal_our_sku_is_still_its_article_number() -> None:
    line = PurchaseOrderLine(line=1, sku="4711", supplier_item="4711", quantity=qty("1"), unit_price=D("1"))
    order = purchase_order().model_copy(update={"lines": (line,)})

    back, _ = mapping.to_purchase_order(*read_back(wrapped(mapping.purchase_order_message(order, "1"))), AS_BUYER)

    assert back.lines[0].supplier_item == "4711"
