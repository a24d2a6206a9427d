"""The trace of one business transaction: from one id (a correlation id, an order, PO, invoice, shipment or payment
number, another system's id, an EDI control number), every message in, event, handler decision, state, delivery
attempt, posting, exception and action reached, as one timeline in time order. Pure over the unit of work.

Owns: resolving an id to the business objects it names, following their links, and the timeline's shape that the API,
the command line and the console render. Must not: write anything, format for a screen, or read configuration.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from crossdock.domain import catalog
from crossdock.domain.accounting import JournalEntry
from crossdock.domain.events import Envelope
from crossdock.domain.workflows import order_to_cash as otc
from crossdock.hub import views
from crossdock.hub.ports import (
    Attempt,
    BusinessException,
    CrossReference,
    Delivery,
    ExceptionFilter,
    OrderRecord,
    PurchaseOrderRecord,
    SentInterchange,
    StoredEvent,
    StoredMessage,
    UnitOfWork,
)

PAYLOAD_LIMIT = 32_768  # bytes of a raw inbound message (and of an event's data) shown before it is cut
OBJECT_LIMIT = 50  # business objects one trace follows: beyond, the timeline says it was cut
MESSAGE_LIMIT = 200  # inbound messages per business key
SCAN_LIMIT = 2_000  # recent messages per EDI source searched for a group or set control number
SCAN_MATCHES = 20
INVOICE_LINK = "invoice"  # the order desk links each invoice number to its order under this kind
SHIPMENT_LINK = "shipment"  # ... and each shipment number, as it records the shipment
# The kinds of business object another system's id may stand for, tried against each configured system.
XREF_KINDS = ("order", "purchase_order", "shipment", "invoice", "payment", "receipt", "supplier_invoice")
# Header values never shown: they authenticate the sender.
SECRET_HEADERS = re.compile(r"authorization|cookie|api-key|apikey|signature|secret|token|password", re.IGNORECASE)
# Follow-ups keep their root cause's source: these roots are the hub's own (handlers/__init__.py), never stored.
DECIDING_SOURCES = frozenset({"crossdock/operator", "crossdock/timers"})
_CONTROL_SEPARATORS = re.compile(r"[:;,/]")
_END = float("inf")


@dataclass(frozen=True)
class Scope:
    """What the trace may look through besides the stores, named by the configuration: the systems whose ids are
    cross-referenced (sources and destinations), the EDI partners (an interchange is known as `partner:control`)
    and the sources that carry their files (a message's dedupe key holds its group and set control numbers)."""

    systems: tuple[str, ...] = ()
    edi_partners: tuple[str, ...] = ()
    edi_sources: tuple[str, ...] = ()

    @classmethod
    def configured(cls, sources: Mapping[str, Any], destinations: Mapping[str, Any], partners: Iterable[str]) -> Scope:
        """From the configuration's sections: sources and destinations each have a `kind` ("edi" for a partner's)."""
        return cls(
            systems=tuple(dict.fromkeys([*sources, *destinations])),
            edi_partners=tuple(partners),
            edi_sources=tuple(name for name, source in sources.items() if getattr(source, "kind", None) == "edi"),
        )


@dataclass(frozen=True)
class Entry:
    """One step of the timeline. `duration_ms` is the time since the entry before (None for the first one),
    `elapsed_ms` the time since the first; `links` name the API paths of what the entry is about."""

    at: datetime
    kind: str  # message, event, decision, posting, delivery, attempt, exception, action, xref, state
    title: str
    detail: Mapping[str, Any]
    links: Mapping[str, str] = field(default_factory=dict)
    duration_ms: float | None = None
    elapsed_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "kind": self.kind,
            "title": self.title,
            "detail": dict(self.detail),
            "duration_ms": self.duration_ms,
            "elapsed_ms": self.elapsed_ms,
            "links": dict(self.links),
        }


@dataclass(frozen=True)
class Match:
    """How the id was understood: as what (`subject`, `correlation`, `event`, `message`, `order`,
    `purchase_order`, `xref`, `invoice`, `shipment`, `document`, `edi_interchange`, `edi_control_number`) and what
    it led to."""

    found_as: str
    target: str
    note: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"as": self.found_as, "target": self.target, "note": self.note}


