"""The canonical event catalogue: every versioned event type, the payload model its data must fit, and upcasters.

Owns: type names (`crossdock.<noun>.<verb>.vN`, facts in the past tense), payload models, reading an envelope's data
as its payload. Must not: hold metadata (that is the envelope's), read a clock, or touch storage.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from crossdock.domain.documents import (
    CreditMemo,
    CurrencyCode,
    Document,
    Invoice,
    Key,
    LineId,
    LineNumber,
    LineQuantity,
    Money,
    NonEmpty,
    NonNegativeAmount,
    Payment,
    PositiveAmount,
    Quantity,
    Reservation,
    SalesOrder,
    Shipment,
    ShipmentLine,
    line_id,
)
from crossdock.domain.errors import InvalidEvent, InvalidPayload, UnknownEventType
from crossdock.domain.events import EVENT_TYPE_PATTERN, Envelope
from crossdock.domain.procurement import (
    AdvanceShipNotice,
    GoodsReceipt,
    POAcknowledgement,
    PurchaseOrder,
    SupplierInvoice,
)

P = TypeVar("P", bound=BaseModel)
# An upcaster turns the data of one published version into the data of the next; it must be pure.
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Payload(Document):
    """The business fact an event carries. Its type name is a class attribute, never part of the data."""

    event_type: ClassVar[str]


class BusinessRef(Document):
    """Points at a business object another event or system knows, e.g. kind "order", key "SO-1001"."""

    kind: Key
    key: Key


class Reason(Document):
    code: Key
    message: str = ""
    line: LineNumber | None = Field(default=None, description="The order line the reason is about, if any.")


# ---------------------------------------------------------------------------------------------------------------
# Orders


class OrderReceived(Payload):
    """An order arrived from a channel, in canonical form, not yet validated."""

    event_type = "crossdock.order.received.v1"
    order: SalesOrder


class OrderAccepted(Payload):
    """The order passed validation (customer known, within credit, prices within tolerance)."""

    event_type = "crossdock.order.accepted.v1"
    order: Key
    customer: Key
    total: Money


class OrderRejected(Payload):
    """The order failed validation; every reason found is listed."""

    event_type = "crossdock.order.rejected.v1"
    order: Key
    reasons: NonEmpty[Reason]


class OrderChanged(Payload):
    """The customer changed the order; `order` is the whole new version, `revision` orders the changes."""

    event_type = "crossdock.order.changed.v1"
    order: SalesOrder
    revision: int = Field(ge=1)


class OrderCancelled(Payload):
    """The order, or some of its lines, were cancelled before shipping. No lines listed means the whole order."""

    # Superseded by v2, which says how much of each line was cancelled; v1 data is read as v2 through the upcaster.
    # (A comment, not the docstring: the docstring is the published schema's description.)

    event_type = "crossdock.order.cancelled.v1"
    order: Key
    lines: tuple[LineNumber, ...] = ()
    reason: str = Field(min_length=1)

    @field_validator("lines")
    @classmethod
    def _each_line_once(cls, lines: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(lines)) != len(lines):
            raise ValueError("a line is listed more than once")
        return lines

    @property
    def whole_order(self) -> bool:
        return not self.lines


def _each_line_id_once(line_ids: Iterable[str]) -> None:
    seen: set[str] = set()
    for line in line_ids:
        if line in seen:
            raise ValueError(f"line {line} is listed more than once")
        seen.add(line)


# The order workflow counts an order line by its id and in the item's base unit (documents.line_id, Item.to_base_units):
# the payloads it publishes or takes below say so, instead of carrying a unit per line.


class CancelledLine(Document):
    line_id: LineId
    sku: Key | None = Field(default=None, description="Absent only when read from v1, which did not say.")
    quantity: PositiveAmount | None = Field(
        default=None,
        description="Cancelled now, in the item's base unit. Null only when read from v1, which cancelled whole "
        "lines without saying how much was open: it means the line's whole open quantity at the time.",
    )


class OrderCancelledV2(Payload):
    """The order, or quantities of some of its lines, were cancelled before shipping.

    `lines` lists what this cancellation took off each line; `whole` says the order itself is now cancelled: nothing
    of it remains open and nothing of it shipped.
    """

    event_type = "crossdock.order.cancelled.v2"
    order: Key
    whole: bool
    lines: tuple[CancelledLine, ...] = ()
    reason: str = ""

    @model_validator(mode="after")
    def _says_what_was_cancelled(self) -> Self:
        _each_line_id_once(line.line_id for line in self.lines)
        if not self.whole and not self.lines:
            raise ValueError("lines: a cancellation of part of an order names at least one line")
        return self


class BackorderedLine(Document):
    line_id: LineId
    sku: Key
    quantity: PositiveAmount = Field(description="Newly backordered, in the item's base unit.")


class OrderBackordered(Payload):
    """More of the order went on backorder: per line, how much more no location could reserve now."""

    event_type = "crossdock.order.backordered.v1"
    order: Key
    lines: NonEmpty[BackorderedLine]

    @field_validator("lines")
    @classmethod
    def _each_line_once(cls, lines: tuple[BackorderedLine, ...]) -> tuple[BackorderedLine, ...]:
        _each_line_id_once(line.line_id for line in lines)
        return lines


class OrderClosed(Payload):
    """The order is finished: settled (shipped, invoiced and paid), or closed by a person after its rejection.

    `credit` is what the customer paid beyond what was invoiced and keeps as credit.
    """

    event_type = "crossdock.order.closed.v1"
    order: Key
    invoiced: Money
    paid: Money
    credit: Money

    @model_validator(mode="after")
    def _one_currency(self) -> Self:
        if not self.invoiced.currency == self.paid.currency == self.credit.currency:
            raise ValueError("invoiced, paid and credit must be in the order's one currency")
        return self


class LineCancellation(Document):
    line_id: LineId
    quantity: PositiveAmount = Field(description="To cancel, in the item's base unit.")


class OrderCancellationRequested(Payload):
    """Someone asked to cancel the order, or quantities of its lines; the order workflow decides whether it can."""

    event_type = "crossdock.order.cancellation_requested.v1"
    order: Key
    cancellation: Key = Field(description="The request's own id: the same request again changes nothing.")
    lines: NonEmpty[LineCancellation] | None = Field(default=None, description="Null: cancel the whole order.")
    reason: str = ""

    @field_validator("lines")
    @classmethod
    def _each_line_once(cls, lines: tuple[LineCancellation, ...] | None) -> tuple[LineCancellation, ...] | None:
        _each_line_id_once(line.line_id for line in lines or ())
        return lines


class OrderCloseRequested(Payload):
    """Someone asked to close a rejected order without fulfilling it."""

    event_type = "crossdock.order.close_requested.v1"
    order: Key
    reason: str = ""


# ---------------------------------------------------------------------------------------------------------------
# Inventory


class Backorder(Document):
    """The part of an order line no location could reserve now."""

    line: LineNumber
    sku: Key
    quantity: LineQuantity


class InventoryReserved(Payload):
    """Stock was set aside for an order, possibly split across locations, possibly with a backorder."""

    event_type = "crossdock.inventory.reserved.v1"
    order: Key
    reservations: tuple[Reservation, ...] = ()
    backorders: tuple[Backorder, ...] = ()

    @model_validator(mode="after")
    def _about_this_order(self) -> Self:
        if not self.reservations and not self.backorders:
            raise ValueError("reservations: a reservation needs at least one reservation or backorder")
        others = sorted({r.order for r in self.reservations} - {self.order})
        if others:
            raise ValueError(f"reservations: belong to order(s) {', '.join(others)}, not {self.order}")
        return self


class InventoryReleased(Payload):
    """Reserved stock was given back (cancellation, change, expiry): it is available again."""

    event_type = "crossdock.inventory.released.v1"
    reservations: NonEmpty[Reservation]
    reason: str = Field(min_length=1)


class AdjustmentReason(StrEnum):
    RECEIPT = "receipt"
    RETURN = "return"
    CYCLE_COUNT = "cycle_count"
    DAMAGE = "damage"
    CORRECTION = "correction"
    RECONCILIATION = "reconciliation"


class InventoryAdjusted(Payload):
    """On-hand at one location changed by `change` (signed, in the item's base unit) for a stated reason."""

    event_type = "crossdock.inventory.adjusted.v1"
    sku: Key
    location: Key
    change: Quantity
    reason: AdjustmentReason
    reference: str | None = Field(default=None, description="The document behind it: a receipt, a count, a file.")

    @field_validator("change")
    @classmethod
    def _not_zero(cls, change: Quantity) -> Quantity:
        if change.value == 0:
            raise ValueError("an adjustment of zero changes nothing")
        return change


class TransferStage(StrEnum):
    DISPATCHED = "dispatched"  # left the origin: in transit, on hand nowhere
    RECEIVED = "received"  # arrived at the destination


class InventoryMoved(Payload):
    """Stock moved between locations: dispatched (now in transit) or received at the destination."""

    event_type = "crossdock.inventory.moved.v1"
    transfer: Key
    sku: Key
    quantity: LineQuantity
    from_location: Key
    to_location: Key
    stage: TransferStage

    @model_validator(mode="after")
    def _between_two_places(self) -> Self:
        if self.from_location == self.to_location:
            raise ValueError(f"to_location: a transfer must go somewhere else than {self.from_location}")
        return self


class AvailabilityChanged(Payload):
    """What a channel may sell of a sku changed; bursts of movements coalesce into one of these."""

    event_type = "crossdock.inventory.availability_changed.v1"
    sku: Key
    channel: Key
    available: Quantity

    @field_validator("available")
    @classmethod
    def _never_negative(cls, available: Quantity) -> Quantity:
        if available.value < 0:
            raise ValueError(f"availability is never below 0, got {available}")
        return available


# ---------------------------------------------------------------------------------------------------------------
# Shipping and finance


class ShipmentReleased(Payload):
    """Lines of an order were released to a location's warehouse for picking."""

    event_type = "crossdock.shipment.released.v1"
    release: Key
    order: Key
    from_location: Key
    lines: NonEmpty[ShipmentLine]


class ReleaseCancelled(Payload):
    """Quantities released to a warehouse are no longer wanted (their lines were cancelled): stop picking them."""

    event_type = "crossdock.shipment.release_cancelled.v1"
    order: Key
    lines: NonEmpty[CancelledLine]
    reason: str = ""
    from_location: Key | None = Field(
        default=None,
        description="The location whose warehouse was released these quantities. Absent from events recorded before "
        "it was said: then every warehouse the order was released to stops what it holds of them.",
    )


class HandledLine(Document):
    """A released line as the warehouse handled it: how much of it was picked or packed (zero: none of it)."""

    line: LineNumber = Field(description="The order line, as the release numbered it.")
    sku: Key
    quantity: Quantity

    @field_validator("quantity")
    @classmethod
    def _never_negative(cls, quantity: Quantity) -> Quantity:
        if quantity.value < 0:
            raise ValueError(f"a handled quantity is never below 0, got {quantity}")
        return quantity


class Parcel(Document):
    """A package the warehouse packed, with its tracking number once the carrier gave one."""

    package: Key = Field(description="The warehouse's own reference of the package.")
    tracking_number: Key | None = None


class ShipmentPicked(Payload):
    """The warehouse picked lines of a release: off the shelf, not yet packed or shipped. A line picked short says
    how much was found."""

    event_type = "crossdock.shipment.picked.v1"
    release: Key
    order: Key
    from_location: Key
    lines: NonEmpty[HandledLine]


class ShipmentPacked(Payload):
    """The warehouse packed lines of a release into parcels, ready to ship."""

    event_type = "crossdock.shipment.packed.v1"
    release: Key
    order: Key
    from_location: Key
    packages: tuple[Parcel, ...] = ()
    lines: NonEmpty[HandledLine]


class ShipmentConfirmed(Payload):
    """Goods left a location: the warehouse confirmed what shipped, with carrier and tracking."""

    event_type = "crossdock.shipment.confirmed.v1"
    shipment: Shipment


class InvoicePosted(Payload):
    """An invoice for shipped quantities was issued to the customer."""

    event_type = "crossdock.invoice.posted.v1"
    invoice: Invoice


class PaymentApplied(Payload):
    """A customer's payment was received and applied to invoices; any remainder is the customer's credit."""

    event_type = "crossdock.payment.applied.v1"
    payment: Payment


class CreditMemoPosted(Payload):
    """A credit memo was issued, reducing what the customer owes."""

    event_type = "crossdock.creditmemo.posted.v1"
    credit_memo: CreditMemo


class JournalLine(Document):
    account: Key
    debit: NonNegativeAmount = Decimal(0)
    credit: NonNegativeAmount = Decimal(0)
    memo: str = ""

    @model_validator(mode="after")
    def _one_side(self) -> Self:
        if (self.debit > 0) == (self.credit > 0):
            raise ValueError(f"account {self.account}: a line is either a debit or a credit, and not zero")
        return self


class JournalPosted(Payload):
    """A balanced double-entry journal entry was posted to an open period."""

    event_type = "crossdock.journal.posted.v1"
    entry: Key
    sequence: int = Field(ge=1, description="Gap-free posting order within the ledger.")
    period: str = Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="The accounting period, YYYY-MM.")
    posted_on: date
    currency: CurrencyCode
    source: BusinessRef
    lines: NonEmpty[JournalLine]

    @model_validator(mode="after")
    def _balanced(self) -> Self:
        debits = sum((line.debit for line in self.lines), Decimal(0))
        credits = sum((line.credit for line in self.lines), Decimal(0))
        if debits != credits:
            raise ValueError(f"lines: debits {debits} and credits {credits} must be equal")
        return self


