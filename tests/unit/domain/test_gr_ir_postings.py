"""GR/IR postings: receipts accrue at the PO price, invoices clear the accrual, the clearing account nets to zero."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossdock.domain import accounting
from crossdock.domain.accounting import (
    AccountMap,
    AccountOverrides,
    JournalEntry,
    PostingRule,
    ReceivedLine,
    RevaluedLine,
    SupplierInvoiceLine,
)
from crossdock.domain.errors import MissingAccount, UnbalancedEntry
from crossdock.domain.workflows import procure_to_pay as p2p
from tests.unit.domain.test_accounting import make_accounts

D = Decimal
DAY = date(2024, 5, 21)
PROPERTY = settings(deadline=None, max_examples=200)
INVENTORY, GR_IR, PAYABLES, VARIANCE, INPUT_TAX = "1400", "2150", "2000", "5200", "1570"


def make_procurement_accounts(**overrides: Any) -> AccountMap:
    fields: dict[str, Any] = {
        "payables": PAYABLES,
        "gr_ir": GR_IR,
        "price_variance": VARIANCE,
        "tax_receivable": INPUT_TAX,
    }
    return make_accounts(**(fields | overrides))


def receipt_entry(*lines: ReceivedLine, number: str = "GR-1", **overrides: Any) -> JournalEntry | None:
    fields: dict[str, Any] = {
        "event_id": f"evt-{number}",
        "receipt_number": number,
        "day": DAY,
        "currency": "EUR",
        "lines": lines,
        "accounts": make_procurement_accounts(),
    }
    return accounting.entry_for_goods_receipt(**(fields | overrides))


def invoice_entry(
    *lines: SupplierInvoiceLine, tax: str = "0", number: str = "INV-1", **overrides: Any
) -> JournalEntry | None:
    fields: dict[str, Any] = {
        "event_id": f"evt-{number}",
        "invoice_number": number,
        "day": DAY,
        "currency": "EUR",
        "lines": lines,
        "tax": D(tax),
        "accounts": make_procurement_accounts(),
    }
    return accounting.entry_for_supplier_invoice(**(fields | overrides))


def sides(entry: JournalEntry | None) -> dict[str, Decimal]:
    """Signed amount per account: debit positive."""
    assert entry is not None
    return {line.account: line.signed for line in entry.lines}


def balance(entries: Iterable[JournalEntry | None], account: str) -> Decimal:
    return accounting.balances(e for e in entries if e is not None).get((account, "EUR"), D(0))


def entries_for(commands: Iterable[p2p.Command], accounts: AccountMap | None = None) -> list[JournalEntry]:
    """What a posting handler makes of the workflow's commands: every entry it would post, in order."""
    accounts = accounts or make_procurement_accounts()
    posted: list[JournalEntry | None] = []
    for command in commands:
        if isinstance(command, p2p.PostGoodsReceipt):
            posted.append(
                accounting.entry_for_goods_receipt(
                    event_id=command.receipt_id,
                    receipt_number=command.receipt_id,
                    day=DAY,
                    currency=command.currency,
                    lines=[ReceivedLine(quantity=line.quantity, unit_price=line.unit_price) for line in command.lines],
                    accounts=accounts,
                )
            )
        elif isinstance(command, p2p.RevalueAccrual):
            posted.append(
                accounting.entry_for_accrual_revaluation(
                    event_id=command.reference,
                    reference=f"{command.po_id}/{command.reference}",
                    day=DAY,
                    currency=command.currency,
                    lines=[
                        RevaluedLine(
                            quantity=line.quantity,
                            old_unit_price=line.old_unit_price,
                            new_unit_price=line.new_unit_price,
                        )
                        for line in command.lines
                    ],
                    accounts=accounts,
                )
            )
        elif isinstance(command, p2p.PostSupplierInvoice):
            posted.append(
                accounting.entry_for_supplier_invoice(
                    event_id=command.invoice_id,
                    invoice_number=command.invoice_id,
                    day=DAY,
                    currency=command.currency,
                    lines=[
                        SupplierInvoiceLine(
                            quantity=line.quantity, unit_price=line.unit_price, po_unit_price=line.po_unit_price
                        )
                        for line in command.lines
                    ],
                    tax=command.tax,
                    total=command.total,
                    accounts=accounts,
                )
            )
    return [entry for entry in posted if entry is not None]


