"""Canonical documents: units of measure convert exactly, money never mixes currencies, bad input names its field."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from crossdock.domain import documents, money
from crossdock.domain.documents import (
    Customer,
    Invoice,
    Item,
    Money,
    Payment,
    Quantity,
    SalesOrder,
    Shipment,
    to_base_units,
)
from crossdock.domain.errors import CurrencyMismatch, UnknownUnit
from tests.unit.factories import T0

PROPERTY = settings(deadline=None, max_examples=200)


# ---------------------------------------------------------------------------------------------------------------
# Factories: sensible defaults, any field overridable. Also used by the catalogue tests.


def qty(value: str | int | Decimal, unit: str = "EA") -> Quantity:
    return Quantity(value=Decimal(value), unit=unit)


def make_item(**overrides: Any) -> Item:
    fields: dict[str, Any] = {"sku": "WIDGET-1", "base_unit": "EA", "conversions": {"CASE": 12}, "item_class": "A"}
    return Item(**(fields | overrides))


def make_customer(**overrides: Any) -> Customer:
    fields: dict[str, Any] = {"number": "C-100", "currency": "EUR", "credit_limit": "5000", "price_list": "STD"}
    return Customer(**(fields | overrides))


def order_line(line: int = 1, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"line": line, "sku": "WIDGET-1", "quantity": {"value": "2", "unit": "CASE"}}
    return fields | {"unit_price": "30.00"} | overrides


def make_order(**overrides: Any) -> SalesOrder:
    fields: dict[str, Any] = {
        "number": "SO-1001",
        "customer": "C-100",
        "channel": "webshop",
        "currency": "EUR",
        "ordered_at": T0,
        "lines": [order_line(1), order_line(2, sku="GADGET-7", quantity={"value": "5", "unit": "EA"})],
    }
    return SalesOrder(**(fields | overrides))


def make_shipment(**overrides: Any) -> Shipment:
    fields: dict[str, Any] = {
        "number": "SH-1",
        "order": "SO-1001",
        "from_location": "WH-EAST",
        "carrier": "UPS",
        "tracking_numbers": ["1Z999"],
        "shipped_at": T0,
        "lines": [{"line": 1, "sku": "WIDGET-1", "quantity": {"value": "24", "unit": "EA"}}],
    }
    return Shipment(**(fields | overrides))


def invoice_line(line: int = 1, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"line": line, "sku": "WIDGET-1", "quantity": {"value": "24", "unit": "EA"}}
    return fields | {"unit_price": "2.50", "tax_rate": "0.20"} | overrides


def make_invoice(**overrides: Any) -> Invoice:
    fields: dict[str, Any] = {
        "number": "INV-1",
        "order": "SO-1001",
        "shipment": "SH-1",
        "customer": "C-100",
        "currency": "EUR",
        "issued_on": date(2024, 5, 6),
        "due_on": date(2024, 6, 5),
        "lines": [invoice_line(1)],
    }
    return Invoice(**(fields | overrides))


def make_payment(**overrides: Any) -> Payment:
    fields: dict[str, Any] = {
        "reference": "PAY-1",
        "customer": "C-100",
        "amount": "100.00",
        "currency": "EUR",
        "received_on": date(2024, 5, 20),
        "applications": [{"invoice": "INV-1", "amount": "72.00"}],
    }
    return Payment(**(fields | overrides))


def problems(error: pytest.ExceptionInfo[ValidationError]) -> list[tuple[str, str]]:
    return [(".".join(str(part) for part in e["loc"]), e["msg"]) for e in error.value.errors()]


# ---------------------------------------------------------------------------------------------------------------
# Units of measure


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        (qty(2, "CASE"), qty(24, "EA")),  # a case holds twelve
        (qty(7, "EA"), qty(7, "EA")),  # the base unit is itself
        (qty("0.5", "CASE"), qty(6, "EA")),  # half a case, e.g. a split case sold by a marketplace
        (qty(3, "PALLET"), qty(4320, "EA")),  # a pallet holds 120 cases of 12
    ],
)
def test_a_quantity_in_any_known_unit_counts_in_the_items_base_unit(quantity: Quantity, expected: Quantity) -> None:
    item = make_item(conversions={"CASE": 12, "PALLET": 1440})
    assert to_base_units(item, quantity) == expected


def test_converting_to_a_larger_unit_may_give_a_fraction() -> None:
    assert make_item().convert(qty(18, "EA"), "CASE") == qty("1.5", "CASE")


def test_a_unit_the_item_does_not_know_is_refused_naming_the_sku_and_the_unit() -> None:
    with pytest.raises(UnknownUnit, match=r"item WIDGET-1 has no unit 'PALLET' \(known: CASE, EA\)"):
        make_item().to_base_units(qty(1, "PALLET"))


def test_the_base_unit_converts_at_one_or_not_at_all() -> None:
    assert make_item(conversions={"EA": 1, "CASE": 12}).factor("EA") == 1
    with pytest.raises(ValidationError, match="the base unit EA must convert at 1, not 12"):
        make_item(conversions={"EA": 12})


@pytest.mark.parametrize(
    "factor",
    [
        0,  # a unit that holds nothing would make every conversion to it divide by zero
        -12,  # negative stock by converting is nonsense
        "NaN",  # not a number at all
    ],
)
def test_conversion_factors_are_positive_numbers(factor: object) -> None:
    with pytest.raises(ValidationError) as error:
        make_item(conversions={"CASE": factor})
    assert problems(error)[0][0] == "conversions.CASE"


@PROPERTY
@given(
    factor=st.decimals(min_value=Decimal("0.001"), max_value=10_000, places=3),
    value=st.decimals(min_value=0, max_value=1_000_000, places=3),
)
def test_a_quantity_converted_to_base_units_and_back_is_unchanged(factor: Decimal, value: Decimal) -> None:
    item = make_item(conversions={"BOX": factor})
    back = item.convert(item.to_base_units(qty(value, "BOX")), "BOX")
    assert back.unit == "BOX"
    assert back.value == value


# ---------------------------------------------------------------------------------------------------------------
# Money


@pytest.mark.parametrize(
    "code",
    [
        "EUX",  # three letters, but no such currency
        "eur",  # codes are upper case
        "EURO",  # a name, not a code
        "",  # missing
    ],
)
def test_a_currency_must_be_an_iso_4217_code(code: str) -> None:
    with pytest.raises(ValidationError) as error:
        make_customer(currency=code)
    assert [loc for loc, _ in problems(error)] == ["currency"]


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("10.005", "EUR", "10.01"),  # half a cent rounds up, as on an invoice
        ("10.004", "EUR", "10.00"),  # less than half rounds down
        ("-10.005", "EUR", "-10.01"),  # half-up is away from zero for credits too
        ("1234.5", "JPY", "1235"),  # the yen has no minor unit
        ("1.2345", "KWD", "1.235"),  # the Kuwaiti dinar has three
        ("1.23455", "CLF", "1.2346"),  # the Chilean unit of account has four
    ],
)
def test_money_rounds_half_up_to_the_currencys_minor_units(amount: str, currency: str, expected: str) -> None:
    rounded = Money(amount=Decimal(amount), currency=currency).rounded()
    assert str(rounded.amount) == expected


def test_amounts_in_different_currencies_are_never_combined() -> None:
    euros, dollars = Money(amount=Decimal(5), currency="EUR"), Money(amount=Decimal(5), currency="USD")
    with pytest.raises(CurrencyMismatch, match="cannot combine EUR with USD"):
        _ = euros + dollars
    with pytest.raises(CurrencyMismatch):
        _ = euros - dollars
    with pytest.raises(CurrencyMismatch):
        _ = euros < dollars


def test_money_compares_and_sums_within_one_currency() -> None:
    five, seven = Money(amount=Decimal(5), currency="EUR"), Money(amount=Decimal(7), currency="EUR")
    assert five < seven <= seven
    assert seven > five >= five
    assert Money.sum_of([five, seven, -five], "EUR") == seven
    assert Money.sum_of([], "JPY") == Money.zero("JPY")
    assert str(seven - five) == "2 EUR"


amounts = st.decimals(min_value=-1_000_000, max_value=1_000_000, places=4)


@PROPERTY
@given(values=st.lists(amounts, max_size=20), data=st.data())
def test_the_sum_of_amounts_does_not_depend_on_their_order(values: list[Decimal], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(values))
    money = [Money(amount=v, currency="EUR") for v in values]
    assert Money.sum_of(money, "EUR") == Money.sum_of([Money(amount=v, currency="EUR") for v in shuffled], "EUR")


# ---------------------------------------------------------------------------------------------------------------
# Validation names the field and the problem


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"currency": "EUX"}, "currency", "not an ISO 4217 currency code"),  # unknown currency
        ({"lines": []}, "lines", "needs at least one entry"),  # an order orders something
        ({"lines": [order_line(quantity={"value": "0", "unit": "EA"})]}, "lines.0.quantity", "greater than 0"),
        ({"lines": [order_line(unit_price="-1")]}, "lines.0.unit_price", "greater than or equal to 0"),
        ({"lines": [order_line(unit_price="Infinity")]}, "lines.0.unit_price", "finite number"),  # no infinite prices
        ({"lines": [order_line(1), order_line(1)]}, "lines", "line number 1 appears more than once"),
        ({"lines": [order_line(sku=" WIDGET-1")]}, "lines.0.sku", "should match pattern"),  # padded keys are mistakes
        ({"lines": [order_line(quantity={"value": "1", "unit": "ea"})]}, "lines.0.quantity.unit", "pattern"),
        ({"ordered_at": datetime(2024, 5, 6, 7, 8)}, "ordered_at", "must carry a timezone"),  # naive times are refused
        ({"number": ""}, "number", "at least 1 character"),  # an order needs its number
    ],
)
def test_an_invalid_order_names_the_field_and_the_problem(overrides: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        make_order(**overrides)
    [(where, what)] = problems(error)
    assert where == field
    assert message in what


def test_documents_cannot_be_changed_once_built() -> None:
    order = make_order()
    with pytest.raises(ValidationError, match="frozen"):
        order.number = "SO-2"  # type: ignore[misc]


def test_fields_a_newer_producer_adds_are_ignored() -> None:
    order = SalesOrder.model_validate(make_order().model_dump() | {"gift_wrap": True})
    assert order == make_order()


def test_an_order_line_is_found_by_its_number() -> None:
    assert make_order().line(2).sku == "GADGET-7"
    with pytest.raises(KeyError, match="order SO-1001 has no line 3"):
        make_order().line(3)


def test_an_order_total_sums_its_lines_each_rounded_to_the_cent() -> None:
    order = make_order(lines=[order_line(1, unit_price="0.333"), order_line(2, unit_price="0.333")])
    # 2 x 0.333 = 0.666 -> 0.67 per line; rounding the sum of 1.332 would give 1.33 instead.
    assert order.total() == Money(amount=Decimal("1.34"), currency="EUR")


def test_a_customers_credit_limit_is_money_in_their_currency() -> None:
    assert make_customer(currency="USD").credit_limit_money() == Money(amount=Decimal(5000), currency="USD")


def test_a_shipment_carries_carrier_and_tracking_numbers() -> None:
    shipment = make_shipment(tracking_numbers=["1Z1", "1Z2"])
    assert shipment.tracking_numbers == ("1Z1", "1Z2")
    with pytest.raises(ValidationError, match="shipped_at must carry a timezone"):
        make_shipment(shipped_at=datetime(2024, 5, 6))


# ---------------------------------------------------------------------------------------------------------------
# Invoices, credit memos and payments


def test_an_invoice_adds_tax_per_line() -> None:
    invoice = make_invoice(
        lines=[invoice_line(1), invoice_line(2, unit_price="0.99", quantity={"value": "3", "unit": "EA"})]
    )
    # line 1: 24 x 2.50 = 60.00, tax 12.00; line 2: 3 x 0.99 = 2.97, tax 0.594 -> 0.59
    assert invoice.net() == Money(amount=Decimal("62.97"), currency="EUR")
    assert invoice.tax() == Money(amount=Decimal("12.59"), currency="EUR")
    assert invoice.total() == Money(amount=Decimal("75.56"), currency="EUR")


def test_an_invoice_is_not_due_before_it_is_issued() -> None:
    with pytest.raises(ValidationError, match="due_on 2024-05-01 is before issued_on 2024-05-06"):
        make_invoice(due_on=date(2024, 5, 1))


@pytest.mark.parametrize(
    "rate",
    [
        "-0.1",  # no negative tax on a sale: that is a credit memo
        "1",  # a rate is a fraction; 1 would be 100 %, almost always a percentage typed as a fraction
        "20",  # a percentage where a fraction belongs
    ],
)
def test_a_tax_rate_is_a_fraction_below_one(rate: str) -> None:
    with pytest.raises(ValidationError) as error:
        make_invoice(lines=[invoice_line(tax_rate=rate)])
    assert problems(error)[0][0] == "lines.0.tax_rate"


@PROPERTY
@given(
    currency=st.sampled_from(["EUR", "JPY", "KWD", "USD"]),
    lines=st.lists(
        st.tuples(
            st.decimals(min_value=Decimal("0.001"), max_value=10_000, places=3),
            st.decimals(min_value=0, max_value=10_000, places=4),
            st.decimals(min_value=0, max_value=Decimal("0.5"), places=3),
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_invoice_totals_are_net_plus_tax_in_whole_minor_units(
    currency: str, lines: list[tuple[Decimal, Decimal, Decimal]]
) -> None:
    invoice = make_invoice(
        currency=currency,
        lines=[
            invoice_line(n, quantity={"value": q, "unit": "EA"}, unit_price=p, tax_rate=r)
            for n, (q, p, r) in enumerate(lines, start=1)
        ],
    )
    total = invoice.total()
    assert total == invoice.net() + invoice.tax()
    assert total == total.rounded()
    assert invoice.tax() <= invoice.net().times(Decimal("0.5")) + Money(amount=Decimal(len(lines)), currency=currency)


def test_a_payment_never_applies_more_than_was_received() -> None:
    with pytest.raises(ValidationError, match=r"applications total 120\.00, more than the 100\.00 received"):
        make_payment(applications=[{"invoice": "INV-1", "amount": "72.00"}, {"invoice": "INV-2", "amount": "48.00"}])


def test_what_a_payment_leaves_unapplied_is_the_customers_credit() -> None:
    payment = make_payment()
    assert payment.applied() == Money(amount=Decimal("72.00"), currency="EUR")
    assert payment.unapplied() == Money(amount=Decimal("28.00"), currency="EUR")


def test_a_credit_memo_states_its_reason_and_totals_like_an_invoice() -> None:
    memo = documents.CreditMemo.model_validate(
        {
            "number": "CM-1",
            "customer": "C-100",
            "invoice": "INV-1",
            "currency": "EUR",
            "issued_on": date(2024, 6, 1),
            "reason": "damaged in transit",
            "lines": [invoice_line(1, quantity={"value": "2", "unit": "EA"})],
        }
    )
    assert memo.total() == Money(amount=Decimal("6.00"), currency="EUR")
    with pytest.raises(ValidationError) as error:
        documents.CreditMemo.model_validate(memo.model_dump() | {"reason": ""})
    assert [loc for loc, _ in problems(error)] == ["reason"]


def test_a_return_lists_the_order_lines_coming_back_and_why() -> None:
    returned = documents.Return.model_validate(
        {
            "number": "RMA-1",
            "order": "SO-1001",
            "customer": "C-100",
            "to_location": "WH-EAST",
            "lines": [{"line": 1, "sku": "WIDGET-1", "quantity": {"value": "1", "unit": "EA"}, "reason": "damaged"}],
        }
    )
    assert returned.lines[0].reason == "damaged"


# ---------------------------------------------------------------------------------------------------------------
# Round trips


keys = st.from_regex(r"[A-Z][A-Z0-9-]{0,8}", fullmatch=True)
line_strategy: st.SearchStrategy[dict[str, Any]] = st.builds(
    dict,
    sku=keys,
    quantity=st.builds(dict, value=st.decimals(min_value="0.001", max_value=1_000_000, places=3), unit=st.just("EA")),
    unit_price=st.decimals(min_value=0, max_value=100_000, places=4),
)


@PROPERTY
@given(
    number=keys,
    currency=st.sampled_from(sorted(money.ISO_4217)),
    lines=st.lists(line_strategy, min_size=1, max_size=6),
)
def test_an_order_survives_a_trip_through_json(number: str, currency: str, lines: list[dict[str, Any]]) -> None:
    order = make_order(number=number, currency=currency, lines=[line | {"line": n} for n, line in enumerate(lines, 1)])
    assert SalesOrder.model_validate_json(order.model_dump_json()) == order