# ---------------------------------------------------------------------------------------------------------------
# Business exceptions


class ExceptionOwner(StrEnum):
    CUSTOMER_SERVICE = "customer_service"
    WAREHOUSE = "warehouse"
    FINANCE = "finance"
    PROCUREMENT = "procurement"
    EDI = "edi"
    MASTER_DATA = "master_data"
    INTEGRATION = "integration"


class ExceptionAction(StrEnum):
    RETRY = "retry"
    OVERRIDE = "override"
    CANCEL = "cancel"
    ACCEPT = "accept"


class ExceptionOpened(Payload):
    """Something needs a person: an owner, a reason code and the business object it is about."""

    event_type = "crossdock.exception.opened.v1"
    exception: Key
    owner: ExceptionOwner
    reason_code: Key
    about: BusinessRef
    message: str = ""


class ExceptionResolved(Payload):
    """A person, or a rule, closed a business exception with one of its actions."""

    event_type = "crossdock.exception.resolved.v1"
    exception: Key
    action: ExceptionAction
    resolved_by: str | None = None
    note: str = ""


# ---------------------------------------------------------------------------------------------------------------
# Procure to pay
#
# Quantities of the procure-to-pay workflow are counted per purchase order line, in that line's unit (not the item's
# base unit): suppliers order, ship and bill in their own units, and the PO line is what all of them are held to.


