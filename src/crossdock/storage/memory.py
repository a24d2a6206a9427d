"""In-memory twins of every storage port, giving the same answers as storage/sql without a database.

Owns: plain-Python tables and the transaction rules of the SQL unit of work (visible on commit, rollback on
exit, savepoints, one writer at a time). Must not: be used where durability matters; nothing here survives
the process.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from crossdock.domain import inventory
from crossdock.domain.accounting import JournalEntry
from crossdock.domain.accounting import LedgerState as AccountingLedger
from crossdock.domain.events import Envelope
from crossdock.hub import governance
from crossdock.hub.ports import (
    CUSTOMER_RECORD,
    PRICE_RECORD,
    ApiKey,
    Attempt,
    AttemptOutcome,
    AuditEntry,
    AuditLog,
    AuditRecord,
    BreakerState,
    BusinessException,
    ConcurrentUpdate,
    ControlNumberStore,
    CrossReference,
    CrossReferenceStore,
    Delivery,
    DeliveryFilter,
    DeliveryStatus,
    DeliveryUpdate,
    EndpointState,
    EndpointStore,
    EventLog,
    ExceptionAction,
    ExceptionFilter,
    ExceptionStatus,
    ExceptionStore,
    InboxStore,
    IntakeResult,
    IntakeStatus,
    InterchangeStore,
    InventoryStore,
    JournalStore,
    KeyStore,
    LeaseStore,
    LinkStore,
    MasterDataStore,
    MasterRecord,
    MessageStatus,
    NewDelivery,
    NewMessage,
    OrderFilter,
    OrderMasterData,
    OrderRecord,
    OrderStore,
    OutboxStore,
    PurchaseOrderFilter,
    PurchaseOrderRecord,
    PurchaseOrderStore,
    ReconciliationRun,
    ReconciliationStore,
    ReplayLog,
    ReplayRecord,
    SentInterchange,
    StoredEvent,
    StoredMessage,
    Timer,
    TimerStore,
    WatermarkStore,
    price_key,
)

# How long a unit of work waits for the one open elsewhere, like SQLite's busy timeout in storage/sql/engine.py.
BUSY_TIMEOUT_SECONDS = 30.0


class UniqueViolation(Exception):
    """A row with this unique key already exists (the SQL backends raise IntegrityError here)."""


def _utc(value: datetime) -> datetime:
    # The SQL column type refuses naive times and hands back UTC; the twin must not be more forgiving.
    if value.tzinfo is None:
        raise ValueError("naive datetimes are not stored: pass an aware time")
    return value.astimezone(UTC)


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _json(value: Any) -> Any:
    """A JSON column's round trip: what cannot be stored fails here, and no caller shares a mutable value."""
    return json.loads(json.dumps(value))


def _first(rows: Sequence[Any], limit: int) -> list[Any]:
    return list(rows[: max(limit, 0)])


def _like(pattern: str, text: str) -> bool:
    """SQL LIKE as PostgreSQL runs it: '%' any run, '_' any one character, case-sensitive."""
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, text, flags=re.DOTALL) is not None


@dataclass(frozen=True)
class _EventRow:
    event: StoredEvent
    correlation_id: str
    recorded_at: datetime


@dataclass(frozen=True)
class _Lease:
    owner: str | None = None
    expires_at: datetime | None = None

    def free(self, now: datetime) -> bool:
        return self.owner is None or (self.expires_at is not None and self.expires_at <= now)

    def live(self, now: datetime) -> bool:
        return self.owner is not None and self.expires_at is not None and self.expires_at > now


@dataclass(frozen=True)
class _ReservationRow:
    reservation: inventory.Reservation
    created_at: datetime

    @property
    def order(self) -> tuple[datetime, str, str]:
        return (self.created_at, self.reservation.order_id, self.reservation.line_id)


@dataclass(frozen=True)
class _JournalRow:
    ledger: str
    entry: JournalEntry
    posted_at: datetime


@dataclass(frozen=True)
class _ParkedRow:
    envelope: Envelope
    parked_at: datetime


@dataclass
class _State:
    """Every table. Rows are immutable (or copied in and out), so a shallow copy of the containers is a
    snapshot: that is what makes rollback and savepoints cheap."""

    messages: dict[int, StoredMessage] = field(default_factory=dict)
    message_keys: dict[tuple[str, str], int] = field(default_factory=dict)
    next_message_id: int = 1
    head: int = 0
    events: dict[int, _EventRow] = field(default_factory=dict)
    event_positions: dict[str, int] = field(default_factory=dict)
    deliveries: dict[str, Delivery] = field(default_factory=dict)  # insertion order is the SQL seq order
    attempts: list[Attempt] = field(default_factory=list)
    endpoints: dict[str, EndpointState] = field(default_factory=dict)
    leases: dict[tuple[str, int], _Lease] = field(default_factory=dict)
    timers: dict[str, Timer] = field(default_factory=dict)
    replays: list[ReplayRecord] = field(default_factory=list)
    orders: dict[str, OrderRecord] = field(default_factory=dict)
    stock_positions: dict[tuple[str, str], inventory.StockPosition] = field(default_factory=dict)
    stock_reservations: dict[tuple[str, str], _ReservationRow] = field(default_factory=dict)
    stock_movements: dict[str, inventory.Movement] = field(default_factory=dict)
    journal_ledgers: dict[str, int] = field(default_factory=dict)
    journal_entries: dict[str, _JournalRow] = field(default_factory=dict)
    closed_periods: dict[tuple[str, str], bool] = field(default_factory=dict)
    exceptions: dict[str, BusinessException] = field(default_factory=dict)
    links: dict[tuple[str, str], str] = field(default_factory=dict)
    parked: dict[tuple[str, str, str], _ParkedRow] = field(default_factory=dict)  # insertion order is the seq
    api_keys: dict[str, ApiKey] = field(default_factory=dict)
    audit: list[AuditRecord] = field(default_factory=list)
    purchase_orders: dict[str, PurchaseOrderRecord] = field(default_factory=dict)
    xrefs: list[CrossReference] = field(default_factory=list)
    watermarks: dict[tuple[str, str], tuple[str, datetime]] = field(default_factory=dict)
    control_numbers: dict[tuple[str, str], int] = field(default_factory=dict)
    interchanges: dict[str, SentInterchange] = field(default_factory=dict)  # insertion order is the SQL seq order
    master_records: dict[tuple[str, str], MasterRecord] = field(default_factory=dict)
    reconciliations: dict[str, ReconciliationRun] = field(default_factory=dict)  # insertion order is the seq

    def snapshot(self) -> _State:
        copied: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            copied[f.name] = value.copy() if isinstance(value, dict | list) else value
        return _State(**copied)