@dataclass(frozen=True)
class BusinessObject:
    kind: str  # order or purchase_order
    key: str
    status: str
    link: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "key": self.key, "status": self.status, "link": self.link}


@dataclass(frozen=True)
class TracedEvent:
    event: StoredEvent
    deliveries: tuple[tuple[Delivery, tuple[Attempt, ...]], ...] = ()


@dataclass(frozen=True)
class Timeline:
    """Everything the hub knows about one business transaction, in time order. `messages` and `events` hold the
    same facts grouped (messages by id, events in log order with their deliveries) for callers that want them so."""

    key: str
    matches: tuple[Match, ...]
    objects: tuple[BusinessObject, ...]
    entries: tuple[Entry, ...]
    messages: tuple[StoredMessage, ...]
    events: tuple[TracedEvent, ...]
    cut: bool = False  # more objects were linked than one trace follows

    @property
    def found(self) -> bool:
        return bool(self.entries)

    @property
    def started_at(self) -> datetime | None:
        return self.entries[0].at if self.entries else None

    @property
    def ended_at(self) -> datetime | None:
        return self.entries[-1].at if self.entries else None

    @property
    def duration_ms(self) -> float:
        return self.entries[-1].elapsed_ms if self.entries else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "matches": [m.as_dict() for m in self.matches],
            "objects": [o.as_dict() for o in self.objects],
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
            "duration_ms": self.duration_ms,
            "cut": self.cut,
            "entries": [e.as_dict() for e in self.entries],
        }


def trace(uow: UnitOfWork, key: str, scope: Scope = Scope(), *, payload_limit: int = PAYLOAD_LIMIT) -> Timeline:
    """The timeline of the business transaction `key` names; an empty one (found False) when nothing does."""
    collector = _Collector(uow, scope, payload_limit)
    wanted = key.strip()
    # No id the hub keeps holds a control character (and PostgreSQL refuses NUL in a query): such a key names nothing.
    if wanted and not any(ord(c) < 32 for c in wanted):
        collector.resolve(wanted)
    return collector.timeline(key)


# ---- finding what the id names, and what that links to ---------------------------------------------------------


