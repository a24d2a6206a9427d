"""The procure-to-pay workflow: one pure state machine per purchase order, from issue to the last approved invoice.

Owns: PO states, the transition table, `advance` / `release_held` / `apply_fact`, the acknowledgement change policy,
receipt variances, the three-way match and the overdue timers. Must not: read the clock, touch storage or send
anything; a handler persists the state and carries out the Step.

How it works. As in order_to_cash, facts only add to what the state records (lines' quantities, ship notices,
receipts, invoices); the status, invoice verdicts, commands, events and timers are derived by comparing the PO
before and after. Facts that arrive before their prerequisite (a receipt before its ship notice, a decision before
the invoice it decides) are held and re-applied later, so a history applied out of order ends in the same state.

Quantities are counted per PO line in that line's unit; a handler converts other units with Item.convert (or uses
the `*_fact` builders below, which do) before a fact is made. Dates are days; a timer due "on" a day is due at
00:00 UTC of it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from crossdock.domain import catalog, errors
from crossdock.domain.documents import (
    CurrencyCode,
    Item,
    Key,
    Money,
    NonNegativeAmount,
    PositiveAmount,
    Quantity,
    line_id,
)
from crossdock.domain.money import round_money
from crossdock.domain.procurement import (
    AcknowledgementStatus,
    AdvanceShipNotice,
    GoodsReceipt,
    LineAcknowledgementStatus,
    MatchTolerance,
    POAcknowledgement,
    PurchaseOrder,
    PurchaseOrderLine,
    SupplierInvoice,
)

ZERO = Decimal(0)
Count = PositiveAmount
Amount = NonNegativeAmount
ExceptionOwner = catalog.ExceptionOwner


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------------------------------------------------------
# Statuses and the status graph
# ---------------------------------------------------------------------------------------------------------------


class POStatus(enum.StrEnum):
    NOT_ISSUED = "not_issued"  # facts about the PO arrived before the PO itself
    ISSUED = "issued"  # to be sent to the supplier
    SENT = "sent"  # waiting for the supplier's acknowledgement
    REJECTED = "rejected"  # the supplier refused it; procurement changes or cancels it
    CHANGES_PENDING = "changes_pending"  # the supplier proposed changes the policy does not take; procurement decides
    ACKNOWLEDGED = "acknowledged"  # accepted, possibly with changes; goods expected
    SHIPPED = "shipped"  # a ship notice announced goods, none received yet
    PARTIALLY_RECEIVED = "partially_received"
    RECEIVED = "received"  # everything still ordered has arrived; invoices are outstanding or open
    CLOSED = "closed"  # ... and every unit received is invoiced and approved, no invoice waits
    CANCELLED = "cancelled"


S = POStatus
BEFORE_RECEIPT = frozenset({S.ISSUED, S.SENT, S.REJECTED, S.CHANGES_PENDING, S.ACKNOWLEDGED, S.SHIPPED})
RECEIVING = frozenset({S.PARTIALLY_RECEIVED, S.RECEIVED, S.CLOSED})

# Every status change the machine may make; a change not listed is a bug and raises instead of being stored. Before
# any goods arrive, facts may come in any order, so those statuses reach each other freely; once goods arrived the
# PO never goes back to an earlier stage, and a cancelled PO never comes back.
STATUS_EDGES: frozenset[tuple[POStatus, POStatus]] = frozenset(
    {(S.NOT_ISSUED, after) for after in BEFORE_RECEIPT | RECEIVING | {S.CANCELLED}}
    | {(before, after) for before in BEFORE_RECEIPT for after in BEFORE_RECEIPT | RECEIVING | {S.CANCELLED}}
    | {
        (S.PARTIALLY_RECEIVED, S.RECEIVED),
        (S.PARTIALLY_RECEIVED, S.CLOSED),
        (S.RECEIVED, S.CLOSED),
        (S.RECEIVED, S.PARTIALLY_RECEIVED),  # the buyer ordered more
        (S.CLOSED, S.RECEIVED),  # a late invoice, or one that waits for a decision
        (S.CLOSED, S.PARTIALLY_RECEIVED),
    }
)


# ---------------------------------------------------------------------------------------------------------------
# Facts: what the ERP, the supplier, the warehouse and people report about the PO (inputs to `advance`)
# ---------------------------------------------------------------------------------------------------------------


class POLine(_Value):
    line_id: Key
    sku: Key
    quantity: Count
    unit_price: Amount
    delivery_on: date | None = None


class AckLine(_Value):
    """The supplier's answer for one line, as procurement.AcknowledgementLine, keyed by line id."""

    line_id: Key
    status: LineAcknowledgementStatus
    quantity: Count | None = None
    unit_price: Amount | None = None
    delivery_on: date | None = None
    substitute_sku: Key | None = None


class LineCount(_Value):
    line_id: Key
    quantity: Count


class ReceivedLine(_Value):
    line_id: Key
    quantity: Count  # counted in, damaged included
    damaged: Amount = ZERO

    @model_validator(mode="after")
    def _damage_within_count(self) -> Self:
        if self.damaged > self.quantity:
            raise ValueError(f"line {self.line_id}: {self.damaged} damaged of {self.quantity} received")
        return self

    @property
    def accepted(self) -> Decimal:
        return self.quantity - self.damaged


class InvoicedLine(_Value):
    line_id: Key
    quantity: Count
    unit_price: Amount


def _unique_line_ids(lines: Iterable[POLine | AckLine | LineCount | ReceivedLine | InvoicedLine]) -> None:
    ids = [line.line_id for line in lines]
    if len(ids) != len(set(ids)):
        raise ValueError("each line id may appear only once")


class _Fact(_Value):
    po_id: Key


class POIssued(_Fact):
    """The PO was issued, to the supplier's match tolerance at the time (revision 1)."""

    kind: Literal["issued"] = "issued"
    supplier_id: Key
    currency: CurrencyCode
    ship_to: Key
    tolerance: MatchTolerance = MatchTolerance()
    lines: tuple[POLine, ...] = Field(min_length=1)

    @field_validator("lines")
    @classmethod
    def _lines_unique(cls, lines: tuple[POLine, ...]) -> tuple[POLine, ...]:
        _unique_line_ids(lines)
        return lines