class _Store:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    @property
    def _s(self) -> _State:
        return self._uow.state


def _message_out(row: StoredMessage) -> StoredMessage:
    return replace(row, headers=_json(row.headers))


class MemoryInbox(_Store):
    def add(self, messages: Sequence[NewMessage]) -> list[IntakeResult]:
        s = self._s
        inserted: set[tuple[str, str]] = set()
        for message in messages:
            ident = (message.source, message.key)
            if ident in s.message_keys:
                continue
            new_id = s.next_message_id
            s.next_message_id += 1
            s.messages[new_id] = StoredMessage(
                id=new_id,
                source=message.source,
                key=message.key,
                payload_hash=message.payload_hash,
                body=bytes(message.body),
                headers=_json(dict(message.headers)),
                received_at=_utc(message.received_at),
                partition_key=message.partition_key,
                shard=message.shard,
                status=MessageStatus(message.status),
                error=message.error,
                replays=0,
                processed_at=None,
            )
            s.message_keys[ident] = new_id
            inserted.add(ident)
        results: list[IntakeResult] = []
        seen: set[tuple[str, str]] = set()
        for message in messages:
            ident = (message.source, message.key)
            row = s.messages[s.message_keys[ident]]
            fresh = ident in inserted and ident not in seen
            seen.add(ident)
            if fresh:
                status = IntakeStatus.ACCEPTED
            elif row.payload_hash == message.payload_hash:
                status = IntakeStatus.DUPLICATE
            else:
                status = IntakeStatus.CONFLICT
            results.append(IntakeResult(status, row.id, row.status, row.received_at, row.error))
        return results

    def get(self, message_id: int) -> StoredMessage | None:
        row = self._s.messages.get(message_id)
        return _message_out(row) if row else None

    def pending(self, shards: Sequence[int], limit: int) -> list[StoredMessage]:
        wanted = set(shards)
        rows = [
            m for _, m in sorted(self._s.messages.items()) if m.status is MessageStatus.PENDING and m.shard in wanted
        ]
        return [_message_out(m) for m in _first(rows, limit)]

    def mark(self, message_ids: Sequence[int], status: MessageStatus, error: str | None, at: datetime) -> None:
        for message_id in message_ids:
            row = self._s.messages.get(message_id)
            if row is not None:
                self._s.messages[message_id] = replace(
                    row, status=MessageStatus(status), error=error, processed_at=_utc(at)
                )

    def requeue(self, message_id: int) -> bool:
        row = self._s.messages.get(message_id)
        if row is None or row.status is not MessageStatus.FAILED:
            return False
        self._s.messages[message_id] = replace(row, status=MessageStatus.PENDING, replays=row.replays + 1)
        return True

    def find(
        self,
        *,
        source: str | None = None,
        status: MessageStatus | None = None,
        key: str | None = None,
        limit: int = 100,
    ) -> list[StoredMessage]:
        rows = [
            m
            for _, m in sorted(self._s.messages.items(), reverse=True)
            if (not source or m.source == source)
            and (not status or m.status == status)
            and (not key or key in (m.key, m.partition_key))
        ]
        return [_message_out(m) for m in _first(rows, limit)]

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for m in self._s.messages.values():
            found[m.status.value] = found.get(m.status.value, 0) + 1
        return found

    def prune(self, before: datetime) -> int:
        cut = _utc(before)
        s = self._s
        old = [m for m in s.messages.values() if m.status is MessageStatus.PROCESSED and m.received_at < cut]
        for m in old:
            del s.messages[m.id]
            del s.message_keys[(m.source, m.key)]
        return len(old)


def _event_out(row: _EventRow) -> StoredEvent:
    return replace(row.event, envelope=row.event.envelope.model_copy(deep=True))


class MemoryLog(_Store):
    def __init__(self, uow: MemoryUnitOfWork, now: Callable[[], datetime]) -> None:
        super().__init__(uow)
        self._now = now

    def append(self, entries: Sequence[tuple[Envelope, int | None]]) -> list[int]:
        if not entries:
            return []
        s = self._s
        ids = [e.id for e, _ in entries]
        if len(set(ids)) != len(ids) or any(i in s.event_positions for i in ids):
            raise UniqueViolation(f"an event with one of the ids {ids} is already in the log")
        recorded = _utc(self._now())
        start = s.head + 1
        for offset, (envelope, message_id) in enumerate(entries):
            # Stored as the SQL backends store it: the JSON form, read back into a model.
            stored = Envelope.model_validate(_json(envelope.model_dump(mode="json", exclude_none=True)))
            position = start + offset
            s.events[position] = _EventRow(
                StoredEvent(position, stored, message_id), envelope.correlationid or envelope.id, recorded
            )
            s.event_positions[envelope.id] = position
        s.head += len(entries)
        return list(range(start, s.head + 1))

    def read(self, after: int, limit: int) -> list[StoredEvent]:
        rows = [r for p, r in sorted(self._s.events.items()) if p > after]
        return [_event_out(r) for r in _first(rows, limit)]

    def for_subject(self, subject: str, limit: int = 200) -> list[StoredEvent]:
        rows = [
            r
            for _, r in sorted(self._s.events.items())
            if subject in (r.event.envelope.subject, r.correlation_id, r.event.envelope.id)
        ]
        return [_event_out(r) for r in _first(rows, limit)]

    def for_message(self, message_id: int) -> list[StoredEvent]:
        return [_event_out(r) for _, r in sorted(self._s.events.items()) if r.event.message_id == message_id]

    def get(self, event_id: str) -> StoredEvent | None:
        position = self._s.event_positions.get(event_id)
        return None if position is None else _event_out(self._s.events[position])

    def head(self) -> int:
        return self._s.head

    def prune(self, before: datetime) -> int:
        cut = _utc(before)
        s = self._s
        unresolved = {d.event_id for d in s.deliveries.values() if d.status is not DeliveryStatus.DELIVERED}
        old = [r.event for r in s.events.values() if r.recorded_at < cut and r.event.envelope.id not in unresolved]
        for event in old:
            del s.events[event.position]
            del s.event_positions[event.envelope.id]
        return len(old)


