from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

import pytest

from crossdock.connectors import x12
from crossdock.connectors.x12 import mapping
from crossdock.domain import documents, procurement
from tests.unit.connectors.x12.mapping.helpers import only, read_back, rules, sent, through_the_wire, transactions
from tests.unit.connectors.x12.mapping.test_po850 import purchase_order

Status = procurement.LineAcknowledgementStatus
Header = procurement.AcknowledgementStatus
BOOKS = "x12-855/nodex12_855_book-distributor_ack-lines.edi"
SUPPLIER = rules("BP", supplier="ACME")


def test_the_book_distributors_855_gives_each_line_the_status_of_its_ack() -> None:
    ack = mapping.acknowledgement_from_855(only(BOOKS, "855"), rules("EN", supplier="BOOKS"))

    assert (ack.order, ack.supplier, ack.acknowledged_on) == ("POTEST1112", "BOOKS", date(2020, 10, 15))
    # No BAK08: the id is the PO number and the set's control number.
    assert ack.number == "POTEST1112/0005"
    assert [(line.line, line.status) for line in ack.lines] == [
        (1, Status.ACCEPTED),  # ACK*IA
        (2, Status.REJECTED),  # ACK*IR, quantity 0
        (3, Status.REJECTED),  # ACK*IR
        (4, Status.ACCEPTED),  # ACK*IA
    ]
    # BAK02 says AD (no change) but two lines are refused: the lines decide.
    assert ack.status is Header.ACCEPTED_WITH_CHANGES


def test_two_855s_without_lines_are_two_acceptances() -> None:
    acks = [
        mapping.acknowledgement_from_855(tx, SUPPLIER)
        for tx in transactions("x12-855/staedi_855_two-transactions_one-group.edi", "855")
    ]

    assert [(a.order, a.number, a.status, a.lines) for a in acks] == [
        ("ORDER1", "ORDER1/0001", Header.ACCEPTED, ()),
        ("ORDER2", "ORDER2/0002", Header.ACCEPTED, ()),
    ]


def changed_acknowledgement() -> procurement.POAcknowledgement:
    return procurement.POAcknowledgement(
        number="SO-55",
        order="PO-1001",
        supplier="ACME",
        status=Header.ACCEPTED_WITH_CHANGES,
        acknowledged_on=date(2024, 3, 1),
        lines=(
            procurement.AcknowledgementLine(
                line=1,
                status=Status.CHANGED,
                quantity=documents.Quantity(value=Decimal(20), unit="EA"),
                unit_price=Decimal("3.25"),
                delivery_on=date(2024, 3, 15),
            ),
            procurement.AcknowledgementLine(line=2, status=Status.CHANGED, substitute_sku="SKU-2B"),
        ),
    )


@pytest.mark.parametrize(
    "order",
    [
        None,  # only the line numbers echoed
        purchase_order(),  # the ordered lines echoed in PO1
    ],
)
def test_an_acknowledgement_with_changes_survives_855_and_back(order: procurement.PurchaseOrder | None) -> None:
    ack = changed_acknowledgement()

    tx = mapping.acknowledgement_to_855(ack, SUPPLIER, order=order)

    acks = [str(seg) for seg in tx.segments if seg.tag == "ACK"]
    assert acks == ["ACK*IQ*20*EA", "ACK*IP", "ACK*DR***067*20240315", "ACK*IS******BP*SKU-2B"]
    assert mapping.acknowledgement_from_855(through_the_wire(SUPPLIER, tx), SUPPLIER) == ack


@pytest.mark.parametrize(
    "ack",
    [
        # Accepted as ordered, no detail.
        procurement.POAcknowledgement(
            number="A1", order="PO-1", supplier="ACME", status=Header.ACCEPTED, acknowledged_on=date(2024, 1, 2)
        ),
        # Refused outright.
        procurement.POAcknowledgement(
            number="A2", order="PO-1", supplier="ACME", status=Header.REJECTED, acknowledged_on=date(2024, 1, 2)
        ),
        # Refused line by line.
        procurement.POAcknowledgement(
            number="A3",
            order="PO-1",
            supplier="ACME",
            status=Header.REJECTED,
            acknowledged_on=date(2024, 1, 2),
            lines=(procurement.AcknowledgementLine(line=1, status=Status.REJECTED),),
        ),
        # One line refused, one accepted.
        procurement.POAcknowledgement(
            number="A4",
            order="PO-1",
            supplier="ACME",
            status=Header.ACCEPTED_WITH_CHANGES,
            acknowledged_on=date(2024, 1, 2),
            lines=(
                procurement.AcknowledgementLine(line=1, status=Status.ACCEPTED),
                procurement.AcknowledgementLine(line=2, status=Status.REJECTED),
            ),
        ),
    ],
)
def test_every_kind_of_acknowledgement_survives_855_and_back(ack: procurement.POAcknowledgement) -> None:
    assert mapping.acknowledgement_from_855(mapping.acknowledgement_to_855(ack, SUPPLIER), SUPPLIER) == ack


