"""The order-to-cash workflow: one pure state machine per sales order, from receipt to closing.

Owns: order states, the transition tables, `advance` / `release_held`, order validation and SLA stages.
Must not: read the clock, touch storage or send anything; a handler persists the state and carries out the Step.

How it works. Facts that other systems report (received, reserved, released, shipped, invoiced, paid, cancelled)
only add to running totals kept on the order; everything that follows from them (the status, compensation, the
commands to issue, the events to publish, the SLA timers) is derived by comparing the order before and after.
Because totals add up the same in any order, a history applied out of order ends in the same state as the
ordered history, provided facts that arrive before their prerequisite are held and re-applied later.

Prepayments (money taken for the order before anything is invoiced, e.g. at a webshop's checkout) are the one place
where arrival order counts, by rule: a prepayment is held on the order and applied to its invoices as they post,
oldest first, and an application, once made, is booked and never moved. What is still held when the order closes
or is cancelled is released as the customer's credit. Without prepayments nothing here depends on arrival order.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from crossdock.domain import catalog, errors
from crossdock.domain.documents import CurrencyCode, Key, Money, NonNegativeAmount, PositiveAmount
from crossdock.domain.money import round_money

ZERO = Decimal(0)

# Lines are known by their id (documents.line_id of the order line's number) and counted in the item's base unit, as
# the stock ledger counts them: a handler converts document quantities with Item.to_base_units before a fact is made.
Quantity = PositiveAmount
Amount = NonNegativeAmount
# Who owns an exception the machine opens: the same owners the published exception events name.
ExceptionOwner = catalog.ExceptionOwner


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------------------------------------------------------
# Statuses and the status graph
# ---------------------------------------------------------------------------------------------------------------


class OrderStatus(enum.StrEnum):
    NOT_RECEIVED = "not_received"  # facts about the order arrived before the order itself
    RECEIVED = "received"  # waiting for validation of its latest revision
    REJECTED = "rejected"  # failed validation; a change, an override, a cancellation or a close follows
    ACCEPTED = "accepted"
    RESERVED = "reserved"
    RELEASED = "released"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"  # everything not cancelled has shipped
    INVOICED = "invoiced"  # ... and is invoiced; payment is outstanding
    CLOSED = "closed"
    CANCELLED = "cancelled"


S = OrderStatus
PRE_ACCEPTANCE = frozenset({S.NOT_RECEIVED, S.RECEIVED, S.REJECTED})
# Fulfilment statuses are derived from the line quantities after every fact (see `_fulfilment_status`).
FULFILMENT = frozenset({S.ACCEPTED, S.RESERVED, S.RELEASED, S.PARTIALLY_SHIPPED, S.SHIPPED, S.INVOICED})
TERMINAL = frozenset({S.CLOSED, S.CANCELLED})

# Every status change the machine may make, like Tryton's `_transitions`: a change not listed here is a bug and
# raises instead of being stored. Moves back (released -> reserved -> accepted) come from cancelling lines.
STATUS_EDGES: frozenset[tuple[OrderStatus, OrderStatus]] = frozenset(
    (before, after)
    for before, afters in {
        S.NOT_RECEIVED: {S.RECEIVED},
        S.RECEIVED: {S.ACCEPTED, S.REJECTED, S.CANCELLED},
        S.REJECTED: {S.RECEIVED, S.ACCEPTED, S.CANCELLED, S.CLOSED},
        S.ACCEPTED: {S.RESERVED, S.CANCELLED},
        S.RESERVED: {S.ACCEPTED, S.RELEASED, S.CANCELLED},
        S.RELEASED: {S.ACCEPTED, S.RESERVED, S.PARTIALLY_SHIPPED, S.SHIPPED, S.CANCELLED},
        S.PARTIALLY_SHIPPED: {S.SHIPPED, S.INVOICED, S.CLOSED},
        S.SHIPPED: {S.INVOICED, S.CLOSED},
        S.INVOICED: {S.CLOSED},
    }.items()
    for after in afters
)


# ---------------------------------------------------------------------------------------------------------------
# Facts: what other systems report about the order (inputs to `advance`)
# ---------------------------------------------------------------------------------------------------------------


class OrderLine(_Value):
    line_id: Key
    sku: Key
    quantity: Quantity
    unit_price: Amount


class LineQuantity(_Value):
    line_id: Key
    quantity: Quantity


class Allocation(_Value):
    """Part of a reservation: a quantity of one line held at one location (a split uses several)."""

    line_id: Key
    location: Key
    quantity: Quantity


class RejectionCode(enum.StrEnum):
    CUSTOMER_UNKNOWN = "customer_unknown"
    CURRENCY_MISMATCH = "currency_mismatch"
    CREDIT_LIMIT_EXCEEDED = "credit_limit_exceeded"
    PRICE_NOT_LISTED = "price_not_listed"
    PRICE_OUT_OF_TOLERANCE = "price_out_of_tolerance"


class RejectionReason(_Value):
    code: RejectionCode
    text: str


def _unique_line_ids(lines: tuple[OrderLine, ...] | tuple[LineQuantity, ...]) -> None:
    ids = [line.line_id for line in lines]
    if len(ids) != len(set(ids)):
        raise ValueError("each line id may appear only once")


class _Fact(_Value):
    order_id: Key


class _OrderLinesFact(_Fact):
    lines: tuple[OrderLine, ...] = Field(min_length=1)

    @field_validator("lines")
    @classmethod
    def _lines_unique(cls, lines: tuple[OrderLine, ...]) -> tuple[OrderLine, ...]:
        _unique_line_ids(lines)
        return lines


class _LineQuantitiesFact(_Fact):
    lines: tuple[LineQuantity, ...] = Field(min_length=1)

    @field_validator("lines")
    @classmethod
    def _lines_unique(cls, lines: tuple[LineQuantity, ...]) -> tuple[LineQuantity, ...]:
        _unique_line_ids(lines)
        return lines


class OrderReceived(_OrderLinesFact):
    """A channel took the order (revision 1)."""

    kind: Literal["received"] = "received"
    customer_id: Key
    currency: CurrencyCode


class OrderChanged(_OrderLinesFact):
    """The channel replaced the order's lines before it was accepted; the full new set, numbered."""

    kind: Literal["changed"] = "changed"
    revision: int = Field(ge=2)


class OrderAccepted(_Fact):
    """Validation passed for a revision, or someone overrode its rejection."""

    kind: Literal["accepted"] = "accepted"
    revision: int = Field(ge=1)
    override: bool = False


class OrderRejected(_Fact):
    """Validation failed for a revision, with every reason found."""

    kind: Literal["rejected"] = "rejected"
    revision: int = Field(ge=1)
    reasons: tuple[RejectionReason, ...] = Field(min_length=1)


class StockReserved(_Fact):
    """Inventory reserved stock for the order: whole, partial (the rest is backordered) or split by location."""

    kind: Literal["reserved"] = "reserved"
    reservation_id: Key
    allocations: tuple[Allocation, ...] = ()


