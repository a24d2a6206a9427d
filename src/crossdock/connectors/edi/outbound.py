"""EDI out to one trading partner (the Sender of a destination `kind: edi`): events rendered as 997 / CONTRL, 850,
856 / DESADV, 810 / INVOIC, one file per delivery through the partner's transport. Must not: decide what is owed
(handlers do) or read configuration (it is handed a Profile).

Control numbers (ISA13 / UNB 0020 and GS06) are the partner's gap-free sequence, taken by the hub in the transaction
that queued the delivery and carried in it (`controlnumbers`); the sender writes what it was given, so a retry or a
replay renders the same bytes under the same file name. `plan()` tells the hub, before numbering, whether an event
becomes a file for this partner at all, and what that file carries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

from pydantic import ValidationError

from crossdock.connectors import edifact, x12
from crossdock.connectors.edi.profiles import Profile
from crossdock.connectors.edifact import mapping as edifact_mapping
from crossdock.connectors.edifact import writer as edifact_writer
from crossdock.connectors.edifact.contrl import ACCEPTED as CONTRL_ACCEPTED
from crossdock.connectors.edifact.contrl import REJECTED as CONTRL_REJECTED
from crossdock.connectors.files.client import Transport
from crossdock.connectors.x12 import mapping as x12_mapping
from crossdock.connectors.x12.acknowledgement import ACCEPTED as X12_ACCEPTED
from crossdock.domain import catalog, documents
from crossdock.domain.errors import CrossdockError
from crossdock.domain.events import Envelope
from crossdock.hub.ports import CONTROL_NUMBERS, AttemptOutcome, Delivery, PlannedInterchange, SendResult

INTERCHANGE_RECEIVED = catalog.EdiInterchangeReceived.event_type
PURCHASE_ORDER_RELEASED = catalog.PurchaseOrderReleased.event_type
SHIPMENT_CONFIRMED = catalog.ShipmentConfirmed.event_type
INVOICE_POSTED = catalog.InvoicePosted.event_type
AVAILABILITY_CHANGED = catalog.AvailabilityChanged.event_type
# The field of a delivery's payload holding the customer's part numbers by our sku ({"SKU-1": "BP-9"}), put there by
# the hub's EDI desk from the cross-references (kind item, system the partner) recorded when their orders named them.
BUYER_ITEMS = "buyeritems"
# Functional groups that carry acknowledgements: X12 FA (997, 999), EDIFACT CONTRL.
_ACKNOWLEDGEMENTS = frozenset({"FA", "CONTRL"})
# Numbers for a render whose bytes are thrown away (planning): any valid ones do.
_PLANNING = (1, 1)
# X12 353 (BEG01): 00 original, 05 replace; a later revision of a PO replaces the terms sent before.
_REPLACE = "05"


class RenderError(ValueError):
    """The event cannot become a file for this partner; retrying will not change that."""


@dataclass(frozen=True)
class Numbers:
    """The interchange and group control numbers a file is written with."""

    interchange: int
    group: int | None  # None: EDIFACT, sent without UNG groups


@dataclass(frozen=True)
class Rendered:
    """One file for the partner: its name in the outbound folder, its bytes, and what it carries."""

    name: str
    data: bytes
    functional_id: str = ""
    sets: tuple[tuple[str, str], ...] = ()
    document: str = ""
    business_key: str = ""
    acknowledged: bool = True
    order: str | None = None  # with customer: the file goes only if the hub holds the order as that customer's
    customer: str | None = None


def numbers_of(delivery: Delivery) -> Numbers:
    """The control numbers the hub gave a delivery; RenderError when it carries none."""
    given = delivery.payload.get(CONTROL_NUMBERS)
    if not isinstance(given, dict) or not isinstance(given.get("interchange"), int):
        raise RenderError(
            f"edi-unnumbered: delivery {delivery.id} ({delivery.event_type}) carries no control numbers; deliveries "
            "to trading partners are numbered when the hub queues them"
        )
    group = given.get("group")
    return Numbers(interchange=given["interchange"], group=group if isinstance(group, int) else None)


class EdiSender:
    """A Sender for the outbox: one X12 or EDIFACT file per delivery into the partner's outbound folder. An event
    addressed to another partner (their interchange, another supplier's PO, another customer's invoice) is
    delivered without a file: the subscription is by event type, the partner is read from the event."""

    def __init__(self, profile: Profile, transport: Transport) -> None:
        self.profile = profile
        self.transport = transport
        self._x12 = profile.x12_rules() if profile.standard == "x12" else None
        self._edifact = profile.edifact_options() if profile.standard == "edifact" else None

    def send(self, deliveries: Sequence[Delivery]) -> list[SendResult]:
        return [self._send_one(delivery) for delivery in deliveries]

    def close(self) -> None:
        self.transport.close()

    def _send_one(self, delivery: Delivery) -> SendResult:
        started = time.perf_counter()
        try:
            rendered = self.render(delivery)
        except RenderError as exc:
            return _result(delivery, AttemptOutcome.PERMANENT, started, str(exc))
        if rendered is None:
            return _result(delivery, AttemptOutcome.DELIVERED, started, None)
        try:
            self.transport.write_outbound(rendered.name, rendered.data)
        except OSError as exc:
            return _result(delivery, AttemptOutcome.RETRYABLE, started, f"cannot write {rendered.name}: {exc}")
        return _result(delivery, AttemptOutcome.DELIVERED, started, None)

    # -- rendering --------------------------------------------------------------------------------------------

    def plan(self, event: Envelope) -> PlannedInterchange | None:
        """What the event becomes for this partner, before it is numbered; None when no file goes to them (another
        partner's event, or one the sender will refuse: that delivery dead-letters with the reason, no number
        spent on it)."""
        try:
            rendered = self._render(event.type, dict(event.data), Numbers(*_PLANNING), event.time, event.id)
        except RenderError:
            return None
        if rendered is None:
            return None
        return PlannedInterchange(
            partner=self.profile.name,
            standard=self.profile.standard,
            functional_id=rendered.functional_id,
            sets=rendered.sets,
            document=rendered.document,
            business_key=rendered.business_key,
            acknowledged=rendered.acknowledged,
            order=rendered.order,
            customer=rendered.customer,
        )

    def render(self, delivery: Delivery) -> Rendered | None:
        """The file a delivery becomes, or None when its event is for another partner. RenderError says why an
        event cannot be sent to this partner (unknown type, wrong role, data the mapping refuses, no numbers)."""
        data, kind, at = _data(delivery), delivery.event_type, delivery.created_at
        try:
            numbers = numbers_of(delivery)
        except RenderError:
            # Another partner's event is numbered for no one: it is delivered without a file, as before.
            if self._render(kind, data, Numbers(*_PLANNING), at, delivery.event_id) is None:
                return None
            raise
        return self._render(kind, data, numbers, at, delivery.event_id, buyer_items_of(delivery))

    def _render(
        self,
        event_type: str,
        event_data: dict[str, Any],
        numbers: Numbers,
        at: datetime,
        event_id: str,
        buyer_items: Mapping[str, str] | None = None,
    ) -> Rendered | None:
        renderers: Mapping[str, Callable[[Any, Numbers, datetime], Rendered | None]] = {
            INTERCHANGE_RECEIVED: self._acknowledgement,
            PURCHASE_ORDER_RELEASED: self._purchase_order,
            SHIPMENT_CONFIRMED: partial(self._shipment, buyer_items=buyer_items or {}),
            INVOICE_POSTED: partial(self._invoice, buyer_items=buyer_items or {}),
            AVAILABILITY_CHANGED: self._inventory_advice,
        }
        type_name, data = catalog.upcast(event_type, event_data)
        renderer = renderers.get(type_name)
        if renderer is None:
            raise RenderError(
                f"edi-unsupported-event: {event_type} is not sent to trading partners "
                f"(sent: {', '.join(sorted(renderers))})"
            )
        try:
            payload = catalog.EVENT_TYPES[type_name].model_validate(data)
            return renderer(payload, numbers, at)
        except RenderError:
            raise
        except ValidationError as exc:
            raise RenderError(f"{event_type} event {event_id}: {_describe(exc)}") from None
        except (x12.X12Error, edifact.EdifactError, CrossdockError, ValueError) as exc:
            raise RenderError(f"{event_type} event {event_id} to {self.profile.name}: {exc}") from None

    def _acknowledgement(
        self, received: catalog.EdiInterchangeReceived, number: Numbers, at: datetime
    ) -> Rendered | None:
        if received.partner != self.profile.name:
            return None
        if received.standard != self.profile.standard:
            raise RenderError(
                f"edi-standard-mismatch: interchange {received.interchange} is {received.standard}, partner "
                f"{self.profile.name} uses {self.profile.standard}"
            )
        if not received.groups:
            raise RenderError(f"interchange {received.interchange} has no group or message to acknowledge")
        if all(g.functional_id in _ACKNOWLEDGEMENTS for g in received.groups):
            return None  # acknowledgements are never acknowledged: a 997 answering a 997 would never end
        # A functional acknowledgement is never itself acknowledged.
        about = f"acknowledgement of interchange {received.interchange} ({received.status.value})"
        if self._x12 is not None:
            acks = [_transaction_997(group, n) for n, group in enumerate(received.groups, start=1)]
            rendered = self._x12_file("997", acks, number, at, renumber=False)
        else:
            rendered = self._edifact_file("CONTRL", [self._contrl(received)], number, at)
        return replace(rendered, document=f"{about}", business_key=received.interchange, acknowledged=False)

    def _purchase_order(
        self, released: catalog.PurchaseOrderReleased, number: Numbers, at: datetime
    ) -> Rendered | None:
        order = released.purchase_order
        self._require_role("supplier", released)
        supplier = self.profile.settings.supplier
        if supplier is not None and order.supplier != supplier:
            return None
        if self._x12 is None:
            return self._orders(released, number, at)
        tx = x12_mapping.purchase_order_to_850(order, self._x12)
        if released.revision > 1:
            tx = _with_purpose(tx, _REPLACE)
        about = f"purchase order {order.number} revision {released.revision}"
        return replace(self._x12_file("850", [tx], number, at), document=about, business_key=order.number)

    def _orders(self, released: catalog.PurchaseOrderReleased, number: Numbers, at: datetime) -> Rendered:
        """The purchase order to an EDIFACT supplier: ORDERS in the partner's version, numbers with its decimal mark."""
        order = released.purchase_order
        version, release = _edifact_version(self.profile.settings.version)
        message = edifact_mapping.purchase_order_message(
            order,
            "1",
            revision=released.revision,
            buyer=self.profile.settings.our_id,
            decimal_mark=self.profile.edifact_delimiters().decimal,
            version=version,
            release=release,
        )
        about = f"purchase order {order.number} revision {released.revision}"
        return replace(self._edifact_file("ORDERS", [message], number, at), document=about, business_key=order.number)

    def _shipment(
        self, confirmed: catalog.ShipmentConfirmed, number: Numbers, at: datetime, *, buyer_items: Mapping[str, str]
    ) -> Rendered | None:
        self._require_role("customer", confirmed)
        shipment = confirmed.shipment
        if self._x12 is not None:
            by_line = _by_line(shipment.lines, buyer_items)
            tx = x12_mapping.shipment_to_856(shipment, self._x12, buyer_items=by_line)
            rendered = self._x12_file("856", [tx], number, at)
        else:
            assert self._edifact is not None
            decimal_mark = self.profile.edifact_delimiters().decimal
            message = edifact_mapping.desadv_message(shipment, "1", decimal_mark=decimal_mark, options=self._edifact)
            rendered = self._edifact_file("DESADV", [message], number, at)
        about = f"ship notice {shipment.number} of order {shipment.order}"
        # A shipment names its order, not the customer (the 810's invoice does): the hub's EDI desk, which can read
        # the order, sends it only when the order is this partner's customer's.
        customer = self.profile.settings.customer
        return replace(rendered, document=about, business_key=shipment.number, order=shipment.order, customer=customer)

    def _invoice(
        self, posted: catalog.InvoicePosted, number: Numbers, at: datetime, *, buyer_items: Mapping[str, str]
    ) -> Rendered | None:
        self._require_role("customer", posted)
        customer = self.profile.settings.customer
        if customer is not None and posted.invoice.customer != customer:
            return None
        if self._x12 is not None:
            by_line = _by_line(posted.invoice.lines, buyer_items)
            tx = x12_mapping.invoice_to_810(posted.invoice, self._x12, buyer_items=by_line)
            rendered = self._x12_file("810", [tx], number, at)
        else:
            decimal_mark = self.profile.edifact_delimiters().decimal
            message = edifact_mapping.invoic_message(posted.invoice, "1", decimal_mark=decimal_mark)
            rendered = self._edifact_file("INVOIC", [message], number, at)
        about = f"invoice {posted.invoice.number} of order {posted.invoice.order}"
        return replace(rendered, document=about, business_key=posted.invoice.number)

    def _inventory_advice(self, changed: catalog.AvailabilityChanged, number: Numbers, at: datetime) -> Rendered | None:
        """An 846 to a customer whose channel's availability moved: one sku, network-wide, the partner's item ids."""
        self._require_role("customer", changed)
        if changed.channel != self.profile.settings.channel:
            return None
        if self._x12 is None:
            raise RenderError(
                f"edi-unsupported-event: inventory advice to EDIFACT partners ({self.profile.name}) is not rendered "
                "(INVRPT is not mapped)"
            )
        position = x12_mapping.Availability.of(changed)
        tx = x12_mapping.inventory_advice_to_846([position], self._x12, reference=f"{number.interchange}", as_of=at)
        about = f"availability of {changed.sku} on channel {changed.channel}"
        return replace(self._x12_file("846", [tx], number, at), document=about, business_key=changed.sku)

    def _require_role(self, role: str, payload: catalog.Payload) -> None:
        if self.profile.role != role:
            raise RenderError(
                f"edi-wrong-role: {payload.event_type} goes to {role} partners; {self.profile.name} is a "
                f"{self.profile.role}"
            )

    # -- envelopes --------------------------------------------------------------------------------------------

    def _x12_file(
        self,
        kind: str,
        transactions: Sequence[x12.Transaction],
        number: Numbers,
        at: datetime,
        *,
        renumber: bool = True,
    ) -> Rendered:
        assert self._x12 is not None
        if number.group is None:
            raise RenderError(f"edi-unnumbered: an X12 {kind} for {self.profile.name} needs a group control number")
        # ST02 counts from 1 inside the interchange (unique per group, as required); ISA13 and GS06 are the hub's.
        controls = x12_mapping.ControlNumbers(
            interchange=number.interchange, group=number.group, transaction=1 if renumber else None
        )
        interchange = x12_mapping.build_interchange(self._x12, transactions, controls, at)
        [group] = interchange.groups  # one kind of set per file: one functional group, one group number taken
        return Rendered(
            f"{kind}-{number.interchange:09d}.edi",
            x12.write(interchange),
            functional_id=group.functional_id,
            sets=tuple((tx.set_id, tx.control_number) for tx in group.transactions),
        )

    def _edifact_file(self, kind: str, messages: Sequence[edifact.Message], number: Numbers, at: datetime) -> Rendered:
        s = self.profile.settings
        assert self._edifact is not None
        built = edifact_writer.interchange(
            f"{number.interchange:09d}",
            sender=(s.our_id, s.our_qualifier),
            recipient=(s.id, s.qualifier),
            prepared=at.astimezone(self._edifact.timezone),
            messages=messages,
            test=s.usage == "T",
            delimiters=self.profile.edifact_delimiters(),
        )
        # The partner's CONTRL names this interchange by its UNB 0020 (UCI) and each message by UNH 0062 (UCM).
        return Rendered(
            f"{kind.lower()}-{number.interchange:09d}.edi",
            edifact.render(built),
            functional_id=kind,
            sets=tuple((m.type, m.reference) for m in messages),
        )

    def _contrl(self, received: catalog.EdiInterchangeReceived) -> edifact.Message:
        """CONTRL from what the intake recorded: UCI for the interchange, UCF per group, UCM per message."""
        rejected = received.status is catalog.InterchangeStatus.REJECTED
        body = [
            edifact.Segment.of(
                "UCI",
                received.interchange,
                (received.sender, received.sender_qualifier),
                (received.receiver, received.receiver_qualifier),
                CONTRL_REJECTED if rejected else CONTRL_ACCEPTED,
            )
        ]
        version, release = _edifact_version(self.profile.settings.version)
        for group in received.groups:
            if group.control_number:
                group_ok = group.status in ("A", "E") and all(t.status == CONTRL_ACCEPTED for t in group.transactions)
                body.append(
                    edifact.Segment.of("UCF", group.control_number, None, None, _action(group_ok), *group.codes[:1])
                )
            for tx in group.transactions:
                body.append(
                    edifact.Segment.of(
                        "UCM", tx.control_number, (tx.set_id, version, release, "UN"), tx.status, *tx.codes[:1]
                    )
                )
        return edifact_writer.message("1", "CONTRL", body, version="D", release="3")


