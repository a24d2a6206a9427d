"""The canonical business documents every connector maps to and every rule reads: immutable, validated values.

Owns: customers, items and their units of measure, locations, channels, orders and what follows from them, plus the
Money and Quantity values. Must not: read a clock, touch storage, or know any wire format.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Self, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from crossdock.domain.errors import CurrencyMismatch, UnknownUnit
from crossdock.domain.money import iso_4217, round_money

CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$"), AfterValidator(iso_4217)]
# Business keys (order numbers, skus, location codes) come from other systems; surrounding blanks are always a
# mapping mistake, so they are refused rather than silently stripped.
Key = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^\S(.*\S)?$")]
UnitCode = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,15}$", description="A unit of measure, e.g. EA, CASE.")]
LineNumber = Annotated[int, Field(ge=1)]
# The order workflow and the stock ledger key an order line by a string id. For a line of a canonical document that
# id is its line number in decimal (line 3 is "3"), made by `line_id`, so every handler maps lines the same way.
LineId = Annotated[Key, Field(description="An order line's id: its line number in decimal, e.g. '3'.")]
NonNegativeAmount = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
PositiveAmount = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
# A tax rate is a fraction: 0.2 is 20 %.
TaxRate = Annotated[Decimal, Field(ge=0, lt=1, allow_inf_nan=False)]


def line_id(number: int) -> str:
    """The id the order workflow and the stock ledger know a document's order line by: its number in decimal."""
    return str(number)


T = TypeVar("T")


def _non_empty(values: tuple[T, ...]) -> tuple[T, ...]:
    if not values:
        raise ValueError("needs at least one entry")
    return values


# At least one entry. Checked after the entries themselves (unlike min_length), so one bad entry reports only
# itself and not also a misleading "too short".
NonEmpty = Annotated[tuple[T, ...], AfterValidator(_non_empty), Field(json_schema_extra={"minItems": 1})]


class Document(BaseModel):
    """Shared configuration: immutable once built; unknown fields ignored so a newer producer never breaks us."""

    # Unknown fields are ignored (a tolerant reader): a published payload may gain optional fields, and a consumer
    # still on the older model must keep working.
    model_config = ConfigDict(frozen=True, extra="ignore")


# ---------------------------------------------------------------------------------------------------------------
# Values