class WarehouseReleased(_LineQuantitiesFact):
    """The warehouse took reserved quantities for picking."""

    kind: Literal["released"] = "released"
    release_id: Key


class ShipmentConfirmed(_LineQuantitiesFact):
    """Goods left a warehouse: one of possibly several partial shipments."""

    kind: Literal["shipped"] = "shipped"
    shipment_id: Key


class InvoicePosted(_LineQuantitiesFact):
    """The ERP invoiced (part of) one shipment."""

    kind: Literal["invoiced"] = "invoiced"
    invoice_id: Key
    shipment_id: Key
    currency: CurrencyCode
    amount: Amount


class PaymentApplied(_Fact):
    """A payment was applied to the order; it may be partial or more than is owed."""

    kind: Literal["paid"] = "paid"
    payment_id: Key
    currency: CurrencyCode
    amount: Quantity


class PrepaymentReceived(_Fact):
    """Money was taken for the order before it was invoiced: held on the order, applied to invoices as they post."""

    kind: Literal["prepaid"] = "prepaid"
    payment_id: Key
    currency: CurrencyCode
    amount: Quantity


class OrderCancelled(_Fact):
    """The customer cancelled the whole order (`lines` is None) or quantities of some lines."""

    kind: Literal["cancelled"] = "cancelled"
    cancellation_id: Key
    lines: tuple[LineQuantity, ...] | None = None
    reason: str = ""

    @field_validator("lines")
    @classmethod
    def _lines_unique(cls, lines: tuple[LineQuantity, ...] | None) -> tuple[LineQuantity, ...] | None:
        if lines is not None:
            if not lines:
                raise ValueError("a line cancellation names at least one line; use None for the whole order")
            _unique_line_ids(lines)
        return lines


class OrderClosed(_Fact):
    """Someone closed a rejected order. Orders that are settled close by themselves."""

    kind: Literal["closed"] = "closed"
    reason: str = ""


OrderFact = (
    OrderReceived
    | OrderChanged
    | OrderAccepted
    | OrderRejected
    | StockReserved
    | WarehouseReleased
    | ShipmentConfirmed
    | InvoicePosted
    | PaymentApplied
    | PrepaymentReceived
    | OrderCancelled
    | OrderClosed
)
# Held facts are part of the persisted state, so they must round-trip through JSON: the kind tells them apart.
HeldFact = Annotated[OrderFact, Field(discriminator="kind")]


def fact_key(fact: OrderFact) -> str:
    """The identity of a fact within its order: a repeat with the same key is a duplicate and changes nothing."""
    match fact:
        case OrderReceived():
            return "received"
        case OrderChanged(revision=revision):
            return f"changed:{revision}"
        case OrderAccepted(revision=revision, override=override):
            return f"accepted:{revision}" + (":override" if override else "")
        case OrderRejected(revision=revision):
            return f"rejected:{revision}"
        case StockReserved(reservation_id=ident):
            return f"reservation:{ident}"
        case WarehouseReleased(release_id=ident):
            return f"release:{ident}"
        case ShipmentConfirmed(shipment_id=ident):
            return f"shipment:{ident}"
        case InvoicePosted(invoice_id=ident):
            return f"invoice:{ident}"
        case PaymentApplied(payment_id=ident):
            return f"payment:{ident}"
        case PrepaymentReceived(payment_id=ident):
            return f"prepayment:{ident}"
        case OrderCancelled(cancellation_id=ident):
            return f"cancellation:{ident}"
        case OrderClosed():
            return "closed"


# The canonical event types a handler maps to these facts. The verdicts have none: a handler produces them with
# `validate_order`. None of them is a type this machine emits, so routing its output never loops back into it.
# One payment.applied is either a payment applied to invoices or a prepayment (`Payment.is_prepayment`).
INPUT_TYPES: Mapping[str, str] = {
    "received": catalog.OrderReceived.event_type,
    "changed": catalog.OrderChanged.event_type,
    "reserved": catalog.InventoryReserved.event_type,
    "released": catalog.ShipmentReleased.event_type,
    "shipped": catalog.ShipmentConfirmed.event_type,
    "invoiced": catalog.InvoicePosted.event_type,
    "paid": catalog.PaymentApplied.event_type,
    "prepaid": catalog.PaymentApplied.event_type,
    "cancelled": catalog.OrderCancellationRequested.event_type,
    "closed": catalog.OrderCloseRequested.event_type,
}

# What this machine publishes; `_emitted` builds each event's data with the catalogue's payload model, so data that
# does not fit the published schema fails here, not at a consumer.
ORDER_ACCEPTED = catalog.OrderAccepted.event_type
ORDER_REJECTED = catalog.OrderRejected.event_type
ORDER_BACKORDERED = catalog.OrderBackordered.event_type
ORDER_CANCELLED = catalog.OrderCancelledV2.event_type
ORDER_CLOSED = catalog.OrderClosed.event_type
EMITTED_TYPES = frozenset({ORDER_ACCEPTED, ORDER_REJECTED, ORDER_BACKORDERED, ORDER_CANCELLED, ORDER_CLOSED})


# ---------------------------------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------------------------------


class LineState(_Value):
    """One order line's quantities. `*_reported` are running totals of what was reported; the plain fields are
    what still counts once cancellations are taken off (the excess is being compensated)."""

    line_id: str
    sku: str
    unit_price: Decimal
    ordered: Decimal
    cancelled: Decimal = ZERO
    reserved: Decimal = ZERO
    backordered: Decimal = ZERO
    released: Decimal = ZERO
    shipped: Decimal = ZERO
    invoiced: Decimal = ZERO
    reserved_reported: Decimal = ZERO
    released_reported: Decimal = ZERO

    @property
    def open(self) -> Decimal:
        """What the customer still wants: ordered less cancelled (shipped units included)."""
        return self.ordered - self.cancelled


class ShipmentLine(_Value):
    line_id: str
    shipped: Decimal
    invoiced: Decimal = ZERO


class ShipmentRecord(_Value):
    shipment_id: str
    lines: tuple[ShipmentLine, ...]


class InvoiceRecord(_Value):
    """An invoice posted on the order, and how much of it prepayments settled."""

    invoice_id: str
    amount: Decimal
    from_prepayments: Decimal = ZERO

    @property
    def open_to_prepayments(self) -> Decimal:
        return self.amount - self.from_prepayments


class Prepayment(_Value):
    """Money held on the order until its invoices post: `applied` went to invoices, `released` (once the order
    ended) became the customer's credit; applied + released never exceed what was received."""

    payment_id: str
    amount: Decimal
    applied: Decimal = ZERO
    released: Decimal = ZERO

    @property
    def held(self) -> Decimal:
        return self.amount - self.applied - self.released


class PrepaymentApplication(_Value):
    """Part of a prepayment applied to one invoice: booked once, never moved."""

    payment_id: str
    invoice_id: str
    amount: Decimal