class PurchaseOrderIssued(Payload):
    """A purchase order was issued (in the ERP or the hub) and is to go to its supplier."""

    event_type = "crossdock.purchaseorder.issued.v1"
    purchase_order: PurchaseOrder


class PurchaseOrderReleased(Payload):
    """A revision of a purchase order was released to its supplier: the channel that reaches the supplier (an EDI
    850 or ORDERS, a portal, e-mail) sends `purchase_order` as it now stands, and may answer with
    purchaseorder.transmitted once it got there. Revision 1 is a new order; a later one replaces the terms sent
    before."""

    event_type = "crossdock.purchaseorder.released.v1"
    purchase_order: PurchaseOrder = Field(
        description="The order as it now stands: quantities still ordered, current prices, dates and items."
    )
    revision: int = Field(ge=1)
    withdrawn: tuple[LineNumber, ...] = Field(
        default=(), description="Lines sent before that are no longer ordered (cancelled, or refused by the supplier)."
    )
    reason: str = Field(default="", description="Why it goes again, when it is not new.")


class PurchaseOrderTransmitted(Payload):
    """A revision of a purchase order reached the supplier (an 850 or ORDERS delivered, or sent by other means)."""

    event_type = "crossdock.purchaseorder.transmitted.v1"
    order: Key
    revision: int = Field(ge=1)
    transmission: Key = Field(description="What carried it: an interchange control number, a file, a message id.")
    channel: str = ""


