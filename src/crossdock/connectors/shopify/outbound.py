"""Deliver canonical events to one shop through the Admin REST API: channel availability as inventory levels,
shipments as fulfillments with tracking, whole-order cancellations. The answer decides the outcome: 2xx delivered;
429 retryable after Retry-After (the rest of the batch waits with it); 5xx and transport errors retryable; other 4xx
and deliveries that cannot be mapped permanent, with the reason.

Other systems' ids (the Shopify location and inventory item) come from the cross-reference store through `resolve`,
read when the delivery is sent: a link made after the event still counts, and a missing one dead-letters the
delivery with the link to make, to be replayed once it exists. Must not: write to the hub's store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from crossdock.connectors import http_delivery
from crossdock.connectors.shopify import mapping
from crossdock.connectors.shopify.client import Answer, ShopifyClient, TransportError
from crossdock.connectors.shopify.options import ShopOptions
from crossdock.domain import catalog
from crossdock.hub.errors import MappingError, PermanentDeliveryError, RetryableDeliveryError
from crossdock.hub.ports import AttemptOutcome, Delivery, SendResult

log = logging.getLogger(__name__)

# resolve(kind, hub_id) -> the other system's id, from the cross-reference store (kind "location" or "item").
Resolve = Callable[[str, str], str | None]
ORDER_CANCELLED = ("crossdock.order.cancelled.v1", "crossdock.order.cancelled.v2")
DEFAULT_RETRY_AFTER = 2.0  # Shopify's own Retry-After on REST 429s


def retry_after(answer: http_delivery.Answer) -> float:
    """Shopify sends Retry-After as seconds, possibly with a fraction ('2.0')."""
    try:
        return max(float(answer.headers.get("retry-after", "")), 0.0)
    except ValueError:
        return DEFAULT_RETRY_AFTER


def _bucket_wait(answer: http_delivery.Answer) -> float | None:
    # Only a 429 says the shop's bucket is full; other retryable answers come back on the outbox's own backoff.
    return retry_after(answer) if answer.status_code == 429 else None


def _checked(answer: Answer, what: str) -> Answer:
    http_delivery.checked(answer, what, wait=_bucket_wait)
    return answer


class ShopifySender:
    def __init__(
        self, destination: str, rules: ShopOptions, client: ShopifyClient, resolve: Resolve | None = None
    ) -> None:
        self.destination = destination
        self.rules = rules
        self.client = client
        self._resolve = resolve

    def resolve_with(self, resolve: Resolve) -> None:
        """Read other systems' ids through `resolve` (bootstrap hands over the cross-reference reader)."""
        self._resolve = resolve

    def send(self, deliveries: Sequence[Delivery]) -> list[SendResult]:
        results: list[SendResult] = []
        waiting: float | None = None  # Retry-After of a 429 earlier in this batch: the shop's bucket is full
        for delivery in deliveries:
            started = time.perf_counter()
            if waiting is not None:
                error = "held back: Shopify answered 429 to an earlier call of this batch"
                results.append(http_delivery.result(delivery, AttemptOutcome.RETRYABLE, started, 429, error, waiting))
                continue
            try:
                status = self._send_one(delivery)
            except RetryableDeliveryError as exc:
                if exc.status_code == 429:
                    waiting = exc.retry_after
                results.append(http_delivery.refused(delivery, started, exc))
            except PermanentDeliveryError as exc:
                results.append(http_delivery.refused(delivery, started, exc))
            except (MappingError, KeyError, ValueError, TypeError) as exc:
                error = f"cannot be sent to Shopify: {exc.__class__.__name__}: {exc}"
                results.append(http_delivery.result(delivery, AttemptOutcome.PERMANENT, started, None, error))
            except TransportError as exc:
                results.append(http_delivery.unanswered(delivery, started, exc))
            else:
                results.append(http_delivery.result(delivery, AttemptOutcome.DELIVERED, started, status, None))
        return results

    def _send_one(self, delivery: Delivery) -> int | None:
        """Send it; the HTTP status of the last call, or None when there was nothing for this shop to do."""
        data: Mapping[str, Any] = delivery.payload.get("data") or {}
        if delivery.event_type == catalog.AvailabilityChanged.event_type:
            return self._inventory_level(data)
        if delivery.event_type == catalog.ShipmentConfirmed.event_type:
            return self._fulfil(data["shipment"])
        if delivery.event_type in ORDER_CANCELLED:
            return self._cancel(data)
        raise PermanentDeliveryError(f"Shopify takes no {delivery.event_type}: subscribe the shop to fewer events")

    def _link(self, kind: str, hub_id: str, what: str) -> int:
        if self._resolve is None:
            raise PermanentDeliveryError(f"{self.destination} was built without the cross-reference reader")
        external = self._resolve(kind, hub_id)
        if external is None:
            raise PermanentDeliveryError(
                f"no Shopify {what} is linked to {kind} {hub_id!r} for {self.destination}: link it in the "
                "cross-reference store, then replay this delivery"
            )
        return mapping.shopify_id(external, "InventoryItem" if kind == "item" else "Location", f"{kind} {hub_id}")

    def _inventory_level(self, data: Mapping[str, Any]) -> int | None:
        if data.get("channel") != self.rules.channel:
            return None  # another channel's availability
        if self.rules.inventory_location is None:
            raise PermanentDeliveryError(f"{self.destination} has no inventory_location to set availability at")
        location = self._link("location", self.rules.inventory_location, "location")
        item = self._link("item", str(data["sku"]), "inventory item")
        body = mapping.inventory_level(location, item, Decimal(str(data["available"]["value"])))
        return _checked(
            self.client.request("POST", "/inventory_levels/set.json", json=body), "inventory level"
        ).status_code

    def _fulfil(self, shipment: Mapping[str, Any]) -> int | None:
        order_id = mapping.order_id_from_number(self.rules, str(shipment["order"]))
        if order_id is None:
            return None  # an order of another channel
        listed = _checked(
            self.client.request("GET", f"/orders/{order_id}/fulfillment_orders.json"), "fulfillment orders"
        )
        orders = mapping.parse_json(listed.content).get("fulfillment_orders") or []
        try:
            body = mapping.fulfillment_request(shipment, orders)
        except MappingError:
            if _nothing_open(orders):
                return listed.status_code  # fulfilled already: this is a repeat of a send that went through
            raise
        return _checked(self.client.request("POST", "/fulfillments.json", json=body), "fulfillment").status_code

    def _cancel(self, data: Mapping[str, Any]) -> int | None:
        order_id = mapping.order_id_from_number(self.rules, str(data["order"]))
        if order_id is None:
            return None
        whole = data.get("whole", not data.get("lines"))
        if not whole:
            raise PermanentDeliveryError(
                f"order {data['order']}: Shopify cancels whole orders only; a cancelled quantity is an order edit there"
            )
        answer = self.client.request("POST", f"/orders/{order_id}/cancel.json", json={})
        if answer.status_code == 422:
            current = _checked(self.client.request("GET", f"/orders/{order_id}.json"), "order")
            if mapping.parse_json(current.content).get("cancelled_at"):
                return current.status_code  # cancelled already, in Shopify or by an earlier send
        return _checked(answer, "cancellation").status_code

    def close(self) -> None:
        self.client.close()


def _nothing_open(fulfillment_orders: Sequence[Mapping[str, Any]]) -> bool:
    return all(
        Decimal(line.get("fulfillable_quantity", 0)) == 0
        for order in fulfillment_orders
        for line in order.get("line_items") or []
    )
