"""The order desk validates against imported master data first and configuration second: an imported customer or
price wins for its key, configuration fills in what was not imported, and a master that exists only as an import
still makes an unlisted customer or sku unknown."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from crossdock.domain import documents
from crossdock.domain.workflows import order_to_cash as otc
from crossdock.hub.handlers.orders import OrderDesk
from crossdock.hub.handlers.policy import OrderToCashPolicy
from crossdock.hub.handlers.stock import StockDesk
from crossdock.hub.ports import CUSTOMER_RECORD, PRICE_RECORD, UnitOfWork, price_key
from crossdock.hub.router import HandlerContext
from crossdock.storage.memory import MemoryUnitOfWorkFactory
from tests.unit.factories import T0, make_envelope

STANDARD = otc.PriceList(currency="EUR", prices={"A": Decimal("10.00"), "B": Decimal("5.00")})


def policy(**overrides: Any) -> OrderToCashPolicy:
    fields: dict[str, Any] = {
        "customers": {"C-1": documents.Customer(number="C-1", currency="EUR", credit_limit=Decimal(50))},
        "price_lists": {"standard": STANDARD},
        "default_price_list": "standard",
    }
    return OrderToCashPolicy(**(fields | overrides))


def order(customer: str, *lines: tuple[str, str, str], currency: str = "EUR") -> otc.OrderState:
    return otc.OrderState(
        order_id="SO-1",
        status=otc.OrderStatus.RECEIVED,
        revision=1,
        customer_id=customer,
        currency=currency,
        lines=tuple(
            otc.LineState(line_id=str(n), sku=sku, ordered=Decimal(quantity), unit_price=Decimal(price))
            for n, (sku, quantity, price) in enumerate(lines, start=1)
        ),
    )


def imported_customer(uow: UnitOfWork, number: str, limit: str = "1000", price_list: str | None = None) -> None:
    document = {"number": number, "currency": "EUR", "credit_limit": limit, "price_list": price_list}
    uow.master_records.put(CUSTOMER_RECORD, number, document, "customers.csv", T0)


def imported_price(uow: UnitOfWork, price_list: str, sku: str, price: str, currency: str = "EUR") -> None:
    document = {"price_list": price_list, "currency": currency, "sku": sku, "price": price}
    uow.master_records.put(PRICE_RECORD, price_key(price_list, sku), document, "prices.csv", T0)


def codes(verdict: otc.OrderAccepted | otc.OrderRejected) -> list[str]:
    return [r.code.value for r in verdict.reasons] if isinstance(verdict, otc.OrderRejected) else []


def validate(uow: UnitOfWork, state: otc.OrderState, **overrides: Any) -> otc.OrderAccepted | otc.OrderRejected:
    given = policy(**overrides)
    desk = OrderDesk(given, StockDesk(given))
    return desk.validate(HandlerContext(uow=uow, now=T0, cause=make_envelope()), state)


def test_an_imported_customer_on_an_imported_list_is_accepted_at_its_price() -> None:
    with MemoryUnitOfWorkFactory(lambda: T0)() as uow:
        imported_customer(uow, "C-2", price_list="TRADE")
        imported_price(uow, "TRADE", "A", "9.00")

        assert codes(validate(uow, order("C-2", ("A", "2", "9.00")))) == []
        assert codes(validate(uow, order("C-2", ("B", "1", "5.00")))) == ["price_not_listed"], (
            "a sku the customer's own list lacks is not listed, even where the default list has it"
        )


def test_an_imported_customer_replaces_the_configured_one_of_the_same_number() -> None:
    with MemoryUnitOfWorkFactory(lambda: T0)() as uow:
        assert codes(validate(uow, order("C-1", ("A", "6", "10.00")))) == ["credit_limit_exceeded"]
        imported_customer(uow, "C-1", limit="100")

        assert codes(validate(uow, order("C-1", ("A", "6", "10.00")))) == []


def test_an_imported_price_replaces_the_configured_one_and_the_others_stay() -> None:
    with MemoryUnitOfWorkFactory(lambda: T0)() as uow:
        imported_price(uow, "standard", "A", "8.00")

        assert codes(validate(uow, order("C-1", ("A", "1", "8.00"), ("B", "1", "5.00")))) == []
        assert codes(validate(uow, order("C-1", ("A", "1", "10.00")))) == ["price_out_of_tolerance"]


def test_a_price_imported_in_another_currency_puts_the_list_in_that_currency_for_the_order() -> None:
    with MemoryUnitOfWorkFactory(lambda: T0)() as uow:
        imported_price(uow, "standard", "A", "11.00", currency="USD")

        verdict = validate(uow, order("C-1", ("A", "1", "10.00"), ("B", "1", "5.00")))

        assert isinstance(verdict, otc.OrderRejected)
        assert [(r.code.value, r.text) for r in verdict.reasons] == [
            ("currency_mismatch", "the price list is in USD, the order is in EUR")
        ]


def test_customers_imported_without_any_configured_make_an_unlisted_customer_unknown() -> None:
    with MemoryUnitOfWorkFactory(lambda: T0)() as uow:
        assert codes(validate(uow, order("NOBODY", ("A", "1", "10.00")), customers={})) == [], (
            "with no customer master at all every customer is known"
        )
        imported_customer(uow, "C-2")

        assert codes(validate(uow, order("NOBODY", ("A", "1", "10.00")), customers={})) == ["customer_unknown"]
        assert codes(validate(uow, order("C-2", ("A", "1", "10.00")), customers={})) == []


def test_prices_imported_without_any_configured_list_make_an_unlisted_sku_not_listed() -> None:
    no_lists: dict[str, Any] = {"price_lists": {}, "default_price_list": "TRADE"}
    with MemoryUnitOfWorkFactory(lambda: T0)() as uow:
        assert codes(validate(uow, order("C-1", ("Z", "1", "1.00")), **no_lists)) == [], (
            "with no price list at all the channel's prices stand"
        )
        imported_price(uow, "TRADE", "A", "9.00")

        assert codes(validate(uow, order("C-1", ("A", "1", "9.00")), **no_lists)) == []
        assert codes(validate(uow, order("C-1", ("Z", "1", "1.00")), **no_lists)) == ["price_not_listed"]
