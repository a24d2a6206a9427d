"""Prepayments through the runtime (SQLite and PostgreSQL): money taken for an order before it is invoiced is booked
as cash against the customer deposit, applied to the order's invoices as the hub posts them, and what is left when
the order ends is the customer's credit, for finance to refund or apply."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from crossdock import config
from crossdock.domain import accounting, catalog
from crossdock.domain.workflows.order_to_cash import OrderStatus
from crossdock.hub.ports import MessageStatus
from tests.e2e.order_to_cash_estate import ACCOUNTS, OrderToCashEstate, sales_order, settings_for

DEPOSIT = "2350"
WITH_DEPOSIT = {"accounts": ACCOUNTS | {"customer_deposit": DEPOSIT}, "unit_costs": {"A": "2.50", "B": "4.00"}}


@pytest.fixture
def make(tmp_path: Path, database_url: str) -> Iterator[Any]:
    built: list[OrderToCashEstate] = []

    def make_estate(**sections: Any) -> OrderToCashEstate:
        given = {"storage": {"url": database_url}, "accounting": WITH_DEPOSIT} | sections
        estate = OrderToCashEstate(tmp_path, settings_for(tmp_path, **given))
        built.append(estate)
        return estate

    yield make_estate
    for estate in built:
        if estate.runtime is not None:
            estate.stop()


def prepay(estate: OrderToCashEstate, order: str, amount: str, reference: str = "PRE-1") -> None:
    payment = {
        "reference": reference,
        "customer": "C1",
        "amount": amount,
        "currency": "EUR",
        "received_on": "2025-03-03",
        "order": order,
    }
    estate.event("erp", catalog.PaymentApplied.event_type, {"payment": payment})
    estate.drain()


def ordered(estate: OrderToCashEstate) -> None:
    """SO-1: 4 A at 10.00 and 2 B at 30.00, 100.00 EUR, in stock and released to WH1."""
    estate.receipt("A", "WH1", 10)
    estate.receipt("B", "WH1", 10)
    estate.order(sales_order("SO-1", ("A", 4, "10.00"), ("B", 2, "30.00")))
    estate.drain()


def books(estate: OrderToCashEstate) -> list[accounting.JournalEntry]:
    with estate.hub.begin() as uow:
        return list(uow.journal.entries("main"))


def balance(entries: list[accounting.JournalEntry], account: str) -> Decimal:
    return accounting.balances(entries).get((account, "EUR"), Decimal(0))


def assert_books_sound(entries: list[accounting.JournalEntry]) -> None:
    assert all(entry.total_debit == entry.total_credit for entry in entries)
    assert [entry.sequence for entry in entries] == list(range(1, len(entries) + 1)), "gap-free"
    assert len({entry.id for entry in entries}) == len(entries), "each document posts once"


def test_a_prepaid_order_is_settled_invoice_by_invoice_and_ends_paid_with_the_deposit_cleared(make: Any) -> None:
    estate = make()
    ordered(estate)
    prepay(estate, "SO-1", "100.00")
    assert estate.state("SO-1").prepayment_held == Decimal(100)
    entries = books(estate)
    assert (balance(entries, ACCOUNTS["cash"]), balance(entries, DEPOSIT)) == (Decimal(100), Decimal(-100))

    estate.shipment("SH-1", "SO-1", "WH1", (1, "A", 4))
    estate.drain()
    state = estate.state("SO-1")
    assert (state.status, state.prepayment_held) == (OrderStatus.PARTIALLY_SHIPPED, Decimal(60))

    estate.shipment("SH-2", "SO-1", "WH1", (2, "B", 2))
    estate.drain()
    state = estate.state("SO-1")
    assert (state.status, state.invoiced_amount, state.paid, state.credit) == (OrderStatus.CLOSED, 100, 100, 0)
    assert [(a.invoice_id, a.amount) for a in state.prepayment_applications] == [
        ("INV-SH-1", Decimal(40)),
        ("INV-SH-2", Decimal(60)),
    ]
    entries = books(estate)
    assert_books_sound(entries)
    assert (balance(entries, DEPOSIT), balance(entries, ACCOUNTS["receivable"])) == (0, 0)
    assert estate.exceptions() == [], "nothing unapplied, nothing for finance"


def test_more_prepaid_than_invoiced_ends_as_the_customers_credit_for_finance(make: Any) -> None:
    estate = make()
    ordered(estate)
    prepay(estate, "SO-1", "130.00")
    estate.shipment("SH-1", "SO-1", "WH1", (1, "A", 4), (2, "B", 2))
    estate.drain()

    state = estate.state("SO-1")
    assert (state.status, state.credit) == (OrderStatus.CLOSED, Decimal(30))
    entries = books(estate)
    assert_books_sound(entries)
    assert balance(entries, DEPOSIT) == 0
    assert balance(entries, ACCOUNTS["customer_credit"]) == Decimal(-30)
    ((owner, reason),) = [(e.owner, e.reason_code) for e in estate.exceptions("SO-1")]
    assert (owner, reason) == ("finance", "customer_credit")


def test_a_prepayment_for_a_cancelled_order_is_released_in_full_as_credit(make: Any) -> None:
    estate = make()
    ordered(estate)
    prepay(estate, "SO-1", "100.00")
    request = {"order": "SO-1", "cancellation": "X-1", "reason": "customer changed their mind"}
    estate.event("erp", catalog.OrderCancellationRequested.event_type, request)
    estate.drain()

    state = estate.state("SO-1")
    assert (state.status, state.credit, state.prepayment_held) == (OrderStatus.CANCELLED, Decimal(100), 0)
    entries = books(estate)
    assert (balance(entries, DEPOSIT), balance(entries, ACCOUNTS["customer_credit"])) == (0, Decimal(-100))
    assert [e.reason_code for e in estate.exceptions("SO-1")] == ["customer_credit"]


def test_a_prepayment_that_comes_after_the_invoice_is_booked_as_received_then_applied(make: Any) -> None:
    estate = make()
    ordered(estate)
    estate.shipment("SH-1", "SO-1", "WH1", (1, "A", 4), (2, "B", 2))
    estate.drain()
    assert estate.state("SO-1").status is OrderStatus.INVOICED

    prepay(estate, "SO-1", "100.00")

    assert estate.state("SO-1").status is OrderStatus.CLOSED
    entries = books(estate)
    assert_books_sound(entries)
    rules = [entry.rule for entry in entries if entry.source.document_number == "PRE-1"]
    assert rules == [accounting.PostingRule.PAYMENT, accounting.PostingRule.PREPAYMENT_APPLICATION]
    assert (balance(entries, DEPOSIT), balance(entries, ACCOUNTS["receivable"])) == (0, 0)


def test_the_same_prepayment_sent_again_changes_nothing(make: Any) -> None:
    estate = make()
    ordered(estate)
    prepay(estate, "SO-1", "100.00")
    prepay(estate, "SO-1", "100.00")  # a new message id, the same payment

    assert estate.state("SO-1").paid == Decimal(100)
    assert balance(books(estate), ACCOUNTS["cash"]) == Decimal(100)


def test_a_prepayment_with_no_deposit_account_fails_its_message_naming_the_account(make: Any) -> None:
    estate = make(accounting={"accounts": ACCOUNTS})
    ordered(estate)
    prepay(estate, "SO-1", "100.00")

    with estate.hub.begin() as uow:
        (failed,) = uow.inbox.find(source="erp", status=MessageStatus.FAILED, limit=10)
    assert "customer_deposit" in (failed.error or ""), "kept, with the reason, to replay once configured"
    assert estate.state("SO-1").paid == 0


def test_an_estate_with_a_shop_that_takes_payment_at_checkout_needs_a_deposit_account(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match=r"accounting\.accounts\.customer_deposit is needed: sources\.web"):
        settings_for(tmp_path, sources={"web": {"kind": "shopify", "options": {"shop": "x.myshopify.com"}}})