class PurchaseOrderAcknowledged(Payload):
    """The supplier answered a purchase order (an 855 or ORDRSP): accepted, accepted with changes, or rejected."""

    event_type = "crossdock.purchaseorder.acknowledged.v1"
    acknowledgement: POAcknowledgement


class PurchaseOrderChanged(Payload):
    """The buyer changed the purchase order; `purchase_order` is the whole new version, `revision` orders changes."""

    event_type = "crossdock.purchaseorder.changed.v1"
    purchase_order: PurchaseOrder
    revision: int = Field(ge=2)


class PurchaseOrderLineCancellation(Document):
    line_id: LineId
    quantity: PositiveAmount = Field(description="To cancel, in the purchase order line's unit.")


class PurchaseOrderCancellationRequested(Payload):
    """The buyer asked to cancel the purchase order, or quantities of its lines; the workflow decides if it can."""

    event_type = "crossdock.purchaseorder.cancellation_requested.v1"
    order: Key
    cancellation: Key = Field(description="The request's own id: the same request again changes nothing.")
    lines: NonEmpty[PurchaseOrderLineCancellation] | None = Field(
        default=None, description="Null: cancel the whole order."
    )
    reason: str = ""

    @field_validator("lines")
    @classmethod
    def _each_line_once(
        cls, lines: tuple[PurchaseOrderLineCancellation, ...] | None
    ) -> tuple[PurchaseOrderLineCancellation, ...] | None:
        _each_line_id_once(line.line_id for line in lines or ())
        return lines