class OrderState(_Value):
    order_id: Key
    status: OrderStatus = S.NOT_RECEIVED
    revision: int = 0
    customer_id: str | None = None
    currency: str | None = None
    lines: tuple[LineState, ...] = ()
    shipments: tuple[ShipmentRecord, ...] = ()  # sorted by id, so that arrival order leaves no trace
    reservation_reported: bool = False
    invoiced_amount: Decimal = ZERO
    paid: Decimal = ZERO  # every payment for the order, prepayments included
    credit: Decimal = ZERO  # paid beyond what was invoiced, once the order is closed or cancelled
    invoices: tuple[InvoiceRecord, ...] = ()  # sorted by id, so that arrival order leaves no trace
    prepayments: tuple[Prepayment, ...] = ()  # in the order received: the oldest is applied first
    prepayment_applications: tuple[PrepaymentApplication, ...] = ()  # in the order made
    rejection: tuple[RejectionReason, ...] = ()
    seen: frozenset[str] = frozenset()
    held: tuple[HeldFact, ...] = ()

    @field_serializer("seen")
    def _seen_sorted(self, seen: frozenset[str]) -> list[str]:
        return sorted(seen)  # the stored form of a state is the same whatever the arrival order

    @classmethod
    def new(cls, order_id: str) -> OrderState:
        """The state of an order nothing is known about yet."""
        return cls(order_id=order_id)

    def line(self, line_id: str) -> LineState | None:
        return next((line for line in self.lines if line.line_id == line_id), None)

    @property
    def balance_due(self) -> Decimal:
        return max(ZERO, self.invoiced_amount - self.paid)

    @property
    def prepaid(self) -> Decimal:
        """Prepayments received for the order, applied or not."""
        return sum((prepayment.amount for prepayment in self.prepayments), ZERO)

    @property
    def prepayment_held(self) -> Decimal:
        """Prepayments neither applied to an invoice yet nor released as credit."""
        return sum((prepayment.held for prepayment in self.prepayments), ZERO)

    @property
    def paid_against_invoices(self) -> Decimal:
        """What has settled the order's invoices: payments that named them, and prepayments applied to them."""
        return self.paid - sum((prepayment.held + prepayment.released for prepayment in self.prepayments), ZERO)


def order_total(state: OrderState) -> Decimal:
    """The value of what is still ordered (ordered less cancelled), at the order's prices, before tax; each line is
    rounded half-up to the currency's minor units first, as SalesOrder.total does."""
    if state.currency is None:
        raise ValueError(f"order {state.order_id} has no currency yet: it has not been received")
    return sum((round_money(line.open * line.unit_price, state.currency) for line in state.lines), ZERO)


# ---------------------------------------------------------------------------------------------------------------
# Outputs: commands, emitted events, SLA timers, the Step
# ---------------------------------------------------------------------------------------------------------------


class CommandLine(_Value):
    line_id: str
    sku: str
    quantity: Decimal


class InvoiceLine(_Value):
    line_id: str
    sku: str
    quantity: Decimal
    unit_price: Decimal


class ValidateOrder(_Value):
    """Check customer, credit and prices of this revision, then advance with `validate_order`'s verdict."""

    kind: Literal["validate_order"] = "validate_order"
    order_id: str
    revision: int


class ReserveStock(_Value):
    """Reserve these quantities now or as stock arrives; report each reservation as StockReserved."""

    kind: Literal["reserve_stock"] = "reserve_stock"
    order_id: str
    lines: tuple[CommandLine, ...]


class ReleaseToWarehouse(_Value):
    kind: Literal["release_to_warehouse"] = "release_to_warehouse"
    order_id: str
    lines: tuple[CommandLine, ...]


class CancelRelease(_Value):
    """Take back quantities released to the warehouse that are no longer wanted."""

    kind: Literal["cancel_release"] = "cancel_release"
    order_id: str
    lines: tuple[CommandLine, ...]


class ReleaseReservation(_Value):
    """Give reserved quantities that are no longer wanted back to available stock."""

    kind: Literal["release_reservation"] = "release_reservation"
    order_id: str
    lines: tuple[CommandLine, ...]


class PostInvoice(_Value):
    """Invoice exactly what one shipment shipped."""

    kind: Literal["post_invoice"] = "post_invoice"
    order_id: str
    shipment_id: str
    customer_id: str
    currency: str
    lines: tuple[InvoiceLine, ...]


class ApplyPrepayment(_Value):
    """Settle part of an invoice from a prepayment held on the order (the ledger: deposit against receivable)."""

    kind: Literal["apply_prepayment"] = "apply_prepayment"
    order_id: str
    number: int  # the application's place among the order's (1, 2, ...): one prepayment may settle one invoice twice
    payment_id: str
    invoice_id: str
    currency: str
    amount: Decimal


class ReleasePrepayment(_Value):
    """The order ended with part of a prepayment unapplied: it becomes the customer's credit (deposit to credit)."""

    kind: Literal["release_prepayment"] = "release_prepayment"
    order_id: str
    payment_id: str
    currency: str
    amount: Decimal


class RecordCustomerCredit(_Value):
    kind: Literal["record_customer_credit"] = "record_customer_credit"
    order_id: str
    customer_id: str
    currency: str
    amount: Decimal


class OpenException(_Value):
    kind: Literal["open_exception"] = "open_exception"
    order_id: str
    owner: ExceptionOwner
    reason_code: str
    text: str


Command = (
    ValidateOrder
    | ReserveStock
    | ReleaseToWarehouse
    | CancelRelease
    | ReleaseReservation
    | PostInvoice
    | ApplyPrepayment
    | ReleasePrepayment
    | RecordCustomerCredit
    | OpenException
)


class OrderEvent(_Value):
    """A fact this machine established, to be published as a canonical event about the order."""

    type: str
    subject: str
    data: dict[str, Any]


class SlaStage(enum.StrEnum):
    RECEIVED_NOT_VALIDATED = "received-not-validated"
    ACCEPTED_NOT_RESERVED = "accepted-not-reserved"
    ACCEPTED_NOT_RELEASED = "accepted-not-released"
    RELEASED_NOT_SHIPPED = "released-not-shipped"
    SHIPPED_NOT_INVOICED = "shipped-not-invoiced"
    INVOICED_NOT_PAID = "invoiced-not-paid"


DEFAULT_SLA: Mapping[SlaStage, timedelta] = {
    SlaStage.RECEIVED_NOT_VALIDATED: timedelta(minutes=15),
    SlaStage.ACCEPTED_NOT_RESERVED: timedelta(hours=4),
    SlaStage.ACCEPTED_NOT_RELEASED: timedelta(hours=8),
    SlaStage.RELEASED_NOT_SHIPPED: timedelta(hours=24),
    SlaStage.SHIPPED_NOT_INVOICED: timedelta(hours=24),
    SlaStage.INVOICED_NOT_PAID: timedelta(days=30),
}


