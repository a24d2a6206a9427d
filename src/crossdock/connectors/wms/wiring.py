"""What the warehouse connectors (WMS and 3PL) need from a built hub, handed over by bootstrap: a reader of who an
order ships to. Must not: run at import time or write anything."""

from __future__ import annotations

from collections.abc import Mapping

from crossdock.connectors.wms.mapping import ShipTo
from crossdock.connectors.wms.outbound import ShipToOf
from crossdock.domain import catalog
from crossdock.domain.documents import Customer
from crossdock.hub.ports import UnitOfWorkFactory

ORDER_RECEIVED = catalog.OrderReceived.event_type


def ship_to_reader(begin: UnitOfWorkFactory, customers: Mapping[str, Customer]) -> ShipToOf:
    """Who an order goes to: its customer (named from the customer master when it lists them) and the customer's own
    reference from the latest revision of the order received. None when the hub holds no such order."""

    def ship_to(order_id: str) -> ShipTo | None:
        with begin() as uow:
            record = uow.orders.load(order_id)
            if record is None or record.customer_id is None:
                return None
            received = [e.envelope for e in uow.log.for_subject(order_id) if e.envelope.type == ORDER_RECEIVED]
        reference = None
        if received:
            reference = catalog.payload_as(received[-1], catalog.OrderReceived).order.customer_reference
        customer = customers.get(record.customer_id)
        return ShipTo(customer=record.customer_id, name=customer.name if customer else "", customer_reference=reference)

    return ship_to