def _delivery_out(row: Delivery) -> Delivery:
    return replace(row, payload=_json(row.payload))


class MemoryOutbox(_Store):
    def enqueue(self, deliveries: Sequence[NewDelivery]) -> int:
        s = self._s
        added = 0
        for d in deliveries:
            if d.id in s.deliveries:
                continue
            created = _utc(d.created_at)
            s.deliveries[d.id] = Delivery(
                id=d.id,
                event_id=d.event_id,
                event_type=d.event_type,
                subject=d.subject,
                destination=d.destination,
                partition_key=d.partition_key,
                shard=d.shard,
                payload=_json(dict(d.payload)),
                status=DeliveryStatus.PENDING,
                attempts=0,
                created_at=created,
                next_attempt_at=_utc(d.next_attempt_at),
                last_error=None,
                delivered_at=None,
                queued_at=created,
                replays=0,
            )
            added += 1
        return added

    def due(self, shards: Sequence[int], now: datetime, limit: int) -> list[Delivery]:
        at = _utc(now)
        wanted = set(shards)
        chosen: list[Delivery] = []
        # (destination, partition) lines that already have an earlier pending delivery not yet due.
        blocked: set[tuple[str, str]] = set()
        for d in self._s.deliveries.values():
            if d.status is not DeliveryStatus.PENDING:
                continue
            line = (d.destination, d.partition_key)
            if d.next_attempt_at <= at and d.shard in wanted and line not in blocked:
                chosen.append(d)
            if d.next_attempt_at > at:
                blocked.add(line)
        return [_delivery_out(d) for d in _first(chosen, limit)]

    def postpone(self, delivery_ids: Sequence[str], until: datetime) -> None:
        s = self._s
        for delivery_id in delivery_ids:
            if delivery_id in s.deliveries:
                s.deliveries[delivery_id] = replace(s.deliveries[delivery_id], next_attempt_at=_utc(until))

    def resume(self, destination: str, held_until: datetime, now: datetime) -> int:
        s = self._s
        held = _utc(held_until)
        resumed = [
            d.id
            for d in s.deliveries.values()
            if d.destination == destination and d.status is DeliveryStatus.PENDING and d.next_attempt_at == held
        ]
        for delivery_id in resumed:
            s.deliveries[delivery_id] = replace(s.deliveries[delivery_id], next_attempt_at=_utc(now))
        return len(resumed)

    def record(self, updates: Sequence[DeliveryUpdate]) -> None:
        s = self._s
        for u in updates:
            if u.delivery_id in s.deliveries:
                s.deliveries[u.delivery_id] = replace(
                    s.deliveries[u.delivery_id],
                    status=DeliveryStatus(u.status),
                    attempts=u.attempts,
                    next_attempt_at=_utc(u.next_attempt_at),
                    last_error=u.last_error,
                    delivered_at=_utc_or_none(u.delivered_at),
                )
        # Attempt rows are written for every update that has one, as the SQL insert does.
        s.attempts.extend(
            replace(a, at=_utc(a.at), outcome=AttemptOutcome(a.outcome), duration_ms=float(a.duration_ms))
            for a in (u.attempt for u in updates)
            if a is not None
        )

    def get(self, delivery_id: str) -> Delivery | None:
        row = self._s.deliveries.get(delivery_id)
        return _delivery_out(row) if row else None

    def attempts(self, delivery_id: str) -> list[Attempt]:
        return [a for a in self._s.attempts if a.delivery_id == delivery_id]

    def find(self, flt: DeliveryFilter) -> list[Delivery]:
        since = _utc_or_none(flt.since)
        until = _utc_or_none(flt.until)
        event_type = flt.event_type.replace("*", "%") if flt.event_type else None

        def matches(d: Delivery) -> bool:
            return (
                (flt.status is None or d.status == flt.status)
                and (not flt.destination or d.destination == flt.destination)
                and (event_type is None or _like(event_type, d.event_type))
                and (not flt.error_contains or (d.last_error is not None and flt.error_contains in d.last_error))
                and (since is None or d.created_at >= since)
                and (until is None or d.created_at < until)
            )

        return [_delivery_out(d) for d in _first([d for d in self._s.deliveries.values() if matches(d)], flt.limit)]

    def for_event(self, event_id: str) -> list[Delivery]:
        return [_delivery_out(d) for d in self._s.deliveries.values() if d.event_id == event_id]

    def revive(self, delivery_id: str, now: datetime, payload: Mapping[str, Any] | None) -> bool:
        s = self._s
        row = s.deliveries.get(delivery_id)
        if row is None or row.status is not DeliveryStatus.DEAD:
            return False
        at = _utc(now)
        s.deliveries[delivery_id] = replace(
            row,
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=at,
            queued_at=at,
            replays=row.replays + 1,
            payload=row.payload if payload is None else _json(dict(payload)),
        )
        return True

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for d in self._s.deliveries.values():
            found[d.status.value] = found.get(d.status.value, 0) + 1
        return found

    def prune(self, before: datetime) -> int:
        cut = _utc(before)
        s = self._s
        old = {
            d.id
            for d in s.deliveries.values()
            if d.status is DeliveryStatus.DELIVERED and d.delivered_at is not None and d.delivered_at < cut
        }
        for delivery_id in old:
            del s.deliveries[delivery_id]
        s.attempts = [a for a in s.attempts if a.delivery_id not in old]
        return len(old)


def _endpoint_copy(state: EndpointState) -> EndpointState:
    return replace(
        state,
        breaker=BreakerState(state.breaker),
        tokens=float(state.tokens),
        open_until=_utc_or_none(state.open_until),
        tokens_at=_utc_or_none(state.tokens_at),
    )