class SlaTimer(_Value):
    """Arm or disarm the durable timer of one stage; a timer that fires opens an exception."""

    action: Literal["arm", "disarm"]
    order_id: str
    stage: SlaStage
    due_in: timedelta | None = None
    due_at: datetime | None = None

    @property
    def key(self) -> str:
        """The timer's unique key: arming twice schedules once, and disarming finds it."""
        return timer_key(self.order_id, self.stage)


def timer_key(order_id: str, stage: SlaStage) -> str:
    return f"sla:order:{order_id}:{stage.value}"


class Refusal(_Value):
    """A held fact whose prerequisite happened but which then broke a rule; it is raised to a person."""

    fact: HeldFact
    reason: str


class Step(_Value):
    """What one fact did: the new state and what a handler must do about it, all in one unit of work."""

    state: OrderState
    commands: tuple[Command, ...] = ()
    emitted: tuple[OrderEvent, ...] = ()
    timers: tuple[SlaTimer, ...] = ()
    held: tuple[HeldFact, ...] = ()  # facts put aside for a prerequisite; `release_held` applies them later
    refused: tuple[Refusal, ...] = ()  # held facts that turned out illegal once applied (release_held only)
    duplicate: bool = False


# ---------------------------------------------------------------------------------------------------------------
# The transition table: for each kind of fact, what each status does with it. A status that is not listed for a
# kind makes that fact illegal there. Rules that depend on quantities are checked by the appliers below.
# ---------------------------------------------------------------------------------------------------------------


class Disposition(enum.Enum):
    APPLY = "apply"
    HOLD = "hold"  # its prerequisite has not happened yet
    IGNORE = "ignore"  # superseded: recorded as seen, changes nothing


APPLY, HOLD, IGNORE = Disposition.APPLY, Disposition.HOLD, Disposition.IGNORE


def _each(statuses: Iterable[OrderStatus], disposition: Disposition) -> dict[OrderStatus, Disposition]:
    return dict.fromkeys(statuses, disposition)


_HOLD_UNTIL_ACCEPTED = _each(PRE_ACCEPTANCE, HOLD)

TRANSITIONS: Mapping[str, Mapping[OrderStatus, Disposition]] = {
    "received": {S.NOT_RECEIVED: APPLY},
    "changed": {S.NOT_RECEIVED: HOLD, S.RECEIVED: APPLY, S.REJECTED: APPLY, S.CANCELLED: APPLY},
    # An override waits in RECEIVED for the rejection it overrides; see _apply_accepted.
    "accepted": {S.NOT_RECEIVED: HOLD, S.RECEIVED: APPLY, S.REJECTED: APPLY, S.CANCELLED: IGNORE},
    "rejected": {S.NOT_RECEIVED: HOLD, S.RECEIVED: APPLY, S.CANCELLED: IGNORE},
    # A reservation or release that races a cancellation still counts, so that it is compensated.
    "reserved": {**_HOLD_UNTIL_ACCEPTED, **_each(FULFILMENT | TERMINAL, APPLY)},
    "released": {**_HOLD_UNTIL_ACCEPTED, **_each(FULFILMENT | TERMINAL, APPLY)},
    "shipped": {**_HOLD_UNTIL_ACCEPTED, **_each(FULFILMENT, APPLY)},
    "invoiced": {**_HOLD_UNTIL_ACCEPTED, **_each(FULFILMENT, APPLY)},
    # A payment after closing or cancelling becomes the customer's credit.
    "paid": {**_HOLD_UNTIL_ACCEPTED, **_each(FULFILMENT | TERMINAL, APPLY)},
    # So does a prepayment, at once; before that it waits for the invoices it settles.
    "prepaid": {**_HOLD_UNTIL_ACCEPTED, **_each(FULFILMENT | TERMINAL, APPLY)},
    # Line cancellations wait in RECEIVED and REJECTED for acceptance; see _apply_cancelled.
    "cancelled": {
        S.NOT_RECEIVED: HOLD,
        S.RECEIVED: APPLY,
        S.REJECTED: APPLY,
        **_each(FULFILMENT, APPLY),
        S.CANCELLED: IGNORE,
    },
    "closed": {S.NOT_RECEIVED: HOLD, S.RECEIVED: HOLD, S.REJECTED: APPLY, S.CLOSED: IGNORE},
}


class _NotYet(Exception):
    """Raised by an applier when a quantity prerequisite (a release before its shipment...) is missing."""


def _illegal(state: OrderState, fact: OrderFact, why: str) -> errors.IllegalTransition:
    return errors.IllegalTransition(
        f"order {state.order_id} is {state.status.value}: cannot take {fact_key(fact)}: {why}",
        subject=state.order_id,
        state=state.status.value,
        fact=fact_key(fact),
    )


def _disposition(state: OrderState, fact: OrderFact) -> Disposition:
    if state.status is not S.NOT_RECEIVED:
        # Revisions settle which change and which verdict count: older ones are superseded, a verdict about a
        # revision not received yet waits for it.
        if isinstance(fact, OrderChanged) and fact.revision <= state.revision:
            return IGNORE
        if isinstance(fact, OrderAccepted | OrderRejected):
            if fact.revision < state.revision:
                return IGNORE
            if fact.revision > state.revision:
                return HOLD
    disposition = TRANSITIONS[fact.kind].get(state.status)
    if disposition is None:
        raise _illegal(state, fact, _WHY_NOT.get(state.status, "not allowed in this state"))
    return disposition


_WHY_NOT: Mapping[OrderStatus, str] = {
    S.CLOSED: "the order is closed",
    S.CANCELLED: "the order is cancelled; goods that went out must come back as a return",
    S.REJECTED: "the order was rejected; change it, override the rejection, cancel or close it",
}


# ---------------------------------------------------------------------------------------------------------------
# Appliers: record a fact into the totals, or refuse it. Consequences are derived afterwards in `_conclude`.
# ---------------------------------------------------------------------------------------------------------------


def _fresh_lines(lines: Iterable[OrderLine], *, cancelled: bool) -> tuple[LineState, ...]:
    return tuple(
        LineState(
            line_id=line.line_id,
            sku=line.sku,
            unit_price=line.unit_price,
            ordered=line.quantity,
            cancelled=line.quantity if cancelled else ZERO,
        )
        for line in lines
    )


def _known_line(state: OrderState, fact: OrderFact, line_id: str) -> LineState:
    line = state.line(line_id)
    if line is None:
        if state.status is S.CANCELLED:
            raise _NotYet  # a cancelled order still takes changes: the line may come with a later revision
        raise _illegal(state, fact, f"the order has no line {line_id!r}")
    return line


def _with_lines(state: OrderState, changed: Mapping[str, LineState], **update: Any) -> OrderState:
    lines = tuple(changed.get(line.line_id, line) for line in state.lines)
    return state.model_copy(update={"lines": lines, **update})


def _add(line: LineState, **amounts: Decimal) -> LineState:
    return line.model_copy(update={name: getattr(line, name) + value for name, value in amounts.items()})