class Money(Document):
    """An amount in one currency. Arithmetic across currencies is refused, never converted."""

    amount: Decimal = Field(allow_inf_nan=False)
    currency: CurrencyCode

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(amount=Decimal(0), currency=currency)

    @classmethod
    def sum_of(cls, amounts: Iterable[Money], currency: str) -> Money:
        """The sum of amounts that must all be in `currency`; zero in that currency when there are none."""
        result = cls.zero(currency)
        for amount in amounts:
            result = result + amount
        return result

    def rounded(self) -> Money:
        """Rounded half-up to the currency's minor units, the rounding invoices and ledgers use.

        Raises UnknownCurrency for a currency ISO 4217 gives no minor unit (XAU...): it is never guessed."""
        return Money(amount=round_money(self.amount, self.currency), currency=self.currency)

    def times(self, factor: Decimal) -> Money:
        return Money(amount=self.amount * factor, currency=self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def __neg__(self) -> Money:
        return Money(amount=-self.amount, currency=self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount >= other.amount

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


class Quantity(Document):
    """A measured quantity: a number and the unit it is counted in. Signed, so it can also express a change."""

    value: Decimal = Field(allow_inf_nan=False)
    unit: UnitCode

    def __str__(self) -> str:
        return f"{self.value} {self.unit}"


def _positive_quantity(quantity: Quantity) -> Quantity:
    if quantity.value <= 0:
        raise ValueError(f"quantity must be greater than 0, got {quantity}")
    return quantity


# A line always moves something: zero or negative quantities on a line are a mapping mistake.
LineQuantity = Annotated[Quantity, AfterValidator(_positive_quantity)]


# ---------------------------------------------------------------------------------------------------------------
# Master data


class Item(Document):
    """A stock-keeping unit, counted in its base unit; other units convert to it by a fixed factor."""

    sku: Key
    description: str = ""
    base_unit: UnitCode = "EA"
    # How many base units one of each other unit holds, e.g. {"CASE": 12} when the base unit is EA.
    conversions: dict[UnitCode, PositiveAmount] = Field(default_factory=dict)
    # Channel buffers and reporting group items by class (e.g. "A" fast movers, "hazmat").
    item_class: str = "default"

    @model_validator(mode="after")
    def _base_unit_is_not_a_conversion(self) -> Self:
        factor = self.conversions.get(self.base_unit)
        if factor is not None and factor != 1:
            raise ValueError(f"conversions: the base unit {self.base_unit} must convert at 1, not {factor}")
        return self

    def factor(self, unit: str) -> Decimal:
        """How many base units one `unit` holds; raises UnknownUnit for a unit this item does not know."""
        if unit == self.base_unit:
            return Decimal(1)
        try:
            return self.conversions[unit]
        except KeyError:
            known = ", ".join(sorted({self.base_unit, *self.conversions}))
            raise UnknownUnit(f"item {self.sku} has no unit {unit!r} (known: {known})") from None

    def to_base_units(self, quantity: Quantity) -> Quantity:
        return Quantity(value=quantity.value * self.factor(quantity.unit), unit=self.base_unit)

    def convert(self, quantity: Quantity, unit: str) -> Quantity:
        """The same amount of stock counted in another unit; may be fractional (18 EA is 1.5 CASE)."""
        base = self.to_base_units(quantity)
        return Quantity(value=base.value / self.factor(unit), unit=unit)


def to_base_units(item: Item, quantity: Quantity) -> Quantity:
    """The quantity counted in the item's base unit: 2 CASE of 12 is 24 EA."""
    return item.to_base_units(quantity)


class LocationKind(StrEnum):
    WAREHOUSE = "warehouse"
    THIRD_PARTY = "3pl"
    STORE = "store"


class Location(Document):
    """A place that holds stock: an own warehouse, a third-party logistics site, or a store."""

    code: Key
    name: str = ""
    kind: LocationKind = LocationKind.WAREHOUSE
    region: str = Field(min_length=1)
    # Optional coordinates let a split policy prefer the nearest location.
    latitude: Decimal | None = Field(default=None, ge=-90, le=90)
    longitude: Decimal | None = Field(default=None, ge=-180, le=180)


class ChannelKind(StrEnum):
    WEBSHOP = "webshop"
    EDI = "edi"
    SALES_REP = "sales_rep"
    MARKETPLACE = "marketplace"


class Channel(Document):
    """Where orders come from; availability is published per channel."""

    code: Key
    kind: ChannelKind
    name: str = ""


class Customer(Document):
    """A trading partner who buys: billed in one currency, up to a credit limit, priced by a price list."""

    number: Key
    name: str = ""
    currency: CurrencyCode
    credit_limit: NonNegativeAmount
    price_list: Key | None = None
    region: str | None = None

    def credit_limit_money(self) -> Money:
        return Money(amount=self.credit_limit, currency=self.currency)


# ---------------------------------------------------------------------------------------------------------------
# Order to cash


def _line_amount(quantity: Quantity, unit_price: Decimal, currency: str) -> Money:
    return Money(amount=quantity.value * unit_price, currency=currency).rounded()


def _unique_line_numbers(numbers: Iterable[int]) -> None:
    seen: set[int] = set()
    for number in numbers:
        if number in seen:
            raise ValueError(f"line number {number} appears more than once")
        seen.add(number)


class SalesOrderLine(Document):
    line: LineNumber
    sku: Key
    quantity: LineQuantity
    unit_price: NonNegativeAmount = Field(description="Price per one `quantity.unit`, in the order's currency.")

    def amount(self, currency: str) -> Money:
        return _line_amount(self.quantity, self.unit_price, currency)


class SalesOrder(Document):
    """A customer's order as one channel sent it, in canonical form."""

    number: Key
    customer: Key
    channel: Key
    currency: CurrencyCode
    ordered_at: datetime | None = None
    customer_reference: str | None = Field(default=None, description="The buyer's own PO number.")
    requested_location: Key | None = Field(default=None, description="Ship from here when the customer asks to.")
    lines: NonEmpty[SalesOrderLine]

    @field_validator("ordered_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("ordered_at must carry a timezone")
        return value

    @field_validator("lines")
    @classmethod
    def _lines_are_numbered_once(cls, lines: tuple[SalesOrderLine, ...]) -> tuple[SalesOrderLine, ...]:
        _unique_line_numbers(line.line for line in lines)
        return lines

    def line(self, number: int) -> SalesOrderLine:
        for line in self.lines:
            if line.line == number:
                return line
        raise KeyError(f"order {self.number} has no line {number}")

    def total(self) -> Money:
        """Sum of the lines, each rounded to the currency's minor units first."""
        return Money.sum_of((line.amount(self.currency) for line in self.lines), self.currency)


class Reservation(Document):
    """Stock set aside at one location for one order line, counted in the item's base unit."""

    order: Key
    line: LineNumber
    sku: Key
    location: Key
    quantity: LineQuantity


class ShipmentLine(Document):
    line: LineNumber = Field(description="The order line this ships against.")
    sku: Key
    quantity: LineQuantity


class Shipment(Document):
    """What left one location for one order: possibly part of it, in one or more parcels."""

    number: Key
    order: Key
    from_location: Key
    carrier: str | None = None
    tracking_numbers: tuple[Key, ...] = ()
    shipped_at: datetime | None = None
    lines: NonEmpty[ShipmentLine]

    @field_validator("shipped_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("shipped_at must carry a timezone")
        return value

    @field_validator("lines")
    @classmethod
    def _lines_are_numbered_once(cls, lines: tuple[ShipmentLine, ...]) -> tuple[ShipmentLine, ...]:
        _unique_line_numbers(line.line for line in lines)
        return lines


class InvoiceLine(Document):
    line: LineNumber = Field(description="The order line this bills.")
    sku: Key
    quantity: LineQuantity
    unit_price: NonNegativeAmount
    tax_rate: TaxRate = Decimal(0)

    def net(self, currency: str) -> Money:
        return _line_amount(self.quantity, self.unit_price, currency)

    def tax(self, currency: str) -> Money:
        """Tax is computed and rounded per line, so a line's tax never changes when other lines do."""
        return self.net(currency).times(self.tax_rate).rounded()


class _Billing(Document):
    currency: CurrencyCode
    lines: NonEmpty[InvoiceLine]

    @field_validator("lines")
    @classmethod
    def _lines_are_numbered_once(cls, lines: tuple[InvoiceLine, ...]) -> tuple[InvoiceLine, ...]:
        _unique_line_numbers(line.line for line in lines)
        return lines

    def net(self) -> Money:
        return Money.sum_of((line.net(self.currency) for line in self.lines), self.currency)

    def tax(self) -> Money:
        return Money.sum_of((line.tax(self.currency) for line in self.lines), self.currency)

    def total(self) -> Money:
        return self.net() + self.tax()


class Invoice(_Billing):
    """A bill for what one shipment delivered: shipped quantities only, never ordered ones."""

    number: Key
    order: Key
    shipment: Key
    customer: Key
    issued_on: date
    due_on: date | None = None

    @model_validator(mode="after")
    def _due_after_issue(self) -> Self:
        if self.due_on is not None and self.due_on < self.issued_on:
            raise ValueError(f"due_on {self.due_on} is before issued_on {self.issued_on}")
        return self


class CreditMemo(_Billing):
    """Money owed back to a customer, e.g. for returned goods; amounts are positive and reduce receivables."""

    number: Key
    customer: Key
    invoice: Key | None = None
    issued_on: date
    reason: str = Field(min_length=1)


class PaymentApplication(Document):
    invoice: Key
    amount: PositiveAmount


class Payment(Document):
    """Money received from a customer, applied to invoices; what is left unapplied is the customer's credit.

    A payment that names an order and no invoice is a prepayment (a webshop takes the money at checkout, before
    anything is invoiced): it is held on that order and applied to the order's invoices as they post."""

    reference: Key
    customer: Key
    amount: PositiveAmount
    currency: CurrencyCode
    received_on: date
    applications: tuple[PaymentApplication, ...] = ()
    order: Key | None = Field(
        default=None,
        description="The order the money was taken for. Without applications it is a prepayment held on that order; "
        "with applications it only says what the payment was for.",
    )

    @property
    def is_prepayment(self) -> bool:
        """Taken for an order before any invoice to apply it to: held on the order until its invoices post."""
        return self.order is not None and not self.applications

    @model_validator(mode="after")
    def _applies_no_more_than_received(self) -> Self:
        applied = sum((a.amount for a in self.applications), Decimal(0))
        if applied > self.amount:
            raise ValueError(f"applications total {applied}, more than the {self.amount} received")
        return self

    def received(self) -> Money:
        return Money(amount=self.amount, currency=self.currency)

    def applied(self) -> Money:
        return Money(amount=sum((a.amount for a in self.applications), Decimal(0)), currency=self.currency)

    def unapplied(self) -> Money:
        return self.received() - self.applied()


class ReturnLine(Document):
    line: LineNumber = Field(description="The order line the goods were shipped on.")
    sku: Key
    quantity: LineQuantity
    reason: str = Field(min_length=1)


class Return(Document):
    """Goods coming back after shipping: what a cancellation becomes once the goods have left."""

    number: Key
    order: Key
    customer: Key
    to_location: Key
    lines: NonEmpty[ReturnLine]

    @field_validator("lines")
    @classmethod
    def _lines_are_numbered_once(cls, lines: tuple[ReturnLine, ...]) -> tuple[ReturnLine, ...]:
        _unique_line_numbers(line.line for line in lines)
        return lines
