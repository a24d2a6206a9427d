"""The SQL unit of work and its stores: one connection, one transaction, every port of the hub.

Owns: the SQL of intake dedupe, the gap-free log, due deliveries, leases, timers and endpoint state.
Must not: decide business outcomes; it stores what the hub decided.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from crossdock.domain.events import Envelope
from crossdock.hub.ports import (
    Attempt,
    AttemptOutcome,
    AuditLog,
    BreakerState,
    ControlNumberStore,
    CrossReferenceStore,
    Delivery,
    DeliveryFilter,
    DeliveryStatus,
    DeliveryUpdate,
    EndpointState,
    EndpointStore,
    EventLog,
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
    MessageStatus,
    NewDelivery,
    NewMessage,
    OrderStore,
    OutboxStore,
    PurchaseOrderStore,
    ReconciliationStore,
    ReplayLog,
    ReplayRecord,
    StoredEvent,
    StoredMessage,
    Timer,
    TimerStore,
    UnitOfWork,
    WatermarkStore,
)
from crossdock.storage.sql import business, connector_state, edi, governance, procurement, reconciliations
from crossdock.storage.sql import tables as t
from crossdock.storage.sql.store import Store


def _message(row: RowMapping) -> StoredMessage:
    return StoredMessage(
        id=row["id"],
        source=row["source"],
        key=row["key"],
        payload_hash=row["payload_hash"],
        body=bytes(row["body"]),
        headers=row["headers"],
        received_at=row["received_at"],
        partition_key=row["partition_key"],
        shard=row["shard"],
        status=MessageStatus(row["status"]),
        error=row["error"],
        replays=row["replays"],
        processed_at=row["processed_at"],
    )


class SqlInbox(Store):
    def add(self, messages: Sequence[NewMessage]) -> list[IntakeResult]:
        first: dict[tuple[str, str], NewMessage] = {}
        for message in messages:
            first.setdefault((message.source, message.key), message)
        rows = [
            {
                "source": m.source,
                "key": m.key,
                "payload_hash": m.payload_hash,
                "body": m.body,
                "headers": dict(m.headers),
                "received_at": m.received_at,
                "partition_key": m.partition_key,
                "shard": m.shard,
                "status": m.status.value,
                "error": m.error,
                "replays": 0,
            }
            for m in first.values()
        ]
        stored: dict[tuple[str, str], Mapping[str, Any]] = {}
        if rows:
            c = t.inbox_messages.c
            stmt = self._insert(t.inbox_messages).on_conflict_do_nothing(index_elements=["source", "key"])
            result = self.conn.execute(stmt.returning(c.id, c.source, c.key), rows)
            for r in result:
                m = first[(r.source, r.key)]
                stored[(r.source, r.key)] = {
                    "id": r.id,
                    "payload_hash": m.payload_hash,
                    "status": m.status.value,
                    "received_at": m.received_at,
                    "error": m.error,
                }
        inserted = set(stored)
        # Only repeats need a second look: the row that was there first decides their answer.
        stored.update(self._by_keys([ident for ident in first if ident not in inserted]))
        results: list[IntakeResult] = []
        seen: set[tuple[str, str]] = set()
        for message in messages:
            ident = (message.source, message.key)
            row = stored[ident]
            fresh = ident in inserted and ident not in seen
            seen.add(ident)
            if fresh:
                status = IntakeStatus.ACCEPTED
            elif row["payload_hash"] == message.payload_hash:
                status = IntakeStatus.DUPLICATE
            else:
                status = IntakeStatus.CONFLICT
            results.append(
                IntakeResult(status, row["id"], MessageStatus(row["status"]), row["received_at"], row["error"])
            )
        return results

    def _by_keys(self, idents: list[tuple[str, str]]) -> dict[tuple[str, str], Mapping[str, Any]]:
        c = t.inbox_messages.c
        found: dict[tuple[str, str], Mapping[str, Any]] = {}
        for start in range(0, len(idents), 400):
            chunk = idents[start : start + 400]
            query = sa.select(c.id, c.source, c.key, c.payload_hash, c.status, c.received_at, c.error).where(
                sa.tuple_(c.source, c.key).in_(chunk)
            )
            for row in self.conn.execute(query).mappings():
                found[(row["source"], row["key"])] = dict(row)
        return found

    def get(self, message_id: int) -> StoredMessage | None:
        row = self.conn.execute(sa.select(t.inbox_messages).where(t.inbox_messages.c.id == message_id)).mappings()
        first = row.first()
        return _message(first) if first else None

    def pending(self, shards: Sequence[int], limit: int) -> list[StoredMessage]:
        c = t.inbox_messages.c
        query = (
            sa.select(t.inbox_messages)
            .where(c.status == MessageStatus.PENDING.value, c.shard.in_(shards))
            .order_by(c.id)
            .limit(limit)
        )
        return [_message(r) for r in self.conn.execute(query).mappings()]

    def mark(self, message_ids: Sequence[int], status: MessageStatus, error: str | None, at: datetime) -> None:
        if not message_ids:
            return
        self.conn.execute(
            t.inbox_messages.update().where(t.inbox_messages.c.id.in_(message_ids)),
            {"status": status.value, "error": error, "processed_at": at},
        )

    def requeue(self, message_id: int) -> bool:
        c = t.inbox_messages.c
        result = self.conn.execute(
            t.inbox_messages.update()
            .where(c.id == message_id, c.status == MessageStatus.FAILED.value)
            .values(status=MessageStatus.PENDING.value, replays=c.replays + 1)
        )
        return result.rowcount == 1

    def find(
        self,
        *,
        source: str | None = None,
        status: MessageStatus | None = None,
        key: str | None = None,
        limit: int = 100,
    ) -> list[StoredMessage]:
        c = t.inbox_messages.c
        query = sa.select(t.inbox_messages).order_by(c.id.desc()).limit(limit)
        if source:
            query = query.where(c.source == source)
        if status:
            query = query.where(c.status == status.value)
        if key:
            query = query.where(sa.or_(c.key == key, c.partition_key == key))
        return [_message(r) for r in self.conn.execute(query).mappings()]

    def counts(self) -> dict[str, int]:
        c = t.inbox_messages.c
        return {r[0]: r[1] for r in self.conn.execute(sa.select(c.status, sa.func.count()).group_by(c.status))}

    def prune(self, before: datetime) -> int:
        c = t.inbox_messages.c
        result = self.conn.execute(
            t.inbox_messages.delete().where(c.status == MessageStatus.PROCESSED.value, c.received_at < before)
        )
        return result.rowcount


def _event(row: RowMapping) -> StoredEvent:
    return StoredEvent(row["position"], Envelope.model_validate(row["envelope"]), row["message_id"])


class SqlLog(Store):
    def __init__(self, conn: Connection, now: Any) -> None:
        super().__init__(conn)
        self._now = now

    def append(self, entries: Sequence[tuple[Envelope, int | None]]) -> list[int]:
        if not entries:
            return []
        # The head row is locked until commit: positions are handed out in commit order, so the log has
        # no gap (a rolled-back batch gives its numbers back) and no reader sees a later one first.
        end = self.conn.execute(
            t.log_head.update()
            .where(t.log_head.c.id == 1)
            .values(position=t.log_head.c.position + len(entries))
            .returning(t.log_head.c.position)
        ).scalar_one()
        start = end - len(entries) + 1
        recorded = self._now()
        self.conn.execute(
            t.events.insert(),
            [
                {
                    "position": start + i,
                    "id": e.id,
                    "type": e.type,
                    "subject": e.subject,
                    "partition_key": e.partition,
                    "correlation_id": e.correlationid or e.id,
                    "message_id": message_id,
                    "time": e.time,
                    "recorded_at": recorded,
                    "envelope": e.model_dump(mode="json", exclude_none=True),
                }
                for i, (e, message_id) in enumerate(entries)
            ],
        )
        return list(range(start, end + 1))

    def read(self, after: int, limit: int) -> list[StoredEvent]:
        c = t.events.c
        query = sa.select(t.events).where(c.position > after).order_by(c.position).limit(limit)
        return [_event(r) for r in self.conn.execute(query).mappings()]

    def for_subject(self, subject: str, limit: int = 200) -> list[StoredEvent]:
        c = t.events.c
        query = (
            sa.select(t.events)
            .where(sa.or_(c.subject == subject, c.correlation_id == subject, c.id == subject))
            .order_by(c.position)
            .limit(limit)
        )
        return [_event(r) for r in self.conn.execute(query).mappings()]

    def for_message(self, message_id: int) -> list[StoredEvent]:
        c = t.events.c
        query = sa.select(t.events).where(c.message_id == message_id).order_by(c.position)
        return [_event(r) for r in self.conn.execute(query).mappings()]

    def get(self, event_id: str) -> StoredEvent | None:
        row = self.conn.execute(sa.select(t.events).where(t.events.c.id == event_id)).mappings().first()
        return _event(row) if row else None

    def head(self) -> int:
        return int(self.conn.execute(sa.select(t.log_head.c.position).where(t.log_head.c.id == 1)).scalar_one())

    def prune(self, before: datetime) -> int:
        d = t.deliveries.c
        unresolved = sa.select(d.event_id).where(d.status != DeliveryStatus.DELIVERED.value)
        result = self.conn.execute(
            t.events.delete().where(t.events.c.recorded_at < before, t.events.c.id.not_in(unresolved))
        )
        return result.rowcount


def _delivery(row: RowMapping) -> Delivery:
    return Delivery(
        id=row["id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        subject=row["subject"],
        destination=row["destination"],
        partition_key=row["partition_key"],
        shard=row["shard"],
        payload=row["payload"],
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        created_at=row["created_at"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        delivered_at=row["delivered_at"],
        queued_at=row["queued_at"],
        replays=row["replays"],
    )


class SqlOutbox(Store):
    def enqueue(self, deliveries: Sequence[NewDelivery]) -> int:
        if not deliveries:
            return 0
        rows = [
            {
                "id": d.id,
                "event_id": d.event_id,
                "event_type": d.event_type,
                "subject": d.subject,
                "destination": d.destination,
                "partition_key": d.partition_key,
                "shard": d.shard,
                "payload": dict(d.payload),
                "status": DeliveryStatus.PENDING.value,
                "attempts": 0,
                "replays": 0,
                "created_at": d.created_at,
                "queued_at": d.created_at,
                "next_attempt_at": d.next_attempt_at,
            }
            for d in deliveries
        ]
        try:
            # Plain INSERTs are cached compiled statements; ON CONFLICT ones are compiled anew each time, so
            # they are kept for the rare batch that repeats a delivery id.
            with self.conn.begin_nested():
                self.conn.execute(t.deliveries.insert(), rows)
            return len(rows)
        except sa.exc.IntegrityError:
            stmt = self._insert(t.deliveries).on_conflict_do_nothing(index_elements=["id"]).returning(t.deliveries.c.id)
            return len(self.conn.execute(stmt, rows).all())

    def due(self, shards: Sequence[int], now: datetime, limit: int) -> list[Delivery]:
        d = t.deliveries
        earlier = d.alias("earlier")
        waiting_ahead = sa.exists().where(
            earlier.c.destination == d.c.destination,
            earlier.c.partition_key == d.c.partition_key,
            earlier.c.status == DeliveryStatus.PENDING.value,
            earlier.c.seq < d.c.seq,
            earlier.c.next_attempt_at > now,
        )
        query = (
            sa.select(d)
            .where(
                d.c.status == DeliveryStatus.PENDING.value,
                d.c.next_attempt_at <= now,
                d.c.shard.in_(shards),
                ~waiting_ahead,
            )
            .order_by(d.c.seq)
            .limit(limit)
        )
        return [_delivery(r) for r in self.conn.execute(query).mappings()]

    def postpone(self, delivery_ids: Sequence[str], until: datetime) -> None:
        if delivery_ids:
            self.conn.execute(
                t.deliveries.update().where(t.deliveries.c.id.in_(delivery_ids)).values(next_attempt_at=until)
            )

    def resume(self, destination: str, held_until: datetime, now: datetime) -> int:
        c = t.deliveries.c
        result = self.conn.execute(
            t.deliveries.update()
            .where(
                c.destination == destination,
                c.status == DeliveryStatus.PENDING.value,
                c.next_attempt_at == held_until,
            )
            .values(next_attempt_at=now)
        )
        return result.rowcount

    def record(self, updates: Sequence[DeliveryUpdate]) -> None:
        if not updates:
            return
        d = t.deliveries
        self.conn.execute(
            d.update()
            .where(d.c.id == sa.bindparam("b_id"))
            .values(
                status=sa.bindparam("b_status"),
                attempts=sa.bindparam("b_attempts"),
                next_attempt_at=sa.bindparam("b_next"),
                last_error=sa.bindparam("b_error"),
                delivered_at=sa.bindparam("b_delivered"),
            ),
            [
                {
                    "b_id": u.delivery_id,
                    "b_status": u.status.value,
                    "b_attempts": u.attempts,
                    "b_next": u.next_attempt_at,
                    "b_error": u.last_error,
                    "b_delivered": u.delivered_at,
                }
                for u in updates
            ],
        )
        attempts = [u.attempt for u in updates if u.attempt is not None]
        if attempts:
            self.conn.execute(
                t.delivery_attempts.insert(),
                [
                    {
                        "delivery_id": a.delivery_id,
                        "number": a.number,
                        "round": a.round,
                        "at": a.at,
                        "outcome": a.outcome.value,
                        "status_code": a.status_code,
                        "error": a.error,
                        "duration_ms": a.duration_ms,
                    }
                    for a in attempts
                ],
            )

    def get(self, delivery_id: str) -> Delivery | None:
        row = self.conn.execute(sa.select(t.deliveries).where(t.deliveries.c.id == delivery_id)).mappings().first()
        return _delivery(row) if row else None

    def attempts(self, delivery_id: str) -> list[Attempt]:
        a = t.delivery_attempts.c
        rows = self.conn.execute(
            sa.select(t.delivery_attempts).where(a.delivery_id == delivery_id).order_by(a.seq)
        ).mappings()
        return [
            Attempt(
                r["delivery_id"],
                r["number"],
                r["at"],
                AttemptOutcome(r["outcome"]),
                r["status_code"],
                r["error"],
                r["duration_ms"],
                round=r["round"],
            )
            for r in rows
        ]

    def find(self, flt: DeliveryFilter) -> list[Delivery]:
        c = t.deliveries.c
        query = sa.select(t.deliveries).order_by(c.seq).limit(flt.limit)
        if flt.status is not None:
            query = query.where(c.status == flt.status.value)
        if flt.destination:
            query = query.where(c.destination == flt.destination)
        if flt.event_type:
            query = query.where(c.event_type.like(flt.event_type.replace("*", "%")))
        if flt.error_contains:
            query = query.where(c.last_error.contains(flt.error_contains, autoescape=True))
        if flt.since:
            query = query.where(c.created_at >= flt.since)
        if flt.until:
            query = query.where(c.created_at < flt.until)
        return [_delivery(r) for r in self.conn.execute(query).mappings()]

    def for_event(self, event_id: str) -> list[Delivery]:
        c = t.deliveries.c
        rows = self.conn.execute(sa.select(t.deliveries).where(c.event_id == event_id).order_by(c.seq)).mappings()
        return [_delivery(r) for r in rows]

    def revive(self, delivery_id: str, now: datetime, payload: Mapping[str, Any] | None) -> bool:
        c = t.deliveries.c
        values: dict[str, Any] = {
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "queued_at": now,
            "replays": c.replays + 1,
        }
        if payload is not None:
            values["payload"] = dict(payload)
        result = self.conn.execute(
            t.deliveries.update().where(c.id == delivery_id, c.status == DeliveryStatus.DEAD.value).values(**values)
        )
        return result.rowcount == 1

    def counts(self) -> dict[str, int]:
        c = t.deliveries.c
        return {r[0]: r[1] for r in self.conn.execute(sa.select(c.status, sa.func.count()).group_by(c.status))}

    def prune(self, before: datetime) -> int:
        c = t.deliveries.c
        old = sa.select(c.id).where(c.status == DeliveryStatus.DELIVERED.value, c.delivered_at < before)
        self.conn.execute(t.delivery_attempts.delete().where(t.delivery_attempts.c.delivery_id.in_(old)))
        result = self.conn.execute(
            t.deliveries.delete().where(c.status == DeliveryStatus.DELIVERED.value, c.delivered_at < before)
        )
        return result.rowcount


class SqlEndpoints(Store):
    def load(self, endpoint: str) -> EndpointState:
        c = t.endpoint_state.c
        query = sa.select(t.endpoint_state).where(c.endpoint == endpoint)
        if self.postgres:
            query = query.with_for_update()
        row = self.conn.execute(query).mappings().first()
        if row is not None:
            return _endpoint(row)
        self.conn.execute(
            self._insert(t.endpoint_state)
            .values(endpoint=endpoint, breaker=BreakerState.CLOSED.value, failures=0, tokens=-1.0)
            .on_conflict_do_nothing(index_elements=["endpoint"])
        )
        return _endpoint(self.conn.execute(query).mappings().one())

    def save(self, state: EndpointState) -> None:
        self.conn.execute(
            t.endpoint_state.update()
            .where(t.endpoint_state.c.endpoint == state.endpoint)
            .values(
                breaker=state.breaker.value,
                failures=state.failures,
                open_until=state.open_until,
                tokens=state.tokens,
                tokens_at=state.tokens_at,
            )
        )

    def all(self) -> list[EndpointState]:
        return [_endpoint(r) for r in self.conn.execute(sa.select(t.endpoint_state)).mappings()]


def _endpoint(row: RowMapping) -> EndpointState:
    return EndpointState(
        endpoint=row["endpoint"],
        breaker=BreakerState(row["breaker"]),
        failures=row["failures"],
        open_until=row["open_until"],
        tokens=row["tokens"],
        tokens_at=row["tokens_at"],
    )


def _presence_shard(owner: str) -> int:
    """Each owner's presence row sits at a negative shard number of its own, outside the real shards."""
    return -1 - (zlib.crc32(owner.encode("utf-8")) & 0x7FFFFFFF)