class RevisedLine(Document):
    line_id: LineId
    sku: Key
    quantity: NonNegativeAmount = Field(description="Now ordered (cancelled quantities taken off), in the line's unit.")
    unit_price: NonNegativeAmount
    delivery_on: date | None = None


class RevisionDecider(StrEnum):
    POLICY = "policy"  # the supplier's changes were within the change policy and applied by themselves
    PROCUREMENT = "procurement"  # a person accepted changes the policy did not allow


class PurchaseOrderRevised(Payload):
    """A purchase order took the changes its supplier's acknowledgement proposed; `lines` are the new terms of every
    line of the order."""

    event_type = "crossdock.purchaseorder.revised.v1"
    order: Key
    revision: int = Field(ge=1, description="The buyer's revision the supplier's changes were made to.")
    acknowledgement: Key
    decided_by: RevisionDecider
    lines: NonEmpty[RevisedLine]


class PurchaseOrderCancelledLine(Document):
    line_id: LineId
    sku: Key
    quantity: PositiveAmount = Field(description="Cancelled now, in the purchase order line's unit.")


class PurchaseOrderCancelled(Payload):
    """A purchase order, or quantities of its lines, were cancelled; `whole` says nothing of the order remains."""

    event_type = "crossdock.purchaseorder.cancelled.v1"
    order: Key
    whole: bool
    lines: NonEmpty[PurchaseOrderCancelledLine]
    reason: str = ""


class PurchaseOrderClosed(Payload):
    """Everything still ordered was received, and every unit received was invoiced and approved."""

    event_type = "crossdock.purchaseorder.closed.v1"
    order: Key
    received: Money = Field(description="Received in good condition, at the PO's prices.")
    invoiced: Money = Field(description="Approved supplier invoices, before tax.")


class ShipNoticeReceived(Payload):
    """A supplier's ship notice (856 or DESADV) arrived: goods of a purchase order are on their way."""

    event_type = "crossdock.asn.received.v1"
    notice: AdvanceShipNotice


class GoodsReceiptPosted(Payload):
    """The warehouse counted goods of a purchase order in, with damage and lots."""

    event_type = "crossdock.receipt.posted.v1"
    receipt: GoodsReceipt


class ReceiptVariance(StrEnum):
    SHORT_OF_NOTICE = "short_of_notice"  # fewer arrived than the ship notice announced
    OVER_NOTICE = "over_notice"  # more arrived than the ship notice announced
    NOT_ON_NOTICE = "not_on_notice"  # the line arrived, but its ship notice did not list it
    DAMAGED = "damaged"
    OVER_ORDER = "over_order"  # more received in good condition than is still ordered


class MatchedReceiptLine(Document):
    line_id: LineId
    sku: Key
    received: NonNegativeAmount = Field(description="Counted in on this receipt, damaged included.")
    damaged: NonNegativeAmount = Decimal(0)
    accepted: NonNegativeAmount = Field(description="Received in good condition: what is stocked and accrued.")
    unit_price: NonNegativeAmount = Field(description="The purchase order's price, which the accrual is valued at.")
    noticed: NonNegativeAmount | None = Field(
        default=None, description="What the ship notice announced for the line; null without a notice."
    )
    variances: tuple[ReceiptVariance, ...] = ()