class _Collector:
    def __init__(self, uow: UnitOfWork, scope: Scope, payload_limit: int) -> None:
        self.uow = uow
        self.scope = scope
        self.payload_limit = payload_limit
        self.events: dict[int, StoredEvent] = {}
        self.messages: dict[int, StoredMessage] = {}
        self.seed_messages: set[int] = set()
        self.exceptions: dict[str, BusinessException] = {}
        self.postings: dict[str, JournalEntry] = {}
        self.xrefs: dict[tuple[str, str, str], CrossReference] = {}
        self.objects: dict[str, tuple[BusinessObject, OrderRecord | PurchaseOrderRecord]] = {}
        self.matches: list[Match] = []
        self.reached: set[str] = set()
        self.documents: set[str] = set()
        self.queue: list[str] = []
        self.cut = False
        self.event_ids: set[str] = set()

    # -- the id itself ------------------------------------------------------------------------------------------

    def resolve(self, key: str) -> None:
        self._as_events(key)
        self._as_message(key)
        if self.reach(key):
            kind = self.objects[key][0].kind
            self.matches.append(Match(kind, key))
        self._as_external_id(key)
        self._as_document(key, record=True)
        self._as_interchange(key)
        self._as_sent_interchange(key)
        if not (self.events or self.messages or self.objects):
            self._as_control_number(key)
        self._expand()

    def _as_events(self, key: str) -> None:
        found = self.uow.log.for_subject(key, limit=views.HISTORY_LIMIT)
        if not found:
            return
        envelopes = [e.envelope for e in found]
        if any(e.id == key for e in envelopes):
            self.matches.append(Match("event", key))
        if any(e.correlationid == key for e in envelopes):
            self.matches.append(Match("correlation", key, f"{sum(e.correlationid == key for e in envelopes)} events"))
        if any(e.subject == key for e in envelopes):
            self.matches.append(Match("subject", key))
        for stored in found:
            self.add_event(stored)
            self.reach(stored.envelope.subject)
            if stored.envelope.type == catalog.EdiInterchangeReceived.event_type and stored.message_id is not None:
                self._seed_message(stored.message_id)

    def _as_message(self, key: str) -> None:
        for message in self.uow.inbox.find(key=key, limit=MESSAGE_LIMIT):
            if message.key == key:
                self.matches.append(Match("message", str(message.id), f"its dedupe key from {message.source}"))
                self._seed_message(message.id, message)
            else:
                self.add_message(message)
        if key.isdigit() and int(key) < 2**63 and (by_id := self.uow.inbox.get(int(key))) is not None:
            self.matches.append(Match("message", str(by_id.id), f"message id, from {by_id.source}"))
            self._seed_message(by_id.id, by_id)

    def _as_external_id(self, key: str) -> None:
        for system in self.scope.systems:
            for kind in XREF_KINDS:
                hub_id = self.uow.xrefs.hub_id(kind, system, key)
                if hub_id is None:
                    continue
                self.matches.append(Match("xref", hub_id, f"{kind} {key} in {system}"))
                self.xrefs[(kind, system, hub_id)] = CrossReference(kind, system, hub_id, key)
                for stored in self.uow.log.for_subject(hub_id, limit=views.HISTORY_LIMIT):
                    self.add_event(stored)
                self.reach(hub_id)
                self._as_document(hub_id, record=True)

    def _as_document(self, number: str, *, record: bool = False) -> None:
        """An invoice, shipment, receipt or payment number: through the order desk's invoice and shipment links, and
        through the journal, whose entries name the event each document was posted from."""
        if number in self.documents:
            return
        self.documents.add(number)
        order = self.uow.links.target(INVOICE_LINK, number)
        if order is not None:
            if record:
                self.matches.append(Match("invoice", order, f"invoice {number} of order {order}"))
            self.reach(order)
        shipped = self.uow.links.target(SHIPMENT_LINK, number)
        if shipped is not None:
            if record:
                self.matches.append(Match("shipment", shipped, f"shipment {number} of order {shipped}"))
            self.reach(shipped)
        for entry in self.uow.journal.for_source(number):
            self.postings[entry.id] = entry
            stored = self.uow.log.get(entry.source.event_id)
            if stored is None:
                continue
            if record:
                self.matches.append(
                    Match("document", stored.envelope.subject, f"{entry.source.document_type} {number}, posted")
                )
                record = False
            self.add_event(stored)
            self.reach(stored.envelope.subject)

    def _as_interchange(self, key: str) -> None:
        candidates = [key]
        if key.isdigit() and len(key) < 9:
            candidates.append(key.zfill(9))  # ISA13 is nine digits; people drop the zeros
        for partner in self.scope.edi_partners:
            for control in candidates:
                subject = f"{partner}:{control}"
                for stored in self.uow.log.for_subject(subject, limit=views.HISTORY_LIMIT):
                    if stored.envelope.subject != subject:
                        continue
                    if stored.envelope.type == catalog.EdiInterchangeReceived.event_type:
                        self.matches.append(Match("edi_interchange", subject, f"interchange {control} of {partner}"))
                    self.add_event(stored)
                    if stored.message_id is not None:
                        self._seed_message(stored.message_id)

    def _as_sent_interchange(self, key: str) -> None:
        """The control number of an interchange the hub wrote to a partner (ISA13 or UNB reference, or GS06), alone
        or as `partner:number`, the name the EDI desk's acknowledgement exceptions are about."""
        named, colon, rest = key.partition(":")
        partner, number = (named, rest) if colon and named and rest else (None, key)
        zeros = [number.zfill(9)] if number.isdigit() and len(number) < 9 else []  # ISA13 is nine digits
        candidates = list(dict.fromkeys([number, *zeros]))
        found: dict[str, SentInterchange] = {}
        for control in candidates:
            for sent in self.uow.interchanges.find(partner=partner, interchange=control, limit=SCAN_MATCHES):
                found.setdefault(sent.delivery_id, sent)
        for sent in self.uow.interchanges.find(partner=partner, group=number, limit=SCAN_MATCHES):
            found.setdefault(sent.delivery_id, sent)
        for sent in found.values():
            note = f"{sent.document} sent to {sent.partner} as interchange {sent.interchange}"
            self.matches.append(Match("edi_sent_interchange", sent.business_key, note))
            stored = self.uow.log.get(sent.event_id)
            if stored is not None:
                self.add_event(stored)
            self.reach(sent.business_key)
            self._exceptions_about(f"{sent.partner}:{sent.interchange}")  # acknowledgement overdue, rejected...

    def _exceptions_about(self, key: str) -> None:
        for exception in self.uow.exceptions.find(ExceptionFilter(status=None, about_key=key, limit=1000)):
            self.exceptions[exception.id] = exception
            for stored in self.uow.log.for_subject(exception.id, limit=views.HISTORY_LIMIT):
                if stored.envelope.subject == exception.id:
                    self.add_event(stored)

    def _as_control_number(self, key: str) -> None:
        """A group (GS06) or set (ST02, UNH) control number: only the dedupe key of the message carries it, so the
        recent messages of the EDI sources are searched, as a last resort."""
        if not key.isdigit():
            return
        wanted = key.lstrip("0") or "0"
        matched = 0
        for source in self.scope.edi_sources:
            for message in self.uow.inbox.find(source=source, limit=SCAN_LIMIT):
                tokens = _CONTROL_SEPARATORS.split(message.key)[1:]
                if any(t.isdigit() and (t.lstrip("0") or "0") == wanted for t in tokens):
                    self.matches.append(
                        Match("edi_control_number", str(message.id), f"in {message.key} from {message.source}")
                    )
                    self._seed_message(message.id, message)
                    matched += 1
                    if matched >= SCAN_MATCHES:
                        self.cut = True
                        return

    # -- what is reached ----------------------------------------------------------------------------------------

    def add_event(self, stored: StoredEvent) -> None:
        if stored.position in self.events:
            return
        self.events[stored.position] = stored
        if stored.message_id is not None and stored.message_id not in self.messages:
            message = self.uow.inbox.get(stored.message_id)
            if message is not None:
                self.add_message(message)
        if stored.envelope.type == catalog.PaymentApplied.event_type:
            # A payment names invoices, each linked to its order: that is how a payment leads to its order.
            payment = catalog.payload_as(stored.envelope, catalog.PaymentApplied).payment
            for application in payment.applications:
                order = self.uow.links.target(INVOICE_LINK, application.invoice)
                if order is not None:
                    self.reach(order)

    def add_message(self, message: StoredMessage) -> None:
        if message.id in self.messages:
            return
        self.messages[message.id] = message
        for stored in self.uow.log.for_message(message.id):
            self.add_event(stored)

    def _seed_message(self, message_id: int, message: StoredMessage | None = None) -> None:
        """A message the id named itself: the business objects of all its events are part of the trace."""
        found = message or self.uow.inbox.get(message_id)
        if found is None or message_id in self.seed_messages:
            return
        self.seed_messages.add(message_id)
        self.add_message(found)
        self.reach(found.partition_key)
        for stored in self.uow.log.for_message(message_id):
            self.reach(stored.envelope.subject)

    def reach(self, key: str | None) -> bool:
        """Follow `key` if it names an order or a purchase order; True when it does."""
        if not key:
            return False
        if key in self.objects:
            return True
        if key in self.reached:
            return False
        self.reached.add(key)
        if len(self.objects) >= OBJECT_LIMIT:
            self.cut = True
            return False
        order = self.uow.orders.load(key)
        if order is not None:
            self.objects[key] = (BusinessObject("order", key, order.status, views.order_link(key)), order)
            self.queue.append(key)
            return True
        po = self.uow.purchase_orders.load(key)
        if po is not None:
            link = views.purchase_order_link(key)
            self.objects[key] = (BusinessObject("purchase_order", key, po.status, link), po)
            self.queue.append(key)
            return True
        return False

    def _expand(self) -> None:
        while self.queue:
            key = self.queue.pop(0)
            for stored in self.uow.log.for_subject(key, limit=views.HISTORY_LIMIT):
                self.add_event(stored)
            for message in self.uow.inbox.find(key=key, limit=MESSAGE_LIMIT):
                self.add_message(message)  # also those that failed before any event came of them
            self._exceptions_about(key)
            for ref in self.uow.xrefs.of(key):
                self.xrefs[(ref.kind, ref.system, ref.hub_id)] = ref
            _, record = self.objects[key]
            for number in _documents(record):
                self._as_document(number)
            for reference in _payments(record):
                for stored in self.uow.log.for_subject(reference, limit=views.HISTORY_LIMIT):
                    if stored.envelope.subject == reference:
                        self.add_event(stored)

    # -- the timeline -------------------------------------------------------------------------------------------

    def timeline(self, key: str) -> Timeline:
        self.event_ids = {stored.envelope.id for stored in self.events.values()}
        traced: list[TracedEvent] = []
        rows: list[tuple[datetime, tuple[float, float, float], Entry]] = []
        first_position: dict[int, float] = {}
        opened_at: dict[str, float] = {}
        resolved_at: dict[str, list[tuple[datetime, int]]] = {}
        for position in sorted(self.events):
            stored = self.events[position]
            envelope = stored.envelope
            if stored.message_id is not None:
                first_position.setdefault(stored.message_id, position)
            if envelope.type == catalog.ExceptionOpened.event_type:
                opened_at.setdefault(envelope.subject, position)
            if envelope.type == catalog.ExceptionResolved.event_type:
                resolved_at.setdefault(envelope.subject, []).append((envelope.time, position))
            deliveries = []
            for delivery in self.uow.outbox.for_event(envelope.id):
                attempts = tuple(self.uow.outbox.attempts(delivery.id))
                deliveries.append((delivery, attempts))
                rows.append((delivery.created_at, (position, 3, 0), self._delivery_entry(delivery)))
                for attempt in attempts:
                    order = (position, 4, attempt.round * 10_000 + attempt.number)
                    rows.append((attempt.at, order, self._attempt_entry(delivery, attempt)))
            traced.append(TracedEvent(stored, tuple(deliveries)))
            rows.append((envelope.time, (position, 1, 0), self._event_entry(stored)))
        for message in self.messages.values():
            rows.append(
                (message.received_at, (first_position.get(message.id, _END), 0, 0), self._message_entry(message))
            )
        by_event_id = {stored.envelope.id: stored.position for stored in self.events.values()}
        for posting in self.postings.values():
            cause = by_event_id.get(posting.source.event_id)
            if cause is not None:
                at = self.events[cause].envelope.time
                rows.append((at, (cause, 2, 0), self._posting_entry(posting, at)))
        for exception in self.exceptions.values():
            rows.append(
                (exception.opened_at, (opened_at.get(exception.id, _END), 2, 0), self._exception_entry(exception))
            )
            resolutions = resolved_at.get(exception.id, [])
            for n, action in enumerate(exception.actions):
                following = next((p for t, p in resolutions if t >= action.at), _END)
                rows.append((action.at, (following, 0.5, n), self._action_entry(exception, n)))
        for ref in self.xrefs.values():
            if ref.created_at is not None:
                rows.append((ref.created_at, (-1, 0, 0), self._xref_entry(ref)))
        for obj, record in self.objects.values():
            if record.updated_at is not None:
                rows.append((record.updated_at, (_END, 9, 0), self._state_entry(obj, record)))
        rows.sort(key=lambda row: (row[0], row[1]))
        entries: list[Entry] = []
        for at, _, entry in rows:
            start = entries[0].at if entries else at
            previous = entries[-1].at if entries else None
            entries.append(
                Entry(
                    at=at,
                    kind=entry.kind,
                    title=entry.title,
                    detail=entry.detail,
                    links=entry.links,
                    duration_ms=_ms(at - previous) if previous is not None else None,
                    elapsed_ms=_ms(at - start),
                )
            )
        return Timeline(
            key=key,
            matches=tuple(_unique(self.matches)),
            objects=tuple(obj for obj, _ in self.objects.values()),
            entries=tuple(entries),
            messages=tuple(sorted(self.messages.values(), key=lambda m: m.id)),
            events=tuple(traced),
            cut=self.cut,
        )

    def _message_entry(self, message: StoredMessage) -> Entry:
        body = message.body
        shown = body[: self.payload_limit]
        try:
            payload, encoding = shown.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            payload, encoding = base64.b64encode(shown).decode("ascii"), "base64"
        detail = {
            "id": message.id,
            "source": message.source,
            "key": message.key,
            "status": message.status.value,
            "error": message.error,
            "received_at": message.received_at.isoformat(),
            "processed_at": _iso(message.processed_at),
            "partition_key": message.partition_key,
            "replays": message.replays,
            "headers": {name: "***" if SECRET_HEADERS.search(name) else v for name, v in message.headers.items()},
            "payload": payload,
            "payload_encoding": encoding,
            "payload_bytes": len(body),
            "payload_truncated": len(body) > self.payload_limit,
        }
        title = f"message #{message.id} from {message.source}: {message.status.value}"
        return Entry(message.received_at, "message", title, detail, {"message": f"/v1/messages/{message.id}"})

    def _event_entry(self, stored: StoredEvent) -> Entry:
        envelope = stored.envelope
        [history] = views.history([stored])
        data, cut = _capped(envelope.data, self.payload_limit)
        detail = {
            **history,
            "subject": envelope.subject,
            "correlationid": envelope.correlationid,
            "message_id": stored.message_id,
            "data": data,
            "data_truncated": cut,
        }
        kind = "decision" if self._decided(envelope) else "event"
        title = f"{kind} @{stored.position} {envelope.type} subject {envelope.subject}"
        return Entry(envelope.time, kind, title, detail, self._links_of(envelope.subject, stored.message_id))

    def _decided(self, envelope: Envelope) -> bool:
        """What a handler emitted in reply to another event, an operator's action or a timer; an event that came in
        from outside has no cause in the log (a CloudEvent's causation is the sender's own id)."""
        if envelope.source in DECIDING_SOURCES:
            return True
        cause = envelope.causationid
        if cause is None:
            return False
        return cause in self.event_ids or self.uow.log.get(cause) is not None

    def _links_of(self, subject: str, message_id: int | None) -> dict[str, str]:
        links = {}
        if subject in self.objects:
            obj = self.objects[subject][0]
            links[obj.kind] = obj.link
        if subject in self.exceptions:
            links["exception"] = f"/v1/exceptions/{quote(subject, safe='')}"
        if message_id is not None:
            links["message"] = f"/v1/messages/{message_id}"
        return links

    def _delivery_entry(self, delivery: Delivery) -> Entry:
        detail: dict[str, Any] = {
            "id": delivery.id,
            "event_id": delivery.event_id,
            "event_type": delivery.event_type,
            "destination": delivery.destination,
            "status": delivery.status.value,
            "attempts": delivery.attempts,
            "replays": delivery.replays,
            "last_error": delivery.last_error,
            "created_at": delivery.created_at.isoformat(),
            "next_attempt_at": delivery.next_attempt_at.isoformat(),
            "delivered_at": _iso(delivery.delivered_at),
        }
        sent = self.uow.interchanges.get(delivery.id)
        if sent is not None:
            # An EDI file: its control numbers, and what the partner's acknowledgement said of it.
            detail["interchange"] = {
                "partner": sent.partner,
                "standard": sent.standard,
                "interchange": sent.interchange,
                "group": sent.group,
                "sets": [list(pair) for pair in sent.sets],
                "document": sent.document,
                "acknowledgement": sent.status,
                "acknowledged_at": _iso(sent.acknowledged_at),
            }
        title = f"delivery {delivery.id} to {delivery.destination}: {delivery.status.value}"
        return Entry(delivery.created_at, "delivery", title, detail, {"delivery": _delivery_link(delivery.id)})

    def _attempt_entry(self, delivery: Delivery, attempt: Attempt) -> Entry:
        detail = {
            "delivery_id": delivery.id,
            "destination": delivery.destination,
            "number": attempt.number,
            "round": attempt.round,
            "outcome": attempt.outcome.value,
            "status_code": attempt.status_code,
            "error": attempt.error,
            "took_ms": round(attempt.duration_ms, 2),
        }
        answer = f" {attempt.status_code}" if attempt.status_code is not None else ""
        replay = f" (replay {attempt.round})" if attempt.round else ""
        title = f"attempt {attempt.number}{replay} to {delivery.destination}: {attempt.outcome.value}{answer}"
        return Entry(attempt.at, "attempt", title, detail, {"delivery": _delivery_link(delivery.id)})

    def _posting_entry(self, posting: JournalEntry, at: datetime) -> Entry:
        detail = {
            "id": posting.id,
            "sequence": posting.sequence,
            "rule": str(posting.rule),
            "document_type": posting.source.document_type,
            "document_number": posting.source.document_number,
            "event_id": posting.source.event_id,
            "period": str(posting.period),
            "date": posting.date.isoformat(),
            "currency": posting.currency,
            "debit": str(posting.total_debit),
            "credit": str(posting.total_credit),
            "memo": posting.memo,
        }
        title = (
            f"posting #{posting.sequence} {posting.rule} {posting.source.document_type} "
            f"{posting.source.document_number}: {posting.total_debit} {posting.currency}"
        )
        return Entry(at, "posting", title, detail)

    def _exception_entry(self, exception: BusinessException) -> Entry:
        detail = {k: v for k, v in views.exception_view(exception).items() if k != "actions"}
        title = f"exception {exception.reason_code} for {exception.owner}: {exception.message}"
        return Entry(exception.opened_at, "exception", title, detail, {"exception": _exception_link(exception.id)})

    def _action_entry(self, exception: BusinessException, n: int) -> Entry:
        action = exception.actions[n]
        detail = {
            "exception": exception.id,
            "action": action.action,
            "actor": action.actor,
            "note": action.note,
            "reason_code": exception.reason_code,
        }
        title = f"{action.action} by {action.actor} on exception {exception.reason_code}"
        return Entry(action.at, "action", title, detail, {"exception": _exception_link(exception.id)})

    def _xref_entry(self, ref: CrossReference) -> Entry:
        detail = {"kind": ref.kind, "system": ref.system, "hub_id": ref.hub_id, "external_id": ref.external_id}
        title = f"{ref.kind} {ref.hub_id} is {ref.external_id} in {ref.system}"
        assert ref.created_at is not None
        obj = self.objects[ref.hub_id][0] if ref.hub_id in self.objects else None
        links = {obj.kind: obj.link} if obj is not None else {}
        return Entry(ref.created_at, "xref", title, detail, links)

    def _state_entry(self, obj: BusinessObject, record: OrderRecord | PurchaseOrderRecord) -> Entry:
        if isinstance(record, OrderRecord):
            detail = {**views.order_summary(record), "version": record.version}
            detail["open_reasons"] = list(otc.open_reasons(views.order_state(record)))
            title = f"order {obj.key} is {record.status}"
        else:
            detail = {**views.purchase_order_summary(record), "version": record.version}
            title = f"purchase order {obj.key} is {record.status}"
        assert record.updated_at is not None
        return Entry(record.updated_at, "state", title, detail, {obj.kind: obj.link})