class SqlLeases(Store):
    def rebalance(self, pool: str, owner: str, shards: int, now: datetime, ttl_seconds: float) -> list[int]:
        c = t.shard_leases.c
        expires = now + timedelta(seconds=ttl_seconds)
        # A presence row makes an owner that holds no shard yet count as live, so that the others give up
        # shards toward its fair share; without it a worker that joins late would wait forever.
        self.conn.execute(
            self._insert(t.shard_leases)
            .values(pool=pool, shard=_presence_shard(owner), owner=owner, expires_at=expires)
            .on_conflict_do_update(index_elements=["pool", "shard"], set_={"owner": owner, "expires_at": expires})
        )
        # Presence rows of owners long gone (crashed, restarted) would otherwise pile up forever.
        self.conn.execute(t.shard_leases.delete().where(c.pool == pool, c.shard < 0, c.expires_at <= now))
        known = self.conn.execute(sa.select(sa.func.count()).where(c.pool == pool, c.shard >= 0)).scalar_one()
        if known < shards:
            self.conn.execute(
                self._insert(t.shard_leases).on_conflict_do_nothing(index_elements=["pool", "shard"]),
                [{"pool": pool, "shard": s} for s in range(shards)],
            )
        live = {
            r[0]
            for r in self.conn.execute(
                sa.select(c.owner)
                .where(c.pool == pool, c.owner.is_not(None), c.expires_at > now, c.shard < shards)
                .distinct()
            )
        }
        fair = math.ceil(shards / len(live | {owner}))
        self.conn.execute(t.shard_leases.update().where(c.pool == pool, c.owner == owner).values(expires_at=expires))
        mine = sorted(
            r[0]
            for r in self.conn.execute(
                sa.select(c.shard).where(c.pool == pool, c.owner == owner, c.shard >= 0, c.shard < shards)
            )
        )
        if len(mine) > fair:
            extra = mine[fair:]
            self.conn.execute(
                t.shard_leases.update().where(c.pool == pool, c.shard.in_(extra)).values(owner=None, expires_at=None)
            )
            return mine[:fair]
        free = sa.or_(c.owner.is_(None), c.expires_at <= now)
        for shard in (
            self.conn.execute(
                sa.select(c.shard)
                .where(c.pool == pool, c.shard >= 0, c.shard < shards, free)
                .order_by(c.shard)
                .limit(fair - len(mine))
            )
            .scalars()
            .all()
        ):
            taken = self.conn.execute(
                t.shard_leases.update()
                .where(c.pool == pool, c.shard == shard, free)
                .values(owner=owner, expires_at=expires)
            )
            if taken.rowcount == 1:
                mine.append(shard)
        return sorted(mine)

    def hold(self, pool: str, owner: str, shards: Sequence[int]) -> list[int]:
        if not shards:
            return []
        c = t.shard_leases.c
        # A read, not a renewal (rebalance renews): a round with nothing to do then writes nothing, and on
        # SQLite commits without a disk flush. On PostgreSQL the row locks fence off a worker taking over.
        query = sa.select(c.shard).where(c.pool == pool, c.owner == owner, c.shard.in_(shards))
        if self.postgres:
            query = query.with_for_update()
        return sorted(r[0] for r in self.conn.execute(query))

    def release(self, pool: str, owner: str) -> None:
        c = t.shard_leases.c
        self.conn.execute(t.shard_leases.delete().where(c.pool == pool, c.owner == owner, c.shard < 0))
        self.conn.execute(
            t.shard_leases.update().where(c.pool == pool, c.owner == owner).values(owner=None, expires_at=None)
        )

    def owners(self, now: datetime) -> dict[str, dict[str, int]]:
        c = t.shard_leases.c
        found: dict[str, dict[str, int]] = {}
        for pool, owner, count in self.conn.execute(
            sa.select(c.pool, c.owner, sa.func.count())
            .where(c.owner.is_not(None), c.expires_at > now, c.shard >= 0)
            .group_by(c.pool, c.owner)
        ):
            found.setdefault(pool, {})[owner] = count
        return found