class MemoryEndpoints(_Store):
    def load(self, endpoint: str) -> EndpointState:
        # Loading creates the row, as the SQL insert-if-missing does; the unit-of-work lock stands in for
        # PostgreSQL's row lock.
        stored = self._s.endpoints.setdefault(endpoint, EndpointState(endpoint))
        return _endpoint_copy(stored)

    def save(self, state: EndpointState) -> None:
        # An UPDATE in SQL: a state that was never loaded is not created by saving it.
        if state.endpoint in self._s.endpoints:
            self._s.endpoints[state.endpoint] = _endpoint_copy(state)

    def all(self) -> list[EndpointState]:
        return [_endpoint_copy(e) for _, e in sorted(self._s.endpoints.items())]


def _presence_shard(owner: str) -> int:
    """Each owner's presence row sits at a negative shard number of its own, as in storage/sql."""
    return -1 - (zlib.crc32(owner.encode("utf-8")) & 0x7FFFFFFF)


class MemoryLeases(_Store):
    def _shards(self, pool: str, shards: int) -> list[tuple[int, _Lease]]:
        """The real shards of a pool below the configured count (presence rows excluded), in order."""
        return sorted(
            (shard, lease) for (p, shard), lease in self._s.leases.items() if p == pool and 0 <= shard < shards
        )

    def rebalance(self, pool: str, owner: str, shards: int, now: datetime, ttl_seconds: float) -> list[int]:
        at = _utc(now)
        expires = at + timedelta(seconds=ttl_seconds)
        leases = self._s.leases
        for key in [k for k, lease in leases.items() if k[0] == pool and k[1] < 0 and not lease.live(at)]:
            del leases[key]
        # The presence row lets an owner that holds no shard yet count as live, so the others make room.
        leases[(pool, _presence_shard(owner))] = _Lease(owner, expires)
        if sum(1 for p, shard in leases if p == pool and shard >= 0) < shards:
            for shard in range(shards):
                leases.setdefault((pool, shard), _Lease())
        live = {
            lease.owner
            for (p, shard), lease in leases.items()
            if p == pool and shard < shards and lease.live(at) and lease.owner is not None
        }
        fair = math.ceil(shards / len(live | {owner}))
        for key, lease in list(leases.items()):
            if key[0] == pool and lease.owner == owner:
                leases[key] = replace(lease, expires_at=expires)
        mine = [shard for shard, lease in self._shards(pool, shards) if lease.owner == owner]
        if len(mine) > fair:
            for shard in mine[fair:]:
                leases[(pool, shard)] = _Lease()
            return mine[:fair]
        free = [shard for shard, lease in self._shards(pool, shards) if lease.free(at)]
        for shard in _first(free, fair - len(mine)):
            leases[(pool, shard)] = _Lease(owner, expires)
            mine.append(shard)
        return sorted(mine)

    def hold(self, pool: str, owner: str, shards: Sequence[int]) -> list[int]:
        held: list[int] = []
        for shard in set(shards):
            lease = self._s.leases.get((pool, shard))
            if lease is not None and lease.owner == owner:
                held.append(shard)
        return sorted(held)

    def release(self, pool: str, owner: str) -> None:
        leases = self._s.leases
        for key, lease in list(leases.items()):
            if key[0] == pool and lease.owner == owner:
                if key[1] < 0:
                    del leases[key]
                else:
                    leases[key] = _Lease()

    def owners(self, now: datetime) -> dict[str, dict[str, int]]:
        at = _utc(now)
        found: dict[str, dict[str, int]] = {}
        for (pool, shard), lease in sorted(self._s.leases.items()):
            if shard >= 0 and lease.live(at) and lease.owner is not None:
                per_pool = found.setdefault(pool, {})
                per_pool[lease.owner] = per_pool.get(lease.owner, 0) + 1
        return found


def _timer_out(row: Timer) -> Timer:
    return replace(row, payload=_json(row.payload))


class MemoryTimers(_Store):
    def _unfired(self) -> list[Timer]:
        return sorted((t for t in self._s.timers.values() if t.fired_at is None), key=lambda t: t.due_at)

    def schedule(self, timer: Timer) -> bool:
        if timer.key in self._s.timers:
            return False
        # Only what the SQL insert writes: a new timer is never fired and has no error yet.
        self._s.timers[timer.key] = Timer(
            key=timer.key, kind=timer.kind, due_at=_utc(timer.due_at), payload=_json(dict(timer.payload))
        )
        return True

    def due(self, now: datetime, limit: int) -> list[Timer]:
        at = _utc(now)
        return [_timer_out(t) for t in _first([t for t in self._unfired() if t.due_at <= at], limit)]

    def fire(self, key: str, at: datetime) -> None:
        if key in self._s.timers:
            self._s.timers[key] = replace(self._s.timers[key], fired_at=_utc(at))

    def delay(self, key: str, until: datetime, error: str) -> None:
        if key in self._s.timers:
            self._s.timers[key] = replace(self._s.timers[key], due_at=_utc(until), last_error=error)

    def cancel(self, key: str) -> bool:
        timer = self._s.timers.get(key)
        if timer is None or timer.fired_at is not None:
            return False
        del self._s.timers[key]
        return True

    def pending(self, limit: int = 100) -> list[Timer]:
        return [_timer_out(t) for t in _first(self._unfired(), limit)]

    def prune(self, before: datetime) -> int:
        cut = _utc(before)
        old = [t.key for t in self._s.timers.values() if t.fired_at is not None and t.fired_at < cut]
        for key in old:
            del self._s.timers[key]
        return len(old)


class MemoryReplays(_Store):
    def add(self, record: ReplayRecord) -> None:
        self._s.replays.append(replace(record, at=_utc(record.at)))

    def recent(self, limit: int = 100) -> list[ReplayRecord]:
        return _first(self._s.replays[::-1], limit)


