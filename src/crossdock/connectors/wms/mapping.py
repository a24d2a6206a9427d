"""Pure mapping between the WMS's documented JSON (README.md) and the catalogue: releases to pick releases and
cancellations out; pick, pack and ship confirmations, receipts, adjustments and cycle counts in. No I/O, no clock.

Must not: decide what a fact changes (the desks do) or hold other systems' ids beyond the warehouse codes the
connector is configured with. Errors name the field and where it is in the payload.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from crossdock.domain import catalog, documents
from crossdock.domain.procurement import GoodsReceipt, Lot, ReceiptLine
from crossdock.hub.errors import MappingError

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
SIGNATURE_HEADER = "X-Wms-Signature"

Code = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^\S(.*\S)?$")]
Unit = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,15}$")]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WmsLine(_Wire):
    line: int = Field(ge=1, description="The order line (or purchase order line) as the release or PO numbered it.")
    sku: Code
    quantity: Decimal = Field(ge=0, allow_inf_nan=False)
    unit: Unit = "EA"


class PickConfirmed(_Wire):
    order_ref: Code
    release_ref: Code
    lines: list[WmsLine] = Field(min_length=1)


class Package(_Wire):
    package_ref: Code
    tracking_number: Code | None = None


class PackConfirmed(_Wire):
    order_ref: Code
    release_ref: Code
    packages: list[Package] = Field(default_factory=list)
    lines: list[WmsLine] = Field(min_length=1)


class Shipped(_Wire):
    shipment_ref: Code
    order_ref: Code
    release_ref: Code | None = None
    carrier: Code | None = None
    tracking_numbers: list[Code] = Field(default_factory=list)
    shipped_at: datetime | None = None
    lines: list[WmsLine] = Field(min_length=1)

    @field_validator("shipped_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("shipped_at must carry a UTC offset")
        return value


class WmsLot(_Wire):
    lot: Code
    quantity: Decimal = Field(gt=0, allow_inf_nan=False)
    expires_on: date | None = None


class ReceivedLine(WmsLine):
    damaged: Decimal = Field(default=Decimal(0), ge=0, allow_inf_nan=False)
    lots: list[WmsLot] = Field(default_factory=list)


class Received(_Wire):
    receipt_ref: Code
    po_ref: Code | None = Field(default=None, description="The purchase order received against; none: a return.")
    asn_ref: Code | None = None
    received_on: date | None = None
    lines: list[ReceivedLine] = Field(min_length=1)


AdjustmentKind = Literal["damage", "correction", "found", "lost", "return"]


class Adjusted(_Wire):
    adjustment_ref: Code
    sku: Code
    change: Decimal = Field(allow_inf_nan=False, description="Signed: what on-hand moved by.")
    unit: Unit = "EA"
    reason: AdjustmentKind


class CountedLine(_Wire):
    sku: Code
    expected: Decimal = Field(ge=0, allow_inf_nan=False, description="On-hand the WMS held before the count.")
    counted: Decimal = Field(ge=0, allow_inf_nan=False)
    unit: Unit = "EA"


class CycleCounted(_Wire):
    count_ref: Code
    lines: list[CountedLine] = Field(min_length=1)

    @model_validator(mode="after")
    def _each_sku_once(self) -> CycleCounted:
        skus = [line.sku for line in self.lines]
        repeated = sorted({sku for sku in skus if skus.count(sku) > 1})
        if repeated:
            raise ValueError(f"sku {', '.join(repeated)} is counted twice")
        return self


WmsEventType = Literal[
    "pick.confirmed",
    "pack.confirmed",
    "shipment.shipped",
    "receipt.completed",
    "inventory.adjusted",
    "cycle_count.completed",
]
_DATA: Mapping[str, type[_Wire]] = {
    "pick.confirmed": PickConfirmed,
    "pack.confirmed": PackConfirmed,
    "shipment.shipped": Shipped,
    "receipt.completed": Received,
    "inventory.adjusted": Adjusted,
    "cycle_count.completed": CycleCounted,
}
_ADJUSTMENT_REASONS = {
    "damage": catalog.AdjustmentReason.DAMAGE,
    "correction": catalog.AdjustmentReason.CORRECTION,
    "found": catalog.AdjustmentReason.CORRECTION,
    "lost": catalog.AdjustmentReason.CORRECTION,
    "return": catalog.AdjustmentReason.RETURN,
}


class WmsEvent(_Wire):
    """One webhook from the WMS: its own id (the dedupe key), what happened, where, and the details."""

    event_id: Code
    type: WmsEventType
    occurred_at: datetime
    warehouse: Code
    data: dict[str, Any]

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at must carry a UTC offset")
        return value


@dataclass(frozen=True)
class Fact:
    """One canonical event a webhook becomes, before the adapter wraps it: its type, data and business key."""

    type: str
    data: dict[str, Any]
    subject: str


@dataclass(frozen=True)
class Warehouses:
    """The hub locations the WMS runs, each with the WMS's own code for it."""

    codes: Mapping[str, str]  # hub location -> WMS warehouse code

    def __post_init__(self) -> None:
        if not self.codes:
            raise ValueError("a wms connector needs options.warehouses: {<hub location>: <WMS warehouse code>}")
        codes = list(self.codes.values())
        if len(set(codes)) != len(codes):
            raise ValueError("options.warehouses: two hub locations have the same WMS warehouse code")

    def code_of(self, location: str) -> str | None:
        return self.codes.get(location)

    def location_of(self, code: str) -> str:
        for location, known in self.codes.items():
            if known == code:
                return location
        raise MappingError(
            f"warehouse: {code!r} is not a warehouse this WMS runs for the hub (known: {sorted(self.codes.values())})"
        )