def _timer(row: RowMapping) -> Timer:
    return Timer(
        key=row["key"],
        kind=row["kind"],
        due_at=row["due_at"],
        payload=row["payload"],
        fired_at=row["fired_at"],
        last_error=row["last_error"],
    )


class SqlTimers(Store):
    def schedule(self, timer: Timer) -> bool:
        result = self.conn.execute(
            self._insert(t.timers)
            .values(key=timer.key, kind=timer.kind, due_at=timer.due_at, payload=dict(timer.payload))
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(t.timers.c.key)
        )
        return result.first() is not None

    def due(self, now: datetime, limit: int) -> list[Timer]:
        c = t.timers.c
        query = sa.select(t.timers).where(c.fired_at.is_(None), c.due_at <= now).order_by(c.due_at).limit(limit)
        if self.postgres:
            query = query.with_for_update(skip_locked=True)
        return [_timer(r) for r in self.conn.execute(query).mappings()]

    def fire(self, key: str, at: datetime) -> None:
        self.conn.execute(t.timers.update().where(t.timers.c.key == key).values(fired_at=at))

    def delay(self, key: str, until: datetime, error: str) -> None:
        self.conn.execute(t.timers.update().where(t.timers.c.key == key).values(due_at=until, last_error=error))

    def cancel(self, key: str) -> bool:
        c = t.timers.c
        return self.conn.execute(t.timers.delete().where(c.key == key, c.fired_at.is_(None))).rowcount == 1

    def pending(self, limit: int = 100) -> list[Timer]:
        c = t.timers.c
        query = sa.select(t.timers).where(c.fired_at.is_(None)).order_by(c.due_at).limit(limit)
        return [_timer(r) for r in self.conn.execute(query).mappings()]

    def prune(self, before: datetime) -> int:
        c = t.timers.c
        return self.conn.execute(t.timers.delete().where(c.fired_at.is_not(None), c.fired_at < before)).rowcount