# --- the rules ----------------------------------------------------------------------------------------------------


def test_a_receipt_accrues_inventory_against_gr_ir_at_the_po_price() -> None:
    entry = receipt_entry(ReceivedLine(quantity=D(8), unit_price=D("10.00")))
    assert entry is not None
    assert entry.rule is PostingRule.GOODS_RECEIPT
    assert sides(entry) == {INVENTORY: D("80.00"), GR_IR: D("-80.00")}
    assert entry.source.document_type == "goods_receipt"


def test_an_invoice_over_the_po_price_clears_gr_ir_and_books_the_variance_and_the_input_tax() -> None:
    entry = invoice_entry(
        SupplierInvoiceLine(quantity=D(10), unit_price=D("10.30"), po_unit_price=D("10.00")), tax="20.60"
    )
    assert entry is not None
    assert entry.rule is PostingRule.SUPPLIER_INVOICE
    assert sides(entry) == {GR_IR: D("100.00"), VARIANCE: D("3.00"), INPUT_TAX: D("20.60"), PAYABLES: D("-123.60")}


def test_an_invoice_under_the_po_price_credits_the_variance() -> None:
    entry = invoice_entry(SupplierInvoiceLine(quantity=D(4), unit_price=D("9.50"), po_unit_price=D("10.00")))
    assert sides(entry) == {GR_IR: D("40.00"), VARIANCE: D("-2.00"), PAYABLES: D("-38.00")}


def test_an_invoice_at_the_po_price_books_no_variance_and_no_tax_line_without_tax() -> None:
    entry = invoice_entry(SupplierInvoiceLine(quantity=D(3), unit_price=D("2.50"), po_unit_price=D("2.50")))
    assert sides(entry) == {GR_IR: D("7.50"), PAYABLES: D("-7.50")}


def test_a_stated_total_a_cent_off_goes_to_the_rounding_account_and_beyond_it_is_unbalanced() -> None:
    line = SupplierInvoiceLine(quantity=D(3), unit_price=D("2.50"), po_unit_price=D("2.50"))
    rounded = invoice_entry(line, total=D("7.51"), accounts=make_procurement_accounts(rounding="6990"))
    assert sides(rounded)["6990"] == D("0.01")
    with pytest.raises(UnbalancedEntry):
        invoice_entry(line, total=D("7.60"), accounts=make_procurement_accounts(rounding="6990"))


def test_a_price_change_revalues_what_was_accrued_and_not_yet_invoiced() -> None:
    entry = accounting.entry_for_accrual_revaluation(
        event_id="evt-1",
        reference="PO-1/acknowledgement:855-2",
        day=DAY,
        currency="EUR",
        lines=[RevaluedLine(quantity=D(8), old_unit_price=D("10.00"), new_unit_price=D("10.25"))],
        accounts=make_procurement_accounts(),
    )
    assert sides(entry) == {INVENTORY: D("2.00"), GR_IR: D("-2.00")}
    assert entry is not None and entry.rule is PostingRule.ACCRUAL_REVALUATION


def test_an_account_map_without_the_procurement_roles_is_still_valid() -> None:
    accounts = make_accounts()
    assert accounts.gr_ir is None and accounts.payables is None
    assert accounts.account(accounting.AccountRole.RECEIVABLE) == "1200"


