"""Postings: rounding per currency, the balanced-entry invariant, posting rules, account mapping, the ledger."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from crossdock.domain import accounting
from crossdock.domain.accounting import (
    AccountMap,
    ClosedPeriodPolicy,
    CostLine,
    JournalEntry,
    JournalLine,
    LedgerState,
    SalesLine,
)
from crossdock.domain.catalog import ExceptionOwner
from crossdock.domain.errors import UnbalancedEntry, UnknownCurrency

D = Decimal
DAY = date(2024, 3, 15)


def make_accounts(**overrides: Any) -> AccountMap:
    fields: dict[str, Any] = {
        "receivable": "1200",
        "revenue": "4000",
        "tax_payable": "2200",
        "cogs": "5000",
        "inventory": "1400",
        "cash": "1000",
        "customer_credit": "2300",
    }
    fields.update(overrides)
    return AccountMap(**fields)


def make_invoice_entry(**overrides: Any) -> JournalEntry:
    fields: dict[str, Any] = {
        "event_id": "evt-inv-1",
        "invoice_number": "INV-1",
        "day": DAY,
        "currency": "EUR",
        "lines": [SalesLine(net=D("100.00"), tax=D("19.00"))],
        "accounts": make_accounts(),
    }
    fields.update(overrides)
    entry = accounting.entry_for_invoice(**fields)
    assert entry is not None
    return entry


def make_payment_entry(**overrides: Any) -> JournalEntry:
    fields: dict[str, Any] = {
        "event_id": "evt-pay-1",
        "payment_number": "PAY-1",
        "day": DAY,
        "currency": "EUR",
        "amount": D("119.00"),
        "open_receivable": D("119.00"),
        "accounts": make_accounts(),
    }
    fields.update(overrides)
    entry = accounting.entry_for_payment(**fields)
    assert entry is not None
    return entry


def make_entry(**overrides: Any) -> JournalEntry:
    """A hand-built entry, for the invariant itself rather than a rule."""
    fields: dict[str, Any] = {
        "id": "je-1",
        "period": "2024-03",
        "date": DAY,
        "currency": "EUR",
        "rule": accounting.PostingRule.INVOICE,
        "source": accounting.SourceRef(event_id="evt-1", document_type="invoice", document_number="INV-1"),
        "lines": (JournalLine(account="1200", debit=D("10.00")), JournalLine(account="4000", credit=D("10.00"))),
    }
    fields.update(overrides)
    return JournalEntry(**fields)


def make_state(**overrides: Any) -> LedgerState:
    fields: dict[str, Any] = {"ledger": "main"}
    fields.update(overrides)
    return LedgerState(**fields)


def amounts(entry: JournalEntry) -> dict[str, Decimal]:
    """Account -> signed amount (debit positive), the shape assertions read best in."""
    return {line.account: line.signed for line in entry.lines}


# --- currencies and periods -------------------------------------------------------------------------------------------


def test_an_entry_in_an_unknown_currency_is_refused_as_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="unknown currency") as error:
        make_entry(currency="XYZ")
    assert isinstance(error.value.errors()[0]["ctx"]["error"], UnknownCurrency)


def test_an_entry_in_a_currency_without_minor_units_is_refused_rather_than_rounded_to_a_guess() -> None:
    with pytest.raises(ValidationError, match="XAU has no minor unit"):
        make_entry(currency="XAU")


@pytest.mark.parametrize(
    ("period", "following"),
    [
        ("2024-03", "2024-04"),  # an ordinary month
        ("2024-12", "2025-01"),  # December rolls into the next year
    ],
)
def test_the_next_period_is_the_following_month(period: str, following: str) -> None:
    assert accounting.next_period(period) == following


def test_a_malformed_period_is_refused() -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        accounting.first_day("2024-13")


# --- the balanced-entry invariant -------------------------------------------------------------------------------


def test_an_unbalanced_entry_cannot_be_built_and_the_error_names_the_entry_and_both_totals() -> None:
    lines = (JournalLine(account="1200", debit=D("10.00")), JournalLine(account="4000", credit=D("9.99")))
    with pytest.raises(UnbalancedEntry, match=r"je-1 is unbalanced: debits 10\.00 EUR != credits 9\.99 EUR") as info:
        make_entry(lines=lines)
    assert (info.value.entry_id, info.value.debits, info.value.credits) == ("je-1", D("10.00"), D("9.99"))


def test_a_single_line_entry_is_unbalanced() -> None:
    with pytest.raises(UnbalancedEntry):
        make_entry(lines=(JournalLine(account="1200", debit=D("10.00")),))


@pytest.mark.parametrize(
    "sides",
    [
        {"debit": D("1.00"), "credit": D("1.00")},  # both sides at once
        {},  # neither side
        {"debit": D("-1.00")},  # a negative debit is a credit in disguise
    ],
)
def test_a_line_is_either_a_positive_debit_or_a_positive_credit(sides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        JournalLine(account="1200", **sides)


def test_amounts_finer_than_the_currency_allows_are_refused() -> None:
    lines = (JournalLine(account="1200", debit=D("10.5")), JournalLine(account="4000", credit=D("10.5")))
    with pytest.raises(ValidationError, match="finer than JPY allows"):
        make_entry(currency="JPY", lines=lines)


def test_an_entry_belongs_to_the_period_of_its_date() -> None:
    with pytest.raises(ValidationError, match="cannot belong to period 2024-04"):
        make_entry(period="2024-04")


def test_an_entry_is_immutable() -> None:
    entry = make_entry()
    with pytest.raises(ValidationError):
        entry.memo = "edited"  # type: ignore[misc]


# --- posting rules ----------------------------------------------------------------------------------------------


def test_an_invoice_debits_receivable_and_credits_revenue_and_tax() -> None:
    entry = make_invoice_entry()
    assert amounts(entry) == {"1200": D("119.00"), "4000": D("-100.00"), "2200": D("-19.00")}
    assert entry.source == accounting.SourceRef(event_id="evt-inv-1", document_type="invoice", document_number="INV-1")
    assert (entry.period, entry.date, entry.rule) == ("2024-03", DAY, accounting.PostingRule.INVOICE)


def test_invoice_lines_are_rounded_each_and_the_receivable_is_their_sum() -> None:
    lines = [SalesLine(net=D("10.005"), tax=D("1.9009")), SalesLine(net=D("5.004"), tax=D("0.951"))]
    entry = make_invoice_entry(lines=lines)
    assert amounts(entry) == {"1200": D("17.86"), "4000": D("-15.01"), "2200": D("-2.85")}


def test_a_stated_total_off_by_rounding_goes_to_the_rounding_account_when_one_is_configured() -> None:
    # Tax computed on the total (19% of 30.03 = 5.7057 -> 5.71) differs from the sum of per-line tax (5.70).
    lines = [SalesLine(net=D("10.01"), tax=D("1.9019")) for _ in range(3)]
    entry = make_invoice_entry(lines=lines, total=D("35.74"), accounts=make_accounts(rounding="6990"))
    assert amounts(entry) == {"1200": D("35.74"), "4000": D("-30.03"), "2200": D("-5.70"), "6990": D("-0.01")}


def test_a_stated_total_off_by_rounding_is_unbalanced_without_a_rounding_account() -> None:
    lines = [SalesLine(net=D("10.01"), tax=D("1.9019")) for _ in range(3)]
    with pytest.raises(UnbalancedEntry, match=r"debits 35\.74 EUR != credits 35\.73 EUR"):
        make_invoice_entry(lines=lines, total=D("35.74"))


def test_a_difference_beyond_the_rounding_tolerance_is_an_error_not_a_rounding_line() -> None:
    # One line allows one cent by default; two cents is a wrong total, not rounding.
    with pytest.raises(UnbalancedEntry):
        make_invoice_entry(total=D("119.02"), accounts=make_accounts(rounding="6990"))


@pytest.mark.parametrize(
    ("channel", "item_class", "revenue", "receivable"),
    [
        (None, None, "4000", "1200"),  # no override: the defaults
        ("amazon", None, "4100", "1210"),  # the channel's accounts
        (None, "services", "4500", "1200"),  # the item class's revenue; receivable stays the default
        ("amazon", "services", "4500", "1210"),  # item class beats channel for revenue; channel keeps receivable
        ("unmapped", "unmapped", "4000", "1200"),  # names without overrides fall back to the defaults
    ],
)
def test_accounts_come_from_the_account_map_with_item_class_then_channel_overrides(
    channel: str | None, item_class: str | None, revenue: str, receivable: str
) -> None:
    accounts = AccountMap.model_validate(
        {
            "receivable": "1200",
            "revenue": "4000",
            "tax_payable": "2200",
            "cogs": "5000",
            "inventory": "1400",
            "cash": "1000",
            "customer_credit": "2300",
            "channels": {"amazon": {"receivable": "1210", "revenue": "4100"}},
            "item_classes": {"services": {"revenue": "4500"}},
        }
    )
    entry = make_invoice_entry(
        accounts=accounts, channel=channel, lines=[SalesLine(net=D("10.00"), item_class=item_class)]
    )
    assert amounts(entry) == {receivable: D("10.00"), revenue: D("-10.00")}


def test_a_tax_code_posts_to_its_own_tax_account() -> None:
    lines = [SalesLine(net=D("100.00"), tax=D("19.00"), tax_code="DE19"), SalesLine(net=D("50.00"), tax=D("3.50"))]
    entry = make_invoice_entry(lines=lines, accounts=make_accounts(tax_codes={"DE19": "2219"}))
    assert amounts(entry) == {"1200": D("172.50"), "4000": D("-150.00"), "2219": D("-19.00"), "2200": D("-3.50")}


def test_an_account_map_with_an_unknown_setting_is_refused() -> None:
    with pytest.raises(ValidationError, match="bank"):
        make_accounts(bank="1000")


def test_a_shipment_moves_its_cost_from_inventory_to_cost_of_goods_sold() -> None:
    accounts = make_accounts(item_classes={"chilled": {"inventory": "1410", "cogs": "5010"}})
    lines = [
        CostLine(quantity=D("3"), unit_cost=D("2.3333")),
        CostLine(quantity=D("1.5"), unit_cost=D("4.00"), item_class="chilled"),
    ]
    entry = accounting.entry_for_shipment(
        event_id="evt-shp-1", shipment_number="SH-1", day=DAY, currency="EUR", lines=lines, accounts=accounts
    )
    assert entry is not None
    assert amounts(entry) == {"5000": D("7.00"), "1400": D("-7.00"), "5010": D("6.00"), "1410": D("-6.00")}


@pytest.mark.parametrize(
    ("amount", "open_receivable", "expected"),
    [
        ("119.00", "119.00", {"1000": "119.00", "1200": "-119.00"}),  # pays exactly what is open
        ("50.00", "119.00", {"1000": "50.00", "1200": "-50.00"}),  # a partial payment leaves the rest open
        ("150.00", "119.00", {"1000": "150.00", "1200": "-119.00", "2300": "-31.00"}),  # overpaid: rest is credit
        ("20.00", "0", {"1000": "20.00", "2300": "-20.00"}),  # nothing open: all of it is customer credit
    ],
)
def test_a_payment_debits_cash_and_credits_receivable_up_to_what_is_open(
    amount: str, open_receivable: str, expected: dict[str, str]
) -> None:
    entry = make_payment_entry(amount=D(amount), open_receivable=D(open_receivable))
    assert amounts(entry) == {account: D(value) for account, value in expected.items()}


def test_a_negative_payment_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        make_payment_entry(amount=D("-1.00"))


def test_a_credit_memo_for_every_invoice_line_is_the_exact_reversal_of_the_invoice() -> None:
    accounts = make_accounts(tax_codes={"DE7": "2207"}, item_classes={"books": {"revenue": "4300"}})
    lines = [SalesLine(net=D("40.00"), tax=D("2.80"), tax_code="DE7", item_class="books"), SalesLine(net=D("9.99"))]
    invoice = make_invoice_entry(lines=lines, accounts=accounts)
    memo = accounting.entry_for_credit_memo(
        event_id="evt-cm-1",
        credit_memo_number="CM-1",
        invoice_number="INV-1",
        day=DAY,
        currency="EUR",
        lines=lines,
        accounts=accounts,
    )
    assert memo is not None
    assert amounts(memo) == {account: -amount for account, amount in amounts(invoice).items()}
    assert (memo.source.document_number, memo.source.reverses) == ("CM-1", "INV-1")


def test_a_credit_memo_for_no_one_invoice_still_credits_the_receivable() -> None:
    memo = accounting.entry_for_credit_memo(
        event_id="evt-cm-2",
        credit_memo_number="CM-2",
        invoice_number=None,
        day=DAY,
        currency="EUR",
        lines=[SalesLine(net=D("10.00"), tax=D("1.90"))],
        accounts=make_accounts(),
    )
    assert memo is not None
    assert amounts(memo) == {"4000": D("10.00"), "2200": D("1.90"), "1200": D("-11.90")}
    assert (memo.source.reverses, memo.memo) == (None, "credit memo CM-2")


def test_a_document_worth_nothing_makes_no_entry() -> None:
    free = accounting.entry_for_shipment(
        event_id="evt-shp-2",
        shipment_number="SH-2",
        day=DAY,
        currency="EUR",
        lines=[CostLine(quantity=D("5"), unit_cost=D("0"))],
        accounts=make_accounts(),
    )
    assert free is None


def test_the_same_document_always_gives_the_same_entry_and_another_rule_another_id() -> None:
    assert make_invoice_entry() == make_invoice_entry()
    assert make_invoice_entry().id == accounting.entry_id(accounting.PostingRule.INVOICE, "INV-1")
    assert accounting.entry_id(accounting.PostingRule.SHIPMENT, "INV-1") != make_invoice_entry().id


def test_a_document_sent_again_under_another_event_posts_the_same_entry_once() -> None:
    resent = make_invoice_entry(event_id="evt-inv-1-resent")
    assert resent.id == make_invoice_entry().id, "the entry belongs to the invoice, not to the message"


# --- the ledger -------------------------------------------------------------------------------------------------


def test_posting_numbers_entries_on_from_the_ledgers_last_sequence() -> None:
    entries = [make_invoice_entry(event_id=f"evt-{n}", invoice_number=f"INV-{n}") for n in range(3)]
    result = accounting.post(make_state(last_sequence=41), entries, closed_period_policy=ClosedPeriodPolicy.EXCEPTION)
    assert [entry.sequence for entry in result.posted] == [42, 43, 44]
    assert result.state.last_sequence == 44
    assert result.state.posted_ids == {entry.id for entry in entries}


def test_posting_an_entry_again_posts_nothing_and_leaves_the_ledger_as_it_was() -> None:
    entry = make_invoice_entry()
    first = accounting.post(make_state(), [entry], closed_period_policy=ClosedPeriodPolicy.EXCEPTION)
    again = accounting.post(first.state, [entry], closed_period_policy=ClosedPeriodPolicy.EXCEPTION)
    assert again.posted == ()
    assert again.repeated == (entry.id,)
    assert again.state == first.state


def test_the_same_entry_twice_in_one_batch_is_posted_once_without_a_gap() -> None:
    entry, other = make_invoice_entry(), make_payment_entry()
    result = accounting.post(make_state(), [entry, entry, other], closed_period_policy=ClosedPeriodPolicy.EXCEPTION)
    assert [(posted.id, posted.sequence) for posted in result.posted] == [(entry.id, 1), (other.id, 2)]
    assert result.repeated == (entry.id,)


def test_an_entry_dated_in_a_closed_period_moves_to_the_first_day_of_the_next_open_one_and_says_so() -> None:
    state = make_state(closed_periods={"2024-03", "2024-04"})
    result = accounting.post(state, [make_invoice_entry()], closed_period_policy=ClosedPeriodPolicy.NEXT_OPEN_PERIOD)
    (moved,) = result.posted
    assert (moved.date, moved.period, moved.moved_from_period) == (date(2024, 5, 1), "2024-05", "2024-03")
    assert moved.memo == "invoice INV-1; dated 2024-03-15 in closed period 2024-03, posted on 2024-05-01"
    assert moved.id == make_invoice_entry().id
    assert amounts(moved) == amounts(make_invoice_entry())


def test_a_moved_entry_is_still_recognised_as_a_repeat() -> None:
    state = make_state(closed_periods={"2024-03"})
    policy = ClosedPeriodPolicy.NEXT_OPEN_PERIOD
    first = accounting.post(state, [make_invoice_entry()], closed_period_policy=policy)
    again = accounting.post(first.state, [make_invoice_entry()], closed_period_policy=policy)
    assert (again.posted, again.repeated) == ((), (make_invoice_entry().id,))


def test_an_entry_dated_in_a_closed_period_is_held_for_finance_when_the_policy_says_exception() -> None:
    entry = make_invoice_entry()
    result = accounting.post(
        make_state(closed_periods={"2024-03"}), [entry], closed_period_policy=ClosedPeriodPolicy.EXCEPTION
    )
    assert result.posted == ()
    (held,) = result.held
    assert (held.owner, held.reason_code, held.entry) == (
        ExceptionOwner.FINANCE,
        accounting.HoldReason.PERIOD_CLOSED,
        entry,
    )
    assert held.detail == "invoice INV-1 is dated 2024-03-15, in closed period 2024-03"
    assert result.state.last_sequence == 0
    assert result.state.posted_ids == frozenset()


def test_holding_the_same_entry_twice_asks_finance_under_the_same_exception_id() -> None:
    state = make_state(closed_periods={"2024-03"})
    policy = ClosedPeriodPolicy.EXCEPTION
    first = accounting.post(state, [make_invoice_entry()], closed_period_policy=policy)
    again = accounting.post(first.state, [make_invoice_entry()], closed_period_policy=policy)
    assert first.held[0].exception_id == again.held[0].exception_id


def test_a_held_entry_posts_in_its_own_period_once_finance_reopens_it() -> None:
    closed = make_state(closed_periods={"2024-03"})
    policy = ClosedPeriodPolicy.EXCEPTION
    accounting.post(closed, [make_invoice_entry()], closed_period_policy=policy)
    reopened = accounting.reopen_period(closed, "2024-03")
    (posted,) = accounting.post(reopened, [make_invoice_entry()], closed_period_policy=policy).posted
    assert (posted.date, posted.sequence, posted.moved_from_period) == (DAY, 1, None)


def test_closing_a_period_closes_only_that_month() -> None:
    state = accounting.close_period(make_state(), "2024-03")
    assert not state.is_open("2024-03")
    assert state.is_open("2024-02")
    assert state.is_open("2024-04")


def test_balances_sum_every_line_per_account_and_currency() -> None:
    entries = [make_invoice_entry(), make_payment_entry(amount=D("100.00"))]
    totals = accounting.balances(entries)
    assert totals[("1200", "EUR")] == D("19.00")
    assert totals[("1000", "EUR")] == D("100.00")
    assert sum(totals.values()) == 0


@pytest.mark.parametrize(
    ("closed", "expected"),
    [
        (set(), "2024-04"),  # nothing closed: simply the following month
        ({"2024-04", "2024-05"}, "2024-06"),  # closed months in a row are skipped
        ({"2024-03"}, "2024-04"),  # the month itself being closed does not matter
    ],
)
def test_the_next_open_period_is_the_first_open_month_after_the_given_one(closed: set[str], expected: str) -> None:
    assert make_state(closed_periods=closed).next_open_period("2024-03") == expected
