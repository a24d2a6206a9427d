"""The three-way match: invoiced quantity against received quantity, invoiced price against the PO price."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossdock.domain.catalog import ExceptionOwner
from crossdock.domain.documents import Item
from crossdock.domain.errors import UnknownUnit
from crossdock.domain.procurement import (
    GoodsReceipt,
    MatchTolerance,
    ReceiptLine,
    SupplierInvoiceLine,
    ToleranceRule,
)
from crossdock.domain.workflows import procure_to_pay as p2p
from crossdock.domain.workflows.procure_to_pay import MatchCode
from tests.unit.domain.test_procurement import make_po, make_receipt, make_supplier_invoice, po_line, qty

D = Decimal
PROPERTY = settings(deadline=None, max_examples=200)
TWO_PERCENT = MatchTolerance(price_percent=D(2))


def receipt(number: str = "GR-1", **per_line: int) -> GoodsReceipt:
    lines = [ReceiptLine(line=int(line[1:]), sku=f"SKU-{line[1:]}", quantity=qty(q)) for line, q in per_line.items()]
    return make_receipt(number=number, lines=lines)


def invoice_lines(*rows: tuple[int, int | str, str]) -> list[SupplierInvoiceLine]:
    return [SupplierInvoiceLine(line=n, sku=f"SKU-{n}", quantity=qty(q), unit_price=D(p)) for n, q, p in rows]


def invoice(*rows: tuple[int, int | str, str], tax: str = "0", **overrides: Any) -> Any:
    lines = invoice_lines(*rows)
    net = sum((D(q) * D(p) for _, q, p in rows), D(0)).quantize(D("0.01"))
    fields: dict[str, Any] = {"lines": lines, "tax": D(tax), "total": net + D(tax)}
    return make_supplier_invoice(**(fields | overrides))


def codes(result: p2p.MatchResult) -> list[tuple[MatchCode, str | None]]:
    return [(reason.code, reason.line_id) for reason in result.reasons]


# --- the verdicts -------------------------------------------------------------------------------------------------


def test_an_invoice_for_what_arrived_at_the_po_price_is_approved() -> None:
    result = p2p.three_way_match(make_po(), [receipt(L1=12)], invoice((1, 12, "10.00")), TWO_PERCENT)
    assert result.approved
    [line] = result.lines
    assert (line.line_id, line.quantity, line.received, line.po_unit_price) == ("1", D(12), D(12), D("10.00"))


def test_a_short_receipt_and_a_price_three_percent_over_fail_for_both_reasons_and_go_to_finance() -> None:
    result = p2p.three_way_match(make_po(), [receipt(L1=8)], invoice((1, 10, "10.30"), tax="20.60"), TWO_PERCENT)
    assert not result.approved
    assert codes(result) == [(MatchCode.QUANTITY_NOT_RECEIVED, "1"), (MatchCode.PRICE_OUT_OF_TOLERANCE, "1")]
    assert result.owner is ExceptionOwner.FINANCE
    assert "10 invoiced in all, 8 received" in result.reasons[0].text
    [line] = result.lines
    assert not line.quantity_ok and not line.price_ok


def test_a_price_alone_out_of_tolerance_goes_to_procurement() -> None:
    result = p2p.three_way_match(make_po(), [receipt(L1=12)], invoice((1, 12, "10.30")), TWO_PERCENT)
    assert codes(result) == [(MatchCode.PRICE_OUT_OF_TOLERANCE, "1")]
    assert result.owner is ExceptionOwner.PROCUREMENT


def test_partial_invoices_against_a_partly_received_po_count_what_was_billed_before() -> None:
    receipts = [receipt("GR-1", L1=6), receipt("GR-2", L1=4)]
    first = p2p.three_way_match(make_po(), receipts, invoice((1, 6, "10.00")), TWO_PERCENT)
    assert first.approved
    second = p2p.three_way_match(
        make_po(), receipts, invoice((1, 6, "10.00"), number="INV-10"), TWO_PERCENT, invoiced_before={1: D(6)}
    )
    assert codes(second) == [(MatchCode.QUANTITY_NOT_RECEIVED, "1")]  # 12 billed in all, 10 arrived
    assert second.lines[0].invoiced_before == D(6)


def test_damaged_goods_do_not_count_as_received() -> None:
    damaged = make_receipt(lines=[ReceiptLine(line=1, sku="SKU-1", quantity=qty(12), damaged=D(2))])
    result = p2p.three_way_match(make_po(), [damaged], invoice((1, 12, "10.00")), TWO_PERCENT)
    assert codes(result) == [(MatchCode.QUANTITY_NOT_RECEIVED, "1")]
    assert result.lines[0].received == D(10)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # billed in another currency than ordered
        ({"currency": "USD"}, [(MatchCode.CURRENCY_MISMATCH, None)]),
        # billed by someone else
        ({"supplier": "SUP-2"}, [(MatchCode.SUPPLIER_MISMATCH, None)]),
        # billed against another PO
        ({"order": "PO-2"}, [(MatchCode.ORDER_MISMATCH, None)]),
        # a total that is not the lines plus the tax
        ({"total": D("119.00")}, [(MatchCode.TOTAL_DOES_NOT_ADD_UP, None)]),
        # a line the PO does not have
        (
            {"lines": invoice_lines((1, 12, "10.00"), (7, 1, "1.00")), "total": D("121.00")},
            [(MatchCode.LINE_NOT_ON_ORDER, "7")],
        ),
    ],
)
def test_an_invoice_that_does_not_belong_with_the_po_names_why(
    overrides: dict[str, Any], expected: list[tuple[MatchCode, str | None]]
) -> None:
    result = p2p.three_way_match(make_po(), [receipt(L1=12)], invoice((1, 12, "10.00"), **overrides), TWO_PERCENT)
    assert codes(result) == expected
    assert result.owner is ExceptionOwner.FINANCE


def test_quantities_and_prices_in_another_unit_are_converted_to_the_po_lines_unit() -> None:
    items = {"SKU-1": Item(sku="SKU-1", conversions={"CS": D(6)})}
    in_cases = invoice((1, 2, "60.00"))
    in_cases = in_cases.model_copy(
        update={"lines": (SupplierInvoiceLine(line=1, sku="SKU-1", quantity=qty(2, "CS"), unit_price=D("60.00")),)}
    )
    result = p2p.three_way_match(make_po(), [receipt(L1=12)], in_cases, TWO_PERCENT, items=items)
    assert result.approved
    assert (result.lines[0].quantity, result.lines[0].unit_price) == (D(12), D("10.00"))


def test_a_unit_nothing_converts_is_refused_naming_the_line_and_the_item() -> None:
    in_cases = invoice((1, 2, "60.00"))
    in_cases = in_cases.model_copy(
        update={"lines": (SupplierInvoiceLine(line=1, sku="SKU-1", quantity=qty(2, "CS"), unit_price=D("60.00")),)}
    )
    with pytest.raises(UnknownUnit, match="line 1 is counted in EA, not CS, and item SKU-1"):
        p2p.three_way_match(make_po(), [receipt(L1=12)], in_cases, TWO_PERCENT)


def test_a_receipt_of_another_po_is_a_callers_mistake() -> None:
    other = make_receipt(order="PO-2")
    with pytest.raises(ValueError, match="receipt GR-1 is for purchase order PO-2, not PO-1"):
        p2p.three_way_match(make_po(), [other], invoice((1, 1, "10.00")), TWO_PERCENT)


# --- the property -------------------------------------------------------------------------------------------------


def _independently_within(
    tolerance: MatchTolerance, po_price: Decimal, price: Decimal, quantity: Decimal, billed: Decimal, received: Decimal
) -> bool:
    """The documented rule, written out again without the code under test."""
    variance = abs(price - po_price)
    checks = []
    if tolerance.price_percent is not None:
        checks.append(variance <= po_price * tolerance.price_percent / 100)
    if tolerance.price_amount is not None:
        checks.append(variance * quantity <= tolerance.price_amount)
    if not checks:
        price_ok = variance == 0
    elif tolerance.rule is ToleranceRule.BOTH:
        price_ok = all(checks)
    else:
        price_ok = any(checks)
    return price_ok and billed - received <= tolerance.quantity


money = st.decimals(min_value=0, max_value=500, places=2)


def just_above(price: Decimal) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=0, max_value=1, places=2).map(lambda more: price + more)


counts = st.integers(min_value=1, max_value=40)
limit = st.one_of(st.none(), st.decimals(min_value=0, max_value=20, places=1))


@PROPERTY
@given(
    data=st.data(),
    tolerance=st.builds(
        MatchTolerance,
        price_percent=limit,
        price_amount=limit,
        rule=st.sampled_from(ToleranceRule),
        quantity=st.integers(min_value=0, max_value=3).map(D),
    ),
    lines=st.integers(min_value=1, max_value=4),
)
def test_a_match_never_approves_a_line_outside_tolerance(
    data: st.DataObject, tolerance: MatchTolerance, lines: int
) -> None:
    po = make_po(
        lines=[po_line(n, quantity=qty(data.draw(counts)), unit_price=data.draw(money)) for n in range(1, lines + 1)]
    )
    received = {n: data.draw(st.integers(min_value=0, max_value=40)) for n in range(1, lines + 1)}
    before = {n: D(data.draw(st.integers(min_value=0, max_value=10))) for n in range(1, lines + 1)}
    arrived = [ReceiptLine(line=n, sku=f"SKU-{n}", quantity=qty(q)) for n, q in received.items() if q > 0]
    receipts = [make_receipt(lines=arrived)] if arrived else []
    billed_lines = data.draw(
        st.lists(st.integers(min_value=1, max_value=lines), min_size=1, max_size=lines, unique=True)
    )
    rows = []
    for n in billed_lines:
        po_price = po.line(n).unit_price
        # Prices near the PO's, so that both sides of every limit are reached.
        price = data.draw(
            st.one_of(
                st.just(po_price),
                money,
                just_above(po_price),
            )
        )
        rows.append((n, data.draw(counts), str(price)))
    result = p2p.three_way_match(po, receipts, invoice(*rows), tolerance, invoiced_before=before)
    for verdict in result.lines:
        n = int(verdict.line_id)
        within = _independently_within(
            tolerance,
            po.line(n).unit_price,
            verdict.unit_price,
            verdict.quantity,
            before[n] + verdict.quantity,
            D(received[n]),
        )
        assert verdict.approved == within
        if not within:
            assert not result.approved
            assert any(reason.line_id == verdict.line_id for reason in result.reasons)