def _apply_received(state: OrderState, fact: OrderReceived) -> OrderState:
    return state.model_copy(
        update={
            "status": S.RECEIVED,
            "revision": 1,
            "customer_id": fact.customer_id,
            "currency": fact.currency,
            "lines": _fresh_lines(fact.lines, cancelled=False),
        }
    )


def _apply_changed(state: OrderState, fact: OrderChanged) -> OrderState:
    cancelled = state.status is S.CANCELLED
    lines = _fresh_lines(fact.lines, cancelled=cancelled)
    if cancelled:
        # A change that reaches an order already cancelled is kept for the record and its lines stay cancelled.
        # Reservations that raced the cancellation stay counted (they were compensated when they arrived), so
        # the outcome is the same as if the change had come first.
        lines = tuple(_carry_reported(line, state.line(line.line_id)) for line in lines)
    return state.model_copy(
        update={
            "status": S.CANCELLED if cancelled else S.RECEIVED,
            "revision": fact.revision,
            "lines": lines,
            "rejection": (),
        }
    )


def _carry_reported(line: LineState, previous: LineState | None) -> LineState:
    if previous is None:
        return line
    return line.model_copy(
        update={"reserved_reported": previous.reserved_reported, "released_reported": previous.released_reported}
    )


def _apply_accepted(state: OrderState, fact: OrderAccepted) -> OrderState:
    if fact.override and state.status is S.RECEIVED:
        raise _NotYet
    if not fact.override and state.status is S.REJECTED:
        raise _illegal(state, fact, "this revision was rejected; only an override can accept it")
    return state.model_copy(update={"status": S.ACCEPTED, "rejection": ()})


def _apply_rejected(state: OrderState, fact: OrderRejected) -> OrderState:
    return state.model_copy(update={"status": S.REJECTED, "rejection": fact.reasons})


def _apply_reserved(state: OrderState, fact: StockReserved) -> OrderState:
    changed: dict[str, LineState] = {}
    for allocation in fact.allocations:
        line = changed.get(allocation.line_id) or _known_line(state, fact, allocation.line_id)
        changed[line.line_id] = _add(line, reserved_reported=allocation.quantity)
    return _with_lines(state, changed, reservation_reported=True)


def _apply_released(state: OrderState, fact: WarehouseReleased) -> OrderState:
    changed: dict[str, LineState] = {}
    for part in fact.lines:
        line = _known_line(state, fact, part.line_id)
        if line.released_reported + part.quantity > line.reserved_reported:
            raise _NotYet  # the reservation it releases has not been reported yet
        changed[line.line_id] = _add(line, released_reported=part.quantity)
    return _with_lines(state, changed)


def _apply_shipped(state: OrderState, fact: ShipmentConfirmed) -> OrderState:
    changed: dict[str, LineState] = {}
    waiting = False
    for part in fact.lines:
        line = _known_line(state, fact, part.line_id)
        if line.shipped + part.quantity > line.open:
            raise _illegal(
                state,
                fact,
                f"line {line.line_id} would ship {line.shipped + part.quantity} of {line.open} still ordered",
            )
        waiting = waiting or line.shipped + part.quantity > line.released
        changed[line.line_id] = _add(line, shipped=part.quantity)
    if waiting:
        raise _NotYet  # the warehouse release it ships has not been reported yet
    record = ShipmentRecord(
        shipment_id=fact.shipment_id,
        lines=tuple(ShipmentLine(line_id=part.line_id, shipped=part.quantity) for part in fact.lines),
    )
    shipments = tuple(sorted((*state.shipments, record), key=lambda shipment: shipment.shipment_id))
    return _with_lines(state, changed, shipments=shipments)


def _apply_invoiced(state: OrderState, fact: InvoicePosted) -> OrderState:
    if fact.currency != state.currency:
        raise _illegal(state, fact, f"invoiced in {fact.currency}, the order is in {state.currency}")
    shipment = next((s for s in state.shipments if s.shipment_id == fact.shipment_id), None)
    if shipment is None:
        raise _NotYet  # invoices follow their shipment
    on_shipment = {line.line_id: line for line in shipment.lines}
    changed: dict[str, LineState] = {}
    for part in fact.lines:
        shipped = on_shipment.get(part.line_id)
        if shipped is None or shipped.invoiced + part.quantity > shipped.shipped:
            already = shipped.invoiced if shipped else ZERO
            of = shipped.shipped if shipped else ZERO
            raise _illegal(
                state,
                fact,
                f"line {part.line_id} would invoice {already + part.quantity} of {of} on shipment {fact.shipment_id}",
            )
        on_shipment[part.line_id] = shipped.model_copy(update={"invoiced": shipped.invoiced + part.quantity})
        changed[part.line_id] = _add(_known_line(state, fact, part.line_id), invoiced=part.quantity)
    record = shipment.model_copy(update={"lines": tuple(on_shipment.values())})
    shipments = tuple(record if s.shipment_id == fact.shipment_id else s for s in state.shipments)
    invoice = InvoiceRecord(invoice_id=fact.invoice_id, amount=fact.amount)
    invoices = tuple(sorted((*state.invoices, invoice), key=lambda posted: posted.invoice_id))
    after = _with_lines(
        state, changed, shipments=shipments, invoices=invoices, invoiced_amount=state.invoiced_amount + fact.amount
    )
    return _apply_prepayments(after, (invoice.invoice_id,))


def _apply_paid(state: OrderState, fact: PaymentApplied) -> OrderState:
    if fact.currency != state.currency:
        raise _illegal(state, fact, f"paid in {fact.currency}, the order is in {state.currency}")
    return state.model_copy(update={"paid": state.paid + fact.amount})


def _apply_prepaid(state: OrderState, fact: PrepaymentReceived) -> OrderState:
    if fact.currency != state.currency:
        raise _illegal(state, fact, f"prepaid in {fact.currency}, the order is in {state.currency}")
    prepayment = Prepayment(payment_id=fact.payment_id, amount=fact.amount)
    after = state.model_copy(update={"paid": state.paid + fact.amount, "prepayments": (*state.prepayments, prepayment)})
    # Invoices that posted before the money came are settled from it now, oldest (lowest number) first.
    return _apply_prepayments(after, tuple(invoice.invoice_id for invoice in after.invoices))


def _apply_prepayments(state: OrderState, invoice_ids: tuple[str, ...]) -> OrderState:
    """Settle these invoices, in turn, from the prepayments still held, oldest prepayment first. Never more than an
    invoice's amount, nor more than the order still owes once the payments that named its invoices are counted: a
    customer who paid an invoice directly is not charged it again from the deposit."""
    room = state.invoiced_amount - state.paid_against_invoices
    prepayments = list(state.prepayments)
    invoices = {invoice.invoice_id: invoice for invoice in state.invoices}
    applications = list(state.prepayment_applications)
    for invoice_id in invoice_ids:
        for index, prepayment in enumerate(prepayments):
            invoice = invoices[invoice_id]
            take = min(invoice.open_to_prepayments, prepayment.held, room)
            if take <= 0:
                continue
            room -= take
            prepayments[index] = prepayment.model_copy(update={"applied": prepayment.applied + take})
            invoices[invoice_id] = invoice.model_copy(update={"from_prepayments": invoice.from_prepayments + take})
            applications.append(
                PrepaymentApplication(payment_id=prepayment.payment_id, invoice_id=invoice_id, amount=take)
            )
    return state.model_copy(
        update={
            "prepayments": tuple(prepayments),
            "invoices": tuple(invoices[invoice.invoice_id] for invoice in state.invoices),
            "prepayment_applications": tuple(applications),
        }
    )