class ReceiptMatched(Payload):
    """A goods receipt was compared with its ship notice and purchase order: per line, what arrived in good condition,
    at which PO price, and the variances found. Lines the notice announced that did not arrive are listed with
    nothing received."""

    event_type = "crossdock.receipt.matched.v1"
    receipt: Key
    order: Key
    supplier: Key
    notice: Key | None = None
    location: Key
    currency: CurrencyCode
    lines: NonEmpty[MatchedReceiptLine]


class SupplierInvoiceReceived(Payload):
    """A supplier's invoice (810 or INVOIC) against a purchase order arrived, not yet matched."""

    event_type = "crossdock.supplierinvoice.received.v1"
    invoice: SupplierInvoice


class ApprovedInvoiceLine(Document):
    line_id: LineId
    sku: Key
    quantity: PositiveAmount = Field(description="Invoiced, in the purchase order line's unit.")
    unit_price: NonNegativeAmount = Field(description="As invoiced.")
    po_unit_price: NonNegativeAmount = Field(description="As ordered: the price the receipt was accrued at.")


class SupplierInvoiceApproved(Payload):
    """A supplier invoice matched its purchase order and receipts within tolerance, or a person approved it anyway
    (`overridden`): it is to be posted and paid."""

    event_type = "crossdock.supplierinvoice.approved.v1"
    invoice: Key
    order: Key
    supplier: Key
    currency: CurrencyCode
    lines: NonEmpty[ApprovedInvoiceLine]
    tax: NonNegativeAmount
    total: NonNegativeAmount
    overridden: bool = False
    note: str = ""


class MatchFailure(Document):
    code: Key
    message: str = ""
    line_id: LineId | None = Field(default=None, description="The purchase order line it is about, if any.")


class SupplierInvoiceMatchFailed(Payload):
    """A supplier invoice did not match its purchase order and receipts; every reason found is listed, and the owner
    is who must decide: procurement for prices alone, finance otherwise."""

    event_type = "crossdock.supplierinvoice.match_failed.v1"
    invoice: Key
    order: Key
    supplier: Key
    owner: ExceptionOwner
    reasons: NonEmpty[MatchFailure]


class SupplierInvoiceRejected(Payload):
    """A person refused a supplier invoice that did not match; the supplier is to send a corrected one."""

    event_type = "crossdock.supplierinvoice.rejected.v1"
    invoice: Key
    order: Key
    supplier: Key
    reason: str = ""


# ---------------------------------------------------------------------------------------------------------------
# EDI: what an interchange's functional acknowledgement (997 / CONTRL) says, received or owed


class AcknowledgedError(Document):
    """One segment or element in error, as a 997 AK3/AK4 or a CONTRL UCS/UCD reports it."""

    segment: str = Field(description="The segment tag.")
    position: int = Field(ge=0, description="Its position in the transaction set or message (ST / UNH = 1).")
    code: str = Field(description="The error code (X12 AK304/AK403, EDIFACT 0085).")
    element: int | None = Field(default=None, ge=1)
    component: int | None = Field(default=None, ge=1)
    value: str = Field(default="", description="The bad value, when it is safe to echo.")


class AcknowledgedTransaction(Document):
    set_id: str = Field(description="ST01 / UNH message type.")
    control_number: str = Field(description="ST02 / UNH message reference.")
    status: str = Field(description="X12 AK501 (A, E, R...) or EDIFACT UCM action (7 acknowledged, 4 rejected).")
    codes: list[str] = Field(default_factory=list)
    errors: list[AcknowledgedError] = Field(default_factory=list)
    implementation_reference: str | None = Field(default=None, description="ST03 (005010), echoed in AK203.")


class AcknowledgedGroup(Document):
    functional_id: str = Field(description="GS01 (PO, IN, SH...); the message type group for EDIFACT.")
    control_number: str = Field(description="GS06 / UNG reference; empty for EDIFACT messages without a group.")
    version: str = ""
    status: str = Field(description="X12 AK901: A, E, P (partially accepted), R.")
    included: int | None = Field(default=None, ge=0)
    received: int | None = Field(default=None, ge=0)
    accepted: int | None = Field(default=None, ge=0)
    codes: list[str] = Field(default_factory=list)
    transactions: list[AcknowledgedTransaction] = Field(default_factory=list)


