"""Postings over random histories of invoices, shipments, payments and credit memos: the ledger's invariants hold."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from crossdock.domain import accounting
from crossdock.domain.accounting import (
    AccountMap,
    AccountOverrides,
    ClosedPeriodPolicy,
    CostLine,
    JournalEntry,
    SalesLine,
)
from crossdock.domain.money import round_money

# Busy machines make single examples slow; a slow example is not a failure. Modest counts keep the file quick.
HISTORIES = settings(deadline=None, max_examples=200)

ACCOUNTS = AccountMap(
    receivable="1200",
    revenue="4000",
    tax_payable="2200",
    cogs="5000",
    inventory="1400",
    cash="1000",
    customer_credit="2300",
    rounding="6990",
    item_classes={"services": AccountOverrides(revenue="4500")},
    tax_codes={"RED": "2207"},
)
MONTHS = [f"2024-{month:02d}" for month in range(1, 7)]

money = st.decimals(min_value=0, max_value=5000, places=4, allow_nan=False, allow_infinity=False)
days = st.dates(min_value=date(2024, 1, 1), max_value=date(2024, 6, 30))
sales_lines = st.builds(
    SalesLine,
    net=money,
    tax=money,
    item_class=st.sampled_from([None, "services"]),
    tax_code=st.sampled_from([None, "RED"]),
)
invoices = st.tuples(st.just("invoice"), days, st.lists(sales_lines, min_size=1, max_size=4), st.booleans())
shipments = st.tuples(
    st.just("shipment"),
    days,
    st.lists(st.builds(CostLine, quantity=money, unit_cost=money), min_size=1, max_size=3),
)
payments = st.tuples(st.just("payment"), days, money)
# Which earlier invoice (modulo how many there are) and which of its lines a credit memo credits.
credit_memos = st.tuples(st.just("credit_memo"), days, st.integers(min_value=0), st.lists(st.booleans(), min_size=4))
histories = st.lists(st.one_of(invoices, shipments, payments, credit_memos), max_size=20)


@dataclass
class Books:
    """What the history says the receivable should be, kept independently of the posting rules."""

    currency: str
    invoiced: Decimal = Decimal(0)
    paid: Decimal = Decimal(0)
    credited: Decimal = Decimal(0)
    received: Decimal = Decimal(0)
    invoices: list[tuple[str, list[SalesLine]]] = field(default_factory=list)
    credited_invoices: set[int] = field(default_factory=set)
    entries: list[JournalEntry] = field(default_factory=list)

    def rounded(self, amount: Decimal) -> Decimal:
        return round_money(amount, self.currency)

    def line_value(self, line: SalesLine) -> Decimal:
        return self.rounded(line.net) + self.rounded(line.tax)

    @property
    def open_receivable(self) -> Decimal:
        return max(self.invoiced - self.paid - self.credited, Decimal(0))


def book(history: list[tuple[object, ...]], currency: str) -> Books:
    """Runs the history through the posting rules, tracking the expected totals on the side."""
    books = Books(currency)
    for number, step in enumerate(history):
        kind, day = step[0], step[1]
        assert isinstance(day, date)
        entry: JournalEntry | None
        if kind == "invoice":
            lines, states_total = step[2], step[3]
            assert isinstance(lines, list)
            # A stated total is the rounded unrounded sum: it may differ from the per-line sum by rounding.
            total = books.rounded(sum((ln.net + ln.tax for ln in lines), Decimal(0))) if states_total else None
            entry = accounting.entry_for_invoice(
                event_id=f"evt-{number}",
                invoice_number=f"INV-{number}",
                day=day,
                currency=currency,
                lines=lines,
                accounts=ACCOUNTS,
                total=total,
            )
            books.invoiced += total if total is not None else sum(map(books.line_value, lines), Decimal(0))
            books.invoices.append((f"INV-{number}", lines))
        elif kind == "shipment":
            cost_lines = step[2]
            assert isinstance(cost_lines, list)
            entry = accounting.entry_for_shipment(
                event_id=f"evt-{number}",
                shipment_number=f"SH-{number}",
                day=day,
                currency=currency,
                lines=cost_lines,
                accounts=ACCOUNTS,
            )
        elif kind == "payment":
            amount = step[2]
            assert isinstance(amount, Decimal)
            entry = accounting.entry_for_payment(
                event_id=f"evt-{number}",
                payment_number=f"PAY-{number}",
                day=day,
                currency=currency,
                amount=amount,
                open_receivable=books.open_receivable,
                accounts=ACCOUNTS,
            )
            books.paid += min(books.rounded(amount), books.open_receivable)
            books.received += books.rounded(amount)
        else:
            pick, mask = step[2], step[3]
            assert isinstance(pick, int)
            assert isinstance(mask, list)
            if not books.invoices or pick % len(books.invoices) in books.credited_invoices:
                continue  # nothing (left) to credit: the workflow would not issue this memo
            books.credited_invoices.add(pick % len(books.invoices))
            invoice_number, invoice_lines = books.invoices[pick % len(books.invoices)]
            credited = [line for line, chosen in zip(invoice_lines, mask, strict=False) if chosen]
            entry = accounting.entry_for_credit_memo(
                event_id=f"evt-{number}",
                credit_memo_number=f"CM-{number}",
                invoice_number=invoice_number,
                day=day,
                currency=currency,
                lines=credited,
                accounts=ACCOUNTS,
            )
            books.credited += sum(map(books.line_value, credited), Decimal(0))
        if entry is not None:
            books.entries.append(entry)
    return books


def post_in_batches(
    state: accounting.LedgerState, entries: list[JournalEntry], cuts: list[int], policy: ClosedPeriodPolicy
) -> tuple[accounting.LedgerState, list[JournalEntry], list[accounting.HeldEntry]]:
    posted: list[JournalEntry] = []
    held: list[accounting.HeldEntry] = []
    bounds = sorted({0, len(entries), *(cut % (len(entries) + 1) for cut in cuts)})
    for start, end in itertools.pairwise(bounds):
        result = accounting.post(state, entries[start:end], closed_period_policy=policy)
        state = result.state
        posted.extend(result.posted)
        held.extend(result.held)
    return state, posted, held


currencies = st.sampled_from(["JPY", "EUR", "BHD"])
closed_sets = st.sets(st.sampled_from(MONTHS))
policies = st.sampled_from(list(ClosedPeriodPolicy))
batch_cuts = st.lists(st.integers(min_value=0), max_size=4)


@HISTORIES
@given(history=histories, currency=currencies)
def test_every_entry_of_any_history_is_balanced_and_so_is_the_whole_journal(
    history: list[tuple[object, ...]], currency: str
) -> None:
    books = book(history, currency)
    for entry in books.entries:
        assert entry.total_debit == entry.total_credit
        assert all(amount == books.rounded(amount) for line in entry.lines for amount in (line.debit, line.credit))
    assert sum(accounting.balances(books.entries).values(), Decimal(0)) == 0


@HISTORIES
@given(history=histories, currency=currencies)
def test_the_receivable_is_what_was_invoiced_less_what_was_paid_and_credited(
    history: list[tuple[object, ...]], currency: str
) -> None:
    books = book(history, currency)
    totals = accounting.balances(books.entries)
    assert totals.get(("1200", currency), Decimal(0)) == books.invoiced - books.paid - books.credited
    # Cash is everything received; what exceeded the open receivable is owed back as customer credit.
    assert totals.get(("1000", currency), Decimal(0)) == books.received
    assert -totals.get(("2300", currency), Decimal(0)) == books.received - books.paid


@HISTORIES
@given(history=histories, currency=currencies, closed=closed_sets, policy=policies, cuts=batch_cuts)
def test_posting_any_history_never_touches_a_closed_period_and_numbers_entries_without_gaps(
    history: list[tuple[object, ...]],
    currency: str,
    closed: set[str],
    policy: ClosedPeriodPolicy,
    cuts: list[int],
) -> None:
    books = book(history, currency)
    state = accounting.LedgerState(ledger="main", closed_periods=frozenset(closed))
    state, posted, held = post_in_batches(state, books.entries, cuts, policy)

    assert all(entry.period not in closed for entry in posted)
    assert [entry.sequence for entry in posted] == list(range(1, len(posted) + 1))
    assert state.last_sequence == len(posted)
    # Nothing is lost: each entry is posted or held for finance, and held only when its period is closed.
    held_ids = {h.entry.id for h in held}
    assert sorted(entry.id for entry in posted) == sorted(e.id for e in books.entries if e.id not in held_ids)
    assert all(h.entry.period in closed for h in held)
    if policy is ClosedPeriodPolicy.NEXT_OPEN_PERIOD:
        assert held == []
    # Moving an entry changes its date, never its amounts: the receivable still adds up.
    totals = accounting.balances([*posted, *(h.entry for h in held)])
    assert totals.get(("1200", currency), Decimal(0)) == books.invoiced - books.paid - books.credited


@HISTORIES
@given(history=histories, currency=currencies, closed=closed_sets, policy=policies, cuts=batch_cuts)
def test_reposting_a_whole_history_posts_nothing(
    history: list[tuple[object, ...]],
    currency: str,
    closed: set[str],
    policy: ClosedPeriodPolicy,
    cuts: list[int],
) -> None:
    books = book(history, currency)
    state = accounting.LedgerState(ledger="main", closed_periods=frozenset(closed))
    state, _, _ = post_in_batches(state, books.entries, cuts, policy)
    # The same events replayed build the same entries, which the ledger already holds.
    replayed = book(history, currency).entries
    again = accounting.post(state, replayed, closed_period_policy=policy)
    assert again.posted == ()
    assert again.state == state