def _apply_cancelled(state: OrderState, fact: OrderCancelled) -> OrderState:
    if fact.lines is None:
        shipped = [line.line_id for line in state.lines if line.shipped > 0]
        if shipped:
            raise _illegal(state, fact, f"lines {', '.join(shipped)} have shipped; a return is required")
        changed = {line.line_id: line.model_copy(update={"cancelled": line.ordered}) for line in state.lines}
        status = S.CANCELLED if state.status in PRE_ACCEPTANCE else state.status
        # A rejection's reasons stop mattering once the customer withdraws; a verdict arriving after the
        # cancellation is ignored, so clearing them here keeps the outcome independent of arrival order.
        return _with_lines(state, changed, status=status, rejection=())
    if state.status in PRE_ACCEPTANCE:
        raise _NotYet  # line quantities are settled only once a revision is accepted
    changed = {}
    for part in fact.lines:
        line = _known_line(state, fact, part.line_id)
        unshipped = line.open - line.shipped
        if part.quantity > unshipped:
            raise _illegal(
                state,
                fact,
                f"line {line.line_id} has {unshipped} unshipped to cancel, not {part.quantity}; "
                "shipped goods need a return",
            )
        changed[line.line_id] = _add(line, cancelled=part.quantity)
    return _with_lines(state, changed)


def _apply_closed(state: OrderState, fact: OrderClosed) -> OrderState:
    return state.model_copy(update={"status": S.CLOSED})


def _apply(state: OrderState, fact: OrderFact) -> OrderState:
    match fact:
        case OrderReceived():
            return _apply_received(state, fact)
        case OrderChanged():
            return _apply_changed(state, fact)
        case OrderAccepted():
            return _apply_accepted(state, fact)
        case OrderRejected():
            return _apply_rejected(state, fact)
        case StockReserved():
            return _apply_reserved(state, fact)
        case WarehouseReleased():
            return _apply_released(state, fact)
        case ShipmentConfirmed():
            return _apply_shipped(state, fact)
        case InvoicePosted():
            return _apply_invoiced(state, fact)
        case PaymentApplied():
            return _apply_paid(state, fact)
        case PrepaymentReceived():
            return _apply_prepaid(state, fact)
        case OrderCancelled():
            return _apply_cancelled(state, fact)
        case OrderClosed():
            return _apply_closed(state, fact)


# ---------------------------------------------------------------------------------------------------------------
# Derivation: effective quantities, status, credit; then commands, events and timers by comparing before/after
# ---------------------------------------------------------------------------------------------------------------


def _settle_line(line: LineState, reservation_reported: bool) -> LineState:
    reserved = min(line.reserved_reported, line.open)
    released = min(line.released_reported, reserved)
    backordered = line.open - reserved if reservation_reported else ZERO
    return line.model_copy(update={"reserved": reserved, "released": released, "backordered": backordered})


def _fulfilment_status(state: OrderState) -> OrderStatus:
    lines = state.lines
    if all(line.open == 0 for line in lines):
        return S.CANCELLED  # nothing shipped may be cancelled, so nothing shipped here
    if all(line.shipped == line.open for line in lines):
        if all(line.invoiced == line.shipped for line in lines):
            return S.CLOSED if state.paid >= state.invoiced_amount else S.INVOICED
        return S.SHIPPED
    if any(line.shipped > 0 for line in lines):
        return S.PARTIALLY_SHIPPED
    if any(line.released > 0 for line in lines):
        return S.RELEASED
    if any(line.reserved > 0 for line in lines):
        return S.RESERVED
    return S.ACCEPTED


def _settle(state: OrderState) -> OrderState:
    lines = tuple(_settle_line(line, state.reservation_reported) for line in state.lines)
    state = state.model_copy(update={"lines": lines})
    status = _fulfilment_status(state) if state.status in FULFILMENT else state.status
    credit = max(ZERO, state.paid - state.invoiced_amount) if status in TERMINAL else ZERO
    prepayments = state.prepayments
    if status in TERMINAL:
        # No invoice can follow: what the prepayments still hold is the customer's (part of `credit`).
        prepayments = tuple(p.model_copy(update={"released": p.released + p.held}) for p in prepayments)
    return state.model_copy(update={"status": status, "credit": credit, "prepayments": prepayments})


def active_stages(state: OrderState) -> frozenset[SlaStage]:
    """The SLA stages the order is in now; each has a running timer."""
    if state.status is S.RECEIVED:
        return frozenset({SlaStage.RECEIVED_NOT_VALIDATED})
    if state.status not in FULFILMENT:
        return frozenset()
    lines = state.lines
    stages = {
        SlaStage.ACCEPTED_NOT_RESERVED: any(line.open > line.reserved for line in lines),
        SlaStage.ACCEPTED_NOT_RELEASED: any(line.open > line.released for line in lines),
        SlaStage.RELEASED_NOT_SHIPPED: any(line.released > line.shipped for line in lines),
        SlaStage.SHIPPED_NOT_INVOICED: any(line.shipped > line.invoiced for line in lines),
        SlaStage.INVOICED_NOT_PAID: state.invoiced_amount > state.paid,
    }
    return frozenset(stage for stage, active in stages.items() if active)


def sla_timers(
    before: OrderState, after: OrderState, now: datetime, sla: Mapping[SlaStage, timedelta] = DEFAULT_SLA
) -> tuple[SlaTimer, ...]:
    """Timers to arm for stages entered and to disarm for stages left; a stage still active keeps its timer."""
    old, new = active_stages(before), active_stages(after)
    disarm = [SlaTimer(action="disarm", order_id=after.order_id, stage=stage) for stage in sorted(old - new)]
    arm = [
        SlaTimer(action="arm", order_id=after.order_id, stage=stage, due_in=sla[stage], due_at=now + sla[stage])
        for stage in sorted(new - old)
    ]
    return (*disarm, *arm)


def _line_deltas(
    before: OrderState, after: OrderState, quantity: str, *, baseline: str | None = None
) -> tuple[CommandLine, ...]:
    """Per line, how much `quantity` (less `baseline`) grew: the amount a command must act on."""

    def measure(line: LineState | None) -> Decimal:
        if line is None:
            return ZERO
        value: Decimal = getattr(line, quantity)
        return value - getattr(line, baseline) if baseline else value

    deltas = []
    for line in after.lines:
        grew = measure(line) - measure(before.line(line.line_id))
        if grew > 0:
            deltas.append(CommandLine(line_id=line.line_id, sku=line.sku, quantity=grew))
    return tuple(deltas)