def buyer_items_of(delivery: Delivery) -> dict[str, str]:
    """The customer's own part numbers by our sku, as the hub found them for this delivery (none: our ids only)."""
    given = delivery.payload.get(BUYER_ITEMS)
    if not isinstance(given, dict):
        return {}
    return {str(sku): str(item) for sku, item in given.items() if isinstance(item, str) and item}


def _by_line(
    lines: Sequence[documents.ShipmentLine | documents.InvoiceLine], items: Mapping[str, str]
) -> dict[int, str]:
    """The writers echo the buyer's part number per order line; the hub knows it per sku."""
    return {line.line: items[line.sku] for line in lines if line.sku in items}


def _transaction_997(group: catalog.AcknowledgedGroup, number: int) -> x12.Transaction:
    """One 997 for one received group, from the statuses the intake recorded (AK1, AK2-AK5 per set, AK9)."""
    v5 = group.version[:3].isdigit() and int(group.version[:3]) >= 5
    segments = [x12.Segment("AK1", (group.functional_id, group.control_number, *((group.version,) if v5 else ())))]
    for tx in group.transactions:
        reference = (tx.implementation_reference,) if v5 and tx.implementation_reference else ()
        segments.append(x12.Segment("AK2", (tx.set_id, tx.control_number, *reference)))
        segments.extend(_segment_errors(tx.errors))
        segments.append(x12.Segment("AK5", (tx.status, *tx.codes[:5])))
    included = group.included if group.included is not None else len(group.transactions)
    received = group.received if group.received is not None else len(group.transactions)
    accepted = (
        group.accepted if group.accepted is not None else sum(1 for t in group.transactions if t.status in X12_ACCEPTED)
    )
    segments.append(x12.Segment("AK9", (group.status, str(included), str(received), str(accepted), *group.codes[:5])))
    return x12.Transaction(set_id="997", control_number=f"{number:04d}", segments=tuple(segments))