class MemoryOrders(_Store):
    def load(self, order_id: str) -> OrderRecord | None:
        row = self._s.orders.get(order_id)
        return replace(row, state=_json(row.state)) if row else None

    def save(self, record: OrderRecord, at: datetime) -> OrderRecord:
        orders = self._s.orders
        stored = orders.get(record.order_id)
        if (stored is None) != (record.version == 0) or (stored is not None and stored.version != record.version):
            raise ConcurrentUpdate(f"order {record.order_id} changed since version {record.version} was read")
        when = _utc(at)
        row = replace(
            record,
            state=_json(dict(record.state)),
            version=record.version + 1,
            created_at=when if stored is None else stored.created_at,
            updated_at=when,
        )
        orders[record.order_id] = row
        return replace(row, state=_json(row.state))

    def find(self, flt: OrderFilter) -> list[OrderRecord]:
        before = _utc_or_none(flt.updated_before)
        rows = sorted(
            (
                r
                for r in self._s.orders.values()
                if (flt.status is None or r.status == flt.status)
                and (flt.channel is None or r.channel == flt.channel)
                and (flt.customer_id is None or r.customer_id == flt.customer_id)
                and (before is None or (r.updated_at is not None and r.updated_at < before))
            ),
            key=lambda r: (r.updated_at, r.order_id),
            reverse=True,
        )
        return [replace(r, state=_json(r.state)) for r in _first(rows, flt.limit)]

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for r in self._s.orders.values():
            found[r.status] = found.get(r.status, 0) + 1
        return found


def _skus(*states: inventory.LedgerState) -> set[str]:
    found: set[str] = set()
    for state in states:
        found.update(p.sku for p in state.positions())
        found.update(r.sku for r in state.reservations())
    return found


def _settled(reservation: inventory.Reservation) -> bool:
    return reservation.cancelled or (not reservation.allocations and reservation.backorder == 0)


def _trimmed(reservation: inventory.Reservation, locations: set[str]) -> inventory.Reservation:
    return replace(reservation, allocations=tuple(a for a in reservation.allocations if a.location in locations))


class MemoryInventory(_Store):
    """The SQL stock ledger's rules: positions written only where they changed, checked against what was read;
    a movement recorded twice is a ConcurrentUpdate. The unit-of-work lock stands in for the row locks."""

    def _reservations_of(self, skus: set[str], lines: Sequence[tuple[str, str]] = ()) -> list[inventory.Reservation]:
        """Open reservations of the skus, and the asked order lines' whatever their state (as the SQL stores)."""
        asked = set(lines)
        rows = sorted(
            (
                r
                for key, r in self._s.stock_reservations.items()
                if r.reservation.sku in skus and (not _settled(r.reservation) or key in asked)
            ),
            key=_order,
        )
        return [r.reservation for r in rows]

    def load(
        self, skus: Sequence[str], *, lock: bool = False, lines: Sequence[tuple[str, str]] = ()
    ) -> inventory.LedgerState:
        wanted = set(skus)
        positions = [p for key, p in sorted(self._s.stock_positions.items()) if key[0] in wanted]
        return inventory.LedgerState.build(positions=positions, reservations=self._reservations_of(wanted, lines))

    def recorded(self, movement_ids: Sequence[str]) -> list[inventory.Movement]:
        movements = self._s.stock_movements
        return [movements[i] for i in sorted(set(movement_ids)) if i in movements]

    def save(
        self,
        before: inventory.LedgerState,
        after: inventory.LedgerState,
        entries: Sequence[inventory.LedgerEntry],
        at: datetime,
    ) -> None:
        s = self._s
        when = _utc(at)
        duplicate = False
        for entry in entries:
            if entry.movement.id in s.stock_movements:
                duplicate = True
                continue
            # Stored as the SQL backends store it: the JSON form, read back into a model.
            s.stock_movements[entry.movement.id] = inventory.Movement.model_validate(
                _json(entry.movement.model_dump(mode="json"))
            )
        if duplicate:
            raise ConcurrentUpdate("a movement of this round is already recorded")
        for sku in sorted(_skus(before, after)):
            known = {p.location for p in before.positions(sku)}
            for new in sorted(after.positions(sku), key=lambda p: p.location):
                old = before.position(sku, new.location)
                if new.location in known and (old.on_hand, old.in_transit) == (new.on_hand, new.in_transit):
                    continue
                stored = s.stock_positions.get((sku, new.location))
                if new.location in known:
                    fresh = stored is not None and (str(stored.on_hand), str(stored.in_transit)) == (
                        str(old.on_hand),
                        str(old.in_transit),
                    )
                else:
                    fresh = stored is None
                if not fresh:
                    raise ConcurrentUpdate(f"stock of {sku} at {new.location} changed since it was read")
                s.stock_positions[(sku, new.location)] = inventory.StockPosition(
                    sku, new.location, on_hand=new.on_hand, in_transit=new.in_transit
                )
        for reservation in sorted(after.reservations(), key=lambda r: r.key):
            if before.reservation(reservation.order_id, reservation.line_id) == reservation:
                continue
            existing = s.stock_reservations.get(reservation.key)
            # The first save fixes the line's place in the backorder queue.
            created = existing.created_at if existing is not None else when
            s.stock_reservations[reservation.key] = _ReservationRow(reservation, created)

    def positions(
        self, *, sku: str | None = None, location: str | None = None, after: tuple[str, str] | None = None, limit: int
    ) -> inventory.LedgerState:
        rows = [
            p
            for key, p in sorted(self._s.stock_positions.items())
            if (sku is None or key[0] == sku)
            and (location is None or key[1] == location)
            and (after is None or key > tuple(after))
        ]
        page_rows = _first(rows, limit)
        page: dict[str, set[str]] = {}
        for p in page_rows:
            page.setdefault(p.sku, set()).add(p.location)
        reservations = [_trimmed(r, page[r.sku]) for r in self._reservations_of(set(page))]
        return inventory.LedgerState.build(positions=page_rows, reservations=reservations)

    def backordered(self, sku: str, limit: int = 100) -> list[inventory.Reservation]:
        rows = sorted(
            (
                r
                for r in self._s.stock_reservations.values()
                if r.reservation.sku == sku and not r.reservation.cancelled and r.reservation.backorder > 0
            ),
            key=_order,
        )
        return [r.reservation for r in _first(rows, limit)]


def _order(row: _ReservationRow) -> tuple[datetime, str, str]:
    return row.order