def _commands(before: OrderState, after: OrderState) -> tuple[Command, ...]:
    commands: list[Command] = []
    order_id = after.order_id
    # Compensation first: take back what the warehouse holds, then free the stock.
    if cancel := _line_deltas(before, after, "released_reported", baseline="released"):
        commands.append(CancelRelease(order_id=order_id, lines=cancel))
    if free := _line_deltas(before, after, "reserved_reported", baseline="reserved"):
        commands.append(ReleaseReservation(order_id=order_id, lines=free))
    if after.status is S.RECEIVED and (before.status is not S.RECEIVED or before.revision != after.revision):
        commands.append(ValidateOrder(order_id=order_id, revision=after.revision))
    if after.status is S.REJECTED and before.status is not S.REJECTED:
        commands.append(
            OpenException(
                order_id=order_id,
                owner=ExceptionOwner.CUSTOMER_SERVICE,
                reason_code="order_rejected:" + ",".join(reason.code.value for reason in after.rejection),
                text="; ".join(reason.text for reason in after.rejection),
            )
        )
    if after.status in FULFILMENT:
        if before.status not in FULFILMENT:
            wanted = tuple(
                CommandLine(line_id=line.line_id, sku=line.sku, quantity=line.open)
                for line in after.lines
                if line.open > 0
            )
            commands.append(ReserveStock(order_id=order_id, lines=wanted))
        if release := _line_deltas(before, after, "reserved"):
            commands.append(ReleaseToWarehouse(order_id=order_id, lines=release))
    known = {shipment.shipment_id for shipment in before.shipments}
    for shipment in after.shipments:
        if shipment.shipment_id not in known:
            commands.append(_post_invoice(after, shipment))
    currency = after.currency or ""
    made = len(before.prepayment_applications)
    for number, application in enumerate(after.prepayment_applications[made:], start=made + 1):
        commands.append(
            ApplyPrepayment(
                order_id=order_id,
                number=number,
                payment_id=application.payment_id,
                invoice_id=application.invoice_id,
                currency=currency,
                amount=application.amount,
            )
        )
    released_before = {prepayment.payment_id: prepayment.released for prepayment in before.prepayments}
    for prepayment in after.prepayments:
        if prepayment.released > released_before.get(prepayment.payment_id, ZERO):
            commands.append(
                ReleasePrepayment(
                    order_id=order_id,
                    payment_id=prepayment.payment_id,
                    currency=currency,
                    amount=prepayment.released - released_before.get(prepayment.payment_id, ZERO),
                )
            )
    if after.credit > before.credit:
        commands.append(
            RecordCustomerCredit(
                order_id=order_id,
                customer_id=after.customer_id or "",
                currency=after.currency or "",
                amount=after.credit - before.credit,
            )
        )
    return tuple(commands)


def _post_invoice(state: OrderState, shipment: ShipmentRecord) -> PostInvoice:
    lines = []
    for part in shipment.lines:
        line = state.line(part.line_id)
        assert line is not None  # a shipment is recorded only against known lines
        lines.append(InvoiceLine(line_id=line.line_id, sku=line.sku, quantity=part.shipped, unit_price=line.unit_price))
    return PostInvoice(
        order_id=state.order_id,
        shipment_id=shipment.shipment_id,
        customer_id=state.customer_id or "",
        currency=state.currency or "",
        lines=tuple(lines),
    )


def _emitted(before: OrderState, after: OrderState, fact: OrderFact) -> tuple[OrderEvent, ...]:
    order = after.order_id
    payloads: list[catalog.Payload] = []
    if after.status in FULFILMENT and before.status in PRE_ACCEPTANCE:
        payloads.append(
            catalog.OrderAccepted(
                order=order,
                customer=_received(after.customer_id),
                total=_money(order_total(after), after),
            )
        )
    if after.status is S.REJECTED and before.status is not S.REJECTED:
        reasons = tuple(catalog.Reason(code=reason.code.value, message=reason.text) for reason in after.rejection)
        payloads.append(catalog.OrderRejected(order=order, reasons=reasons))
    if after.status in FULFILMENT and (backordered := _line_deltas(before, after, "backordered")):
        waiting = tuple(catalog.BackorderedLine(line_id=b.line_id, sku=b.sku, quantity=b.quantity) for b in backordered)
        payloads.append(catalog.OrderBackordered(order=order, lines=waiting))
    if isinstance(fact, OrderCancelled):
        cancelled = tuple(
            catalog.CancelledLine(line_id=ln.line_id, sku=ln.sku, quantity=ln.quantity)
            for ln in _line_deltas(before, after, "cancelled")
        )
        whole = after.status is S.CANCELLED
        payloads.append(catalog.OrderCancelledV2(order=order, whole=whole, lines=cancelled, reason=fact.reason))
    if after.status is S.CLOSED and before.status is not S.CLOSED:
        payloads.append(
            catalog.OrderClosed(
                order=order,
                invoiced=_money(after.invoiced_amount, after),
                paid=_money(after.paid, after),
                credit=_money(after.credit, after),
            )
        )
    return tuple(
        OrderEvent(type=catalog.type_of(payload), subject=order, data=catalog.data_of(payload)) for payload in payloads
    )


def _received(value: str | None) -> str:
    assert value is not None  # set when the order is received, and nothing is published before that
    return value


def _money(amount: Decimal, state: OrderState) -> Money:
    return Money(amount=amount, currency=_received(state.currency))


# ---------------------------------------------------------------------------------------------------------------
# The public API
# ---------------------------------------------------------------------------------------------------------------


def advance(
    state: OrderState, fact: OrderFact, now: datetime, *, sla: Mapping[SlaStage, timedelta] = DEFAULT_SLA
) -> Step:
    """Apply one fact. Returns the next state with its commands, events and timers; a fact whose prerequisite has
    not happened is held in the state (see `release_held`); a repeat changes nothing. Raises IllegalTransition
    when the fact can never apply to this order."""
    if fact.order_id != state.order_id:
        raise _illegal(state, fact, f"the fact belongs to order {fact.order_id}")
    key = fact_key(fact)
    if key in state.seen or any(fact_key(waiting) == key for waiting in state.held):
        return Step(state=state, duplicate=True)
    disposition = _disposition(state, fact)
    if disposition is IGNORE:
        return Step(state=state.model_copy(update={"seen": state.seen | {key}}))
    applied = None
    if disposition is APPLY:
        try:
            applied = _apply(state, fact)
        except _NotYet:
            applied = None
    if applied is None:
        return Step(state=state.model_copy(update={"held": (*state.held, fact)}), held=(fact,))
    after = _settle(applied).model_copy(update={"seen": state.seen | {key}})
    if after.status is not state.status and (state.status, after.status) not in STATUS_EDGES:
        raise _illegal(state, fact, f"it would move the order to {after.status.value}")
    return Step(
        state=after,
        commands=_commands(state, after),
        emitted=_emitted(state, after, fact),
        timers=sla_timers(state, after, now, sla),
    )