# ---- inbound ------------------------------------------------------------------------------------------------------


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_signature(secret: str | None, body: bytes, given: str | None) -> None:
    """A source with a secret takes only bodies signed with it (X-Wms-Signature: sha256=<hex HMAC-SHA256>)."""
    if secret is None:
        return
    if not given:
        raise MappingError(f"signature: {SIGNATURE_HEADER} is missing; this source takes only signed webhooks")
    if not hmac.compare_digest(given.strip(), signature(secret, body)):
        raise MappingError(f"signature: {SIGNATURE_HEADER} does not match the body signed with this source's secret")


def read_event(body: bytes) -> WmsEvent:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MappingError(f"body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise MappingError(f"body must be a JSON object, got {type(payload).__name__}")
    return _validated(WmsEvent, payload, "")


def business_key(event: WmsEvent) -> str:
    """What the webhook is about: the order, the purchase order (or receipt), the sku or the count."""
    data = event.data
    for name in ("order_ref", "po_ref", "receipt_ref", "sku", "count_ref"):
        value = data.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return event.event_id


def facts(event: WmsEvent, warehouses: Warehouses) -> list[Fact]:
    """The canonical facts one webhook reports; MappingError names the field that is wrong."""
    location = warehouses.location_of(event.warehouse)
    details = _validated(_DATA[event.type], event.data, "data.")
    match details:
        case Shipped():
            return _shipped(details, location, event.occurred_at)
        case Received():
            return _received(details, location)
        case Adjusted():
            return _adjusted(details, location)
        case CycleCounted():
            return _counted(details, location)
        case PickConfirmed():
            return [_handled(catalog.ShipmentPicked, details, location)]
        case PackConfirmed():
            return [_handled(catalog.ShipmentPacked, details, location)]
    raise MappingError(f"type: {event.type} is not mapped")  # pragma: no cover - the Literal lists every type


def _handled(
    fact: type[catalog.ShipmentPicked | catalog.ShipmentPacked], done: PickConfirmed | PackConfirmed, location: str
) -> Fact:
    """A pick or pack confirmation as the order's warehouse stage: every line as the WMS reports it, short ones too."""
    fields: dict[str, Any] = {
        "release": done.release_ref,
        "order": done.order_ref,
        "from_location": location,
        "lines": [
            {"line": line.line, "sku": line.sku, "quantity": {"value": line.quantity, "unit": line.unit}}
            for line in done.lines
        ],
    }
    if isinstance(done, PackConfirmed):
        fields["packages"] = [
            {"package": package.package_ref, "tracking_number": package.tracking_number} for package in done.packages
        ]
    payload = _validated(fact, fields, "data.")
    return Fact(catalog.type_of(payload), catalog.data_of(payload), done.order_ref)


def _shipped(shipped: Shipped, location: str, occurred_at: datetime) -> list[Fact]:
    # A line shipped at zero is one the WMS could not pick: the shipment lists only what left.
    lines = [line for line in shipped.lines if line.quantity > 0]
    if not lines:
        raise MappingError("data.lines: nothing was shipped (every quantity is 0)")
    shipment = _built(
        "data",
        lambda: documents.Shipment(
            number=shipped.shipment_ref,
            order=shipped.order_ref,
            from_location=location,
            carrier=shipped.carrier,
            tracking_numbers=tuple(shipped.tracking_numbers),
            shipped_at=shipped.shipped_at or occurred_at,
            lines=tuple(
                documents.ShipmentLine(line=line.line, sku=line.sku, quantity=_quantity(line.quantity, line.unit))
                for line in lines
            ),
        ),
    )
    payload = catalog.ShipmentConfirmed(shipment=shipment)
    return [Fact(catalog.type_of(payload), catalog.data_of(payload), shipment.order)]


def _received(received: Received, location: str) -> list[Fact]:
    """Against a purchase order: the goods receipt procure-to-pay matches and stocks (damaged units are counted but
    never stocked). Without one (a customer's return): only the units in good condition, straight into stock."""
    if received.po_ref is not None:
        order = received.po_ref
        receipt = _built(
            "data",
            lambda: GoodsReceipt(
                number=received.receipt_ref,
                order=order,
                asn=received.asn_ref,
                location=location,
                received_on=received.received_on,
                lines=tuple(
                    ReceiptLine(
                        line=line.line,
                        sku=line.sku,
                        quantity=_quantity(line.quantity, line.unit),
                        damaged=line.damaged,
                        lots=tuple(
                            Lot(number=lot.lot, quantity=_quantity(lot.quantity, line.unit), expires_on=lot.expires_on)
                            for lot in line.lots
                        ),
                    )
                    for line in received.lines
                ),
            ),
        )
        posted = catalog.GoodsReceiptPosted(receipt=receipt)
        return [Fact(catalog.type_of(posted), catalog.data_of(posted), receipt.order)]
    found = []
    for index, line in enumerate(received.lines):
        if line.damaged > line.quantity:
            raise MappingError(f"data.lines.{index}.damaged: {line.damaged} damaged of {line.quantity} received")
        good = line.quantity - line.damaged
        if good == 0:
            continue
        adjusted = catalog.InventoryAdjusted(
            sku=line.sku,
            location=location,
            change=_quantity(good, line.unit),
            reason=catalog.AdjustmentReason.RETURN,
            reference=f"receipt {received.receipt_ref} line {line.line}",
        )
        found.append(Fact(catalog.type_of(adjusted), catalog.data_of(adjusted), line.sku))
    return found


def _adjusted(adjusted: Adjusted, location: str) -> list[Fact]:
    if adjusted.change == 0:
        raise MappingError("data.change: an adjustment of zero changes nothing")
    payload = catalog.InventoryAdjusted(
        sku=adjusted.sku,
        location=location,
        change=_quantity(adjusted.change, adjusted.unit),
        reason=_ADJUSTMENT_REASONS[adjusted.reason],
        reference=f"adjustment {adjusted.adjustment_ref} ({adjusted.reason})",
    )
    return [Fact(catalog.type_of(payload), catalog.data_of(payload), adjusted.sku)]


def _counted(counted: CycleCounted, location: str) -> list[Fact]:
    """The WMS owns the count: what it found against what it held before is the variance the ledger takes. Skus
    that counted as expected change nothing and post nothing."""
    found = []
    for line in counted.lines:
        variance = line.counted - line.expected
        if variance == 0:
            continue
        payload = catalog.InventoryAdjusted(
            sku=line.sku,
            location=location,
            change=_quantity(variance, line.unit),
            reason=catalog.AdjustmentReason.CYCLE_COUNT,
            reference=f"cycle count {counted.count_ref}: {line.counted} counted, {line.expected} expected",
        )
        found.append(Fact(catalog.type_of(payload), catalog.data_of(payload), line.sku))
    return found


# ---- outbound -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShipTo:
    """Who the goods go to, as the hub knows the order: the customer and its own reference (its PO number)."""

    customer: str
    name: str = ""
    customer_reference: str | None = None


def pick_release(released: catalog.ShipmentReleased, warehouse: str, ship_to: ShipTo) -> dict[str, Any]:
    """POST /v1/pick-releases: one release of an order to one warehouse, lines as released."""
    body: dict[str, Any] = {
        "release_ref": released.release,
        "order_ref": released.order,
        "warehouse": warehouse,
        "ship_to": {"customer": ship_to.customer, "name": ship_to.name},
        "lines": [
            {"line": line.line, "sku": line.sku, "quantity": str(line.quantity.value), "unit": line.quantity.unit}
            for line in released.lines
        ],
    }
    if ship_to.customer_reference:
        body["customer_reference"] = ship_to.customer_reference
    return body


def cancellation(cancelled: catalog.ReleaseCancelled, warehouse: str | None = None) -> dict[str, Any]:
    """POST /v1/pick-releases/cancellations: stop picking these quantities of the order's lines, at `warehouse` (the
    one they were released to) when the cancellation says, else at every warehouse holding the order."""
    lines = []
    for index, line in enumerate(cancelled.lines):
        if line.quantity is None or line.sku is None:
            raise MappingError(
                f"lines.{index}: a cancellation read from v1 does not say how much of line {line.line_id} to stop "
                "picking; the WMS cancels quantities, not whole lines"
            )
        lines.append({"line": int(line.line_id), "sku": line.sku, "quantity": str(line.quantity)})
    body: dict[str, Any] = {"order_ref": cancelled.order, "reason": cancelled.reason, "lines": lines}
    if warehouse is not None:
        body["warehouse"] = warehouse
    return body


# ---- inside -------------------------------------------------------------------------------------------------------


def _quantity(value: Decimal, unit: str) -> documents.Quantity:
    return documents.Quantity(value=value, unit=unit)


def _validated(model: type[M], payload: Mapping[str, Any], prefix: str) -> M:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise MappingError(_describe(exc, prefix)) from None


def _built(prefix: str, build: Callable[[], T]) -> T:
    try:
        return build()
    except ValidationError as exc:
        raise MappingError(_describe(exc, prefix + ".")) from None
    except ValueError as exc:
        raise MappingError(f"{prefix}: {exc}") from None


def _describe(exc: ValidationError, prefix: str) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = prefix + ".".join(str(p) for p in error["loc"])
        parts.append(f"{where.rstrip('.') or 'body'}: {error['msg']}")
    return "; ".join(parts)