class MemoryJournal(_Store):
    def ledger(self, ledger: str, entry_ids: Sequence[str]) -> AccountingLedger:
        s = self._s
        last = s.journal_ledgers.setdefault(ledger, 0)
        return AccountingLedger(
            ledger=ledger,
            last_sequence=last,
            posted_ids=frozenset(i for i in entry_ids if i in s.journal_entries),
            closed_periods=frozenset(period for (name, period) in s.closed_periods if name == ledger),
        )

    def add(self, ledger: str, entries: Sequence[JournalEntry], last_sequence: int, at: datetime) -> None:
        s = self._s
        when = _utc(at)
        taken = {(r.ledger, r.entry.sequence) for r in s.journal_entries.values()}
        for entry in entries:
            if entry.sequence is None:
                raise ValueError(f"journal entry {entry.id} is not posted: it has no sequence")
            if entry.id in s.journal_entries or (ledger, entry.sequence) in taken:
                raise UniqueViolation(f"journal entry {entry.id} or sequence {entry.sequence} is already posted")
            taken.add((ledger, entry.sequence))
            stored = JournalEntry.model_validate(_json(entry.model_dump(mode="json")))
            s.journal_entries[entry.id] = _JournalRow(ledger, stored, when)
        s.journal_ledgers[ledger] = last_sequence

    def _sorted(self, rows: Iterable[_JournalRow]) -> list[JournalEntry]:
        return [r.entry for r in sorted(rows, key=lambda r: (r.entry.sequence or 0, r.ledger))]

    def entries(self, ledger: str, *, after_sequence: int = 0, limit: int = 1000) -> list[JournalEntry]:
        rows = (
            r
            for r in self._s.journal_entries.values()
            if r.ledger == ledger and (r.entry.sequence or 0) > after_sequence
        )
        return _first(self._sorted(rows), limit)

    def for_source(self, document_number: str) -> list[JournalEntry]:
        rows = (r for r in self._s.journal_entries.values() if r.entry.source.document_number == document_number)
        return self._sorted(rows)

    def close_period(self, ledger: str, period: str) -> None:
        self._s.closed_periods[(ledger, period)] = True

    def reopen_period(self, ledger: str, period: str) -> None:
        self._s.closed_periods.pop((ledger, period), None)


def _action_copy(action: ExceptionAction) -> ExceptionAction:
    return replace(action, at=_utc(action.at))


class MemoryExceptions(_Store):
    def open(self, exception: BusinessException) -> bool:
        s = self._s
        if exception.id in s.exceptions:
            return False
        s.exceptions[exception.id] = replace(
            exception,
            status=ExceptionStatus(exception.status),
            opened_at=_utc(exception.opened_at),
            resolved_at=_utc_or_none(exception.resolved_at),
            actions=tuple(_action_copy(a) for a in exception.actions),
        )
        return True

    def get(self, exception_id: str) -> BusinessException | None:
        return self._s.exceptions.get(exception_id)

    def act(self, exception_id: str, action: ExceptionAction, *, resolve: bool) -> BusinessException | None:
        s = self._s
        current = s.exceptions.get(exception_id)
        if current is None:
            return None
        taken = _action_copy(action)
        updated = replace(current, actions=(*current.actions, taken))
        if resolve:
            updated = replace(updated, status=ExceptionStatus.RESOLVED, resolved_at=taken.at)
        s.exceptions[exception_id] = updated
        return updated

    def find(self, flt: ExceptionFilter) -> list[BusinessException]:
        rows = sorted(
            (
                e
                for e in self._s.exceptions.values()
                if (flt.status is None or e.status == flt.status)
                and (flt.owner is None or e.owner == flt.owner)
                and (flt.about_key is None or e.about_key == flt.about_key)
                and (flt.reason_code is None or e.reason_code == flt.reason_code)
            ),
            key=lambda e: (e.opened_at, e.id),
        )
        return _first(rows, flt.limit)

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for e in self._s.exceptions.values():
            if e.status is ExceptionStatus.OPEN:
                found[e.owner] = found.get(e.owner, 0) + 1
        return found


class MemoryLinks(_Store):
    def link(self, kind: str, key: str, target: str) -> None:
        existing = self._s.links.setdefault((kind, key), target)
        if existing != target:
            raise ValueError(f"{kind} {key} is linked to {existing}; it cannot also be linked to {target}")

    def target(self, kind: str, key: str) -> str | None:
        return self._s.links.get((kind, key))

    def park(self, kind: str, key: str, event: Envelope, at: datetime) -> None:
        ident = (kind, key, event.id)
        if ident not in self._s.parked:
            stored = Envelope.model_validate(_json(event.model_dump(mode="json", exclude_none=True)))
            self._s.parked[ident] = _ParkedRow(stored, _utc(at))

    def _oldest_first(self) -> list[tuple[tuple[str, str, str], _ParkedRow]]:
        # sorted() is stable: rows parked at the same time keep their arrival order, as the SQL seq does.
        return sorted(self._s.parked.items(), key=lambda item: item[1].parked_at)

    def unpark(self, kind: str, key: str) -> list[Envelope]:
        taken = [(ident, row) for ident, row in self._oldest_first() if ident[:2] == (kind, key)]
        for ident, _ in taken:
            del self._s.parked[ident]
        return [row.envelope.model_copy(deep=True) for _, row in taken]

    def parked(self, limit: int = 100) -> list[tuple[str, str, Envelope]]:
        rows = _first(self._oldest_first(), limit)
        return [(ident[0], ident[1], row.envelope.model_copy(deep=True)) for ident, row in rows]


class _Shared:
    """The committed tables of one factory, and the single-writer lock its units of work take in turn."""

    def __init__(self) -> None:
        self.state = _State()
        self.lock = threading.Lock()
        self.holder: int | None = None