def test_an_order_rejected_in_the_bak_with_an_accepted_line_is_refused() -> None:
    tx = mapping.acknowledgement_to_855(changed_acknowledgement(), SUPPLIER)
    bak = tx.segments[0]
    lying = replace(tx, segments=(bak._replace(elements=("00", "RJ", *bak.elements[2:])), *tx.segments[1:]))

    with pytest.raises(mapping.X12MappingError, match=r"segment 2 BAK, element BAK02: the order is rejected \(RJ\)"):
        mapping.acknowledgement_from_855(lying, SUPPLIER)


def test_an_unknown_line_status_names_the_ack() -> None:
    tx = x12.Transaction(
        set_id="855",
        control_number="0009",
        segments=(
            x12.Segment("BAK", ("00", "AC", "PO-1", "20240101")),
            x12.Segment("PO1", ("1",)),
            x12.Segment("ACK", ("ZZ",)),
        ),
    )

    with pytest.raises(
        mapping.X12MappingError, match=r"^855 0009, segment 4 ACK, element ACK01: line item status 'ZZ'"
    ):
        mapping.acknowledgement_from_855(tx, SUPPLIER)


def test_a_price_change_without_the_new_price_names_po104() -> None:
    tx = x12.Transaction(
        set_id="855",
        control_number="0009",
        segments=(
            x12.Segment("BAK", ("00", "AC", "PO-1", "20240101")),
            x12.Segment("PO1", ("1",)),
            x12.Segment("ACK", ("IP",)),
        ),
    )

    with pytest.raises(mapping.X12MappingError, match=r"segment 3 PO1, element PO104: the acknowledged unit price"):
        mapping.acknowledgement_from_855(tx, SUPPLIER)


def test_our_acceptance_of_a_customer_order_goes_out_as_an_855_they_can_read() -> None:
    customer = rules("VP", customer="C-1")
    order = documents.SalesOrder(
        number="SO-9",
        customer="C-1",
        channel="edi",
        currency="USD",
        ordered_at=datetime(2024, 3, 1, 9, 0, tzinfo=customer.zone),
        customer_reference="THEIR-PO-4",
        lines=tuple(
            documents.SalesOrderLine(
                line=n, sku=f"SKU-{n}", quantity=documents.Quantity(value=Decimal(n), unit="EA"), unit_price=Decimal(2)
            )
            for n in (1, 2, 3)
        ),
    )

    tx = mapping.sales_order_to_855(order, customer, acknowledged_on=date(2024, 3, 2), rejected_lines={2})
    text = sent(customer, [tx])

    assert "BAK*00*AC*THEIR-PO-4*20240301****SO-9*20240302~" in text
    (back,) = read_back(text)
    ack = mapping.acknowledgement_from_855(back, customer)
    assert (ack.number, ack.order, ack.status) == ("SO-9", "THEIR-PO-4", Header.ACCEPTED_WITH_CHANGES)
    assert [(line.line, line.status) for line in ack.lines] == [
        (1, Status.ACCEPTED),
        (2, Status.REJECTED),
        (3, Status.ACCEPTED),
    ]
    everything_refused = mapping.sales_order_to_855(
        order, customer, acknowledged_on=date(2024, 3, 2), rejected_lines={1, 2, 3}
    )
    assert mapping.acknowledgement_from_855(everything_refused, customer).status is Header.REJECTED
    with pytest.raises(mapping.X12MappingError, match=r"has no line \[7\]"):
        mapping.sales_order_to_855(order, customer, acknowledged_on=date(2024, 3, 2), rejected_lines={7})