def _segment_errors(errors: Sequence[catalog.AcknowledgedError]) -> Iterator[x12.Segment]:
    by_segment: dict[tuple[int, str], list[catalog.AcknowledgedError]] = {}
    for error in errors:
        by_segment.setdefault((error.position, error.segment), []).append(error)
    for (position, tag), found in sorted(by_segment.items()):
        # A segment-level code travels without an element; with element errors only, AK304 8 says "see AK4".
        own = next((e.code for e in found if e.element is None), "8")
        yield x12.Segment("AK3", (tag, str(position), "", own))
        for e in found:
            if e.element is None:
                continue
            where: str | x12.Composite = str(e.element)
            if e.component is not None:
                where = x12.Composite((str(e.element), str(e.component)))
            yield x12.Segment("AK4", (where, "", e.code, *((e.value,) if e.value else ())))


def _with_purpose(tx: x12.Transaction, purpose: str) -> x12.Transaction:
    segments = tuple(x12.Segment(s.tag, (purpose, *s.elements[1:])) if s.tag == "BEG" else s for s in tx.segments)
    return x12.Transaction(set_id=tx.set_id, control_number=tx.control_number, segments=segments)


def _edifact_version(version: str) -> tuple[str, str]:
    """A profile's EDIFACT version (D96A, D:01B) as UNH S009 version and release; D96A when it says none."""
    cleaned = version.replace(":", "").upper()
    if len(cleaned) >= 4 and cleaned[0].isalpha() and cleaned[1:3].isdigit():
        return cleaned[0], cleaned[1:]
    return "D", "96A"


def _action(accepted: bool) -> str:
    return CONTRL_ACCEPTED if accepted else CONTRL_REJECTED


def _data(delivery: Delivery) -> dict[str, Any]:
    data = delivery.payload.get("data")
    if not isinstance(data, dict):
        raise RenderError(f"{delivery.event_type} event {delivery.event_id} carries no data object")
    return data


def _describe(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'data'}: {e['msg']}" for e in exc.errors()[:5])


def _result(delivery: Delivery, outcome: AttemptOutcome, started: float, error: str | None) -> SendResult:
    return SendResult(delivery.id, outcome, None, error, None, (time.perf_counter() - started) * 1000)