class SqlReplays(Store):
    def add(self, record: ReplayRecord) -> None:
        self.conn.execute(
            t.replays.insert().values(
                kind=record.kind, target=record.target, at=record.at, actor=record.actor, note=record.note
            )
        )

    def recent(self, limit: int = 100) -> list[ReplayRecord]:
        rows = self.conn.execute(sa.select(t.replays).order_by(t.replays.c.seq.desc()).limit(limit)).mappings()
        return [ReplayRecord(r["kind"], r["target"], r["at"], r["actor"], r["note"]) for r in rows]


class SqlUnitOfWork:
    """One connection and one transaction; stores are bound to it on entry."""

    inbox: InboxStore
    log: EventLog
    outbox: OutboxStore
    endpoints: EndpointStore
    leases: LeaseStore
    timers: TimerStore
    replays: ReplayLog
    orders: OrderStore
    inventory: InventoryStore
    journal: JournalStore
    exceptions: ExceptionStore
    links: LinkStore
    keys: KeyStore
    audit: AuditLog
    purchase_orders: PurchaseOrderStore
    xrefs: CrossReferenceStore
    watermarks: WatermarkStore
    control_numbers: ControlNumberStore
    master_records: MasterDataStore
    interchanges: InterchangeStore
    reconciliations: ReconciliationStore

    def __init__(self, engine: Engine, now: Any) -> None:
        self._engine = engine
        self._now = now

    def __enter__(self) -> SqlUnitOfWork:
        self._conn = self._engine.connect()
        self._tx = self._conn.begin()
        self.inbox = SqlInbox(self._conn)
        self.log = SqlLog(self._conn, self._now)
        self.outbox = SqlOutbox(self._conn)
        self.endpoints = SqlEndpoints(self._conn)
        self.leases = SqlLeases(self._conn)
        self.timers = SqlTimers(self._conn)
        self.replays = SqlReplays(self._conn)
        self.orders = business.SqlOrders(self._conn)
        self.inventory = business.SqlInventory(self._conn)
        self.journal = business.SqlJournal(self._conn)
        self.exceptions = business.SqlExceptions(self._conn)
        self.links = business.SqlLinks(self._conn, self._now)
        self.keys = governance.SqlKeys(self._conn)
        self.audit = governance.SqlAudit(self._conn)
        self.purchase_orders = procurement.SqlPurchaseOrders(self._conn)
        self.xrefs = connector_state.SqlCrossReferences(self._conn)
        self.watermarks = connector_state.SqlWatermarks(self._conn)
        self.control_numbers = connector_state.SqlControlNumbers(self._conn)
        self.master_records = connector_state.SqlMasterRecords(self._conn)
        self.interchanges = edi.SqlInterchanges(self._conn)
        self.reconciliations = reconciliations.SqlReconciliations(self._conn)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._tx.is_active:
                self._tx.rollback()
        finally:
            self._conn.close()

    def commit(self) -> None:
        self._tx.commit()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        nested = self._conn.begin_nested()
        try:
            yield
        except BaseException:
            nested.rollback()
            raise
        nested.commit()


class SqlUnitOfWorkFactory:
    def __init__(self, engine: Engine, now: Any) -> None:
        self.engine = engine
        self._now = now

    def __call__(self) -> UnitOfWork:
        return SqlUnitOfWork(self.engine, self._now)