class InterchangeStatus(StrEnum):
    ACCEPTED = "accepted"
    ACCEPTED_WITH_ERRORS = "accepted_with_errors"
    PARTIALLY_ACCEPTED = "partially_accepted"
    REJECTED = "rejected"


class EdiInterchangeReceived(Payload):
    """A partner's interchange was read: what its functional acknowledgement (997 or CONTRL) must say, so an
    outbound step can answer it. Emitted once per interchange, next to the documents it carried."""

    event_type = "crossdock.edi.interchange_received.v1"
    partner: Key
    standard: str = Field(description="x12 or edifact")
    interchange: str = Field(description="ISA13 / UNB 0020 control reference.")
    sender_qualifier: str = ""
    sender: str
    receiver_qualifier: str = ""
    receiver: str
    version: str = Field(default="", description="ISA12 / UNB syntax identifier and version.")
    status: InterchangeStatus
    groups: list[AcknowledgedGroup] = Field(default_factory=list)
    issues: list[str] = Field(default_factory=list, description="What the engine noted: warnings and errors.")


class EdiAcknowledgementReceived(Payload):
    """A partner's functional acknowledgement (997 or CONTRL) of an interchange we sent arrived."""

    event_type = "crossdock.edi.acknowledgement_received.v1"
    partner: Key
    standard: str = Field(description="x12 or edifact")
    interchange: str = Field(description="The control reference of the acknowledgement itself.")
    groups: list[AcknowledgedGroup] = Field(min_length=1, description="Per acknowledged group, its status and sets.")
    acknowledges: str | None = Field(
        default=None,
        description="The control reference of the interchange it answers (CONTRL UCI 0020); None for a 997, which "
        "names only groups (AK102).",
    )


class PartnerItem(Document):
    sku: Key = Field(description="Our item.")
    partner_item: Key = Field(description="The partner's own id for it.")


class EdiItemIdsReceived(Payload):
    """A customer's order named our items by its own part numbers (X12 PO1 BP): kept, so that what goes back to the
    customer (855, 856, 810) names each item the way its order did."""

    event_type = "crossdock.edi.item_ids_received.v1"
    partner: Key
    order: Key = Field(description="The customer's order that named them (BEG03).")
    qualifier: str = Field(description="The partner's id qualifier: BP, the buyer's part number.")
    items: NonEmpty[PartnerItem]


# ---------------------------------------------------------------------------------------------------------------
# The catalogue


def _stem_and_version(type_name: str) -> tuple[str, int]:
    if not EVENT_TYPE_PATTERN.match(type_name):
        raise ValueError(f"{type_name!r} is not a versioned event type name")
    stem, _, version = type_name.rpartition(".v")
    return stem, int(version)


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in ("data", *item["loc"]))
        problems.append(f"{where}: {item['msg']}")
    return "; ".join(problems)