def release_held(state: OrderState, now: datetime, *, sla: Mapping[SlaStage, timedelta] = DEFAULT_SLA) -> Step:
    """Re-apply held facts, oldest first, until none can move. A held fact that breaks a rule once its
    prerequisite is met leaves the hold as a Refusal with an exception opened for it: nothing is dropped."""
    current = state
    commands: list[Command] = []
    emitted: list[OrderEvent] = []
    refused: list[Refusal] = []
    moved = True
    while moved:
        moved = False
        for index, fact in enumerate(current.held):
            rest = current.model_copy(update={"held": current.held[:index] + current.held[index + 1 :]})
            try:
                step = advance(rest, fact, now, sla=sla)
            except errors.IllegalTransition as refusal:
                refused.append(Refusal(fact=fact, reason=str(refusal)))
                commands.append(_refusal_exception(rest, fact, str(refusal)))
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
        timers=sla_timers(state, current, now, sla),
        refused=tuple(refused),
    )


def apply_fact(
    state: OrderState, fact: OrderFact, now: datetime, *, sla: Mapping[SlaStage, timedelta] = DEFAULT_SLA
) -> Step:
    """`advance`, then `release_held` when the fact moved the order: what a handler calls for each fact."""
    step = advance(state, fact, now, sla=sla)
    if step.held or step.duplicate or not step.state.held:
        return step
    released = release_held(step.state, now, sla=sla)
    return Step(
        state=released.state,
        commands=step.commands + released.commands,
        emitted=step.emitted + released.emitted,
        timers=sla_timers(state, released.state, now, sla),
        refused=released.refused,
    )


_REFUSAL_OWNER: Mapping[str, ExceptionOwner] = {
    "invoiced": ExceptionOwner.FINANCE,
    "paid": ExceptionOwner.FINANCE,
    "prepaid": ExceptionOwner.FINANCE,
    "shipped": ExceptionOwner.WAREHOUSE,
    "released": ExceptionOwner.WAREHOUSE,
    "reserved": ExceptionOwner.WAREHOUSE,
}


def _refusal_exception(state: OrderState, fact: OrderFact, reason: str) -> OpenException:
    return OpenException(
        order_id=state.order_id,
        owner=_REFUSAL_OWNER.get(fact.kind, ExceptionOwner.CUSTOMER_SERVICE),
        reason_code=f"refused_{fact.kind}",
        text=reason,
    )


def open_reasons(state: OrderState) -> tuple[str, ...]:
    """Why an order is not finished, in words for the person who owns it; empty once closed or cancelled."""
    if state.status in TERMINAL:
        return ()
    reasons: list[str] = []
    if state.status is S.NOT_RECEIVED:
        reasons.append("the order itself has not arrived")
    elif state.status is S.RECEIVED:
        reasons.append(f"revision {state.revision} awaits validation")
    elif state.status is S.REJECTED:
        reasons.append("rejected: " + "; ".join(f"{r.code.value}: {r.text}" for r in state.rejection))
    else:
        lines = state.lines
        counts = {
            "not reserved": sum((line.open - line.reserved for line in lines), ZERO),
            "reserved but not released": sum((line.reserved - line.released for line in lines), ZERO),
            "released but not shipped": sum((line.released - line.shipped for line in lines), ZERO),
            "shipped but not invoiced": sum((line.shipped - line.invoiced for line in lines), ZERO),
        }
        reasons.extend(f"{quantity} units {what}" for what, quantity in counts.items() if quantity > 0)
        if state.balance_due > 0:
            reasons.append(f"{state.balance_due} {state.currency} not paid")
    if state.held:
        reasons.append(f"{len(state.held)} facts held for a prerequisite")
    return tuple(reasons)


# ---------------------------------------------------------------------------------------------------------------
# Validation: the verdict a handler feeds back into `advance` after ValidateOrder
# ---------------------------------------------------------------------------------------------------------------


class CustomerStanding(_Value):
    """What finance knows about the customer when the order is validated, in the order's currency."""

    customer_id: Key
    currency: CurrencyCode
    credit_limit: Amount | None = None  # None: no limit
    open_receivables: Amount = ZERO


class PriceList(_Value):
    currency: CurrencyCode
    prices: dict[str, Amount]


def validate_order(
    state: OrderState,
    *,
    customer: CustomerStanding | None,
    price_list: PriceList,
    price_tolerance_percent: Decimal = ZERO,
) -> OrderAccepted | OrderRejected:
    """Check the order's current revision: customer known, open receivables plus this order within the credit
    limit, every price within `price_tolerance_percent` of the list price. Every failed check is reported, not
    just the first, so that customer service sees the whole picture at once."""
    if state.status is not S.RECEIVED:
        raise errors.IllegalTransition(
            f"order {state.order_id} is {state.status.value}: only a received order is validated",
            subject=state.order_id,
            state=state.status.value,
            fact="validation",
        )
    reasons: list[RejectionReason] = []
    if customer is None or customer.customer_id != state.customer_id:
        reasons.append(
            RejectionReason(code=RejectionCode.CUSTOMER_UNKNOWN, text=f"customer {state.customer_id} is unknown")
        )
    elif customer.currency != state.currency:
        reasons.append(
            RejectionReason(
                code=RejectionCode.CURRENCY_MISMATCH,
                text=f"credit is kept in {customer.currency}, the order is in {state.currency}",
            )
        )
    elif customer.credit_limit is not None:
        exposure = customer.open_receivables + order_total(state)
        if exposure > customer.credit_limit:
            reasons.append(
                RejectionReason(
                    code=RejectionCode.CREDIT_LIMIT_EXCEEDED,
                    text=f"open receivables plus this order come to {exposure} {state.currency}, "
                    f"over the limit of {customer.credit_limit}",
                )
            )
    if price_list.currency != state.currency:
        reasons.append(
            RejectionReason(
                code=RejectionCode.CURRENCY_MISMATCH,
                text=f"the price list is in {price_list.currency}, the order is in {state.currency}",
            )
        )
    else:
        reasons.extend(_price_reasons(state, price_list, price_tolerance_percent))
    if reasons:
        return OrderRejected(order_id=state.order_id, revision=state.revision, reasons=tuple(reasons))
    return OrderAccepted(order_id=state.order_id, revision=state.revision)


def _price_reasons(state: OrderState, price_list: PriceList, tolerance_percent: Decimal) -> Iterable[RejectionReason]:
    for line in state.lines:
        listed = price_list.prices.get(line.sku)
        if listed is None:
            yield RejectionReason(
                code=RejectionCode.PRICE_NOT_LISTED, text=f"line {line.line_id}: {line.sku} is not listed"
            )
            continue
        allowed = listed * tolerance_percent / 100
        if abs(line.unit_price - listed) > allowed:
            yield RejectionReason(
                code=RejectionCode.PRICE_OUT_OF_TOLERANCE,
                text=f"line {line.line_id}: {line.unit_price} is more than {tolerance_percent}% "
                f"from the list price {listed}",
            )
