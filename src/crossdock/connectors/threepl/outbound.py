"""Releases to a 3PL's warehouse out as files in its outbound folder (local or SFTP): an X12 940 warehouse shipping
order, or a CSV shipping order (and a CSV cancel file per shipping order a release cancellation reaches) for a 3PL
without EDI. For an X12 3PL the rest of what the partner gets (the 997s answering its files) is rendered by the EDI
connector's sender, so one destination serves the partner. A cancellation of what was released to another location
is delivered without a file.

A 940 carries the partner's control numbers, taken by the hub when it queued the delivery (`plan()` says what the
file will carry); a retry or replay writes the same bytes under the same name. Who the goods go to is read when the
delivery is sent, through `ship_to`, and the order's releases and cancellations through `order_events`. Must not:
decide what is released or cancelled (the order desk does) or write to the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from crossdock.connectors import x12
from crossdock.connectors.edi.outbound import EdiSender, RenderError, numbers_of
from crossdock.connectors.files.client import Transport
from crossdock.connectors.threepl import mapping
from crossdock.connectors.threepl.inbound import Format
from crossdock.connectors.wms.mapping import ShipTo
from crossdock.connectors.wms.outbound import ShipToOf
from crossdock.connectors.x12 import mapping as x12_mapping
from crossdock.domain import catalog
from crossdock.domain.events import Envelope
from crossdock.hub.ports import AttemptOutcome, Delivery, PlannedInterchange, SendResult

RELEASED = catalog.ShipmentReleased.event_type
CANCELLED = catalog.ReleaseCancelled.event_type
SHIPPING_ORDER = "940"
# order_events(order number) -> the order's events in log order (its releases and their cancellations among them).
OrderEventsOf = Callable[[str], list[Envelope]]


class ThreePlSender:
    """One 3PL: a file per release from its location; releases from other locations are delivered without one."""

    def __init__(
        self,
        destination: str,
        format: Format,
        location: str,
        transport: Transport,
        edi: EdiSender | None = None,
        ship_to: ShipToOf | None = None,
        order_events: OrderEventsOf | None = None,
    ) -> None:
        if format == "x12" and edi is None:
            raise ValueError(f"destinations.{destination}: an X12 3PL needs its partner's EDI profile")
        self.destination = destination
        self.format = format
        self.location = location
        self.transport = transport
        self.edi = edi
        self._ship_to = ship_to
        self._order_events = order_events

    def ship_to_with(self, ship_to: ShipToOf) -> None:
        """Read who an order goes to through `ship_to` (bootstrap hands over the order reader)."""
        self._ship_to = ship_to

    def order_events_with(self, order_events: OrderEventsOf) -> None:
        """Read an order's releases and cancellations through `order_events` (bootstrap hands over the reader)."""
        self._order_events = order_events

    # -- planning, inside the transaction that queues the delivery --------------------------------------------------

    def plan(self, event: Envelope) -> PlannedInterchange | None:
        if self.edi is None:
            return None  # CSV files carry no control numbers
        if event.type == CANCELLED and not self._ours(event.data):
            return None  # another location's: delivered without a file
        if event.type != RELEASED:
            return self.edi.plan(event)
        released = _released(event.data)
        if released is None or released.from_location != self.location:
            return None
        return PlannedInterchange(
            partner=self.edi.profile.name,
            standard="x12",
            functional_id="OW",
            sets=((SHIPPING_ORDER, "0001"),),
            document=f"shipping order for release {released.release} of order {released.order}",
            business_key=released.release,
        )

    # -- sending ----------------------------------------------------------------------------------------------------

    def send(self, deliveries: Sequence[Delivery]) -> list[SendResult]:
        return [self._send_one(delivery) for delivery in deliveries]

    def close(self) -> None:
        self.transport.close()

    def _send_one(self, delivery: Delivery) -> SendResult:
        started = time.perf_counter()
        data = delivery.payload.get("data")
        if delivery.event_type == CANCELLED and not self._ours(data):
            return _result(delivery, AttemptOutcome.DELIVERED, started, None)  # released elsewhere: nothing here
        if delivery.event_type != RELEASED and not (delivery.event_type == CANCELLED and self.format == "csv"):
            if self.edi is not None:
                return self.edi.send([delivery])[0]
            return _result(
                delivery,
                AttemptOutcome.PERMANENT,
                started,
                f"{delivery.event_type} is not sent to a CSV 3PL (sent: {RELEASED}, {CANCELLED})",
            )
        try:
            files = self._files(delivery)
        except (RenderError, ValueError) as exc:
            return _result(delivery, AttemptOutcome.PERMANENT, started, str(exc))
        except LookupError as exc:
            return _result(delivery, AttemptOutcome.RETRYABLE, started, str(exc))
        for name, content in files:
            try:
                self.transport.write_outbound(name, content)
            except OSError as exc:
                return _result(delivery, AttemptOutcome.RETRYABLE, started, f"cannot write {name}: {exc}")
        return _result(delivery, AttemptOutcome.DELIVERED, started, None)

    def _files(self, delivery: Delivery) -> list[tuple[str, bytes]]:
        if delivery.event_type == CANCELLED:
            return self.render_cancellation(delivery)
        rendered = self.render(delivery)
        return [] if rendered is None else [rendered]

    def _ours(self, data: object) -> bool:
        """A release cancellation for this 3PL's location, or one recorded before cancellations said where."""
        where = data.get("from_location") if isinstance(data, dict) else None
        return where is None or where == self.location

    def render_cancellation(self, delivery: Delivery) -> list[tuple[str, bytes]]:
        """The cancel files a release cancellation becomes: `cancel-<release>.csv` per shipping order here it takes
        quantities off, each with the total cancelled of it so far (a later file of the same release replaces an
        earlier one). RenderError for a cancellation that no shipping order here can carry; LookupError while the
        order reader is not there yet."""
        data = delivery.payload.get("data")
        try:
            cancelled = catalog.ReleaseCancelled.model_validate(data)
        except ValidationError:
            raise RenderError(
                f"{delivery.event_type} event {delivery.event_id} is not a valid release cancellation"
            ) from None
        if self._order_events is None:
            raise LookupError(f"{self.destination}: the order reader is not wired yet")
        events = self._order_events(cancelled.order)
        found, unplaced = mapping.release_cancellations(events, self.location, delivery.event_id)
        if unplaced > 0 and cancelled.from_location == self.location:
            raise RenderError(
                f"order {cancelled.order}: {unplaced} of the cancelled quantities is on no shipping order released "
                f"to {self.location}"
            )
        return [(f"cancel-{each.release}.csv", mapping.cancellation_csv(each, cancelled.reason)) for each in found]

    def render(self, delivery: Delivery) -> tuple[str, bytes] | None:
        """The file a release becomes (name, bytes), or None for another location's release. RenderError (a
        ValueError) says why it cannot be sent; LookupError that the order reader is not there yet."""
        data = delivery.payload.get("data")
        released = _released(data if isinstance(data, dict) else {})
        if released is None:
            raise RenderError(f"{delivery.event_type} event {delivery.event_id} is not a valid release")
        if released.from_location != self.location:
            return None
        if self._ship_to is None:
            raise LookupError(f"{self.destination}: the order reader is not wired yet")
        ship_to = self._ship_to(released.order)
        if ship_to is None:
            raise RenderError(
                f"order {released.order} is not known to the hub: no one to ship release {released.release} to"
            )
        if self.format == "csv":
            return f"release-{released.release}.csv", mapping.shipping_order_csv(released, ship_to)
        return self._x12(delivery, released, ship_to)

    def _x12(self, delivery: Delivery, released: catalog.ShipmentReleased, ship_to: ShipTo) -> tuple[str, bytes]:
        assert self.edi is not None
        rules = self.edi.profile.x12_rules()
        numbers = numbers_of(delivery)
        if numbers.group is None:
            raise RenderError(f"edi-unnumbered: a 940 for {self.edi.profile.name} needs a group control number")
        order = x12_mapping.warehouse_order_from_release(
            released,
            ship_to=x12_mapping.Address(name=ship_to.name or ship_to.customer, id=ship_to.customer),
            customer_reference=ship_to.customer_reference,
        )
        try:
            tx = x12_mapping.warehouse_order_to_940(order, rules)
            controls = x12_mapping.ControlNumbers(interchange=numbers.interchange, group=numbers.group)
            interchange = x12_mapping.build_interchange(rules, [tx], controls, delivery.created_at)
            return f"{SHIPPING_ORDER}-{numbers.interchange:09d}.edi", x12.write(interchange)
        except x12.X12Error as exc:
            raise RenderError(f"release {released.release} to {self.edi.profile.name}: {exc}") from None


def _released(data: object) -> catalog.ShipmentReleased | None:
    try:
        return catalog.ShipmentReleased.model_validate(data)
    except ValidationError:
        return None


def _result(delivery: Delivery, outcome: AttemptOutcome, started: float, error: str | None) -> SendResult:
    return SendResult(delivery.id, outcome, None, error, None, (time.perf_counter() - started) * 1000)
