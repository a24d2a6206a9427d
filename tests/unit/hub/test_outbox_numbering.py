"""Every way into the outbox goes through the destination's numbering hook: events queued by the processor and
events resent by a resync alike, so a destination that must number its deliveries (an EDI partner) never gets one
without; a resync queues only what the destination subscribes to."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from crossdock.hub.outbox import Outbox, Subscription
from crossdock.hub.ports import Delivery, DeliveryFilter, DeliveryStatus, NewDelivery, StoredEvent, UnitOfWork
from crossdock.storage.memory import MemoryUnitOfWorkFactory
from tests.unit.factories import T0, make_envelope

ORDER_ACCEPTED = "crossdock.order.accepted.v1"
ORDER_RECEIVED = "crossdock.order.received.v1"


class Counter:
    """Stands in for a partner's sequence: numbers each delivery it sees, refuses one it numbered before."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(
        self, uow: UnitOfWork, stored: StoredEvent, delivery: NewDelivery, now: datetime
    ) -> NewDelivery | None:
        if delivery.id in self.seen:
            return None
        self.seen.add(delivery.id)
        return replace(delivery, payload={**delivery.payload, "number": len(self.seen)})


def stored(position: int, event_type: str = ORDER_ACCEPTED) -> StoredEvent:
    return StoredEvent(position, make_envelope(id=f"evt-{position}", type=event_type, subject=f"SO-{position}"), None)


def outbox_with_numbered_partner() -> Outbox:
    return Outbox(
        destinations={},
        subscriptions=[Subscription("partner", (ORDER_ACCEPTED,)), Subscription("erp", ("crossdock.order.*",))],
        shards=4,
        numbering={"partner": Counter()},
    )


def pending(uow: UnitOfWork, destination: str) -> list[Delivery]:
    return uow.outbox.find(DeliveryFilter(destination=destination, status=DeliveryStatus.PENDING, limit=100))


def test_events_queued_and_events_resent_are_both_numbered_and_others_are_left_as_built() -> None:
    box = outbox_with_numbered_partner()
    begin = MemoryUnitOfWorkFactory(lambda: T0)
    with begin() as uow:
        box.enqueue(uow, [stored(1), stored(2, ORDER_RECEIVED)], T0)
        resent = box.resend_events(uow, [stored(1), stored(2, ORDER_RECEIVED)], "partner", T0, "ops", generation=1)

        partner = sorted((d.event_id, d.payload.get("number"), d.id) for d in pending(uow, "partner"))
        erp = [(d.event_id, d.payload.get("number")) for d in pending(uow, "erp")]

    assert resent == 1, "order.received is not the partner's: a resync does not force it on it"
    assert [(event, number) for event, number, _ in partner] == [("evt-1", 1), ("evt-1", 2)]
    assert partner[0][2] != partner[1][2], "a resend is a new delivery"
    assert sorted(erp) == [("evt-1", None), ("evt-2", None)]


def test_a_delivery_the_hook_refuses_is_not_queued() -> None:
    box = outbox_with_numbered_partner()
    begin = MemoryUnitOfWorkFactory(lambda: T0)
    with begin() as uow:
        box.enqueue(uow, [stored(1)], T0)
        box.enqueue(uow, [stored(1)], T0)  # processed again after a crash: numbered before

        assert [(d.event_id, d.payload.get("number")) for d in pending(uow, "partner")] == [("evt-1", 1)]
