"""Pure mapping of canonical documents (the catalogue's payloads, bare or inside a CloudEvent) to envelopes, with
the business key and partition each type is known by. No I/O.

Everything about one order (or purchase order) shares its number as subject and partition, so its events are handled
in order by one worker and its history is one query.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from crossdock.connectors.generic.mapping import field_value, is_cloudevent, parse_json
from crossdock.domain import catalog
from crossdock.domain.errors import CrossdockError
from crossdock.domain.events import Envelope, derive_id
from crossdock.hub.errors import MappingError

TYPE_HEADER = "ce-type"

# Per type: the field paths of (subject, partition key) in the payload.
_KEYS: Mapping[str, tuple[str, str]] = {
    catalog.OrderReceived.event_type: ("order.number", "order.number"),
    catalog.OrderChanged.event_type: ("order.number", "order.number"),
    catalog.OrderCancellationRequested.event_type: ("order", "order"),
    catalog.OrderCloseRequested.event_type: ("order", "order"),
    catalog.InventoryReserved.event_type: ("order", "order"),
    catalog.ShipmentReleased.event_type: ("order", "order"),
    catalog.ReleaseCancelled.event_type: ("order", "order"),
    catalog.ShipmentConfirmed.event_type: ("shipment.order", "shipment.order"),
    catalog.InvoicePosted.event_type: ("invoice.order", "invoice.order"),
    catalog.PaymentApplied.event_type: ("payment.reference", "payment.customer"),
    catalog.CreditMemoPosted.event_type: ("credit_memo.number", "credit_memo.customer"),
    catalog.InventoryAdjusted.event_type: ("sku", "sku"),
    catalog.InventoryMoved.event_type: ("sku", "sku"),
    # Procure to pay: everything about a purchase order is known by, and handled in the order of, its number.
    catalog.PurchaseOrderIssued.event_type: ("purchase_order.number", "purchase_order.number"),
    catalog.PurchaseOrderChanged.event_type: ("purchase_order.number", "purchase_order.number"),
    catalog.PurchaseOrderTransmitted.event_type: ("order", "order"),
    catalog.PurchaseOrderAcknowledged.event_type: ("acknowledgement.order", "acknowledgement.order"),
    catalog.PurchaseOrderCancellationRequested.event_type: ("order", "order"),
    catalog.ShipNoticeReceived.event_type: ("notice.order", "notice.order"),
    catalog.GoodsReceiptPosted.event_type: ("receipt.order", "receipt.order"),
    catalog.SupplierInvoiceReceived.event_type: ("invoice.order", "invoice.order"),
}


def event_type_of(payload: Mapping[str, Any], headers: Mapping[str, str], default: str | None) -> str:
    if is_cloudevent(payload):
        return str(payload["type"])
    chosen = headers.get(TYPE_HEADER) or default
    if not chosen:
        raise MappingError(f"the event type is unknown: send a CloudEvent, or say it in the {TYPE_HEADER} header")
    return chosen


def data_of(payload: Mapping[str, Any], document_field: str | None = None) -> dict[str, Any]:
    """The event's data: a CloudEvent's `data`; a bare payload as it is, or placed under `document_field` when
    the sender posts the document itself (a SalesOrder rather than {"order": SalesOrder})."""
    if is_cloudevent(payload):
        data = payload.get("data")
        if not isinstance(data, dict):
            raise MappingError("the CloudEvent carries no JSON object in 'data'")
        return data
    if document_field is not None:
        return {document_field: dict(payload)}
    return dict(payload)


def keys_of(event_type: str, data: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(subject, partition) of a payload of this type; None where the payload lacks the field."""
    subject_path, partition_path = _KEYS.get(event_type, ("id", "id"))
    return field_value(data, subject_path), field_value(data, partition_path)


def to_envelope(
    body: bytes,
    headers: Mapping[str, str],
    *,
    source: str,
    message_key: str,
    received_at: datetime,
    default_type: str | None,
    document_field: str | None = None,
) -> Envelope:
    """Check the payload against the catalogue and wrap it; a problem is a MappingError that names the field."""
    payload = parse_json(body)
    event_type = event_type_of(payload, headers, default_type)
    data = data_of(payload, document_field)
    subject, partition = keys_of(event_type, data)
    envelope_fields: dict[str, Any] = {}
    if is_cloudevent(payload):
        envelope_fields = {k: v for k, v in payload.items() if k in ("time", "correlationid", "traceparent")}
        envelope_fields["causationid"] = str(payload["id"])
        subject = subject or payload.get("subject")
    if subject is None:
        raise MappingError(f"{event_type}: the payload has no business key ({_KEYS.get(event_type, ('id',))[0]})")
    try:
        envelope = Envelope(
            id=derive_id("message", source, message_key, "0"),
            source=f"crossdock/{source}",
            type=event_type,
            subject=subject,
            time=envelope_fields.pop("time", received_at),
            data=data,
            partitionkey=partition,
            correlationid=envelope_fields.get("correlationid") or headers.get("x-correlation-id"),
            traceparent=envelope_fields.get("traceparent") or headers.get("traceparent"),
            causationid=envelope_fields.get("causationid"),
        )
        # The data must fit its published schema now, not in a handler: a bad message fails here, kept and named.
        catalog.payload_of(envelope)
    except (ValidationError, CrossdockError) as exc:
        raise MappingError(f"{event_type}: {_describe(exc)}") from None
    return envelope


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        problems = [f"{'.'.join(str(p) for p in error['loc']) or 'payload'}: {error['msg']}" for error in exc.errors()]
        return "; ".join(problems[:5])
    return str(exc)


__all__ = ["TYPE_HEADER", "data_of", "event_type_of", "is_cloudevent", "keys_of", "parse_json", "to_envelope"]