class Catalogue:
    """Event types with their payload models, and the upcasters that lift old versions to newer ones."""

    def __init__(self, payloads: Iterable[type[Payload]]) -> None:
        types: dict[str, type[BaseModel]] = {}
        for model in payloads:
            _stem_and_version(model.event_type)
            if model.event_type in types:
                raise ValueError(f"{model.event_type} is declared twice")
            types[model.event_type] = model
        self.types: Mapping[str, type[BaseModel]] = MappingProxyType(types)
        self._upcasters: dict[str, tuple[str, Upcaster]] = {}

    def register_upcaster(self, from_type: str, to_type: str) -> Callable[[Upcaster], Upcaster]:
        """Decorator: `fn(data_of_from_type) -> data_of_to_type`. Only forward, one step per old version."""
        from_stem, from_version = _stem_and_version(from_type)
        to_stem, to_version = _stem_and_version(to_type)
        if from_stem != to_stem or to_version <= from_version:
            raise ValueError(f"an upcaster goes to a later version of the same event, not {from_type} -> {to_type}")
        if to_type not in self.types:
            raise ValueError(f"{to_type} is not in the catalogue")
        if from_type in self._upcasters:
            raise ValueError(f"{from_type} already has an upcaster")

        def register(upcaster: Upcaster) -> Upcaster:
            self._upcasters[from_type] = (to_type, upcaster)
            return upcaster

        return register

    def upcast(self, type_name: str, data: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """The newest version of an event: upcasters applied in turn; unchanged when there is none."""
        current = copy.deepcopy(dict(data))  # upcasters may edit in place; the envelope's data stays untouched
        while type_name in self._upcasters:
            type_name, upcaster = self._upcasters[type_name]
            current = upcaster(current)
        return type_name, current

    def payload_of(self, envelope: Envelope) -> BaseModel:
        """The envelope's data, upcast to the newest version and validated against that version's model."""
        try:
            type_name, data = self.upcast(envelope.type, envelope.data)
        except ValidationError as error:  # an upcaster may read the old version's data with its model first
            raise InvalidPayload(f"{envelope.type} event {envelope.id}: {_describe(error)}") from error
        model = self.types.get(type_name)
        if model is None:
            raise UnknownEventType(f"{type_name} is not in the event catalogue")
        try:
            return model.model_validate(data)
        except ValidationError as error:
            read_as = "" if type_name == envelope.type else f" (read as {type_name})"
            raise InvalidPayload(f"{envelope.type}{read_as} event {envelope.id}: {_describe(error)}") from error

    def payload_as(self, envelope: Envelope, model: type[P]) -> P:
        """Like payload_of, for a handler that knows which model it expects."""
        payload = self.payload_of(envelope)
        if not isinstance(payload, model):
            raise InvalidEvent(
                f"{envelope.type} event {envelope.id} carries {type(payload).__name__}, not {model.__name__}"
            )
        return payload


CATALOGUE = Catalogue(
    [
        OrderReceived,
        OrderAccepted,
        OrderRejected,
        OrderChanged,
        OrderCancelled,
        OrderCancelledV2,
        OrderBackordered,
        OrderClosed,
        OrderCancellationRequested,
        OrderCloseRequested,
        InventoryReserved,
        InventoryReleased,
        InventoryAdjusted,
        InventoryMoved,
        AvailabilityChanged,
        ShipmentReleased,
        ReleaseCancelled,
        ShipmentPicked,
        ShipmentPacked,
        ShipmentConfirmed,
        InvoicePosted,
        PaymentApplied,
        CreditMemoPosted,
        JournalPosted,
        ExceptionOpened,
        ExceptionResolved,
        PurchaseOrderIssued,
        PurchaseOrderReleased,
        PurchaseOrderTransmitted,
        PurchaseOrderAcknowledged,
        PurchaseOrderChanged,
        PurchaseOrderCancellationRequested,
        PurchaseOrderRevised,
        PurchaseOrderCancelled,
        PurchaseOrderClosed,
        ShipNoticeReceived,
        GoodsReceiptPosted,
        ReceiptMatched,
        SupplierInvoiceReceived,
        SupplierInvoiceApproved,
        SupplierInvoiceMatchFailed,
        SupplierInvoiceRejected,
        EdiInterchangeReceived,
        EdiAcknowledgementReceived,
        EdiItemIdsReceived,
    ]
)
EVENT_TYPES: Mapping[str, type[BaseModel]] = CATALOGUE.types

# Upcasters for published versions are registered here, next to the models.


@CATALOGUE.register_upcaster(OrderCancelled.event_type, OrderCancelledV2.event_type)
def _order_cancelled_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 cancelled whole lines by number; v2 names each line by id with the quantity cancelled.

    How much of a line was open is not in a v1 event, and an upcaster sees nothing else, so each line's quantity
    becomes null: "the line's whole open quantity at the time". No lines in v1 meant the whole order. The data is
    read as v1 first, so v1 data that never fitted v1 is reported as such rather than half-translated.
    """
    v1 = OrderCancelled.model_validate(data)
    return {
        "order": v1.order,
        "whole": v1.whole_order,
        "lines": [{"line_id": line_id(number), "quantity": None} for number in v1.lines],
        "reason": v1.reason,
    }


def payload_of(envelope: Envelope) -> BaseModel:
    """The envelope's data as its payload model; InvalidPayload names the type and the field when it does not fit."""
    return CATALOGUE.payload_of(envelope)


def payload_as(envelope: Envelope, model: type[P]) -> P:
    return CATALOGUE.payload_as(envelope, model)


def upcast(type_name: str, data: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    return CATALOGUE.upcast(type_name, data)


def data_of(payload: Payload) -> dict[str, Any]:
    """The payload as envelope data: JSON values only (decimals as strings, dates in ISO 8601)."""
    return payload.model_dump(mode="json")


def type_of(payload: Payload) -> str:
    return payload.event_type