@pytest.mark.parametrize(
    ("missing", "post"),
    [
        # a receipt needs the clearing account
        ("gr_ir", lambda accounts: receipt_entry(ReceivedLine(quantity=D(1), unit_price=D(1)), accounts=accounts)),
        # an invoice needs payables
        (
            "payables",
            lambda accounts: invoice_entry(
                SupplierInvoiceLine(quantity=D(1), unit_price=D(1), po_unit_price=D(1)), accounts=accounts
            ),
        ),
        # an invoice off the PO price needs the variance account
        (
            "price_variance",
            lambda accounts: invoice_entry(
                SupplierInvoiceLine(quantity=D(1), unit_price=D(2), po_unit_price=D(1)), accounts=accounts
            ),
        ),
        # an invoice with tax needs the input tax account
        (
            "tax_receivable",
            lambda accounts: invoice_entry(
                SupplierInvoiceLine(quantity=D(1), unit_price=D(1), po_unit_price=D(1)), tax="0.20", accounts=accounts
            ),
        ),
    ],
)
def test_a_posting_that_needs_a_role_nobody_configured_says_which(missing: str, post: Any) -> None:
    accounts = make_procurement_accounts(**{missing: None})
    with pytest.raises(MissingAccount, match=f"no account is configured for the role '{missing}'") as error:
        post(accounts)
    assert error.value.role == missing


def test_an_item_class_may_have_its_own_inventory_and_clearing_accounts() -> None:
    accounts = make_procurement_accounts(item_classes={"hazmat": AccountOverrides(inventory="1410", gr_ir="2151")})
    entry = receipt_entry(
        ReceivedLine(quantity=D(2), unit_price=D("5.00"), item_class="hazmat"),
        ReceivedLine(quantity=D(1), unit_price=D("5.00")),
        accounts=accounts,
    )
    assert sides(entry) == {"1410": D("10.00"), "2151": D("-10.00"), INVENTORY: D("5.00"), GR_IR: D("-5.00")}


# --- properties ---------------------------------------------------------------------------------------------------

prices = st.decimals(min_value=0, max_value=200, places=2)
fine_prices = st.decimals(min_value=0, max_value=200, places=4)  # finer than a cent: rounding is exercised
quantities = st.integers(min_value=1, max_value=50).map(D)


@PROPERTY
@given(
    lines=st.lists(st.tuples(quantities, fine_prices, fine_prices), min_size=1, max_size=6),
    tax=st.decimals(min_value=0, max_value=100, places=2),
)
def test_gr_ir_entries_always_balance(lines: list[tuple[Decimal, Decimal, Decimal]], tax: Decimal) -> None:
    received = receipt_entry(*(ReceivedLine(quantity=q, unit_price=po) for q, po, _ in lines))
    billed = invoice_entry(
        *(SupplierInvoiceLine(quantity=q, unit_price=price, po_unit_price=po) for q, po, price in lines), tax=str(tax)
    )
    for entry in (received, billed):
        if entry is not None:
            assert entry.total_debit == entry.total_credit


@PROPERTY
@given(data=st.data(), lines=st.lists(st.tuples(quantities, prices), min_size=1, max_size=4))
def test_gr_ir_nets_to_zero_when_everything_received_is_invoiced_at_the_po_price(
    data: st.DataObject, lines: list[tuple[Decimal, Decimal]]
) -> None:
    # Receipts and invoices split the same quantities differently: whole units at whole cents round exactly.
    def split(total: Decimal) -> list[Decimal]:
        cuts = (
            sorted(set(data.draw(st.lists(st.integers(min_value=1, max_value=int(total) - 1), max_size=3))))
            if total > 1
            else []
        )
        edges = [0, *cuts, int(total)]
        return [D(b - a) for a, b in itertools.pairwise(edges)]

    entries: list[JournalEntry | None] = []
    for index, (quantity, price) in enumerate(lines):
        for part, piece in enumerate(split(quantity)):
            entries.append(receipt_entry(ReceivedLine(quantity=piece, unit_price=price), number=f"GR-{index}-{part}"))
        for part, piece in enumerate(split(quantity)):
            entries.append(
                invoice_entry(
                    SupplierInvoiceLine(quantity=piece, unit_price=price, po_unit_price=price),
                    number=f"INV-{index}-{part}",
                )
            )
    assert balance(entries, GR_IR) == 0
    assert balance(entries, VARIANCE) == 0
    assert balance(entries, INVENTORY) == -balance(entries, PAYABLES)
