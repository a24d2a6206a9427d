"""Deliver to the WMS: each release to a warehouse it runs becomes a pick release, each release cancellation a cancel
call, both with the delivery id as Idempotency-Key so that a retried release is never picked twice. The answer
decides the outcome: 2xx delivered; 408, 425, 429, 5xx, timeouts and connection errors retryable (Retry-After
honoured); any other 4xx permanent. A release, or a release cancellation, from a location the WMS does not run is
delivered without a call.

Who the goods go to is read when the delivery is sent, through `ship_to` (bootstrap hands over a reader of the
order); an order it cannot name dead-letters the delivery with the reason. Must not: write to the hub's store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from crossdock.connectors import http_delivery
from crossdock.connectors.wms import client as wms_client
from crossdock.connectors.wms import mapping
from crossdock.domain import catalog
from crossdock.hub.errors import MappingError, PermanentDeliveryError, RetryableDeliveryError
from crossdock.hub.ports import AttemptOutcome, Delivery, SendResult

# ship_to(order number) -> who the order goes to, or None when the hub does not know the order.
ShipToOf = Callable[[str], mapping.ShipTo | None]
NOTHING_HERE = 404  # a cancellation for an order the WMS holds no pick release of: nothing to stop


class WmsSender:
    def __init__(
        self,
        destination: str,
        warehouses: mapping.Warehouses,
        client: wms_client.WmsClient,
        ship_to: ShipToOf | None = None,
    ) -> None:
        self.destination = destination
        self.warehouses = warehouses
        self.client = client
        self._ship_to = ship_to

    def ship_to_with(self, ship_to: ShipToOf) -> None:
        """Read who an order goes to through `ship_to` (bootstrap hands over the order reader)."""
        self._ship_to = ship_to

    def send(self, deliveries: Sequence[Delivery]) -> list[SendResult]:
        return [self._send_one(delivery) for delivery in deliveries]

    def close(self) -> None:
        self.client.close()

    def _send_one(self, delivery: Delivery) -> SendResult:
        started = time.perf_counter()
        try:
            status = self._deliver(delivery)
        except (RetryableDeliveryError, PermanentDeliveryError) as exc:
            return http_delivery.refused(delivery, started, exc)
        except (MappingError, ValidationError, ValueError) as exc:
            error = f"cannot map for the WMS: {exc}"
            return http_delivery.result(delivery, AttemptOutcome.PERMANENT, started, None, error)
        except wms_client.TransportError as exc:
            return http_delivery.unanswered(delivery, started, exc)
        return http_delivery.result(delivery, AttemptOutcome.DELIVERED, started, status, None)

    def _deliver(self, delivery: Delivery) -> int | None:
        data = delivery.payload.get("data")
        if not isinstance(data, dict):
            raise MappingError(f"{delivery.event_type} event {delivery.event_id} carries no data object")
        type_name, data = catalog.upcast(delivery.event_type, data)
        if type_name == catalog.ShipmentReleased.event_type:
            return self._release(delivery, catalog.ShipmentReleased.model_validate(data))
        if type_name == catalog.ReleaseCancelled.event_type:
            return self._cancel(delivery, catalog.ReleaseCancelled.model_validate(data))
        raise PermanentDeliveryError(
            f"{delivery.event_type} is not sent to a WMS (sent: {catalog.ShipmentReleased.event_type}, "
            f"{catalog.ReleaseCancelled.event_type})"
        )

    def _release(self, delivery: Delivery, released: catalog.ShipmentReleased) -> int | None:
        warehouse = self.warehouses.code_of(released.from_location)
        if warehouse is None:
            return None  # another location's release: the subscription is by type, the location is in the event
        if self._ship_to is None:
            raise RetryableDeliveryError(f"{self.destination}: the order reader is not wired yet")
        ship_to = self._ship_to(released.order)
        if ship_to is None:
            raise PermanentDeliveryError(f"order {released.order} is not known to the hub: no one to ship to")
        body = mapping.pick_release(released, warehouse, ship_to)
        answer = self.client.post(wms_client.PICK_RELEASES, body, idempotency_key=delivery.id)
        return http_delivery.checked(answer, f"pick release {released.release} of order {released.order}")

    def _cancel(self, delivery: Delivery, cancelled: catalog.ReleaseCancelled) -> int | None:
        warehouse = None
        if cancelled.from_location is not None:
            warehouse = self.warehouses.code_of(cancelled.from_location)
            if warehouse is None:
                return None  # released to another location's warehouse: nothing of it is here to stop
        body = mapping.cancellation(cancelled, warehouse)
        answer = self.client.post(wms_client.CANCELLATIONS, body, idempotency_key=delivery.id)
        if answer.status_code == NOTHING_HERE:
            return answer.status_code  # none of the order was released to this WMS
        return http_delivery.checked(answer, f"cancellation of order {cancelled.order}")
