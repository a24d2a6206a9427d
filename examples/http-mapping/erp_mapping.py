"""Mapping for an ERP that Crossdock has no connector for, reached through `kind: http` (README.md beside this file).

The ERP posts a webhook when a sales document is created; it becomes the catalogue's order.received. The hub tells
the ERP its verdict on each order by setting the document's status. Plain functions: no I/O, no clock, no state.
"""

from __future__ import annotations

from typing import Any

from crossdock.connectors.http import Event, Identity, Received, Request
from crossdock.domain import catalog
from crossdock.domain.events import Envelope

CHANNEL = "erp"  # the sales channel the hub files these orders under


def identify(request: Received) -> Identity:
    """At intake, before anything else: the ERP's own webhook id is the dedupe key; the document number is what the
    request is about, and the hub handles one document's messages in order."""
    webhook = request.json()
    number = (webhook.get("doc") or {}).get("doc_no")  # a ping is about no document
    return Identity(key=f"erp-webhook:{webhook['event_id']}", business_key=number, partition_key=number)


def order_in(request: Received) -> Event | None:
    """salesdoc.created -> crossdock.order.received.v1. A ping carries nothing for the hub."""
    webhook = request.json()
    if webhook["event"] == "ping":
        return None
    doc = webhook["doc"]
    order: dict[str, Any] = {
        "number": doc["doc_no"],
        "customer": doc["sold_to"],
        "channel": CHANNEL,
        "currency": doc["currency"],
        "ordered_at": doc.get("created"),
        "customer_reference": doc.get("po_ref"),
        "lines": [
            {
                "line": item["pos"] // 10,  # the ERP numbers its positions 10, 20, 30...
                "sku": item["material"],
                "quantity": {"value": item["qty"], "unit": item.get("uom", "EA")},
                "unit_price": item["net_price"],
            }
            for item in doc["items"]
        ],
    }
    return Event(type=catalog.OrderReceived.event_type, data={"order": order})


def order_out(event: Envelope) -> Request | None:
    """The hub's verdict on an order, as the document's status in the ERP. Anything else is not the ERP's business:
    None, and nothing is sent."""
    if event.type == catalog.OrderAccepted.event_type:
        accepted = catalog.payload_as(event, catalog.OrderAccepted)
        return Request(
            "PUT",
            f"/api/sales-documents/{accepted.order}/status",
            json={"status": "RELEASED", "net_value": accepted.total.amount, "currency": accepted.total.currency},
        )
    if event.type == catalog.OrderRejected.event_type:
        rejected = catalog.payload_as(event, catalog.OrderRejected)
        return Request(
            "PUT",
            f"/api/sales-documents/{rejected.order}/status",
            json={"status": "BLOCKED", "reasons": [f"{reason.code}: {reason.message}" for reason in rejected.reasons]},
        )
    return None