def _documents(record: OrderRecord | PurchaseOrderRecord) -> list[str]:
    """The numbers of the documents of an order (shipments, invoices, payments) or a PO (ship notices, receipts,
    supplier invoices): each may have been posted to the journal."""
    if isinstance(record, OrderRecord):
        state = views.order_state(record)
        numbers = [s.shipment_id for s in state.shipments]
        for seen in sorted(state.seen):
            kind, _, rest = seen.partition(":")
            if kind in ("shipment", "invoice"):
                numbers.append(rest)
        numbers.extend(_payments(record))
        return list(dict.fromkeys(numbers))
    state_po = views.purchase_order_state(record)
    numbers = [r.receipt_id for r in state_po.receipts] + [i.invoice_id for i in state_po.invoices]
    return list(dict.fromkeys(numbers))


def _payments(record: OrderRecord | PurchaseOrderRecord) -> list[str]:
    """The references of the payments applied to an order (its fact keys are payment:REFERENCE:INVOICE)."""
    if not isinstance(record, OrderRecord):
        return []
    found = []
    for seen in sorted(views.order_state(record).seen):
        kind, _, rest = seen.partition(":")
        if kind == "payment":
            found.append(rest.rsplit(":", 1)[0] if ":" in rest else rest)
    return list(dict.fromkeys(found))


def _capped(data: Mapping[str, Any], limit: int) -> tuple[Mapping[str, Any], bool]:
    size = len(json.dumps(data, default=str))
    if size <= limit:
        return data, False
    return {"bytes": size}, True


def _unique(matches: Iterable[Match]) -> Sequence[Match]:
    return list(dict.fromkeys(matches))


def _delivery_link(delivery_id: str) -> str:
    return f"/v1/deliveries/{quote(delivery_id, safe='')}"


def _exception_link(exception_id: str) -> str:
    return f"/v1/exceptions/{quote(exception_id, safe='')}"


def _ms(delta: timedelta) -> float:
    return round(delta.total_seconds() * 1000, 3)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
