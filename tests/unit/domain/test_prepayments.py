"""Prepayments: money taken for an order before anything is invoiced (a webshop's checkout) is held on the order,
applied to its invoices as they post, oldest first, and what is left when the order ends is the customer's credit.
The rules fact by fact, then over random histories with the journal the posting rules would write."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossdock.domain import accounting, errors
from crossdock.domain.documents import Payment, PaymentApplication
from crossdock.domain.workflows import order_to_cash as o2c
from crossdock.domain.workflows.order_to_cash import OrderStatus as S
from tests.unit.domain.test_order_to_cash import (
    ORDER,
    RELEASED,
    accepted,
    cancelled,
    commands_of,
    invoiced,
    paid,
    received,
    run,
    shipped,
    step,
)
from tests.unit.domain.test_order_to_cash_properties import ORDER as HISTORY_ORDER
from tests.unit.domain.test_order_to_cash_properties import History, histories
from tests.unit.factories import PROPERTY, T0

# The order of test_order_to_cash: L1 is 10 x 5.00, L2 is 4 x 12.50, 100.00 EUR in all.


def prepaid(amount: str, ident: str = "PRE1", currency: str = "EUR", order: str = ORDER) -> o2c.PrepaymentReceived:
    return o2c.PrepaymentReceived(order_id=order, payment_id=ident, currency=currency, amount=Decimal(amount))


def applications(state: o2c.OrderState) -> list[tuple[str, str, Decimal]]:
    return [(a.payment_id, a.invoice_id, a.amount) for a in state.prepayment_applications]


def held(state: o2c.OrderState) -> dict[str, Decimal]:
    return {p.payment_id: p.held for p in state.prepayments}


# --- the document --------------------------------------------------------------------------------------------------


def payment(**overrides: Any) -> Payment:
    fields: dict[str, Any] = {
        "reference": "SHOP-1-PAID",
        "customer": "C-1",
        "amount": Decimal("100.00"),
        "currency": "EUR",
        "received_on": date(2025, 3, 3),
    }
    return Payment(**(fields | overrides))


@pytest.mark.parametrize(
    ("overrides", "prepayment"),
    [
        ({"order": "SO-1"}, True),  # taken for an order, nothing invoiced to name: held on the order
        ({}, False),  # names nothing at all: finance applies it by hand
        # names its invoice: applied to it, the order only says what it was for
        ({"order": "SO-1", "applications": (PaymentApplication(invoice="INV-1", amount=Decimal(100)),)}, False),
    ],
)
def test_a_payment_is_a_prepayment_only_when_it_names_an_order_and_no_invoice(
    overrides: dict[str, Any], prepayment: bool
) -> None:
    assert payment(**overrides).is_prepayment is prepayment


def test_a_payment_that_names_no_order_reads_as_before() -> None:
    older = payment().model_dump(mode="json", exclude={"order"})

    assert Payment.model_validate(older).order is None


# --- the workflow, fact by fact ------------------------------------------------------------------------------------


def test_a_prepayment_is_held_on_the_order_until_an_invoice_posts() -> None:
    result = step(RELEASED, prepaid("100"))

    assert result.state.status is S.RELEASED
    assert (result.state.paid, result.state.paid_against_invoices) == (Decimal(100), Decimal(0))
    assert held(result.state) == {"PRE1": Decimal(100)}
    assert commands_of(result, o2c.ApplyPrepayment) == []


def test_an_invoice_is_settled_from_the_prepayment_as_it_posts_and_a_fully_prepaid_order_closes() -> None:
    state = run(prepaid("100"), shipped(L1=10, L2=4), state=RELEASED)

    result = step(state, invoiced(L1=10, L2=4))

    (apply,) = commands_of(result, o2c.ApplyPrepayment)
    assert (apply.number, apply.payment_id, apply.invoice_id, apply.amount) == (1, "PRE1", "INV1", Decimal(100))
    assert result.state.status is S.CLOSED, "the invoice is paid the moment it posts"
    assert (result.state.credit, held(result.state)) == (Decimal(0), {"PRE1": Decimal(0)})
    assert commands_of(result, o2c.ReleasePrepayment) == [] and commands_of(result, o2c.RecordCustomerCredit) == []


def test_partial_invoices_draw_on_the_oldest_prepayment_first() -> None:
    state = run(prepaid("30", "PRE1"), prepaid("100", "PRE2"), state=RELEASED)
    state = run(shipped("SH1", L1=10), invoiced("INV1", "SH1", L1=10), state=state)

    assert applications(state) == [("PRE1", "INV1", Decimal(30)), ("PRE2", "INV1", Decimal(20))]
    assert held(state) == {"PRE1": Decimal(0), "PRE2": Decimal(80)}
    assert state.status is S.PARTIALLY_SHIPPED

    state = run(shipped("SH2", L2=4), invoiced("INV2", "SH2", L2=4), state=state)

    assert applications(state)[2:] == [("PRE2", "INV2", Decimal(50))]
    assert state.status is S.CLOSED


def test_what_a_prepayment_still_holds_when_the_order_closes_is_released_as_the_customers_credit() -> None:
    state = run(prepaid("120"), shipped(L1=10, L2=4), state=RELEASED)

    result = step(state, invoiced(L1=10, L2=4))

    assert result.state.status is S.CLOSED
    (release,) = commands_of(result, o2c.ReleasePrepayment)
    (credit,) = commands_of(result, o2c.RecordCustomerCredit)
    assert (release.payment_id, release.amount, credit.amount) == ("PRE1", Decimal(20), Decimal(20))
    assert result.state.credit == Decimal(20)
    assert held(result.state) == {"PRE1": Decimal(0)}


def test_a_prepayment_on_an_order_cancelled_before_shipping_is_released_in_full() -> None:
    state = run(prepaid("100"), state=RELEASED)

    result = step(state, cancelled())

    assert result.state.status is S.CANCELLED
    (release,) = commands_of(result, o2c.ReleasePrepayment)
    assert (release.amount, result.state.credit) == (Decimal(100), Decimal(100))
    assert commands_of(result, o2c.ApplyPrepayment) == []


def test_a_prepayment_after_invoices_settles_them_in_invoice_number_order() -> None:
    state = run(
        shipped("SH1", L1=10),
        shipped("SH2", L2=4),
        invoiced("INV2", "SH2", L2=4),
        invoiced("INV1", "SH1", L1=10),
        state=RELEASED,
    )

    result = step(state, prepaid("70"))

    assert [(a.invoice_id, a.amount, a.number) for a in commands_of(result, o2c.ApplyPrepayment)] == [
        ("INV1", Decimal(50), 1),
        ("INV2", Decimal(20), 2),
    ]
    assert result.state.status is S.INVOICED and result.state.balance_due == Decimal(30)


def test_a_prepayment_never_settles_what_the_customer_already_paid_directly() -> None:
    state = run(shipped(L1=10, L2=4), invoiced(L1=10, L2=4), paid("60"), state=RELEASED)

    result = step(state, prepaid("100"))

    assert applications(result.state) == [("PRE1", "INV1", Decimal(40))], "only the 40.00 still owed"
    assert result.state.status is S.CLOSED
    (release,) = commands_of(result, o2c.ReleasePrepayment)
    assert release.amount == Decimal(60) and result.state.credit == Decimal(60)


def test_a_prepayment_before_its_order_is_held_and_settles_the_invoice_once_the_order_is_accepted() -> None:
    early = step(o2c.OrderState.new(ORDER), prepaid("100"))
    assert early.held == (prepaid("100"),)

    state = run(received(), accepted(), state=early.state)

    assert state.held == () and held(state) == {"PRE1": Decimal(100)}


def test_a_prepayment_after_closing_is_released_at_once() -> None:
    state = run(shipped(L1=10, L2=4), invoiced(L1=10, L2=4), paid("100"), state=RELEASED)

    result = step(state, prepaid("15"))

    assert applications(result.state) == []
    assert [c.amount for c in commands_of(result, o2c.ReleasePrepayment)] == [Decimal(15)]
    assert result.state.credit == Decimal(15)


def test_a_prepayment_in_another_currency_is_illegal() -> None:
    with pytest.raises(errors.IllegalTransition, match="prepaid in USD"):
        step(RELEASED, prepaid("10", currency="USD"))


def test_a_repeated_prepayment_changes_nothing() -> None:
    state = run(prepaid("100"), state=RELEASED)

    result = step(state, prepaid("100"))

    assert result.duplicate and result.state == state


def test_a_direct_payment_counts_against_invoices_only_what_prepayments_do_not_hold() -> None:
    state = run(prepaid("100"), shipped(L1=10), invoiced(L1=10), state=RELEASED)

    assert (state.paid, state.paid_against_invoices, state.invoiced_amount) == (Decimal(100), Decimal(50), Decimal(50))


def test_a_state_with_prepayments_survives_a_round_trip_through_json() -> None:
    state = run(prepaid("30", "PRE1"), prepaid("100", "PRE2"), shipped(L1=10), invoiced(L1=10), state=RELEASED)

    assert o2c.OrderState.model_validate_json(state.model_dump_json()) == state


# --- the posting rules ---------------------------------------------------------------------------------------------

ACCOUNTS = accounting.AccountMap(
    receivable="1200",
    revenue="4000",
    tax_payable="2200",
    cogs="5000",
    inventory="1400",
    cash="1000",
    customer_credit="2300",
    customer_deposit="2350",
)
DAY = date(2025, 3, 3)


def lines_of(entry: accounting.JournalEntry | None) -> list[tuple[str, Decimal, Decimal]]:
    assert entry is not None
    return sorted((line.account, line.debit, line.credit) for line in entry.lines)


def receipt(**overrides: Any) -> accounting.JournalEntry | None:
    fields: dict[str, Any] = {
        "event_id": "e1",
        "payment_number": "SHOP-1-PAID",
        "order_number": "SHOP-1",
        "day": DAY,
        "currency": "EUR",
        "amount": Decimal("100.00"),
        "accounts": ACCOUNTS,
    }
    return accounting.entry_for_prepayment(**(fields | overrides))


def application(number: int = 1, **overrides: Any) -> accounting.JournalEntry | None:
    fields: dict[str, Any] = {
        "event_id": "e2",
        "payment_number": "SHOP-1-PAID",
        "order_number": "SHOP-1",
        "application": number,
        "invoice_number": "INV-1",
        "day": DAY,
        "currency": "EUR",
        "amount": Decimal("60.00"),
        "accounts": ACCOUNTS,
    }
    return accounting.entry_for_prepayment_application(**(fields | overrides))


def test_a_prepayment_is_booked_as_cash_against_the_customer_deposit() -> None:
    assert lines_of(receipt()) == [("1000", Decimal("100.00"), 0), ("2350", 0, Decimal("100.00"))]


def test_a_prepayment_posts_its_cash_once_however_the_payment_is_sent_again() -> None:
    plain = accounting.entry_for_payment(
        event_id="e9",
        payment_number="SHOP-1-PAID",
        day=DAY,
        currency="EUR",
        amount=Decimal("100.00"),
        open_receivable=Decimal(0),
        accounts=ACCOUNTS,
    )
    entry = receipt()

    assert plain is not None and entry is not None and entry.id == plain.id


def test_an_applied_prepayment_moves_the_deposit_against_the_receivable_of_the_invoices_channel() -> None:
    accounts = ACCOUNTS.model_copy(update={"channels": {"shop": accounting.AccountOverrides(receivable="1210")}})

    entry = application(accounts=accounts, channel="shop")

    assert lines_of(entry) == [("1210", 0, Decimal("60.00")), ("2350", Decimal("60.00"), 0)]


def test_each_application_of_an_order_posts_once_under_its_own_number() -> None:
    first, again, second = application(1), application(1, event_id="other"), application(2)

    assert first is not None and again is not None and second is not None
    assert first.id == again.id != second.id


def test_what_a_prepayment_left_over_becomes_the_customers_credit() -> None:
    entry = accounting.entry_for_prepayment_release(
        event_id="e3",
        payment_number="SHOP-1-PAID",
        order_number="SHOP-1",
        day=DAY,
        currency="EUR",
        amount=Decimal("40.00"),
        accounts=ACCOUNTS,
    )

    assert lines_of(entry) == [("2300", 0, Decimal("40.00")), ("2350", Decimal("40.00"), 0)]


def test_a_prepayment_without_a_deposit_account_names_the_missing_role() -> None:
    without = ACCOUNTS.model_copy(update={"customer_deposit": None})

    with pytest.raises(errors.MissingAccount, match="customer_deposit"):
        receipt(accounts=without)


# --- over random histories -----------------------------------------------------------------------------------------


@dataclass
class Books:
    """The journal the posting desk would write for one order, built with the real posting rules."""

    entries: list[accounting.JournalEntry] = field(default_factory=list)

    def add(self, entry: accounting.JournalEntry | None) -> None:
        if entry is not None:
            self.entries.append(entry)

    def balance(self, account: str) -> Decimal:
        return accounting.balances(self.entries).get((account, "EUR"), Decimal(0))

    def book(self, before: o2c.OrderState, fact: o2c.OrderFact, result: o2c.Step) -> None:
        if result.duplicate:
            return
        if isinstance(fact, o2c.PrepaymentReceived):  # the cash is booked when it comes, held or not
            self.add(
                accounting.entry_for_prepayment(
                    event_id="e",
                    payment_number=fact.payment_id,
                    order_number=fact.order_id,
                    day=DAY,
                    currency="EUR",
                    amount=fact.amount,
                    accounts=ACCOUNTS,
                )
            )
        for command in result.commands:
            if isinstance(command, o2c.ApplyPrepayment):
                self.add(
                    accounting.entry_for_prepayment_application(
                        event_id="e",
                        payment_number=command.payment_id,
                        order_number=command.order_id,
                        application=command.number,
                        invoice_number=command.invoice_id,
                        day=DAY,
                        currency="EUR",
                        amount=command.amount,
                        accounts=ACCOUNTS,
                    )
                )
            elif isinstance(command, o2c.ReleasePrepayment):
                self.add(
                    accounting.entry_for_prepayment_release(
                        event_id="e",
                        payment_number=command.payment_id,
                        order_number=command.order_id,
                        day=DAY,
                        currency="EUR",
                        amount=command.amount,
                        accounts=ACCOUNTS,
                    )
                )
        known = {invoice.invoice_id for invoice in before.invoices}
        for invoice in result.state.invoices:  # posted now, or held until its shipment and posted now
            if invoice.invoice_id not in known:
                self.add(
                    accounting.entry_for_invoice(
                        event_id="e",
                        invoice_number=invoice.invoice_id,
                        day=DAY,
                        currency="EUR",
                        lines=[accounting.SalesLine(net=invoice.amount)],
                        accounts=ACCOUNTS,
                    )
                )


def with_prepayments(data: st.DataObject, history: History) -> list[o2c.OrderFact]:
    """The history with a few prepayments slipped in anywhere, even before the order itself."""
    facts = list(history.facts)
    for number in range(data.draw(st.integers(0, 3), label="prepayments")):
        cents = data.draw(st.integers(1, 10_000), label="prepaid cents")
        fact = prepaid(str(Decimal(cents) / 100), f"PRE{number}", order=HISTORY_ORDER)
        facts.insert(data.draw(st.integers(0, len(facts)), label="at"), fact)
    return facts


def assert_prepayments_keep_their_rules(state: o2c.OrderState) -> None:
    for prepayment in state.prepayments:
        assert prepayment.applied >= 0 and prepayment.released >= 0, prepayment
        assert prepayment.applied + prepayment.released <= prepayment.amount, f"oversettled: {prepayment}"
        drawn = sum((a.amount for a in state.prepayment_applications if a.payment_id == prepayment.payment_id), 0)
        assert drawn == prepayment.applied, prepayment
    for invoice in state.invoices:
        assert 0 <= invoice.from_prepayments <= invoice.amount, f"invoice open below zero: {invoice}"
        drawn = sum((a.amount for a in state.prepayment_applications if a.invoice_id == invoice.invoice_id), 0)
        assert drawn == invoice.from_prepayments, invoice
    assert all(a.amount > 0 for a in state.prepayment_applications)
    assert sum((i.amount for i in state.invoices), Decimal(0)) == state.invoiced_amount
    if state.status in o2c.TERMINAL:
        assert state.prepayment_held == 0, "an ended order holds no prepayment: applied or released as credit"
        released = sum((p.released for p in state.prepayments), Decimal(0))
        assert released <= state.credit, "what is released is part of the customer's credit"


@settings(PROPERTY, max_examples=200)
@given(st.data())
def test_prepayments_in_any_arrival_order_never_oversettle_and_the_journal_balances(data: st.DataObject) -> None:
    facts = with_prepayments(data, data.draw(histories()))
    arrival = data.draw(st.permutations(facts), label="arrival")

    state = o2c.OrderState.new(HISTORY_ORDER)
    books = Books()
    for fact in arrival:
        result = o2c.apply_fact(state, fact, T0)
        assert result.refused == ()
        books.book(state, fact, result)
        state = result.state
        assert_prepayments_keep_their_rules(state)
        # The deposit account holds what the order holds, plus prepayments waiting for the order to be accepted.
        waiting = sum((f.amount for f in state.held if isinstance(f, o2c.PrepaymentReceived)), Decimal(0))
        assert -books.balance("2350") == state.prepayment_held + waiting >= 0
        # Prepayments never settle more than the invoices asked for.
        applied = sum((p.applied for p in state.prepayments), Decimal(0))
        assert books.balance("1200") == state.invoiced_amount - applied >= 0

    assert all(entry.total_debit == entry.total_credit for entry in books.entries)
    assert sum(accounting.balances(books.entries).values(), Decimal(0)) == 0
    assert -books.balance("2300") == sum((p.released for p in state.prepayments), Decimal(0))


@settings(PROPERTY, max_examples=200)
@given(st.data())
def test_prepayments_leave_status_paid_and_credit_the_same_in_any_arrival_order(data: st.DataObject) -> None:
    facts = with_prepayments(data, data.draw(histories()))

    def final(order: list[o2c.OrderFact]) -> o2c.OrderState:
        state = o2c.OrderState.new(HISTORY_ORDER)
        for fact in order:
            state = o2c.apply_fact(state, fact, T0).state
        return state

    expected, other = final(facts), final(data.draw(st.permutations(facts), label="arrival"))

    summary = ("status", "paid", "credit", "invoiced_amount", "lines")
    assert {name: getattr(other, name) for name in summary} == {name: getattr(expected, name) for name in summary}
    assert {o2c.fact_key(f) for f in other.held} == {o2c.fact_key(f) for f in expected.held}
    if expected.status in o2c.TERMINAL:
        assert other.prepayment_held == expected.prepayment_held == 0