class POSent(_Fact):
    """A revision of the PO reached the supplier at `sent_at` (the transmission's own time, never the clock's)."""

    kind: Literal["sent"] = "sent"
    transmission_id: Key
    revision: int = Field(ge=1)
    sent_at: datetime

    @field_validator("sent_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("sent_at must carry a timezone")
        return value


class POAcknowledged(_Fact):
    """The supplier answered (855): lines not listed take the header status."""

    kind: Literal["acknowledged"] = "acknowledged"
    acknowledgement_id: Key
    status: AcknowledgementStatus
    lines: tuple[AckLine, ...] = ()

    @field_validator("lines")
    @classmethod
    def _lines_unique(cls, lines: tuple[AckLine, ...]) -> tuple[AckLine, ...]:
        _unique_line_ids(lines)
        return lines


class POChanged(_Fact):
    """The buyer replaced the PO's lines: the full new set, numbered; it goes to the supplier again."""

    kind: Literal["changed"] = "changed"
    revision: int = Field(ge=2)
    lines: tuple[POLine, ...] = Field(min_length=1)

    @field_validator("lines")
    @classmethod
    def _lines_unique(cls, lines: tuple[POLine, ...]) -> tuple[POLine, ...]:
        _unique_line_ids(lines)
        return lines


class ChangesDecided(_Fact):
    """Procurement accepted or refused the changes an acknowledgement proposed beyond the policy."""

    kind: Literal["changes_decided"] = "changes_decided"
    acknowledgement_id: Key
    accept: bool
    note: str = ""


class ShipNoticed(_Fact):
    """A ship notice (856) announced goods, per line summed over its packs."""

    kind: Literal["asn"] = "asn"
    shipment_id: Key
    expected_on: date
    lines: tuple[LineCount, ...] = Field(min_length=1)

    @field_validator("lines")
    @classmethod
    def _lines_unique(cls, lines: tuple[LineCount, ...]) -> tuple[LineCount, ...]:
        _unique_line_ids(lines)
        return lines


class GoodsReceived(_Fact):
    """The warehouse counted goods in, against a ship notice when `shipment_id` names one."""

    kind: Literal["received"] = "received"
    receipt_id: Key
    shipment_id: Key | None = None
    location: Key
    lines: tuple[ReceivedLine, ...] = Field(min_length=1)

    @field_validator("lines")
    @classmethod
    def _lines_unique(cls, lines: tuple[ReceivedLine, ...]) -> tuple[ReceivedLine, ...]:
        _unique_line_ids(lines)
        return lines


class InvoiceReceived(_Fact):
    """A supplier invoice (810) against the PO, as stated: it is matched, never refused for what it says."""

    kind: Literal["invoiced"] = "invoiced"
    invoice_id: Key
    currency: CurrencyCode
    lines: tuple[InvoicedLine, ...] = Field(min_length=1)
    tax: Amount = ZERO
    total: Amount

    @field_validator("lines")
    @classmethod
    def _lines_unique(cls, lines: tuple[InvoicedLine, ...]) -> tuple[InvoicedLine, ...]:
        _unique_line_ids(lines)
        return lines


class MatchResolved(_Fact):
    """A person decided on an invoice that did not match: approve it as it is, or reject it."""

    kind: Literal["match_resolved"] = "match_resolved"
    invoice_id: Key
    approve: bool
    note: str = ""


class POCancelled(_Fact):
    """The buyer cancelled the whole PO (`lines` None) or quantities of some lines."""

    kind: Literal["cancelled"] = "cancelled"
    cancellation_id: Key
    lines: tuple[LineCount, ...] | None = None
    reason: str = ""

    @field_validator("lines")
    @classmethod
    def _lines_unique(cls, lines: tuple[LineCount, ...] | None) -> tuple[LineCount, ...] | None:
        if lines is not None:
            if not lines:
                raise ValueError("a line cancellation names at least one line; use None for the whole PO")
            _unique_line_ids(lines)
        return lines


POFact = (
    POIssued
    | POSent
    | POAcknowledged
    | POChanged
    | ChangesDecided
    | ShipNoticed
    | GoodsReceived
    | InvoiceReceived
    | MatchResolved
    | POCancelled
)
# Held facts are part of the persisted state, so they must round-trip through JSON: the kind tells them apart.
HeldFact = Annotated[POFact, Field(discriminator="kind")]


def fact_key(fact: POFact) -> str:
    """The identity of a fact within its PO: a repeat with the same key is a duplicate and changes nothing."""
    match fact:
        case POIssued():
            return "issued"
        case POSent(transmission_id=ident):
            return f"sent:{ident}"
        case POAcknowledged(acknowledgement_id=ident):
            return f"acknowledgement:{ident}"
        case POChanged(revision=revision):
            return f"changed:{revision}"
        case ChangesDecided(acknowledgement_id=ident):
            return f"decision:{ident}"
        case ShipNoticed(shipment_id=ident):
            return f"notice:{ident}"
        case GoodsReceived(receipt_id=ident):
            return f"receipt:{ident}"
        case InvoiceReceived(invoice_id=ident):
            return f"invoice:{ident}"
        case MatchResolved(invoice_id=ident):
            return f"resolution:{ident}"
        case POCancelled(cancellation_id=ident):
            return f"cancellation:{ident}"


# The canonical event types a handler maps to these facts. The decisions have none of their own: they arrive as
# exception.resolved about the PO (see the handler notes on OpenException). None of these is a type this machine
# emits, so routing its output never loops back into it.
INPUT_TYPES: Mapping[str, str] = {
    "issued": catalog.PurchaseOrderIssued.event_type,
    "sent": catalog.PurchaseOrderTransmitted.event_type,
    "acknowledged": catalog.PurchaseOrderAcknowledged.event_type,
    "changed": catalog.PurchaseOrderChanged.event_type,
    "asn": catalog.ShipNoticeReceived.event_type,
    "received": catalog.GoodsReceiptPosted.event_type,
    "invoiced": catalog.SupplierInvoiceReceived.event_type,
    "cancelled": catalog.PurchaseOrderCancellationRequested.event_type,
}

PO_REVISED = catalog.PurchaseOrderRevised.event_type
PO_CANCELLED = catalog.PurchaseOrderCancelled.event_type
PO_CLOSED = catalog.PurchaseOrderClosed.event_type
RECEIPT_MATCHED = catalog.ReceiptMatched.event_type
INVOICE_APPROVED = catalog.SupplierInvoiceApproved.event_type
MATCH_FAILED = catalog.SupplierInvoiceMatchFailed.event_type
INVOICE_REJECTED = catalog.SupplierInvoiceRejected.event_type
EMITTED_TYPES = frozenset(
    {PO_REVISED, PO_CANCELLED, PO_CLOSED, RECEIPT_MATCHED, INVOICE_APPROVED, MATCH_FAILED, INVOICE_REJECTED}
)


# ---------------------------------------------------------------------------------------------------------------
# Policy: what an acknowledgement may change without a person, and when things are overdue
# ---------------------------------------------------------------------------------------------------------------


class ChangePolicy(_Value):
    """Which changes a supplier's acknowledgement may make by itself; any other goes to procurement.

    Quantity: the new quantity within the percentages of the ordered one. Price: within the PO's match tolerance
    (for the new quantity) when `price_within_match_tolerance`, else unchanged. Date: no more than `days_later`
    after the requested one (earlier is fine when `accept_earlier`; a line with no requested date takes any).
    """

    quantity_decrease_percent: Amount = ZERO
    quantity_increase_percent: Amount = ZERO
    price_within_match_tolerance: bool = True
    days_later: int = Field(default=0, ge=0)
    accept_earlier: bool = True
    accept_substitutions: bool = False
    accept_line_rejections: bool = False


class Policy(_Value):
    changes: ChangePolicy = ChangePolicy()
    acknowledge_within: timedelta = timedelta(days=2)  # after the PO reached the supplier
    notice_lead: timedelta = timedelta(days=1)  # a ship notice is due this long before the goods
    receipt_grace: timedelta = timedelta(days=1)  # goods may arrive this long after the notice's expected day


DEFAULT_POLICY = Policy()


# ---------------------------------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------------------------------


class LineState(_Value):
    """One PO line: its current terms and running totals, in the line's unit."""

    line_id: str
    sku: str
    unit_price: Decimal
    ordered: Decimal
    delivery_on: date | None = None
    substituted_for: str | None = None  # the sku ordered, when the supplier ships another
    cancelled: Decimal = ZERO
    noticed: Decimal = ZERO  # announced by ship notices
    received: Decimal = ZERO  # counted in good condition: stocked and accrued
    damaged: Decimal = ZERO
    invoiced: Decimal = ZERO  # on approved invoices

    @property
    def open(self) -> Decimal:
        """What is still ordered: ordered less cancelled (received units included)."""
        return self.ordered - self.cancelled

    @property
    def awaited(self) -> Decimal:
        return max(ZERO, self.open - self.received)


class Proposal(_Value):
    """A change an acknowledgement proposed for one line, with why the policy did not take it (empty: it did)."""

    line_id: str
    status: LineAcknowledgementStatus
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    delivery_on: date | None = None
    substitute_sku: str | None = None
    beyond_policy: tuple[str, ...] = ()


class Standing(enum.StrEnum):
    """Where the supplier's answer stands."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CHANGES_PENDING = "changes_pending"


class NoticeRecord(_Value):
    shipment_id: str
    expected_on: date
    lines: tuple[LineCount, ...]


class ReceiptRecord(_Value):
    receipt_id: str
    shipment_id: str | None
    location: str
    lines: tuple[ReceivedLine, ...]


class InvoiceStatus(enum.StrEnum):
    AWAITING_RECEIPT = "awaiting_receipt"  # bills goods still expected: matched again as they arrive
    EXCEPTION = "exception"  # a person decides
    APPROVED = "approved"  # final: posted and paid
    REJECTED = "rejected"  # final: the supplier sends a corrected one


FINAL_INVOICE = frozenset({InvoiceStatus.APPROVED, InvoiceStatus.REJECTED})


class MatchCode(enum.StrEnum):
    PRICE_OUT_OF_TOLERANCE = "price_out_of_tolerance"
    QUANTITY_NOT_RECEIVED = "quantity_not_received"  # invoiced beyond what arrived in good condition
    LINE_NOT_ON_ORDER = "line_not_on_order"
    CURRENCY_MISMATCH = "currency_mismatch"
    TOTAL_DOES_NOT_ADD_UP = "total_does_not_add_up"
    SUPPLIER_MISMATCH = "supplier_mismatch"
    ORDER_MISMATCH = "order_mismatch"


class MatchReason(_Value):
    code: MatchCode
    line_id: str | None = None
    text: str


class InvoiceRecord(_Value):
    invoice_id: str
    currency: str
    lines: tuple[InvoicedLine, ...]
    tax: Decimal
    total: Decimal
    status: InvoiceStatus = InvoiceStatus.AWAITING_RECEIPT
    reasons: tuple[MatchReason, ...] = ()  # while not final: why it is not approved
    resolution: Literal["approve", "reject"] | None = None
    note: str = ""
    # The PO price of each line when approved: what its receipts were accrued at and what the invoice clears.
    accrued_prices: tuple[tuple[str, Decimal], ...] = ()


class POState(_Value):
    po_id: Key
    status: POStatus = S.NOT_ISSUED
    revision: int = 0
    supplier_id: str | None = None
    currency: str | None = None
    ship_to: str | None = None
    tolerance: MatchTolerance = MatchTolerance()
    lines: tuple[LineState, ...] = ()
    sent_revision: int = 0
    last_sent_at: datetime | None = None
    standing: Standing | None = None  # None: no answer to the current revision yet
    acknowledgement_id: str | None = None
    proposals: tuple[Proposal, ...] = ()
    notices: tuple[NoticeRecord, ...] = ()  # each sorted by id, so that arrival order leaves no trace
    receipts: tuple[ReceiptRecord, ...] = ()
    invoices: tuple[InvoiceRecord, ...] = ()
    seen: frozenset[str] = frozenset()
    held: tuple[HeldFact, ...] = ()

    @field_serializer("seen")
    def _seen_sorted(self, seen: frozenset[str]) -> list[str]:
        return sorted(seen)

    @classmethod
    def new(cls, po_id: str) -> POState:
        """The state of a PO nothing is known about yet."""
        return cls(po_id=po_id)

    def line(self, line_id: str) -> LineState | None:
        return next((line for line in self.lines if line.line_id == line_id), None)

    def notice(self, shipment_id: str) -> NoticeRecord | None:
        return next((notice for notice in self.notices if notice.shipment_id == shipment_id), None)

    def invoice(self, invoice_id: str) -> InvoiceRecord | None:
        return next((invoice for invoice in self.invoices if invoice.invoice_id == invoice_id), None)


def received_value(state: POState) -> Decimal:
    """What was received in good condition, at the PO's current prices, each line rounded."""
    return sum((_value(line.received, line.unit_price, state) for line in state.lines), ZERO)


def _value(quantity: Decimal, price: Decimal, state: POState) -> Decimal:
    return round_money(quantity * price, _issued(state.currency))


# ---------------------------------------------------------------------------------------------------------------
# The three-way match
# ---------------------------------------------------------------------------------------------------------------


class MatchInput(_Value):
    """What the match knows of one PO line: its price, what arrived in good condition and what was approved."""

    line_id: str
    unit_price: Decimal
    received: Decimal
    invoiced_before: Decimal = ZERO


class LineVerdict(_Value):
    line_id: str
    quantity: Decimal  # on this invoice
    unit_price: Decimal  # as invoiced
    po_unit_price: Decimal | None  # None: the line is not on the PO
    received: Decimal
    invoiced_before: Decimal
    quantity_ok: bool
    price_ok: bool

    @property
    def approved(self) -> bool:
        return self.quantity_ok and self.price_ok


class MatchResult(_Value):
    invoice_id: str
    lines: tuple[LineVerdict, ...]
    reasons: tuple[MatchReason, ...]

    @property
    def approved(self) -> bool:
        return not self.reasons

    @property
    def owner(self) -> ExceptionOwner:
        """Who decides when it fails: procurement when only prices are off (they agreed them), else finance."""
        if self.reasons and all(reason.code is MatchCode.PRICE_OUT_OF_TOLERANCE for reason in self.reasons):
            return ExceptionOwner.PROCUREMENT
        return ExceptionOwner.FINANCE


def match_invoice(
    *,
    invoice_id: str,
    currency: str,
    order_currency: str,
    lines: Sequence[InvoicedLine],
    order_lines: Mapping[str, MatchInput],
    tax: Decimal,
    total: Decimal,
    tolerance: MatchTolerance,
) -> MatchResult:
    """Match one invoice, line by line, against the PO's prices and what was received (see MatchTolerance for the
    exact rule). Every failure is reported, not just the first, so that its owner sees the whole picture at once."""
    reasons: list[MatchReason] = []
    if currency != order_currency:
        reasons.append(
            MatchReason(code=MatchCode.CURRENCY_MISMATCH, text=f"invoiced in {currency}, ordered in {order_currency}")
        )
    verdicts: list[LineVerdict] = []
    for line in lines:
        known = order_lines.get(line.line_id)
        if known is None:
            reasons.append(
                MatchReason(
                    code=MatchCode.LINE_NOT_ON_ORDER,
                    line_id=line.line_id,
                    text=f"line {line.line_id} is not on the purchase order",
                )
            )
            verdicts.append(
                LineVerdict(
                    line_id=line.line_id,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    po_unit_price=None,
                    received=ZERO,
                    invoiced_before=ZERO,
                    quantity_ok=False,
                    price_ok=False,
                )
            )
            continue
        billed = known.invoiced_before + line.quantity
        quantity_ok = tolerance.quantity_within(billed, known.received)
        price_ok = tolerance.price_within(known.unit_price, line.unit_price, line.quantity)
        if not quantity_ok:
            reasons.append(
                MatchReason(
                    code=MatchCode.QUANTITY_NOT_RECEIVED,
                    line_id=line.line_id,
                    text=f"line {line.line_id}: {billed} invoiced in all, {known.received} received in good condition",
                )
            )
        if not price_ok:
            reasons.append(
                MatchReason(
                    code=MatchCode.PRICE_OUT_OF_TOLERANCE,
                    line_id=line.line_id,
                    text=f"line {line.line_id}: invoiced at {line.unit_price}, ordered at {known.unit_price}",
                )
            )
        verdicts.append(
            LineVerdict(
                line_id=line.line_id,
                quantity=line.quantity,
                unit_price=line.unit_price,
                po_unit_price=known.unit_price,
                received=known.received,
                invoiced_before=known.invoiced_before,
                quantity_ok=quantity_ok,
                price_ok=price_ok,
            )
        )
    if currency == order_currency:
        net = sum((round_money(line.quantity * line.unit_price, currency) for line in lines), ZERO)
        if round_money(net + tax, currency) != round_money(total, currency):
            reasons.append(
                MatchReason(
                    code=MatchCode.TOTAL_DOES_NOT_ADD_UP,
                    text=f"lines {net} plus tax {tax} make {net + tax}, the invoice states {total}",
                )
            )
    return MatchResult(invoice_id=invoice_id, lines=tuple(verdicts), reasons=tuple(reasons))


def three_way_match(
    po: PurchaseOrder,
    receipts: Iterable[GoodsReceipt],
    invoice: SupplierInvoice,
    tolerance: MatchTolerance,
    *,
    invoiced_before: Mapping[int, Decimal] | None = None,
    items: Mapping[str, Item] | None = None,
) -> MatchResult:
    """The three-way match on the documents themselves: the invoice against the PO's prices and the goods the
    receipts counted in good condition, less what earlier approved invoices billed (`invoiced_before`, per PO line
    number, in the line's unit). Quantities and prices in another unit than the PO line's are converted with
    `items` (by sku); UnknownUnit when they cannot be. Receipts of another PO are a caller's mistake: ValueError."""
    received: dict[int, Decimal] = {}
    for receipt in receipts:
        if receipt.order != po.number:
            raise ValueError(f"receipt {receipt.number} is for purchase order {receipt.order}, not {po.number}")
        for part in receipt.lines:
            order_line = _po_line(po, part.line)
            if order_line is None:
                continue  # goods for a line the PO does not have are a receiving variance, not the invoice's
            factor = _factor(order_line, part.quantity.unit, items)
            received[part.line] = received.get(part.line, ZERO) + part.accepted * factor
    before = invoiced_before or {}
    order_lines = {
        line_id(line.line): MatchInput(
            line_id=line_id(line.line),
            unit_price=line.unit_price,
            received=received.get(line.line, ZERO),
            invoiced_before=before.get(line.line, ZERO),
        )
        for line in po.lines
    }
    invoiced: list[InvoicedLine] = []
    for billed in invoice.lines:
        order_line = _po_line(po, billed.line)
        factor = _factor(order_line, billed.quantity.unit, items) if order_line is not None else Decimal(1)
        invoiced.append(
            InvoicedLine(
                line_id=line_id(billed.line),
                quantity=billed.quantity.value * factor,
                unit_price=billed.unit_price / factor,
            )
        )
    result = match_invoice(
        invoice_id=invoice.number,
        currency=invoice.currency,
        order_currency=po.currency,
        lines=invoiced,
        order_lines=order_lines,
        tax=invoice.tax,
        total=invoice.total,
        tolerance=tolerance,
    )
    header: list[MatchReason] = []
    if invoice.supplier != po.supplier:
        header.append(
            MatchReason(
                code=MatchCode.SUPPLIER_MISMATCH, text=f"billed by {invoice.supplier}, ordered from {po.supplier}"
            )
        )
    if invoice.order != po.number:
        header.append(
            MatchReason(code=MatchCode.ORDER_MISMATCH, text=f"billed against {invoice.order}, matched to {po.number}")
        )
    # The stated total is checked on the document's own figures: converted prices may not multiply back exactly.
    if invoice.currency == po.currency:
        kept = tuple(reason for reason in result.reasons if reason.code is not MatchCode.TOTAL_DOES_NOT_ADD_UP)
        if not invoice.adds_up():
            net = invoice.net().amount
            kept += (
                MatchReason(
                    code=MatchCode.TOTAL_DOES_NOT_ADD_UP,
                    text=f"lines {net} plus tax {invoice.tax} make {net + invoice.tax}, "
                    f"the invoice states {invoice.total}",
                ),
            )
        result = result.model_copy(update={"reasons": kept})
    return result.model_copy(update={"reasons": (*header, *result.reasons)})


def _po_line(po: PurchaseOrder, number: int) -> PurchaseOrderLine | None:
    return next((line for line in po.lines if line.line == number), None)


def _factor(order_line: PurchaseOrderLine, unit: str, items: Mapping[str, Item] | None) -> Decimal:
    """How many of the PO line's unit one `unit` holds."""
    if unit == order_line.quantity.unit:
        return Decimal(1)
    item = (items or {}).get(order_line.sku)
    if item is None:
        raise errors.UnknownUnit(
            f"purchase order line {order_line.line} is counted in {order_line.quantity.unit}, not {unit}, "
            f"and item {order_line.sku} is not known to convert it"
        )
    return item.convert(Quantity(value=Decimal(1), unit=unit), order_line.quantity.unit).value


# ---------------------------------------------------------------------------------------------------------------
# Outputs: commands, emitted events, timers, the Step
# ---------------------------------------------------------------------------------------------------------------


class OrderedLine(_Value):
    line_id: str
    sku: str
    quantity: Decimal  # still ordered
    unit_price: Decimal
    delivery_on: date | None = None


class SendPurchaseOrder(_Value):
    """Send this revision of the PO to the supplier (850 for a new PO, else its change); report POSent when it
    got there. `reason` says why it goes again when it is not new."""

    kind: Literal["send_purchase_order"] = "send_purchase_order"
    po_id: str
    revision: int
    supplier_id: str
    currency: str
    ship_to: str
    lines: tuple[OrderedLine, ...]
    reason: str = ""


class SendCancellation(_Value):
    """Tell the supplier these quantities (or the whole PO, `whole`) are no longer wanted."""

    kind: Literal["send_cancellation"] = "send_cancellation"
    po_id: str
    supplier_id: str
    whole: bool
    lines: tuple[LineCount, ...]


class AccruedLine(_Value):
    line_id: str
    sku: str
    quantity: Decimal  # in good condition
    unit_price: Decimal  # the PO's


class PostGoodsReceipt(_Value):
    """Stock what arrived in good condition at the location, and accrue it at the PO's prices
    (accounting.entry_for_goods_receipt)."""

    kind: Literal["post_goods_receipt"] = "post_goods_receipt"
    po_id: str
    receipt_id: str
    location: str
    currency: str
    lines: tuple[AccruedLine, ...]


class RevaluedLine(_Value):
    line_id: str
    sku: str
    quantity: Decimal  # received and not yet invoiced
    old_unit_price: Decimal
    new_unit_price: Decimal


class RevalueAccrual(_Value):
    """The PO price of goods already accrued changed: revalue them (accounting.entry_for_accrual_revaluation)."""

    kind: Literal["revalue_accrual"] = "revalue_accrual"
    po_id: str
    reference: str  # the acknowledgement or revision that changed the price: one change revalues once
    currency: str
    lines: tuple[RevaluedLine, ...]


class PayableLine(_Value):
    line_id: str
    sku: str
    quantity: Decimal
    unit_price: Decimal  # as invoiced
    po_unit_price: Decimal  # as accrued


class PostSupplierInvoice(_Value):
    """Post the approved invoice (accounting.entry_for_supplier_invoice) and release it for payment."""

    kind: Literal["post_supplier_invoice"] = "post_supplier_invoice"
    po_id: str
    invoice_id: str
    supplier_id: str
    currency: str
    lines: tuple[PayableLine, ...]
    tax: Decimal
    total: Decimal
    overridden: bool = False


class RejectSupplierInvoice(_Value):
    """Tell the supplier (and the ERP) the invoice is refused and a corrected one is needed."""

    kind: Literal["reject_supplier_invoice"] = "reject_supplier_invoice"
    po_id: str
    invoice_id: str
    supplier_id: str
    reason: str


class OpenException(_Value):
    """Ask a person. `reference` names what it is about within the PO (an acknowledgement, receipt or invoice),
    so the same problem opens one exception however often it is seen."""

    kind: Literal["open_exception"] = "open_exception"
    po_id: str
    owner: ExceptionOwner
    reason_code: str
    reference: str
    text: str


class CloseException(_Value):
    """An exception this machine opened no longer applies (a receipt made an invoice match; a new revision
    replaced proposed changes): close it if no one has yet."""

    kind: Literal["close_exception"] = "close_exception"
    po_id: str
    reason_code: str
    reference: str
    text: str


Command = (
    SendPurchaseOrder
    | SendCancellation
    | PostGoodsReceipt
    | RevalueAccrual
    | PostSupplierInvoice
    | RejectSupplierInvoice
    | OpenException
    | CloseException
)


class POEvent(_Value):
    """A fact this machine established, to be published as a canonical event about the PO."""

    type: str
    subject: str
    data: dict[str, Any]


class TimerStage(enum.StrEnum):
    ACKNOWLEDGEMENT_OVERDUE = "acknowledgement-overdue"
    SHIP_NOTICE_OVERDUE = "ship-notice-overdue"
    RECEIPT_OVERDUE = "receipt-overdue"


TIMER_OWNERS: Mapping[TimerStage, ExceptionOwner] = {
    TimerStage.ACKNOWLEDGEMENT_OVERDUE: ExceptionOwner.PROCUREMENT,
    TimerStage.SHIP_NOTICE_OVERDUE: ExceptionOwner.PROCUREMENT,
    TimerStage.RECEIPT_OVERDUE: ExceptionOwner.WAREHOUSE,
}


class POTimer(_Value):
    """Arm or disarm one durable timer; when it fires, the handler opens an exception if `active_timers` still
    lists it (see TIMER_OWNERS)."""

    action: Literal["arm", "disarm"]
    po_id: str
    stage: TimerStage
    reference: str = ""  # the ship notice, for receipt-overdue
    due_at: datetime | None = None

    @property
    def key(self) -> str:
        """The timer's unique key: arming twice schedules once, and disarming finds it."""
        return timer_key(self.po_id, self.stage, self.reference)


def timer_key(po_id: str, stage: TimerStage, reference: str = "") -> str:
    return f"p2p:po:{po_id}:{stage.value}" + (f":{reference}" if reference else "")


class Refusal(_Value):
    """A held fact whose prerequisite happened but which then broke a rule; it is raised to a person."""

    fact: HeldFact
    reason: str


class Step(_Value):
    """What one fact did: the new state and what a handler must do about it, all in one unit of work."""

    state: POState
    commands: tuple[Command, ...] = ()
    emitted: tuple[POEvent, ...] = ()
    timers: tuple[POTimer, ...] = ()
    held: tuple[HeldFact, ...] = ()
    refused: tuple[Refusal, ...] = ()
    duplicate: bool = False


# ---------------------------------------------------------------------------------------------------------------
# The transition table: for each kind of fact, what each status does with it. A status not listed for a kind makes
# the fact illegal there. Rules that depend on quantities or references are checked by the appliers below.
# ---------------------------------------------------------------------------------------------------------------


class Disposition(enum.Enum):
    APPLY = "apply"
    HOLD = "hold"  # its prerequisite has not happened yet
    IGNORE = "ignore"  # superseded: recorded as seen, changes nothing


APPLY, HOLD, IGNORE = Disposition.APPLY, Disposition.HOLD, Disposition.IGNORE
LIVE = BEFORE_RECEIPT | RECEIVING


def _each(statuses: Iterable[POStatus], disposition: Disposition) -> dict[POStatus, Disposition]:
    return dict.fromkeys(statuses, disposition)


_HOLD_UNTIL_ISSUED = {S.NOT_ISSUED: HOLD}

TRANSITIONS: Mapping[str, Mapping[POStatus, Disposition]] = {
    "issued": {S.NOT_ISSUED: APPLY},
    # What reached the supplier, or what it answered, is still recorded once the PO is cancelled, so that the
    # outcome does not depend on whether the cancellation raced it; nothing is open to change any more.
    "sent": {**_HOLD_UNTIL_ISSUED, **_each(LIVE | {S.CANCELLED}, APPLY)},
    "acknowledged": {**_HOLD_UNTIL_ISSUED, **_each(LIVE | {S.CANCELLED}, APPLY)},
    "changed": {**_HOLD_UNTIL_ISSUED, **_each(LIVE, APPLY)},
    "changes_decided": {**_HOLD_UNTIL_ISSUED, **_each(LIVE | {S.CANCELLED}, APPLY)},
    # A notice may race the cancellation of what it ships: it is recorded, and procurement is told (see _commands).
    # So may a receipt of damaged goods only, which go back anyway; goods in good condition for a cancelled PO move
    # it out of cancelled, which STATUS_EDGES refuses, as it refuses invoices here: a person sorts that out.
    "asn": {**_HOLD_UNTIL_ISSUED, **_each(LIVE | {S.CANCELLED}, APPLY)},
    "received": {**_HOLD_UNTIL_ISSUED, **_each(LIVE | {S.CANCELLED}, APPLY)},
    "invoiced": {**_HOLD_UNTIL_ISSUED, **_each(LIVE, APPLY)},
    "match_resolved": {**_HOLD_UNTIL_ISSUED, **_each(LIVE, APPLY)},
    "cancelled": {**_HOLD_UNTIL_ISSUED, **_each(LIVE, APPLY), S.CANCELLED: IGNORE},
}


class _NotYet(Exception):
    """Raised by an applier when a prerequisite (the ship notice of a receipt, the invoice of a decision) is missing."""


class _Superseded(Exception):
    """Raised by an applier when the fact no longer matters (a decision on changes a later revision replaced)."""


def _illegal(state: POState, fact: POFact, why: str) -> errors.IllegalTransition:
    return errors.IllegalTransition(
        f"purchase order {state.po_id} is {state.status.value}: cannot take {fact_key(fact)}: {why}",
        subject=state.po_id,
        state=state.status.value,
        fact=fact_key(fact),
    )


def _disposition(state: POState, fact: POFact) -> Disposition:
    if state.status is not S.NOT_ISSUED:
        if isinstance(fact, POChanged) and fact.revision <= state.revision:
            return IGNORE
        if isinstance(fact, POSent):
            if fact.revision > state.revision:
                return HOLD  # the revision it sent has not reached us yet
            if fact.revision < state.revision:
                return IGNORE
    disposition = TRANSITIONS[fact.kind].get(state.status)
    if disposition is None:
        raise _illegal(state, fact, "the purchase order is cancelled")
    return disposition


# ---------------------------------------------------------------------------------------------------------------
# Appliers: record a fact, or refuse it. Consequences are derived afterwards.
# ---------------------------------------------------------------------------------------------------------------


def _known_line(state: POState, fact: POFact, ident: str) -> LineState:
    line = state.line(ident)
    if line is None:
        raise _illegal(state, fact, f"the purchase order has no line {ident!r}")
    return line


def _with_lines(state: POState, changed: Mapping[str, LineState], **update: Any) -> POState:
    lines = tuple(changed.get(line.line_id, line) for line in state.lines)
    return state.model_copy(update={"lines": lines, **update})


def _add(line: LineState, **amounts: Decimal) -> LineState:
    return line.model_copy(update={name: getattr(line, name) + value for name, value in amounts.items()})


def _apply_issued(state: POState, fact: POIssued) -> POState:
    lines = tuple(
        LineState(
            line_id=line.line_id,
            sku=line.sku,
            unit_price=line.unit_price,
            ordered=line.quantity,
            delivery_on=line.delivery_on,
        )
        for line in fact.lines
    )
    return state.model_copy(
        update={
            "status": S.ISSUED,
            "revision": 1,
            "supplier_id": fact.supplier_id,
            "currency": fact.currency,
            "ship_to": fact.ship_to,
            "tolerance": fact.tolerance,
            "lines": lines,
        }
    )


def _apply_sent(state: POState, fact: POSent) -> POState:
    latest = fact.sent_at if state.last_sent_at is None else max(state.last_sent_at, fact.sent_at)
    return state.model_copy(update={"sent_revision": max(state.sent_revision, fact.revision), "last_sent_at": latest})


def _apply_acknowledged(state: POState, fact: POAcknowledged, policy: Policy) -> POState:
    if fact.status is AcknowledgementStatus.REJECTED:
        return state.model_copy(
            update={"standing": Standing.REJECTED, "acknowledgement_id": fact.acknowledgement_id, "proposals": ()}
        )
    proposals = []
    for answer in fact.lines:
        line = _known_line(state, fact, answer.line_id)
        if answer.status is LineAcknowledgementStatus.ACCEPTED:
            continue
        proposals.append(
            Proposal(
                line_id=answer.line_id,
                status=answer.status,
                quantity=answer.quantity,
                unit_price=answer.unit_price,
                delivery_on=answer.delivery_on,
                substitute_sku=answer.substitute_sku,
                beyond_policy=tuple(_beyond_policy(state, line, answer, policy.changes)),
            )
        )
    acknowledged = state.model_copy(update={"acknowledgement_id": fact.acknowledgement_id})
    if any(proposal.beyond_policy for proposal in proposals):
        return acknowledged.model_copy(update={"standing": Standing.CHANGES_PENDING, "proposals": tuple(proposals)})
    return _take_proposals(acknowledged, fact, tuple(proposals))


def _beyond_policy(state: POState, line: LineState, answer: AckLine, policy: ChangePolicy) -> Iterable[str]:
    """Why the policy does not take a proposed line change, in words; nothing when it does."""
    where = f"line {line.line_id}"
    if answer.status is LineAcknowledgementStatus.REJECTED:
        if not policy.accept_line_rejections:
            yield f"{where}: the supplier will not deliver it"
        return
    if answer.quantity is not None and answer.quantity != line.ordered:
        change = (answer.quantity - line.ordered) * 100 / line.ordered
        limit = policy.quantity_increase_percent if change > 0 else policy.quantity_decrease_percent
        if abs(change) > limit:
            yield f"{where}: quantity {line.ordered} -> {answer.quantity} is beyond {limit}%"
    if answer.unit_price is not None and answer.unit_price != line.unit_price:
        quantity = answer.quantity if answer.quantity is not None else line.ordered
        within = policy.price_within_match_tolerance and state.tolerance.price_within(
            line.unit_price, answer.unit_price, quantity
        )
        if not within:
            yield f"{where}: price {line.unit_price} -> {answer.unit_price} is beyond tolerance"
    if answer.delivery_on is not None and line.delivery_on is not None and answer.delivery_on != line.delivery_on:
        late = (answer.delivery_on - line.delivery_on).days
        if late > policy.days_later or (late < 0 and not policy.accept_earlier):
            yield f"{where}: delivery {line.delivery_on} -> {answer.delivery_on}"
    if answer.substitute_sku is not None and answer.substitute_sku != line.sku and not policy.accept_substitutions:
        yield f"{where}: {answer.substitute_sku} instead of {line.sku}"


def _take_proposals(state: POState, fact: POFact, proposals: tuple[Proposal, ...]) -> POState:
    changed: dict[str, LineState] = {}
    for proposal in proposals:
        line = _known_line(state, fact, proposal.line_id)
        if proposal.status is LineAcknowledgementStatus.REJECTED:
            changed[line.line_id] = _add(line, cancelled=line.awaited)
            continue
        update: dict[str, Any] = {}
        if proposal.quantity is not None:
            # The supplier answers the quantity ordered. A buyer's cancellation that raced the answer still comes
            # off it, up to what remains: cancelling 12 then hearing "only 10" ends where the other order does.
            if proposal.quantity < line.received:
                raise _illegal(
                    state, fact, f"line {line.line_id}: {line.received} received already, more than {proposal.quantity}"
                )
            update["ordered"] = proposal.quantity
            update["cancelled"] = min(line.cancelled, proposal.quantity - line.received)
        if proposal.unit_price is not None:
            update["unit_price"] = proposal.unit_price
        if proposal.delivery_on is not None:
            update["delivery_on"] = proposal.delivery_on
        if proposal.substitute_sku is not None and proposal.substitute_sku != line.sku:
            update["sku"] = proposal.substitute_sku
            update["substituted_for"] = line.substituted_for or line.sku
        changed[line.line_id] = line.model_copy(update=update)
    return _with_lines(state, changed, standing=Standing.ACCEPTED, proposals=())


def _apply_changed(state: POState, fact: POChanged) -> POState:
    previous = {line.line_id: line for line in state.lines}
    new_ids = {line.line_id for line in fact.lines}
    for line in state.lines:
        if line.line_id not in new_ids and (line.received or line.noticed or line.invoiced):
            raise _illegal(state, fact, f"line {line.line_id} has goods or invoices; cancel what is open instead")
    lines = []
    for terms in fact.lines:
        before = previous.get(terms.line_id)
        line = LineState(
            line_id=terms.line_id,
            sku=terms.sku,
            unit_price=terms.unit_price,
            ordered=terms.quantity,
            delivery_on=terms.delivery_on,
        )
        if before is not None:
            if terms.quantity < before.received:
                raise _illegal(
                    state, fact, f"line {terms.line_id}: {before.received} already received, more than {terms.quantity}"
                )
            line = line.model_copy(
                update={
                    "noticed": before.noticed,
                    "received": before.received,
                    "damaged": before.damaged,
                    "invoiced": before.invoiced,
                }
            )
        lines.append(line)
    # A new revision needs a new answer: what the supplier said about the old one no longer counts.
    return state.model_copy(
        update={"revision": fact.revision, "lines": tuple(lines), "standing": None, "proposals": ()}
    )


def _apply_decided(state: POState, fact: ChangesDecided) -> POState:
    if state.acknowledgement_id != fact.acknowledgement_id or state.standing is not Standing.CHANGES_PENDING:
        if f"acknowledgement:{fact.acknowledgement_id}" not in state.seen:
            raise _NotYet  # the acknowledgement it decides on has not arrived
        raise _Superseded
    if fact.accept:
        return _take_proposals(state, fact, state.proposals)
    # Refused: the supplier gets the PO as ordered again and must answer it again.
    return state.model_copy(update={"standing": None, "proposals": ()})


def _apply_noticed(state: POState, fact: ShipNoticed) -> POState:
    changed = {}
    for part in fact.lines:
        line = _known_line(state, fact, part.line_id)
        changed[line.line_id] = _add(line, noticed=part.quantity)
    record = NoticeRecord(shipment_id=fact.shipment_id, expected_on=fact.expected_on, lines=fact.lines)
    notices = tuple(sorted((*state.notices, record), key=lambda notice: notice.shipment_id))
    return _with_lines(state, changed, notices=notices)


def _apply_received(state: POState, fact: GoodsReceived) -> POState:
    if fact.shipment_id is not None and state.notice(fact.shipment_id) is None:
        raise _NotYet  # received against a ship notice that has not reached us yet
    changed = {}
    for part in fact.lines:
        line = _known_line(state, fact, part.line_id)
        changed[line.line_id] = _add(line, received=part.accepted, damaged=part.damaged)
    record = ReceiptRecord(
        receipt_id=fact.receipt_id, shipment_id=fact.shipment_id, location=fact.location, lines=fact.lines
    )
    receipts = tuple(sorted((*state.receipts, record), key=lambda receipt: receipt.receipt_id))
    return _with_lines(state, changed, receipts=receipts)


def _apply_invoiced(state: POState, fact: InvoiceReceived) -> POState:
    record = InvoiceRecord(
        invoice_id=fact.invoice_id, currency=fact.currency, lines=fact.lines, tax=fact.tax, total=fact.total
    )
    invoices = tuple(sorted((*state.invoices, record), key=lambda invoice: invoice.invoice_id))
    return state.model_copy(update={"invoices": invoices})


def _apply_resolved(state: POState, fact: MatchResolved) -> POState:
    invoice = state.invoice(fact.invoice_id)
    if invoice is None:
        raise _NotYet  # decided before the invoice reached us
    if invoice.status in FINAL_INVOICE:
        raise _Superseded
    resolved = invoice.model_copy(update={"resolution": "approve" if fact.approve else "reject", "note": fact.note})
    invoices = tuple(resolved if i.invoice_id == fact.invoice_id else i for i in state.invoices)
    return state.model_copy(update={"invoices": invoices})


def _apply_cancelled(state: POState, fact: POCancelled) -> POState:
    if fact.lines is None:
        arrived = [line.line_id for line in state.lines if line.received > 0]
        if arrived:
            raise _illegal(state, fact, f"lines {', '.join(arrived)} have arrived; they need a return to the supplier")
        changed = {line.line_id: line.model_copy(update={"cancelled": line.ordered}) for line in state.lines}
        return _with_lines(state, changed)
    changed = {}
    for part in fact.lines:
        line = _known_line(state, fact, part.line_id)
        if part.quantity > line.awaited:
            raise _illegal(
                state, fact, f"line {line.line_id} awaits {line.awaited}, so {part.quantity} cannot be cancelled"
            )
        changed[line.line_id] = _add(line, cancelled=part.quantity)
    return _with_lines(state, changed)


def _apply(state: POState, fact: POFact, policy: Policy) -> POState:
    match fact:
        case POIssued():
            return _apply_issued(state, fact)
        case POSent():
            return _apply_sent(state, fact)
        case POAcknowledged():
            return _apply_acknowledged(state, fact, policy)
        case POChanged():
            return _apply_changed(state, fact)
        case ChangesDecided():
            return _apply_decided(state, fact)
        case ShipNoticed():
            return _apply_noticed(state, fact)
        case GoodsReceived():
            return _apply_received(state, fact)
        case InvoiceReceived():
            return _apply_invoiced(state, fact)
        case MatchResolved():
            return _apply_resolved(state, fact)
        case POCancelled():
            return _apply_cancelled(state, fact)


# ---------------------------------------------------------------------------------------------------------------
# Derivation: invoice verdicts and the status; then commands, events and timers by comparing before/after
# ---------------------------------------------------------------------------------------------------------------


def _settle_invoices(state: POState) -> POState:
    """Match every invoice not yet final, oldest id first, against what arrived and what was approved before it.
    Approved and rejected invoices never change again: they have been posted or sent back."""
    approved: dict[str, Decimal] = {}
    for invoice in state.invoices:
        if invoice.status is InvoiceStatus.APPROVED:
            for part in invoice.lines:
                approved[part.line_id] = approved.get(part.line_id, ZERO) + part.quantity
    settled = []
    for invoice in state.invoices:
        if invoice.status not in FINAL_INVOICE:
            invoice = _verdict(state, invoice, approved)
            if invoice.status is InvoiceStatus.APPROVED:
                for part in invoice.lines:
                    approved[part.line_id] = approved.get(part.line_id, ZERO) + part.quantity
        settled.append(invoice)
    lines = tuple(line.model_copy(update={"invoiced": approved.get(line.line_id, ZERO)}) for line in state.lines)
    return state.model_copy(update={"invoices": tuple(settled), "lines": lines})


def _verdict(state: POState, invoice: InvoiceRecord, approved: Mapping[str, Decimal]) -> InvoiceRecord:
    if invoice.resolution == "reject":
        return invoice.model_copy(update={"status": InvoiceStatus.REJECTED, "reasons": ()})
    if invoice.resolution == "approve":
        return _approved(state, invoice)
    result = match_invoice_state(state, invoice, approved)
    if result.approved:
        return _approved(state, invoice)
    waiting = all(
        reason.code is MatchCode.QUANTITY_NOT_RECEIVED
        and reason.line_id is not None
        and (line := state.line(reason.line_id)) is not None
        and line.awaited > 0
        for reason in result.reasons
    )
    status = InvoiceStatus.AWAITING_RECEIPT if waiting else InvoiceStatus.EXCEPTION
    return invoice.model_copy(update={"status": status, "reasons": result.reasons})


def _approved(state: POState, invoice: InvoiceRecord) -> InvoiceRecord:
    prices = []
    for part in invoice.lines:
        line = state.line(part.line_id)
        # A billed line the PO does not have was accrued by nothing: a person approved it at its own price.
        prices.append((part.line_id, line.unit_price if line is not None else part.unit_price))
    return invoice.model_copy(update={"status": InvoiceStatus.APPROVED, "reasons": (), "accrued_prices": tuple(prices)})


def match_invoice_state(
    state: POState, invoice: InvoiceRecord, approved: Mapping[str, Decimal] | None = None
) -> MatchResult:
    """Match an invoice the PO holds against the PO as it stands; `approved` is what other invoices approved per
    line (by default: every approved invoice's lines)."""
    if approved is None:
        approved = {line.line_id: line.invoiced for line in state.lines}
    order_lines = {
        line.line_id: MatchInput(
            line_id=line.line_id,
            unit_price=line.unit_price,
            received=line.received,
            invoiced_before=approved.get(line.line_id, ZERO),
        )
        for line in state.lines
    }
    return match_invoice(
        invoice_id=invoice.invoice_id,
        currency=invoice.currency,
        order_currency=_issued(state.currency),
        lines=invoice.lines,
        order_lines=order_lines,
        tax=invoice.tax,
        total=invoice.total,
        tolerance=state.tolerance,
    )


def _derived_status(state: POState) -> POStatus:
    lines = state.lines
    # Damaged goods go back to the supplier: they neither keep a PO from being cancelled nor count as received.
    if all(line.open == 0 for line in lines) and not any(line.received for line in lines):
        return S.CANCELLED
    if any(line.received > 0 for line in lines):
        if any(line.awaited > 0 for line in lines):
            return S.PARTIALLY_RECEIVED
        open_invoice = any(invoice.status not in FINAL_INVOICE for invoice in state.invoices)
        if not open_invoice and all(line.invoiced >= line.received for line in lines):
            return S.CLOSED
        return S.RECEIVED
    if state.standing is Standing.REJECTED:
        return S.REJECTED
    if state.standing is Standing.CHANGES_PENDING:
        return S.CHANGES_PENDING
    if any(line.noticed > 0 for line in lines):
        return S.SHIPPED
    if state.standing is Standing.ACCEPTED:
        return S.ACKNOWLEDGED
    if state.sent_revision >= state.revision:
        return S.SENT
    return S.ISSUED


def _settle(state: POState) -> POState:
    state = _settle_invoices(state)
    return state.model_copy(update={"status": _derived_status(state)})


def _ordered_lines(state: POState) -> tuple[OrderedLine, ...]:
    return tuple(
        OrderedLine(
            line_id=line.line_id,
            sku=line.sku,
            quantity=line.open,
            unit_price=line.unit_price,
            delivery_on=line.delivery_on,
        )
        for line in state.lines
    )


def _send(state: POState, reason: str = "") -> SendPurchaseOrder:
    return SendPurchaseOrder(
        po_id=state.po_id,
        revision=state.revision,
        supplier_id=_issued(state.supplier_id),
        currency=_issued(state.currency),
        ship_to=_issued(state.ship_to),
        lines=_ordered_lines(state),
        reason=reason,
    )


def _commands(before: POState, after: POState, fact: POFact) -> tuple[Command, ...]:
    commands: list[Command] = []
    po = after.po_id
    if isinstance(fact, POIssued):
        commands.append(_send(after))
    elif isinstance(fact, POChanged):
        commands.append(_send(after, f"revision {fact.revision}"))
    elif isinstance(fact, ChangesDecided) and not fact.accept:
        commands.append(_send(after, f"the changes of acknowledgement {fact.acknowledgement_id} were refused"))
    if isinstance(fact, POCancelled):
        cancelled = _line_growth(before, after, "cancelled")
        commands.append(
            SendCancellation(
                po_id=po,
                supplier_id=_issued(after.supplier_id),
                whole=after.status is S.CANCELLED,
                lines=tuple(LineCount(line_id=ident, quantity=q) for ident, _sku, q in cancelled),
            )
        )
    commands.extend(_acknowledgement_commands(before, after, fact))
    if revalued := _revaluations(before, after):
        reference = fact_key(fact)
        commands.append(RevalueAccrual(po_id=po, reference=reference, currency=_issued(after.currency), lines=revalued))
    if isinstance(fact, GoodsReceived):
        commands.extend(_receipt_commands(after, fact))
    if isinstance(fact, ShipNoticed) and after.status is S.CANCELLED:
        commands.append(
            OpenException(
                po_id=po,
                owner=ExceptionOwner.PROCUREMENT,
                reason_code="shipped_after_cancellation",
                reference=fact.shipment_id,
                text=f"ship notice {fact.shipment_id} announces goods for a cancelled purchase order",
            )
        )
    commands.extend(_invoice_commands(before, after))
    return tuple(commands)


def _acknowledgement_commands(before: POState, after: POState, fact: POFact) -> Iterable[Command]:
    reference = after.acknowledgement_id or ""
    if after.standing is Standing.CHANGES_PENDING and (
        before.standing is not Standing.CHANGES_PENDING or before.acknowledgement_id != after.acknowledgement_id
    ):
        reasons = [reason for proposal in after.proposals for reason in proposal.beyond_policy]
        yield OpenException(
            po_id=after.po_id,
            owner=ExceptionOwner.PROCUREMENT,
            reason_code="acknowledgement_changes",
            reference=reference,
            text="; ".join(reasons),
        )
    if (
        before.standing is Standing.CHANGES_PENDING
        and after.standing is not Standing.CHANGES_PENDING
        and not isinstance(fact, ChangesDecided)
    ):
        yield CloseException(
            po_id=after.po_id,
            reason_code="acknowledgement_changes",
            reference=before.acknowledgement_id or "",
            text=f"superseded by {fact_key(fact)}",
        )
    if after.standing is Standing.REJECTED and before.standing is not Standing.REJECTED:
        yield OpenException(
            po_id=after.po_id,
            owner=ExceptionOwner.PROCUREMENT,
            reason_code="rejected_by_supplier",
            reference=reference,
            text=f"supplier {after.supplier_id} rejected the purchase order; change it or cancel it",
        )


def _revaluations(before: POState, after: POState) -> tuple[RevaluedLine, ...]:
    revalued = []
    for line in after.lines:
        old = before.line(line.line_id)
        if old is None or old.unit_price == line.unit_price:
            continue
        accrued = line.received - line.invoiced  # accrued and not yet cleared by an invoice
        if accrued > 0:
            revalued.append(
                RevaluedLine(
                    line_id=line.line_id,
                    sku=line.sku,
                    quantity=accrued,
                    old_unit_price=old.unit_price,
                    new_unit_price=line.unit_price,
                )
            )
    return tuple(revalued)


def receipt_variances(state: POState, fact: GoodsReceived) -> tuple[catalog.MatchedReceiptLine, ...]:
    """Per line, how a receipt compares with its ship notice and with the PO (the state the receipt was applied to):
    lines the notice announced that did not arrive are listed too, with nothing received."""
    notice = state.notice(fact.shipment_id) if fact.shipment_id is not None else None
    noticed = {part.line_id: part.quantity for part in notice.lines} if notice is not None else {}
    received = {part.line_id: part for part in fact.lines}
    result = []
    for ident in [*received, *(i for i in noticed if i not in received)]:
        line = state.line(ident)
        assert line is not None  # receipts and notices are recorded against known lines only
        part = received.get(ident)
        counted = part.quantity if part is not None else ZERO
        damaged = part.damaged if part is not None else ZERO
        accepted = counted - damaged
        variances = []
        if notice is not None:
            expected = noticed.get(ident)
            if expected is None:
                variances.append(catalog.ReceiptVariance.NOT_ON_NOTICE)
            elif counted < expected:
                variances.append(catalog.ReceiptVariance.SHORT_OF_NOTICE)
            elif counted > expected:
                variances.append(catalog.ReceiptVariance.OVER_NOTICE)
        if damaged > 0:
            variances.append(catalog.ReceiptVariance.DAMAGED)
        if accepted > 0 and line.received > line.open:
            variances.append(catalog.ReceiptVariance.OVER_ORDER)
        result.append(
            catalog.MatchedReceiptLine(
                line_id=ident,
                sku=line.sku,
                received=counted,
                damaged=damaged,
                accepted=accepted,
                unit_price=line.unit_price,
                noticed=noticed.get(ident) if notice is not None else None,
                variances=tuple(variances),
            )
        )
    return tuple(result)


def _receipt_commands(after: POState, fact: GoodsReceived) -> Iterable[Command]:
    accrued = []
    for part in fact.lines:
        line = after.line(part.line_id)
        assert line is not None
        if part.accepted > 0:
            accrued.append(
                AccruedLine(line_id=line.line_id, sku=line.sku, quantity=part.accepted, unit_price=line.unit_price)
            )
    if accrued:
        yield PostGoodsReceipt(
            po_id=after.po_id,
            receipt_id=fact.receipt_id,
            location=fact.location,
            currency=_issued(after.currency),
            lines=tuple(accrued),
        )
    problems = [
        f"line {line.line_id}: " + ", ".join(variance.value for variance in line.variances)
        for line in receipt_variances(after, fact)
        if line.variances
    ]
    if problems:
        yield OpenException(
            po_id=after.po_id,
            owner=ExceptionOwner.PROCUREMENT,
            reason_code="receipt_variance",
            reference=fact.receipt_id,
            text="; ".join(problems),
        )


def _invoice_commands(before: POState, after: POState) -> Iterable[Command]:
    for invoice in after.invoices:
        previous = before.invoice(invoice.invoice_id)
        was = previous.status if previous is not None else None
        if invoice.status is was:
            continue
        if invoice.status is InvoiceStatus.APPROVED:
            yield _post_invoice(after, invoice)
            if was is InvoiceStatus.EXCEPTION and invoice.resolution is None:
                yield CloseException(
                    po_id=after.po_id,
                    reason_code="invoice_match",
                    reference=invoice.invoice_id,
                    text="it matches now that the goods arrived",
                )
        elif invoice.status is InvoiceStatus.EXCEPTION:
            yield OpenException(
                po_id=after.po_id,
                owner=_owner(invoice),
                reason_code="invoice_match",
                reference=invoice.invoice_id,
                text="; ".join(reason.text for reason in invoice.reasons),
            )
        elif invoice.status is InvoiceStatus.REJECTED:
            yield RejectSupplierInvoice(
                po_id=after.po_id,
                invoice_id=invoice.invoice_id,
                supplier_id=_issued(after.supplier_id),
                reason=invoice.note or "the invoice does not match the purchase order and its receipts",
            )


def _owner(invoice: InvoiceRecord) -> ExceptionOwner:
    return MatchResult(invoice_id=invoice.invoice_id, lines=(), reasons=invoice.reasons).owner


def _post_invoice(state: POState, invoice: InvoiceRecord) -> PostSupplierInvoice:
    accrued = dict(invoice.accrued_prices)
    lines = []
    for part in invoice.lines:
        line = state.line(part.line_id)
        lines.append(
            PayableLine(
                line_id=part.line_id,
                sku=line.sku if line is not None else "",
                quantity=part.quantity,
                unit_price=part.unit_price,
                po_unit_price=accrued[part.line_id],
            )
        )
    return PostSupplierInvoice(
        po_id=state.po_id,
        invoice_id=invoice.invoice_id,
        supplier_id=_issued(state.supplier_id),
        currency=invoice.currency,
        lines=tuple(lines),
        tax=invoice.tax,
        total=invoice.total,
        overridden=invoice.resolution == "approve",
    )


def _line_growth(before: POState, after: POState, quantity: str) -> list[tuple[str, str, Decimal]]:
    grown = []
    for line in after.lines:
        old = before.line(line.line_id)
        grew = getattr(line, quantity) - (getattr(old, quantity) if old is not None else ZERO)
        if grew > 0:
            grown.append((line.line_id, line.sku, grew))
    return grown


def _emitted(before: POState, after: POState, fact: POFact) -> tuple[POEvent, ...]:
    po = after.po_id
    payloads: list[catalog.Payload] = []
    decided = None
    if isinstance(fact, POAcknowledged) and fact.status is AcknowledgementStatus.ACCEPTED_WITH_CHANGES:
        decided = catalog.RevisionDecider.POLICY if after.standing is Standing.ACCEPTED else None
    elif isinstance(fact, ChangesDecided) and fact.accept:
        decided = catalog.RevisionDecider.PROCUREMENT
    if decided is not None:
        payloads.append(
            catalog.PurchaseOrderRevised(
                order=po,
                revision=after.revision,
                acknowledgement=_issued(after.acknowledgement_id),
                decided_by=decided,
                lines=tuple(
                    catalog.RevisedLine(
                        line_id=line.line_id,
                        sku=line.sku,
                        quantity=line.open,
                        unit_price=line.unit_price,
                        delivery_on=line.delivery_on,
                    )
                    for line in after.lines
                ),
            )
        )
    if isinstance(fact, POCancelled):
        payloads.append(
            catalog.PurchaseOrderCancelled(
                order=po,
                whole=after.status is S.CANCELLED,
                lines=tuple(
                    catalog.PurchaseOrderCancelledLine(line_id=ident, sku=sku, quantity=q)
                    for ident, sku, q in _line_growth(before, after, "cancelled")
                ),
                reason=fact.reason,
            )
        )
    if isinstance(fact, GoodsReceived):
        payloads.append(
            catalog.ReceiptMatched(
                receipt=fact.receipt_id,
                order=po,
                supplier=_issued(after.supplier_id),
                notice=fact.shipment_id,
                location=fact.location,
                currency=_issued(after.currency),
                lines=receipt_variances(after, fact),
            )
        )
    payloads.extend(_invoice_events(before, after))
    if after.status is S.CLOSED and before.status is not S.CLOSED:
        currency = _issued(after.currency)
        invoiced = sum(
            (
                round_money(part.quantity * part.unit_price, invoice.currency)
                for invoice in after.invoices
                if invoice.status is InvoiceStatus.APPROVED and invoice.currency == currency
                for part in invoice.lines
            ),
            ZERO,
        )
        payloads.append(
            catalog.PurchaseOrderClosed(
                order=po,
                received=Money(amount=received_value(after), currency=currency),
                invoiced=Money(amount=invoiced, currency=currency),
            )
        )
    return tuple(
        POEvent(type=catalog.type_of(payload), subject=po, data=catalog.data_of(payload)) for payload in payloads
    )


def _invoice_events(before: POState, after: POState) -> Iterable[catalog.Payload]:
    supplier = _issued(after.supplier_id)
    for invoice in after.invoices:
        previous = before.invoice(invoice.invoice_id)
        if previous is not None and previous.status is invoice.status:
            continue
        if invoice.status is InvoiceStatus.APPROVED:
            posted = _post_invoice(after, invoice)
            yield catalog.SupplierInvoiceApproved(
                invoice=invoice.invoice_id,
                order=after.po_id,
                supplier=supplier,
                currency=invoice.currency,
                lines=tuple(
                    catalog.ApprovedInvoiceLine(
                        line_id=line.line_id,
                        sku=line.sku or "unknown",
                        quantity=line.quantity,
                        unit_price=line.unit_price,
                        po_unit_price=line.po_unit_price,
                    )
                    for line in posted.lines
                ),
                tax=invoice.tax,
                total=invoice.total,
                overridden=posted.overridden,
                note=invoice.note,
            )
        elif invoice.status is InvoiceStatus.EXCEPTION:
            yield catalog.SupplierInvoiceMatchFailed(
                invoice=invoice.invoice_id,
                order=after.po_id,
                supplier=supplier,
                owner=_owner(invoice),
                reasons=tuple(
                    catalog.MatchFailure(code=reason.code.value, message=reason.text, line_id=reason.line_id)
                    for reason in invoice.reasons
                ),
            )
        elif invoice.status is InvoiceStatus.REJECTED:
            yield catalog.SupplierInvoiceRejected(
                invoice=invoice.invoice_id, order=after.po_id, supplier=supplier, reason=invoice.note
            )


def _issued(value: str | None) -> str:
    assert value is not None  # set when the PO is issued, and nothing is derived before that
    return value


# ---------------------------------------------------------------------------------------------------------------
# Timers
# ---------------------------------------------------------------------------------------------------------------


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def active_timers(state: POState, policy: Policy = DEFAULT_POLICY) -> dict[tuple[TimerStage, str], datetime]:
    """The overdue timers the PO has running now, by (stage, reference), with when each is due:
    - acknowledgement: the PO reached the supplier and no answer to the current revision came, nor any goods;
    - ship notice: the PO is acknowledged and goods with a delivery date are awaited that no notice announced
      (due `notice_lead` before the earliest such date; lines without a date arm nothing);
    - receipt: per ship notice no receipt named, while goods are awaited (due `receipt_grace` after its day)."""
    timers: dict[tuple[TimerStage, str], datetime] = {}
    if state.status not in BEFORE_RECEIPT | {S.PARTIALLY_RECEIVED}:
        return timers
    nothing_yet = not state.notices and not state.receipts
    sent = state.last_sent_at is not None and state.sent_revision >= state.revision
    if state.standing is None and sent and nothing_yet and state.last_sent_at is not None:
        timers[(TimerStage.ACKNOWLEDGEMENT_OVERDUE, "")] = state.last_sent_at + policy.acknowledge_within
    if state.standing is Standing.ACCEPTED:
        dates = [
            line.delivery_on
            for line in state.lines
            if line.delivery_on is not None and line.awaited > 0 and line.noticed + line.received < line.open
        ]
        if dates:
            timers[(TimerStage.SHIP_NOTICE_OVERDUE, "")] = _midnight(min(dates)) - policy.notice_lead
    named = {receipt.shipment_id for receipt in state.receipts}
    if any(line.awaited > 0 for line in state.lines):
        for notice in state.notices:
            if notice.shipment_id not in named:
                timers[(TimerStage.RECEIPT_OVERDUE, notice.shipment_id)] = (
                    _midnight(notice.expected_on) + policy.receipt_grace
                )
    return timers


def timer_changes(before: POState, after: POState, policy: Policy = DEFAULT_POLICY) -> tuple[POTimer, ...]:
    """Timers to disarm (left, or due at another time now) and to arm (entered, or re-timed)."""
    old, new = active_timers(before, policy), active_timers(after, policy)
    disarm = [
        POTimer(action="disarm", po_id=after.po_id, stage=stage, reference=ref)
        for (stage, ref), due in sorted(old.items())
        if new.get((stage, ref)) != due
    ]
    arm = [
        POTimer(action="arm", po_id=after.po_id, stage=stage, reference=ref, due_at=due)
        for (stage, ref), due in sorted(new.items())
        if old.get((stage, ref)) != due
    ]
    return (*disarm, *arm)


# ---------------------------------------------------------------------------------------------------------------
# The public API
# ---------------------------------------------------------------------------------------------------------------


def advance(state: POState, fact: POFact, *, policy: Policy = DEFAULT_POLICY) -> Step:
    """Apply one fact. Returns the next state with its commands, events and timers; a fact whose prerequisite has
    not happened is held in the state (see `release_held`); a repeat changes nothing. Raises IllegalTransition
    when the fact can never apply to this PO. Needs no clock: every time it uses comes from the facts."""
    if fact.po_id != state.po_id:
        raise _illegal(state, fact, f"the fact belongs to purchase order {fact.po_id}")
    key = fact_key(fact)
    if key in state.seen or any(fact_key(waiting) == key for waiting in state.held):
        return Step(state=state, duplicate=True)
    disposition = _disposition(state, fact)
    if disposition is IGNORE:
        return Step(state=state.model_copy(update={"seen": state.seen | {key}}))
    applied = None
    if disposition is APPLY:
        try:
            applied = _apply(state, fact, policy)
        except _NotYet:
            applied = None
        except _Superseded:
            return Step(state=state.model_copy(update={"seen": state.seen | {key}}))
    if applied is None:
        return Step(state=state.model_copy(update={"held": (*state.held, fact)}), held=(fact,))
    after = _settle(applied).model_copy(update={"seen": state.seen | {key}})
    if after.status is not state.status and (state.status, after.status) not in STATUS_EDGES:
        raise _illegal(state, fact, f"it would move the purchase order to {after.status.value}")
    return Step(
        state=after,
        commands=_commands(state, after, fact),
        emitted=_emitted(state, after, fact),
        timers=timer_changes(state, after, policy),
    )


def release_held(state: POState, *, policy: Policy = DEFAULT_POLICY) -> Step:
    """Re-apply held facts, oldest first, until none can move. A held fact that breaks a rule once its
    prerequisite is met leaves the hold as a Refusal with an exception opened for it: nothing is dropped."""
    current = state
    commands: list[Command] = []
    emitted: list[POEvent] = []
    refused: list[Refusal] = []
    moved = True
    while moved:
        moved = False
        for index, fact in enumerate(current.held):
            rest = current.model_copy(update={"held": current.held[:index] + current.held[index + 1 :]})
            try:
                step = advance(rest, fact, policy=policy)
            except errors.IllegalTransition as refusal:
                refused.append(Refusal(fact=fact, reason=str(refusal)))
                commands.append(refusal_exception(rest, fact, str(refusal)))
                current = rest
            else:
                if step.held:
                    continue
                current = step.state
                commands.extend(step.commands)
                emitted.extend(step.emitted)
            moved = True
            break  # start again from the oldest: an earlier fact may now be unblocked
    return Step(
        state=current,
        commands=tuple(commands),
        emitted=tuple(emitted),
        timers=timer_changes(state, current, policy),
        refused=tuple(refused),
    )


def apply_fact(state: POState, fact: POFact, *, policy: Policy = DEFAULT_POLICY) -> Step:
    """`advance`, then `release_held` when the fact moved the PO: what a handler calls for each fact."""
    step = advance(state, fact, policy=policy)
    if step.held or step.duplicate or not step.state.held:
        return step
    released = release_held(step.state, policy=policy)
    return Step(
        state=released.state,
        commands=step.commands + released.commands,
        emitted=step.emitted + released.emitted,
        timers=timer_changes(state, released.state, policy),
        refused=released.refused,
    )


_REFUSAL_OWNER: Mapping[str, ExceptionOwner] = {
    "invoiced": ExceptionOwner.FINANCE,
    "match_resolved": ExceptionOwner.FINANCE,
    "received": ExceptionOwner.WAREHOUSE,
}


def refusal_exception(state: POState, fact: POFact, reason: str) -> OpenException:
    """The exception a handler opens for a fact the machine refused (IllegalTransition), held or not."""
    return OpenException(
        po_id=state.po_id,
        owner=_REFUSAL_OWNER.get(fact.kind, ExceptionOwner.PROCUREMENT),
        reason_code=f"refused_{fact.kind}",
        reference=fact_key(fact),
        text=reason,
    )


def accept_proposed_changes(state: POState, note: str = "") -> ChangesDecided:
    """The decision a handler applies when procurement accepts the pending changes (exception action ACCEPT)."""
    if state.standing is not Standing.CHANGES_PENDING or state.acknowledgement_id is None:
        raise errors.IllegalTransition(
            f"purchase order {state.po_id} has no changes waiting for a decision",
            subject=state.po_id,
            state=state.status.value,
            fact="changes_decided",
        )
    return ChangesDecided(po_id=state.po_id, acknowledgement_id=state.acknowledgement_id, accept=True, note=note)


def open_reasons(state: POState) -> tuple[str, ...]:
    """Why a PO is not finished, in words for the person who owns it; empty once closed or cancelled."""
    if state.status in {S.CLOSED, S.CANCELLED}:
        return ()
    reasons: list[str] = []
    if state.status is S.NOT_ISSUED:
        reasons.append("the purchase order itself has not arrived")
    elif state.status is S.ISSUED:
        reasons.append("not sent to the supplier yet")
    elif state.status is S.SENT:
        reasons.append("no acknowledgement from the supplier")
    elif state.status is S.REJECTED:
        reasons.append("the supplier rejected it")
    elif state.status is S.CHANGES_PENDING:
        reasons.append("changes proposed: " + "; ".join(r for p in state.proposals for r in p.beyond_policy))
    awaited = sum((line.awaited for line in state.lines), ZERO)
    if awaited > 0 and state.status not in {S.ISSUED, S.SENT}:
        reasons.append(f"{awaited} units not received")
    not_billed = sum((max(ZERO, line.received - line.invoiced) for line in state.lines), ZERO)
    if not_billed > 0:
        reasons.append(f"{not_billed} units received but not invoiced")
    for invoice in state.invoices:
        if invoice.status not in FINAL_INVOICE:
            reasons.append(f"invoice {invoice.invoice_id} {invoice.status.value}")
    if state.held:
        reasons.append(f"{len(state.held)} facts held for a prerequisite")
    return tuple(reasons)


# ---------------------------------------------------------------------------------------------------------------
# Facts from the canonical documents: what a handler does with each input event's payload
# ---------------------------------------------------------------------------------------------------------------


def issued_fact(po: PurchaseOrder, tolerance: MatchTolerance) -> POIssued:
    """A PO as the workflow counts it, with the supplier's tolerance (procurement.Supplier.match_tolerance())."""
    return POIssued(
        po_id=po.number,
        supplier_id=po.supplier,
        currency=po.currency,
        ship_to=po.ship_to,
        tolerance=tolerance,
        lines=_po_lines(po),
    )


def changed_fact(po: PurchaseOrder, revision: int) -> POChanged:
    return POChanged(po_id=po.number, revision=revision, lines=_po_lines(po))


def _po_lines(po: PurchaseOrder) -> tuple[POLine, ...]:
    return tuple(
        POLine(
            line_id=line_id(line.line),
            sku=line.sku,
            quantity=line.quantity.value,
            unit_price=line.unit_price,
            delivery_on=po.delivery_date(line.line),
        )
        for line in po.lines
    )


def acknowledged_fact(
    ack: POAcknowledgement, po: PurchaseOrder, items: Mapping[str, Item] | None = None
) -> POAcknowledged:
    """An acknowledgement as the workflow counts it: quantities and prices in the PO line's unit. The unit of a
    changed quantity is converted; a price is taken per the PO line's unit."""
    lines = []
    for answer in ack.lines:
        order_line = _po_line(po, answer.line)
        quantity = answer.quantity.value if answer.quantity is not None else None
        if answer.quantity is not None and order_line is not None:
            quantity = answer.quantity.value * _factor(order_line, answer.quantity.unit, items)
        lines.append(
            AckLine(
                line_id=line_id(answer.line),
                status=answer.status,
                quantity=quantity,
                unit_price=answer.unit_price,
                delivery_on=answer.delivery_on,
                substitute_sku=answer.substitute_sku,
            )
        )
    return POAcknowledged(po_id=ack.order, acknowledgement_id=ack.number, status=ack.status, lines=tuple(lines))


def noticed_fact(notice: AdvanceShipNotice, po: PurchaseOrder, items: Mapping[str, Item] | None = None) -> ShipNoticed:
    totals: dict[str, Decimal] = {}
    for part in notice.lines:
        order_line = _po_line(po, part.line)
        factor = _factor(order_line, part.quantity.unit, items) if order_line is not None else Decimal(1)
        ident = line_id(part.line)
        totals[ident] = totals.get(ident, ZERO) + part.quantity.value * factor
    return ShipNoticed(
        po_id=notice.order,
        shipment_id=notice.shipment,
        expected_on=notice.expected_on,
        lines=tuple(LineCount(line_id=ident, quantity=q) for ident, q in totals.items()),
    )


def received_fact(receipt: GoodsReceipt, po: PurchaseOrder, items: Mapping[str, Item] | None = None) -> GoodsReceived:
    lines = []
    for part in receipt.lines:
        order_line = _po_line(po, part.line)
        factor = _factor(order_line, part.quantity.unit, items) if order_line is not None else Decimal(1)
        lines.append(
            ReceivedLine(
                line_id=line_id(part.line), quantity=part.quantity.value * factor, damaged=part.damaged * factor
            )
        )
    return GoodsReceived(
        po_id=receipt.order,
        receipt_id=receipt.number,
        shipment_id=receipt.asn,
        location=receipt.location,
        lines=tuple(lines),
    )


def invoiced_fact(
    invoice: SupplierInvoice, po: PurchaseOrder, items: Mapping[str, Item] | None = None
) -> InvoiceReceived:
    lines = []
    for part in invoice.lines:
        order_line = _po_line(po, part.line)
        factor = _factor(order_line, part.quantity.unit, items) if order_line is not None else Decimal(1)
        lines.append(
            InvoicedLine(
                line_id=line_id(part.line), quantity=part.quantity.value * factor, unit_price=part.unit_price / factor
            )
        )
    return InvoiceReceived(
        po_id=invoice.order,
        invoice_id=invoice.number,
        currency=invoice.currency,
        lines=tuple(lines),
        tax=invoice.tax,
        total=invoice.total,
    )
