"""The canonical procure-to-pay documents: suppliers, purchase orders and what answers them (acknowledgements, ship
notices, goods receipts, supplier invoices), plus the match tolerance a supplier is held to.

Owns: the shapes and self-consistency of these documents. Must not: read a clock, touch storage, know a wire format
(X12 and EDIFACT mappings produce these), or decide workflow outcomes (workflows/procure_to_pay.py does).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Self

from pydantic import Field, field_validator, model_validator

from crossdock.domain.documents import (
    CurrencyCode,
    Document,
    Key,
    LineNumber,
    LineQuantity,
    Money,
    NonEmpty,
    NonNegativeAmount,
    Quantity,
)

ZERO = Decimal(0)


def _unique(values: Iterable[object], what: str) -> None:
    seen: set[object] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} {value} appears more than once")
        seen.add(value)


# ---------------------------------------------------------------------------------------------------------------
# Suppliers and the tolerance a supplier invoice is matched within


class ToleranceRule(StrEnum):
    """How the price limits of a tolerance combine when both are set."""

    BOTH = "both"  # within every limit that is set: the stricter reading, and the default
    EITHER = "either"  # within at least one limit that is set: small lines pass on percent, big ones on amount


class MatchTolerance(Document):
    """How far a supplier invoice may stray from the PO and the receipts and still be approved without a person.

    Price, per invoice line, with `variance = invoiced unit price - PO unit price` (either sign; a favourable price
    is a variance too, because it usually means the wrong item or unit was billed):
      - `price_percent` set: |variance| <= PO unit price * price_percent / 100
      - `price_amount` set:  |variance| * invoiced quantity <= price_amount (the line's variance value, in the
        invoice's currency)
      - both set: `rule` BOTH needs both limits to hold, EITHER needs one of them;
      - neither set: the price must be exactly the PO price.
    Quantity, per PO line: everything invoiced so far, this invoice included, may exceed what was received in good
    condition by at most `quantity` units (in the PO line's unit). Under-invoicing is never a variance: the rest
    may come on a later invoice.
    """

    price_percent: NonNegativeAmount | None = None
    price_amount: NonNegativeAmount | None = None
    rule: ToleranceRule = ToleranceRule.BOTH
    quantity: NonNegativeAmount = ZERO

    def price_within(self, po_price: Decimal, invoiced_price: Decimal, quantity: Decimal) -> bool:
        """True when an invoiced unit price is close enough to the PO's for `quantity` units (see the class)."""
        variance = abs(invoiced_price - po_price)
        checks: list[bool] = []
        if self.price_percent is not None:
            checks.append(variance * 100 <= po_price * self.price_percent)
        if self.price_amount is not None:
            checks.append(variance * quantity <= self.price_amount)
        if not checks:
            return variance == 0
        return all(checks) if self.rule is ToleranceRule.BOTH else any(checks)

    def quantity_within(self, invoiced: Decimal, received: Decimal) -> bool:
        """True when `invoiced` (everything billed for a line so far) does not run ahead of `received` by more
        than the tolerance allows."""
        return invoiced - received <= self.quantity


class Supplier(Document):
    """A trading partner we buy from: billed in one currency, matched within its own tolerance."""

    number: Key
    name: str = ""
    currency: CurrencyCode
    price_tolerance_percent: NonNegativeAmount | None = Field(
        default=None, description="Largest unit-price variance approved without a person, in percent of the PO price."
    )
    price_tolerance_amount: NonNegativeAmount | None = Field(
        default=None, description="Largest price variance per invoice line approved without a person, in `currency`."
    )
    tolerance_rule: ToleranceRule = ToleranceRule.BOTH
    quantity_tolerance: NonNegativeAmount = Field(
        default=ZERO, description="Units a line may be invoiced beyond what was received in good condition."
    )

    def match_tolerance(self) -> MatchTolerance:
        return MatchTolerance(
            price_percent=self.price_tolerance_percent,
            price_amount=self.price_tolerance_amount,
            rule=self.tolerance_rule,
            quantity=self.quantity_tolerance,
        )


# ---------------------------------------------------------------------------------------------------------------
# Purchase orders


class PurchaseOrderLine(Document):
    line: LineNumber
    sku: Key
    supplier_item: Key | None = Field(default=None, description="The supplier's own item id (X12 VP), when known.")
    quantity: LineQuantity
    unit_price: NonNegativeAmount = Field(description="Price per one `quantity.unit`, in the order's currency.")
    requested_on: date | None = Field(default=None, description="When the goods should arrive; the order's if unset.")

    def amount(self, currency: str) -> Money:
        return Money(amount=self.quantity.value * self.unit_price, currency=currency).rounded()


class PurchaseOrder(Document):
    """What we order from one supplier, for delivery to one location, in the supplier's currency."""

    number: Key
    supplier: Key
    currency: CurrencyCode
    ship_to: Key = Field(description="The location the goods are to be delivered to.")
    ordered_on: date | None = None
    requested_on: date | None = Field(default=None, description="Delivery date for lines that set none.")
    lines: NonEmpty[PurchaseOrderLine]

    @field_validator("lines")
    @classmethod
    def _lines_are_numbered_once(cls, lines: tuple[PurchaseOrderLine, ...]) -> tuple[PurchaseOrderLine, ...]:
        _unique((line.line for line in lines), "line number")
        return lines

    def line(self, number: int) -> PurchaseOrderLine:
        for line in self.lines:
            if line.line == number:
                return line
        raise KeyError(f"purchase order {self.number} has no line {number}")

    def delivery_date(self, number: int) -> date | None:
        """When a line's goods should arrive: its own date, else the order's."""
        return self.line(number).requested_on or self.requested_on

    def total(self) -> Money:
        """Sum of the lines, each rounded to the currency's minor units first."""
        return Money.sum_of((line.amount(self.currency) for line in self.lines), self.currency)


# ---------------------------------------------------------------------------------------------------------------
# Acknowledgements (X12 855, EDIFACT ORDRSP)


class AcknowledgementStatus(StrEnum):
    ACCEPTED = "accepted"  # every line as ordered
    ACCEPTED_WITH_CHANGES = "accepted_with_changes"  # at least one line changed or rejected
    REJECTED = "rejected"  # the whole order refused


class LineAcknowledgementStatus(StrEnum):
    ACCEPTED = "accepted"
    CHANGED = "changed"  # accepted with a different quantity, price, date or item
    REJECTED = "rejected"


class AcknowledgementLine(Document):
    """The supplier's answer for one PO line; a changed line says what it changes, and only that."""

    line: LineNumber
    status: LineAcknowledgementStatus
    quantity: LineQuantity | None = None
    unit_price: NonNegativeAmount | None = None
    delivery_on: date | None = None
    substitute_sku: Key | None = Field(default=None, description="Another item the supplier will ship instead.")

    @model_validator(mode="after")
    def _changes_only_when_changed(self) -> Self:
        changes = (self.quantity, self.unit_price, self.delivery_on, self.substitute_sku)
        changed = any(change is not None for change in changes)
        if self.status is LineAcknowledgementStatus.CHANGED and not changed:
            raise ValueError(f"line {self.line}: a changed line says what changes")
        if self.status is not LineAcknowledgementStatus.CHANGED and changed:
            raise ValueError(f"line {self.line}: only a changed line carries changes, not a {self.status.value} one")
        return self


class POAcknowledgement(Document):
    """The supplier's answer to a purchase order. Lines not listed are taken as the header status says (accepted,
    or rejected); `accepted_with_changes` lists at least one changed or rejected line."""

    number: Key = Field(description="The acknowledgement's own id: the same one again changes nothing.")
    order: Key
    supplier: Key
    status: AcknowledgementStatus
    acknowledged_on: date | None = None
    lines: tuple[AcknowledgementLine, ...] = ()

    @model_validator(mode="after")
    def _status_agrees_with_lines(self) -> Self:
        _unique((line.line for line in self.lines), "line number")
        kinds = {line.status for line in self.lines}
        if self.status is AcknowledgementStatus.ACCEPTED and kinds - {LineAcknowledgementStatus.ACCEPTED}:
            raise ValueError("status: an order accepted as it is has no changed or rejected lines")
        if self.status is AcknowledgementStatus.REJECTED and kinds - {LineAcknowledgementStatus.REJECTED}:
            raise ValueError("status: a rejected order has no accepted or changed lines")
        if self.status is AcknowledgementStatus.ACCEPTED_WITH_CHANGES and not kinds - {
            LineAcknowledgementStatus.ACCEPTED
        }:
            raise ValueError("status: accepted with changes lists at least one changed or rejected line")
        return self


# ---------------------------------------------------------------------------------------------------------------
# Ship notices (X12 856, EDIFACT DESADV)


class Lot(Document):
    number: Key
    quantity: LineQuantity
    expires_on: date | None = None


def _lots_fit(lots: tuple[Lot, ...], quantity: Quantity, where: str) -> None:
    _unique((lot.number for lot in lots), "lot")
    if not lots:
        return
    units = {lot.quantity.unit for lot in lots}
    if units != {quantity.unit}:
        raise ValueError(f"{where}: lots are counted in {', '.join(sorted(units))}, the line in {quantity.unit}")
    in_lots = sum((lot.quantity.value for lot in lots), ZERO)
    if in_lots != quantity.value:
        raise ValueError(f"{where}: lots hold {in_lots}, the line {quantity.value}")


class Pack(Document):
    """A handling unit of a shipment (a pallet or carton), known by its label, e.g. an SSCC."""

    id: Key
    kind: str = "carton"
    weight: Quantity | None = None


class ShipNoticeLine(Document):
    """Goods of one PO line in one pack (or loose, without a pack); lots, when given, add up to the quantity."""

    line: LineNumber = Field(description="The purchase order line the goods are for.")
    sku: Key
    supplier_item: Key | None = None
    quantity: LineQuantity
    pack: Key | None = None
    lots: tuple[Lot, ...] = ()

    @model_validator(mode="after")
    def _lots_add_up(self) -> Self:
        _lots_fit(self.lots, self.quantity, f"line {self.line}")
        return self


class AdvanceShipNotice(Document):
    """The supplier shipped (part of) a purchase order: what, in which packs and lots, and when it should arrive."""

    shipment: Key = Field(description="The supplier's shipment id (X12 BSN02).")
    order: Key
    supplier: Key
    shipped_on: date | None = None
    expected_on: date = Field(description="When the goods should arrive at the ship-to location.")
    carrier: str | None = None
    packs: tuple[Pack, ...] = ()
    lines: NonEmpty[ShipNoticeLine]

    @model_validator(mode="after")
    def _packs_and_lines_agree(self) -> Self:
        _unique((pack.id for pack in self.packs), "pack")
        _unique(((line.line, line.pack) for line in self.lines), "line and pack")
        known = {pack.id for pack in self.packs}
        for line in self.lines:
            if line.pack is not None and line.pack not in known:
                raise ValueError(f"line {line.line}: pack {line.pack} is not one of the shipment's packs")
        if self.shipped_on is not None and self.expected_on < self.shipped_on:
            raise ValueError(f"expected_on {self.expected_on} is before shipped_on {self.shipped_on}")
        return self

    def quantities(self) -> dict[int, Quantity]:
        """Per PO line, everything this notice ships of it, over all packs (one unit per line is required)."""
        totals: dict[int, Quantity] = {}
        for line in self.lines:
            before = totals.get(line.line)
            if before is not None and before.unit != line.quantity.unit:
                raise ValueError(f"line {line.line} is shipped in {before.unit} and in {line.quantity.unit}")
            value = (before.value if before else ZERO) + line.quantity.value
            totals[line.line] = Quantity(value=value, unit=line.quantity.unit)
        return totals


# ---------------------------------------------------------------------------------------------------------------
# Goods receipts (from the warehouse)


class ReceiptLine(Document):
    """What arrived of one PO line: `quantity` counted, of which `damaged` is not fit to stock (same unit)."""

    line: LineNumber
    sku: Key
    quantity: LineQuantity
    damaged: NonNegativeAmount = ZERO
    lots: tuple[Lot, ...] = ()

    @model_validator(mode="after")
    def _damage_within_count(self) -> Self:
        if self.damaged > self.quantity.value:
            raise ValueError(f"line {self.line}: {self.damaged} damaged of {self.quantity.value} received")
        _lots_fit(self.lots, self.quantity, f"line {self.line}")
        return self

    @property
    def accepted(self) -> Decimal:
        """What goes to stock and may be billed: received less damaged."""
        return self.quantity.value - self.damaged


class GoodsReceipt(Document):
    """Goods of one purchase order counted in at a location, against a ship notice when one came with them."""

    number: Key
    order: Key
    asn: Key | None = Field(default=None, description="The ship notice's shipment id, when received against one.")
    location: Key
    received_on: date | None = None
    lines: NonEmpty[ReceiptLine]

    @field_validator("lines")
    @classmethod
    def _lines_are_numbered_once(cls, lines: tuple[ReceiptLine, ...]) -> tuple[ReceiptLine, ...]:
        _unique((line.line for line in lines), "line number")
        return lines


# ---------------------------------------------------------------------------------------------------------------
# Supplier invoices (X12 810, EDIFACT INVOIC)


class SupplierInvoiceLine(Document):
    line: LineNumber = Field(description="The purchase order line this bills.")
    sku: Key
    quantity: LineQuantity
    unit_price: NonNegativeAmount

    def net(self, currency: str) -> Money:
        return Money(amount=self.quantity.value * self.unit_price, currency=currency).rounded()


class SupplierInvoice(Document):
    """A supplier's bill against one purchase order. `tax` and `total` are as the supplier stated them; whether
    they add up is for the match to say, not a reason to refuse the document."""

    number: Key
    supplier: Key
    order: Key
    currency: CurrencyCode
    issued_on: date
    due_on: date | None = None
    lines: NonEmpty[SupplierInvoiceLine]
    tax: NonNegativeAmount = ZERO
    total: NonNegativeAmount

    @field_validator("lines")
    @classmethod
    def _lines_are_numbered_once(cls, lines: tuple[SupplierInvoiceLine, ...]) -> tuple[SupplierInvoiceLine, ...]:
        _unique((line.line for line in lines), "line number")
        return lines

    @model_validator(mode="after")
    def _due_after_issue(self) -> Self:
        if self.due_on is not None and self.due_on < self.issued_on:
            raise ValueError(f"due_on {self.due_on} is before issued_on {self.issued_on}")
        return self

    def net(self) -> Money:
        return Money.sum_of((line.net(self.currency) for line in self.lines), self.currency)

    def adds_up(self) -> bool:
        """The stated total is the lines plus the stated tax."""
        return self.net().amount + self.tax == self.total
