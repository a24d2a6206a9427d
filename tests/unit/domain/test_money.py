"""Currencies: one ISO 4217 table, exact minor units per code, half-up rounding, and no guessing for unknown codes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from crossdock.domain import money
from crossdock.domain.documents import Money
from crossdock.domain.errors import CrossdockError, UnknownCurrency

D = Decimal
PROPERTY = settings(deadline=None, max_examples=200)


@pytest.mark.parametrize(
    ("amount", "currency", "rounded"),
    [
        ("1234.5", "JPY", "1235"),  # yen have no minor unit; a half rounds up
        ("10.005", "EUR", "10.01"),  # two decimals, half away from zero
        ("10.004", "EUR", "10.00"),  # below the half rounds down
        ("-10.005", "EUR", "-10.01"),  # negative halves round away from zero too
        ("1.2345", "BHD", "1.235"),  # the Bahraini dinar keeps three decimals
        ("1.2345", "LYD", "1.235"),  # so does the Libyan dinar, which a short table would have rounded to two
        ("1.23455", "CLF", "1.2346"),  # the Chilean unit of account keeps four
        ("7", "MXN", "7.00"),  # whole amounts gain the currency's decimals, so the exponent is always the same
    ],
)
def test_money_is_rounded_half_up_to_the_currencys_minor_units(amount: str, currency: str, rounded: str) -> None:
    result = money.round_money(D(amount), currency)
    assert result == D(rounded)
    assert result.as_tuple().exponent == D(rounded).as_tuple().exponent


@pytest.mark.parametrize(
    ("currency", "message"),
    [
        ("XYZ", "unknown currency 'XYZ'"),  # three letters, but not ISO 4217
        ("eur", "unknown currency 'eur'"),  # codes are upper case
        ("XAU", "XAU has no minor unit"),  # gold is ISO 4217, but has no decimals to round to
        ("XXX", "XXX has no minor unit"),  # "no currency" has none either
    ],
)
def test_a_currency_without_known_minor_units_is_refused_rather_than_rounded_to_two(
    currency: str, message: str
) -> None:
    with pytest.raises(UnknownCurrency, match=message):
        money.round_money(D("1.00"), currency)


def test_an_unknown_currency_is_a_domain_error_and_a_value_error() -> None:
    assert issubclass(UnknownCurrency, CrossdockError)
    assert issubclass(UnknownCurrency, ValueError)
    assert str(UnknownCurrency()) == "The currency is not an ISO 4217 code with known minor units."


def test_a_document_may_name_a_currency_without_minor_units_but_never_rounds_it() -> None:
    gold = Money(amount=D("1.5"), currency="XAU")
    with pytest.raises(UnknownCurrency):
        gold.rounded()


def test_a_document_refuses_a_code_that_is_not_iso_4217_as_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="'EUX' is not an ISO 4217 currency code"):
        Money(amount=D(1), currency="EUX")


def test_every_code_with_minor_units_is_an_iso_4217_code() -> None:
    assert set(money.MINOR_UNITS) <= money.ISO_4217
    assert set(money.MINOR_UNITS.values()) == {0, 2, 3, 4}


@PROPERTY
@given(
    currency=st.sampled_from(sorted(money.MINOR_UNITS)),
    amount=st.decimals(min_value=-1_000_000, max_value=1_000_000, places=6, allow_nan=False, allow_infinity=False),
)
def test_rounding_is_within_half_a_minor_unit_and_rounding_again_changes_nothing(
    currency: str, amount: Decimal
) -> None:
    rounded = money.round_money(amount, currency)
    assert abs(rounded - amount) <= money.smallest_amount(currency) / 2
    assert money.round_money(rounded, currency) == rounded