class MemoryUnitOfWork:
    """A snapshot of the tables taken on entry; commit() publishes it, leaving without commit drops it."""

    def __init__(self, shared: _Shared, now: Callable[[], datetime], busy_timeout: float) -> None:
        self._shared = shared
        self._now = now
        self._busy_timeout = busy_timeout
        self._state: _State | None = None
        self._committed = False
        self.inbox: InboxStore = MemoryInbox(self)
        self.log: EventLog = MemoryLog(self, now)
        self.outbox: OutboxStore = MemoryOutbox(self)
        self.endpoints: EndpointStore = MemoryEndpoints(self)
        self.leases: LeaseStore = MemoryLeases(self)
        self.timers: TimerStore = MemoryTimers(self)
        self.replays: ReplayLog = MemoryReplays(self)
        self.orders: OrderStore = MemoryOrders(self)
        self.inventory: InventoryStore = MemoryInventory(self)
        self.journal: JournalStore = MemoryJournal(self)
        self.exceptions: ExceptionStore = MemoryExceptions(self)
        self.links: LinkStore = MemoryLinks(self)
        self.keys: KeyStore = MemoryKeys(self)
        self.audit: AuditLog = MemoryAudit(self)
        self.purchase_orders: PurchaseOrderStore = MemoryPurchaseOrders(self)
        self.xrefs: CrossReferenceStore = MemoryCrossReferences(self)
        self.watermarks: WatermarkStore = MemoryWatermarks(self)
        self.control_numbers: ControlNumberStore = MemoryControlNumbers(self)
        self.interchanges: InterchangeStore = MemoryInterchanges(self)
        self.master_records: MasterDataStore = MemoryMasterRecords(self)
        self.reconciliations: ReconciliationStore = MemoryReconciliations(self)

    @property
    def state(self) -> _State:
        if self._state is None:
            raise RuntimeError("the unit of work is not open: use it inside its `with` block")
        return self._state

    def __enter__(self) -> MemoryUnitOfWork:
        shared = self._shared
        if shared.holder == threading.get_ident():
            # SQLite's writer lock would make this thread wait for itself; fail at once instead of hanging.
            raise RuntimeError("a unit of work is already open in this thread; finish it before opening another")
        if not shared.lock.acquire(timeout=self._busy_timeout):
            raise TimeoutError(f"another unit of work stayed open for more than {self._busy_timeout}s")
        shared.holder = threading.get_ident()
        self._state = shared.state.snapshot()
        self._committed = False
        return self

    def __exit__(self, *exc: object) -> None:
        if self._state is None:
            return
        self._state = None
        self._shared.holder = None
        self._shared.lock.release()

    def commit(self) -> None:
        if self._committed:
            # As SQLAlchemy's transaction: one commit per unit of work; later work is dropped on exit.
            raise RuntimeError("this unit of work has already committed")
        self._shared.state = self.state
        self._state = self.state.snapshot()
        self._committed = True

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        saved = self.state.snapshot()
        try:
            yield
        except BaseException:
            self._state = saved
            raise


class MemoryUnitOfWorkFactory:
    """Shared in-memory tables; each call gives a fresh unit of work over them."""

    def __init__(self, now: Callable[[], datetime], *, busy_timeout: float = BUSY_TIMEOUT_SECONDS) -> None:
        self._now = now
        self._busy_timeout = busy_timeout
        self._shared = _Shared()

    def __call__(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self._shared, self._now, self._busy_timeout)


class MemoryKeys(_Store):
    def add(self, key: ApiKey) -> None:
        if key.id in self._s.api_keys:
            raise UniqueViolation(f"an API key with id {key.id} exists")
        self._s.api_keys[key.id] = replace(
            key, scopes=tuple(key.scopes), created_at=_utc(key.created_at), revoked_at=_utc_or_none(key.revoked_at)
        )

    def get(self, key_id: str) -> ApiKey | None:
        return self._s.api_keys.get(key_id)

    def all(self) -> list[ApiKey]:
        return sorted(self._s.api_keys.values(), key=lambda k: (k.created_at, k.id))

    def revoke(self, key_id: str, at: datetime) -> ApiKey | None:
        key = self._s.api_keys.get(key_id)
        if key is not None and key.revoked_at is None:
            key = self._s.api_keys[key_id] = replace(key, revoked_at=_utc(at))
        return key


