"""Procure-to-pay documents check their own consistency, and a supplier's tolerance says exactly what passes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from crossdock.domain.documents import Money, Quantity
from crossdock.domain.procurement import (
    AcknowledgementLine,
    AcknowledgementStatus,
    AdvanceShipNotice,
    GoodsReceipt,
    LineAcknowledgementStatus,
    Lot,
    MatchTolerance,
    Pack,
    POAcknowledgement,
    PurchaseOrder,
    ReceiptLine,
    ShipNoticeLine,
    Supplier,
    SupplierInvoice,
    SupplierInvoiceLine,
    ToleranceRule,
)

D = Decimal
PROPERTY = settings(deadline=None, max_examples=200)


def qty(value: str | int, unit: str = "EA") -> Quantity:
    return Quantity(value=D(value), unit=unit)


# --- factories: sensible defaults, any field overridable ---------------------------------------------------------


def make_supplier(**overrides: Any) -> Supplier:
    fields: dict[str, Any] = {"number": "SUP-1", "currency": "EUR", "price_tolerance_percent": D(2)}
    return Supplier(**(fields | overrides))


def po_line(line: int = 1, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"line": line, "sku": f"SKU-{line}", "quantity": qty(12), "unit_price": D("10.00")}
    return fields | overrides


def make_po(**overrides: Any) -> PurchaseOrder:
    fields: dict[str, Any] = {
        "number": "PO-1",
        "supplier": "SUP-1",
        "currency": "EUR",
        "ship_to": "WH-1",
        "requested_on": date(2024, 5, 20),
        "lines": [po_line(1), po_line(2, quantity=qty(5), unit_price=D("4.25"), requested_on=date(2024, 5, 25))],
    }
    return PurchaseOrder(**(fields | overrides))


def make_ack(**overrides: Any) -> POAcknowledgement:
    fields: dict[str, Any] = {
        "number": "855-1",
        "order": "PO-1",
        "supplier": "SUP-1",
        "status": AcknowledgementStatus.ACCEPTED_WITH_CHANGES,
        "lines": [AcknowledgementLine(line=1, status=LineAcknowledgementStatus.CHANGED, quantity=qty(10))],
    }
    return POAcknowledgement(**(fields | overrides))


def make_notice(**overrides: Any) -> AdvanceShipNotice:
    fields: dict[str, Any] = {
        "shipment": "SH-1",
        "order": "PO-1",
        "supplier": "SUP-1",
        "shipped_on": date(2024, 5, 15),
        "expected_on": date(2024, 5, 18),
        "packs": [Pack(id="00012345600000000017"), Pack(id="00012345600000000024")],
        "lines": [
            ShipNoticeLine(line=1, sku="SKU-1", quantity=qty(6), pack="00012345600000000017"),
            ShipNoticeLine(line=1, sku="SKU-1", quantity=qty(4), pack="00012345600000000024"),
        ],
    }
    return AdvanceShipNotice(**(fields | overrides))


def make_receipt(**overrides: Any) -> GoodsReceipt:
    fields: dict[str, Any] = {
        "number": "GR-1",
        "order": "PO-1",
        "asn": "SH-1",
        "location": "WH-1",
        "lines": [ReceiptLine(line=1, sku="SKU-1", quantity=qty(8), damaged=D(1))],
    }
    return GoodsReceipt(**(fields | overrides))


def make_supplier_invoice(**overrides: Any) -> SupplierInvoice:
    fields: dict[str, Any] = {
        "number": "INV-9",
        "supplier": "SUP-1",
        "order": "PO-1",
        "currency": "EUR",
        "issued_on": date(2024, 5, 21),
        "lines": [SupplierInvoiceLine(line=1, sku="SKU-1", quantity=qty(10), unit_price=D("10.30"))],
        "tax": D("20.60"),
        "total": D("123.60"),
    }
    return SupplierInvoice(**(fields | overrides))


# --- documents ----------------------------------------------------------------------------------------------------


def test_a_purchase_order_totals_its_rounded_lines_and_dates_lines_that_set_none() -> None:
    po = make_po()
    assert po.total() == Money(amount=D("141.25"), currency="EUR")
    assert po.delivery_date(1) == date(2024, 5, 20)  # the order's date
    assert po.delivery_date(2) == date(2024, 5, 25)  # its own


def test_a_ship_notice_sums_a_line_over_its_packs() -> None:
    assert make_notice().quantities() == {1: qty(10)}


def test_a_receipt_line_accepts_what_was_counted_less_what_was_damaged() -> None:
    assert make_receipt().lines[0].accepted == D(7)


def test_an_invoice_adds_up_when_its_total_is_its_lines_plus_its_tax() -> None:
    assert make_supplier_invoice().adds_up()
    assert not make_supplier_invoice(total=D("123.59")).adds_up()


def test_a_supplier_hands_its_tolerance_to_the_match() -> None:
    supplier = make_supplier(price_tolerance_amount=D(5), tolerance_rule=ToleranceRule.EITHER, quantity_tolerance=D(1))
    assert supplier.match_tolerance() == MatchTolerance(
        price_percent=D(2), price_amount=D(5), rule=ToleranceRule.EITHER, quantity=D(1)
    )


@pytest.mark.parametrize(
    ("build", "message"),
    [
        # the same PO line twice
        (lambda: make_po(lines=[po_line(1), po_line(1)]), "line number 1 appears more than once"),
        # a changed line that changes nothing
        (
            lambda: AcknowledgementLine(line=1, status=LineAcknowledgementStatus.CHANGED),
            "a changed line says what changes",
        ),
        # an accepted line that carries a change
        (
            lambda: AcknowledgementLine(line=1, status=LineAcknowledgementStatus.ACCEPTED, unit_price=D(1)),
            "only a changed line carries changes",
        ),
        # "accepted" with a changed line in it
        (lambda: make_ack(status=AcknowledgementStatus.ACCEPTED), "has no changed or rejected lines"),
        # "rejected" with a changed line in it
        (lambda: make_ack(status=AcknowledgementStatus.REJECTED), "has no accepted or changed lines"),
        # "accepted with changes" that changes nothing
        (lambda: make_ack(lines=[]), "lists at least one changed or rejected line"),
        # lots that do not add up to the line
        (
            lambda: ShipNoticeLine(line=1, sku="A", quantity=qty(10), lots=(Lot(number="L1", quantity=qty(9)),)),
            "lots hold 9, the line 10",
        ),
        # lots counted in another unit than the line
        (
            lambda: ShipNoticeLine(line=1, sku="A", quantity=qty(10), lots=(Lot(number="L1", quantity=qty(10, "CS")),)),
            "lots are counted in CS, the line in EA",
        ),
        # a line in a pack the notice does not have
        (
            lambda: make_notice(packs=[Pack(id="00012345600000000017")]),
            "pack 00012345600000000024 is not one of the shipment's packs",
        ),
        # the same line twice in one pack
        (
            lambda: make_notice(
                packs=[],
                lines=[
                    ShipNoticeLine(line=1, sku="A", quantity=qty(1)),
                    ShipNoticeLine(line=1, sku="A", quantity=qty(1)),
                ],
            ),
            "line and pack (1, None) appears more than once",
        ),
        # goods expected before they left
        (lambda: make_notice(expected_on=date(2024, 5, 1)), "is before shipped_on"),
        # more damaged than counted
        (lambda: ReceiptLine(line=1, sku="A", quantity=qty(2), damaged=D(3)), "3 damaged of 2 received"),
        # an invoice due before it was issued
        (lambda: make_supplier_invoice(due_on=date(2024, 5, 1)), "is before issued_on"),
        # a negative tolerance
        (lambda: MatchTolerance(price_percent=D(-1)), "greater than or equal to 0"),
    ],
)
def test_a_document_that_contradicts_itself_is_refused(build: Callable[[], BaseModel], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build()


def test_a_line_shipped_in_two_units_cannot_be_summed() -> None:
    two_units = make_notice(
        lines=[
            ShipNoticeLine(line=1, sku="A", quantity=qty(6), pack="00012345600000000017"),
            ShipNoticeLine(line=1, sku="A", quantity=qty(1, "CS"), pack="00012345600000000024"),
        ]
    )
    with pytest.raises(ValueError, match="line 1 is shipped in EA and in CS"):
        two_units.quantities()


# --- the tolerance ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tolerance", "po_price", "invoiced", "quantity", "within"),
    [
        # no limits set: only the exact price passes
        (MatchTolerance(), "10.00", "10.00", 5, True),
        # no limits set: a cent off fails
        (MatchTolerance(), "10.00", "10.01", 5, False),
        # 2 %: exactly at the limit passes
        (MatchTolerance(price_percent=D(2)), "10.00", "10.20", 5, True),
        # 2 %: just over fails
        (MatchTolerance(price_percent=D(2)), "10.00", "10.21", 5, False),
        # 2 %: cheaper by as much fails too; a favourable price is still a variance
        (MatchTolerance(price_percent=D(2)), "10.00", "9.79", 5, False),
        # 5.00 per line: 10 units 0.50 over is exactly 5.00
        (MatchTolerance(price_amount=D(5)), "10.00", "10.50", 10, True),
        # 5.00 per line: the same price on 11 units is 5.50
        (MatchTolerance(price_amount=D(5)), "10.00", "10.50", 11, False),
        # both, rule BOTH: within the percent but not the amount fails
        (MatchTolerance(price_percent=D(5), price_amount=D(1)), "10.00", "10.30", 10, False),
        # both, rule EITHER: within the percent is enough
        (MatchTolerance(price_percent=D(5), price_amount=D(1), rule=ToleranceRule.EITHER), "10.00", "10.30", 10, True),
        # both, rule EITHER: within neither fails
        (MatchTolerance(price_percent=D(2), price_amount=D(1), rule=ToleranceRule.EITHER), "10.00", "10.30", 10, False),
        # a free item on the PO may only be billed free under a percent limit
        (MatchTolerance(price_percent=D(50)), "0", "0.01", 1, False),
    ],
)
def test_a_price_is_within_tolerance_exactly_as_documented(
    tolerance: MatchTolerance, po_price: str, invoiced: str, quantity: int, within: bool
) -> None:
    assert tolerance.price_within(D(po_price), D(invoiced), D(quantity)) is within


@pytest.mark.parametrize(
    ("tolerance", "invoiced", "received", "within"),
    [
        (MatchTolerance(), 8, 8, True),  # billed what arrived
        (MatchTolerance(), 5, 8, True),  # billed less: the rest may come later
        (MatchTolerance(), 9, 8, False),  # billed one that did not arrive
        (MatchTolerance(quantity=D(1)), 9, 8, True),  # ... which a tolerance of one unit lets pass
    ],
)
def test_a_quantity_is_within_tolerance_when_billing_does_not_run_ahead_of_receiving(
    tolerance: MatchTolerance, invoiced: int, received: int, within: bool
) -> None:
    assert tolerance.quantity_within(D(invoiced), D(received)) is within


prices = st.decimals(min_value=0, max_value=1000, places=2)
limits = st.one_of(st.none(), st.decimals(min_value=0, max_value=50, places=2))


@PROPERTY
@given(
    po_price=prices,
    invoiced=prices,
    quantity=st.integers(min_value=1, max_value=500),
    percent=limits,
    amount=limits,
)
def test_either_rule_passes_whatever_the_both_rule_passes_and_each_limit_alone_is_between(
    po_price: Decimal, invoiced: Decimal, quantity: int, percent: Decimal | None, amount: Decimal | None
) -> None:
    def within(**fields: Any) -> bool:
        return MatchTolerance(**fields).price_within(po_price, invoiced, D(quantity))

    strict = within(price_percent=percent, price_amount=amount, rule=ToleranceRule.BOTH)
    loose = within(price_percent=percent, price_amount=amount, rule=ToleranceRule.EITHER)
    assert not strict or loose
    if percent is not None and amount is not None:
        alone = {within(price_percent=percent), within(price_amount=amount)}
        assert strict == (alone == {True})
        assert loose == (True in alone)