class MemoryAudit(_Store):
    """Appends only; the unit-of-work lock stands in for the SQL appenders' lock."""

    def append(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        linked = governance.chain(self.last(), entries)
        self._s.audit.extend(linked)
        return [replace(r, details=_json(r.details)) for r in linked]

    def read(self, after: int = 0, limit: int = 1000) -> list[AuditRecord]:
        rows = [r for r in self._s.audit if r.seq > after]
        return [replace(r, details=_json(r.details)) for r in _first(rows, limit)]

    def last(self) -> AuditRecord | None:
        return replace(self._s.audit[-1], details=_json(self._s.audit[-1].details)) if self._s.audit else None


def _po_out(row: PurchaseOrderRecord) -> PurchaseOrderRecord:
    return replace(row, state=_json(row.state), document=_json(row.document))


class MemoryPurchaseOrders(_Store):
    def load(self, po_id: str) -> PurchaseOrderRecord | None:
        row = self._s.purchase_orders.get(po_id)
        return _po_out(row) if row else None

    def save(self, record: PurchaseOrderRecord, at: datetime) -> PurchaseOrderRecord:
        stored = self._s.purchase_orders.get(record.po_id)
        if (stored is None) != (record.version == 0) or (stored is not None and stored.version != record.version):
            raise ConcurrentUpdate(f"purchase order {record.po_id} changed since version {record.version} was read")
        when = _utc(at)
        row = replace(
            record,
            state=_json(dict(record.state)),
            document=_json(dict(record.document)) if record.document is not None else None,
            version=record.version + 1,
            created_at=when if stored is None else stored.created_at,
            updated_at=when,
        )
        self._s.purchase_orders[record.po_id] = row
        return _po_out(row)

    def find(self, flt: PurchaseOrderFilter) -> list[PurchaseOrderRecord]:
        before = _utc_or_none(flt.updated_before)
        rows = sorted(
            (
                r
                for r in self._s.purchase_orders.values()
                if (flt.status is None or r.status == flt.status)
                and (flt.supplier_id is None or r.supplier_id == flt.supplier_id)
                and (before is None or (r.updated_at is not None and r.updated_at < before))
            ),
            key=lambda r: (r.updated_at, r.po_id),
            reverse=True,
        )
        return [_po_out(r) for r in _first(rows, flt.limit)]

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for r in self._s.purchase_orders.values():
            found[r.status] = found.get(r.status, 0) + 1
        return found


class MemoryCrossReferences(_Store):
    def link(self, ref: CrossReference, at: datetime) -> None:
        for row in self._s.xrefs:
            if (row.kind, row.system) != (ref.kind, ref.system):
                continue
            same_hub, same_external = row.hub_id == ref.hub_id, row.external_id == ref.external_id
            if same_hub and same_external:
                return
            if same_hub or same_external:
                raise ValueError(
                    f"{ref.kind} {row.hub_id} is linked to {ref.system} id {row.external_id}; "
                    f"it cannot also link {ref.hub_id} to {ref.external_id}"
                )
        self._s.xrefs = [*self._s.xrefs, replace(ref, created_at=_utc(at))]

    def external_id(self, kind: str, system: str, hub_id: str) -> str | None:
        found = [r.external_id for r in self._s.xrefs if (r.kind, r.system, r.hub_id) == (kind, system, hub_id)]
        return found[0] if found else None

    def hub_id(self, kind: str, system: str, external_id: str) -> str | None:
        found = [r.hub_id for r in self._s.xrefs if (r.kind, r.system, r.external_id) == (kind, system, external_id)]
        return found[0] if found else None

    def of(self, hub_id: str) -> list[CrossReference]:
        return _oldest_first(r for r in self._s.xrefs if r.hub_id == hub_id)

    def find(self, kind: str | None = None, system: str | None = None, limit: int = 100) -> list[CrossReference]:
        rows = _oldest_first(r for r in self._s.xrefs if kind in (None, r.kind) and system in (None, r.system))
        return rows[:limit]


def _oldest_first(refs: Iterable[CrossReference]) -> list[CrossReference]:
    # A stable sort: links made at the same time keep the order they were made in, as the SQL sequence does.
    return sorted(refs, key=lambda r: r.created_at or datetime.min.replace(tzinfo=UTC))


class MemoryWatermarks(_Store):
    def get(self, connector: str, stream: str) -> str | None:
        found = self._s.watermarks.get((connector, stream))
        return found[0] if found else None

    def advance(self, connector: str, stream: str, value: str, at: datetime) -> None:
        self._s.watermarks[(connector, stream)] = (value, _utc(at))

    def all(self) -> dict[tuple[str, str], tuple[str, datetime]]:
        return dict(self._s.watermarks)


class MemoryControlNumbers(_Store):
    """The unit-of-work lock stands in for the SQL row lock."""

    def take(self, partner: str, kind: str, *, first: int = 1, last: int = 999_999_999) -> int:
        if first > last:
            raise ValueError(f"control numbers {kind} for {partner}: the first ({first}) is above the last ({last})")
        current = self._s.control_numbers.get((partner, kind))
        number = first if current is None or current >= last or current < first else current + 1
        self._s.control_numbers[(partner, kind)] = number
        return number

    def current(self, partner: str, kind: str) -> int | None:
        return self._s.control_numbers.get((partner, kind))


class MemoryInterchanges(_Store):
    def save(self, sent: SentInterchange) -> None:
        # A new row goes last, as the SQL sequence orders it; a replaced one keeps its place.
        self._s.interchanges[sent.delivery_id] = replace(
            sent,
            sets=tuple((set_id, number) for set_id, number in sent.sets),
            queued_at=_utc(sent.queued_at),
            due_by=_utc_or_none(sent.due_by),
            sent_at=_utc_or_none(sent.sent_at),
            acknowledged_at=_utc_or_none(sent.acknowledged_at),
        )

    def get(self, delivery_id: str) -> SentInterchange | None:
        return self._s.interchanges.get(delivery_id)

    def find(
        self,
        *,
        partner: str | None = None,
        interchange: str | None = None,
        group: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[SentInterchange]:
        rows = [
            r
            for r in reversed(self._s.interchanges.values())
            if partner in (None, r.partner)
            and interchange in (None, r.interchange)
            and group in (None, r.group)
            and status in (None, r.status)
        ]
        return rows[:limit]


class MemoryMasterRecords(_Store):
    """The SQL store's digest rule: the document as its JSON column keeps it, keys sorted."""

    def put(self, kind: str, key: str, document: Mapping[str, Any], source: str, at: datetime) -> str:
        body = json.loads(json.dumps(document, sort_keys=True, default=str))
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()
        current = self._s.master_records.get((kind, key))
        if current is not None and current.digest == digest:
            return "unchanged"
        self._s.master_records[(kind, key)] = MasterRecord(kind, key, body, digest, source, _utc(at))
        return "added" if current is None else "changed"

    def get(self, kind: str, key: str) -> MasterRecord | None:
        found = self._s.master_records.get((kind, key))
        return None if found is None else replace(found, document=_json(found.document))

    def holds(self, kind: str) -> bool:
        return any(k == kind for k, _ in self._s.master_records)

    def for_order(self, customer: str, skus: Collection[str], price_lists: Collection[str]) -> OrderMasterData:
        record = self._s.master_records.get((CUSTOMER_RECORD, customer))
        named = record.document.get("price_list") if record is not None else None
        lists = {*price_lists, *([named] if isinstance(named, str) else [])}
        prices = {
            (name, sku): _json(entry.document)
            for name in lists
            for sku in skus
            if (entry := self._s.master_records.get((PRICE_RECORD, price_key(name, sku)))) is not None
        }
        return OrderMasterData(customer=_json(record.document) if record is not None else None, prices=prices)


class MemoryReconciliations(_Store):
    def add(self, run: ReconciliationRun) -> bool:
        if run.id in self._s.reconciliations:
            return False
        # Kept as the JSON column keeps it: what is read back is what SQL would hand back.
        drifts = tuple(_json(drift) for drift in run.drifts)
        self._s.reconciliations[run.id] = replace(run, at=_utc(run.at), drifts=drifts, exceptions=tuple(run.exceptions))
        return True

    def get(self, run_id: str) -> ReconciliationRun | None:
        found = self._s.reconciliations.get(run_id)
        return None if found is None else _run_out(found)

    def recent(self, *, source: str | None = None, limit: int = 100) -> list[ReconciliationRun]:
        rows = [r for r in reversed(self._s.reconciliations.values()) if source in (None, r.source)]
        return [_run_out(r) for r in _first(rows, limit)]


def _run_out(run: ReconciliationRun) -> ReconciliationRun:
    return replace(run, drifts=tuple(_json(drift) for drift in run.drifts))
