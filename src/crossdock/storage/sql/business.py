"""The SQL stores of the order-to-cash business state: orders, the stock ledger, the journal, exceptions, links.

Owns: the rows, the optimistic and row locks that keep concurrent rounds from losing or overselling anything.
Must not: decide business outcomes (the domain does); quantities are exact decimal strings, never floats.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from crossdock.domain import inventory
from crossdock.domain.accounting import JournalEntry
from crossdock.domain.accounting import LedgerState as AccountingLedger
from crossdock.domain.events import Envelope
from crossdock.hub.ports import (
    BusinessException,
    ConcurrentUpdate,
    ExceptionAction,
    ExceptionFilter,
    ExceptionStatus,
    OrderFilter,
    OrderRecord,
)
from crossdock.storage.sql import tables as t
from crossdock.storage.sql.store import Store

# Bound parameters per IN list: well under SQLite's limit, and PostgreSQL plans short lists best.
_CHUNK = 400

_T = TypeVar("_T")


def _chunks(values: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


# ---------------------------------------------------------------------------------------------------------------
# Orders


def _order(row: RowMapping) -> OrderRecord:
    return OrderRecord(
        order_id=row["order_id"],
        status=row["status"],
        state=row["state"],
        version=row["version"],
        channel=row["channel"],
        customer_id=row["customer_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class SqlOrders(Store):
    def load(self, order_id: str) -> OrderRecord | None:
        row = self.conn.execute(sa.select(t.orders).where(t.orders.c.order_id == order_id)).mappings().first()
        return _order(row) if row else None

    def save(self, record: OrderRecord, at: datetime) -> OrderRecord:
        c = t.orders.c
        values = {
            "status": record.status,
            "channel": record.channel,
            "customer_id": record.customer_id,
            # A JSON column's round trip: the record handed back is what a later load returns.
            "state": json.loads(json.dumps(dict(record.state))),
            "version": record.version + 1,
            "updated_at": at,
        }
        if record.version == 0:
            # ON CONFLICT rather than catching the IntegrityError: PostgreSQL would abort the whole transaction.
            stmt = (
                self._insert(t.orders)
                .values(order_id=record.order_id, created_at=at, **values)
                .on_conflict_do_nothing(index_elements=["order_id"])
                .returning(c.created_at)
            )
        else:
            stmt = (
                t.orders.update()
                .where(c.order_id == record.order_id, c.version == record.version)
                .values(**values)
                .returning(c.created_at)
            )
        created = self.conn.execute(stmt).scalar()
        if created is None:
            raise ConcurrentUpdate(f"order {record.order_id} changed since version {record.version} was read")
        return OrderRecord(
            order_id=record.order_id,
            status=record.status,
            state=values["state"],
            version=record.version + 1,
            channel=record.channel,
            customer_id=record.customer_id,
            created_at=created,
            updated_at=at.astimezone(UTC),
        )

    def find(self, flt: OrderFilter) -> list[OrderRecord]:
        c = t.orders.c
        query = sa.select(t.orders).order_by(c.updated_at.desc(), c.order_id.desc()).limit(flt.limit)
        if flt.status is not None:
            query = query.where(c.status == flt.status)
        if flt.channel is not None:
            query = query.where(c.channel == flt.channel)
        if flt.customer_id is not None:
            query = query.where(c.customer_id == flt.customer_id)
        if flt.updated_before is not None:
            query = query.where(c.updated_at < flt.updated_before)
        return [_order(r) for r in self.conn.execute(query).mappings()]

    def counts(self) -> dict[str, int]:
        c = t.orders.c
        return {r[0]: r[1] for r in self.conn.execute(sa.select(c.status, sa.func.count()).group_by(c.status))}


# ---------------------------------------------------------------------------------------------------------------
# Inventory


def _position(row: RowMapping) -> inventory.StockPosition:
    return inventory.StockPosition(
        row["sku"], row["location"], on_hand=Decimal(row["on_hand"]), in_transit=Decimal(row["in_transit"])
    )


def _reservation(row: RowMapping, locations: set[str] | None = None) -> inventory.Reservation:
    allocations = tuple(
        inventory.Allocation(a["location"], Decimal(a["quantity"]))
        for a in row["allocations"]
        if locations is None or a["location"] in locations
    )
    return inventory.Reservation(
        order_id=row["order_id"],
        line_id=row["line_id"],
        sku=row["sku"],
        requested=Decimal(row["requested"]),
        allocations=allocations,
        consumed=Decimal(row["consumed"]),
        released=Decimal(row["released"]),
        cancelled=row["cancelled"],
    )


def _reservation_row(reservation: inventory.Reservation, at: datetime) -> dict[str, Any]:
    return {
        "order_id": reservation.order_id,
        "line_id": reservation.line_id,
        "sku": reservation.sku,
        "requested": str(reservation.requested),
        "consumed": str(reservation.consumed),
        "released": str(reservation.released),
        "cancelled": reservation.cancelled,
        "waiting": reservation.backorder > 0,
        "settled": _settled(reservation),
        "allocations": [{"location": a.location, "quantity": str(a.quantity)} for a in reservation.allocations],
        "created_at": at,
    }


def _skus(*states: inventory.LedgerState) -> set[str]:
    found: set[str] = set()
    for state in states:
        found.update(p.sku for p in state.positions())
        found.update(r.sku for r in state.reservations())
    return found


def _settled(reservation: inventory.Reservation) -> bool:
    """Holds no stock and waits for none: nothing about it can change what is available."""
    return reservation.cancelled or (not reservation.allocations and reservation.backorder == 0)


class SqlInventory(Store):
    def load(
        self, skus: Sequence[str], *, lock: bool = False, lines: Sequence[tuple[str, str]] = ()
    ) -> inventory.LedgerState:
        wanted = sorted(set(skus))
        p = t.stock_positions.c
        positions: list[inventory.StockPosition] = []
        for chunk in _chunks(wanted):
            query = sa.select(t.stock_positions).where(p.sku.in_(chunk)).order_by(p.sku, p.location)
            if lock and self.postgres:
                # Positions are locked before reservations are read: a transaction that waited here then reads
                # (read committed) the reservations the one before it committed, so the last units go once.
                query = query.with_for_update()
            positions.extend(_position(row) for row in self.conn.execute(query).mappings())
        reservations = [_reservation(row) for row in self._reservations_of(wanted, lines)]
        return inventory.LedgerState.build(positions=positions, reservations=reservations)

    def _reservations_of(self, skus: Sequence[str], lines: Sequence[tuple[str, str]] = ()) -> list[RowMapping]:
        """The open reservations of these skus, and those of the order lines asked for whatever their state;
        oldest first: the order in which a shortfall takes holds back (the latest lose theirs first)."""
        r = t.stock_reservations.c
        rows: dict[tuple[str, str], RowMapping] = {}
        for chunk in _chunks(skus):
            query = sa.select(t.stock_reservations).where(r.sku.in_(chunk), r.settled.is_(False))
            rows.update(((row["order_id"], row["line_id"]), row) for row in self.conn.execute(query).mappings())
        wanted_lines = set(lines)
        for chunk in _chunks(sorted({order_id for order_id, _ in wanted_lines})):
            query = sa.select(t.stock_reservations).where(r.order_id.in_(chunk), r.sku.in_(skus))
            for row in self.conn.execute(query).mappings():
                key = (row["order_id"], row["line_id"])
                if key in wanted_lines:
                    rows[key] = row
        found = list(rows.values())
        found.sort(key=lambda row: (row["created_at"], row["order_id"], row["line_id"]))
        return found

    def recorded(self, movement_ids: Sequence[str]) -> list[inventory.Movement]:
        m = t.stock_movements.c
        found: list[inventory.Movement] = []
        for chunk in _chunks(sorted(set(movement_ids))):
            rows = self.conn.execute(sa.select(m.movement).where(m.id.in_(chunk)).order_by(m.id))
            found.extend(inventory.Movement.model_validate(row[0]) for row in rows)
        return found

    def save(
        self,
        before: inventory.LedgerState,
        after: inventory.LedgerState,
        entries: Sequence[inventory.LedgerEntry],
        at: datetime,
    ) -> None:
        self._record(entries, at)
        for sku in sorted(_skus(before, after)):
            for position in sorted(after.positions(sku), key=lambda x: x.location):
                self._save_position(before.position(sku, position.location), position, before)
        changed = [r for r in after.reservations() if before.reservation(r.order_id, r.line_id) != r]
        if changed:
            stmt = self._insert(t.stock_reservations)
            # created_at is kept from the first save: it is the line's place in the backorder queue.
            stmt = stmt.on_conflict_do_update(
                index_elements=["order_id", "line_id"],
                set_={
                    name: stmt.excluded[name]
                    for name in (
                        "sku",
                        "requested",
                        "consumed",
                        "released",
                        "cancelled",
                        "waiting",
                        "settled",
                        "allocations",
                    )
                },
            )
            self.conn.execute(stmt, [_reservation_row(x, at) for x in sorted(changed, key=lambda x: x.key)])

    def _record(self, entries: Sequence[inventory.LedgerEntry], at: datetime) -> None:
        if not entries:
            return
        rows = [
            {
                "id": e.movement.id,
                "sku": e.movement.sku,
                "location": e.movement.location,
                "kind": e.movement.kind.value,
                "movement": e.movement.model_dump(mode="json"),
                "recorded_at": at,
            }
            for e in entries
        ]
        stmt = self._insert(t.stock_movements).on_conflict_do_nothing(index_elements=["id"])
        stored = self.conn.execute(stmt.returning(t.stock_movements.c.id), rows).all()
        if len(stored) != len(rows):
            # Recorded by someone else since `recorded()` was asked: applying it again would count it twice.
            raise ConcurrentUpdate("a movement of this round is already recorded")

    def _save_position(
        self, old: inventory.StockPosition, new: inventory.StockPosition, before: inventory.LedgerState
    ) -> None:
        if (old.on_hand, old.in_transit) == (new.on_hand, new.in_transit) and _known(before, old):
            return
        p = t.stock_positions.c
        values = {"on_hand": str(new.on_hand), "in_transit": str(new.in_transit)}
        if _known(before, old):
            # Compared with what was read, so that an unlocked read can never overwrite a newer count.
            result = self.conn.execute(
                t.stock_positions.update()
                .where(
                    p.sku == new.sku,
                    p.location == new.location,
                    p.on_hand == str(old.on_hand),
                    p.in_transit == str(old.in_transit),
                )
                .values(**values)
            )
            done = result.rowcount == 1
        else:
            stmt = (
                self._insert(t.stock_positions)
                .values(sku=new.sku, location=new.location, **values)
                .on_conflict_do_nothing(index_elements=["sku", "location"])
                .returning(p.sku)
            )
            done = self.conn.execute(stmt).first() is not None
        if not done:
            raise ConcurrentUpdate(f"stock of {new.sku} at {new.location} changed since it was read")

    def positions(
        self, *, sku: str | None = None, location: str | None = None, after: tuple[str, str] | None = None, limit: int
    ) -> inventory.LedgerState:
        p = t.stock_positions.c
        query = sa.select(t.stock_positions).order_by(p.sku, p.location).limit(limit)
        if sku is not None:
            query = query.where(p.sku == sku)
        if location is not None:
            query = query.where(p.location == location)
        if after is not None:
            query = query.where(sa.tuple_(p.sku, p.location) > sa.tuple_(sa.literal(after[0]), sa.literal(after[1])))
        positions = [_position(row) for row in self.conn.execute(query).mappings()]
        page: dict[str, set[str]] = {}
        for x in positions:
            page.setdefault(x.sku, set()).add(x.location)
        # Reservations keep only their holds at this page's positions: each position's reserved is then exact.
        reservations = [_reservation(row, page[row["sku"]]) for row in self._reservations_of(sorted(page))]
        return inventory.LedgerState.build(positions=positions, reservations=reservations)

    def backordered(self, sku: str, limit: int = 100) -> list[inventory.Reservation]:
        r = t.stock_reservations.c
        query = (
            sa.select(t.stock_reservations)
            .where(r.sku == sku, r.waiting.is_(True), r.cancelled.is_(False))
            .order_by(r.created_at, r.order_id, r.line_id)
            .limit(limit)
        )
        return [_reservation(row) for row in self.conn.execute(query).mappings()]


def _known(state: inventory.LedgerState, position: inventory.StockPosition) -> bool:
    """Whether `state` holds a row for this position (one it never saw reads back as an empty position)."""
    return any(x.location == position.location for x in state.positions(position.sku))


# ---------------------------------------------------------------------------------------------------------------
# Journal


def _entry(row: RowMapping | Mapping[str, Any]) -> JournalEntry:
    return JournalEntry.model_validate(row["entry"])


class SqlJournal(Store):
    def ledger(self, ledger: str, entry_ids: Sequence[str]) -> AccountingLedger:
        head = t.journal_ledgers.c
        query = sa.select(head.last_sequence).where(head.ledger == ledger)
        if self.postgres:
            # Held until commit: the next poster waits here, so sequences are handed out without gaps.
            query = query.with_for_update()
        last = self.conn.execute(query).scalar()
        if last is None:
            self.conn.execute(
                self._insert(t.journal_ledgers)
                .values(ledger=ledger, last_sequence=0)
                .on_conflict_do_nothing(index_elements=["ledger"])
            )
            last = self.conn.execute(query).scalar_one()
        e = t.journal_entries.c
        posted: set[str] = set()
        for chunk in _chunks(sorted(set(entry_ids))):
            posted.update(row[0] for row in self.conn.execute(sa.select(e.id).where(e.id.in_(chunk))))
        closed = t.closed_periods.c
        periods = self.conn.execute(sa.select(closed.period).where(closed.ledger == ledger)).scalars()
        return AccountingLedger(
            ledger=ledger, last_sequence=int(last), posted_ids=frozenset(posted), closed_periods=frozenset(periods)
        )

    def add(self, ledger: str, entries: Sequence[JournalEntry], last_sequence: int, at: datetime) -> None:
        if entries:
            rows = []
            for entry in entries:
                if entry.sequence is None:
                    raise ValueError(f"journal entry {entry.id} is not posted: it has no sequence")
                rows.append(
                    {
                        "id": entry.id,
                        "ledger": ledger,
                        "sequence": entry.sequence,
                        "period": entry.period,
                        "date": entry.date,
                        "currency": entry.currency,
                        "document_number": entry.source.document_number,
                        "entry": entry.model_dump(mode="json"),
                        "posted_at": at,
                    }
                )
            self.conn.execute(t.journal_entries.insert(), rows)
        stmt = self._insert(t.journal_ledgers).values(ledger=ledger, last_sequence=last_sequence)
        self.conn.execute(
            stmt.on_conflict_do_update(index_elements=["ledger"], set_={"last_sequence": stmt.excluded.last_sequence})
        )

    def entries(self, ledger: str, *, after_sequence: int = 0, limit: int = 1000) -> list[JournalEntry]:
        e = t.journal_entries.c
        query = (
            sa.select(e.entry).where(e.ledger == ledger, e.sequence > after_sequence).order_by(e.sequence).limit(limit)
        )
        return [_entry(row) for row in self.conn.execute(query).mappings()]

    def for_source(self, document_number: str) -> list[JournalEntry]:
        e = t.journal_entries.c
        query = sa.select(e.entry).where(e.document_number == document_number).order_by(e.sequence, e.ledger)
        return [_entry(row) for row in self.conn.execute(query).mappings()]

    def close_period(self, ledger: str, period: str) -> None:
        self.conn.execute(
            self._insert(t.closed_periods)
            .values(ledger=ledger, period=period)
            .on_conflict_do_nothing(index_elements=["ledger", "period"])
        )

    def reopen_period(self, ledger: str, period: str) -> None:
        c = t.closed_periods.c
        self.conn.execute(t.closed_periods.delete().where(c.ledger == ledger, c.period == period))


# ---------------------------------------------------------------------------------------------------------------
# Business exceptions


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetimes are not stored: pass an aware time")
    return value.astimezone(UTC)


def _action_json(action: ExceptionAction) -> dict[str, str]:
    return {"action": action.action, "actor": action.actor, "at": _aware(action.at).isoformat(), "note": action.note}


def _action(value: Mapping[str, str]) -> ExceptionAction:
    return ExceptionAction(value["action"], value["actor"], datetime.fromisoformat(value["at"]), value["note"])


def _exception(row: RowMapping) -> BusinessException:
    return BusinessException(
        id=row["id"],
        owner=row["owner"],
        reason_code=row["reason_code"],
        about_kind=row["about_kind"],
        about_key=row["about_key"],
        message=row["message"],
        opened_at=row["opened_at"],
        status=ExceptionStatus(row["status"]),
        resolved_at=row["resolved_at"],
        actions=tuple(_action(a) for a in row["actions"]),
    )


class SqlExceptions(Store):
    def open(self, exception: BusinessException) -> bool:
        stmt = (
            self._insert(t.business_exceptions)
            .values(
                id=exception.id,
                owner=exception.owner,
                reason_code=exception.reason_code,
                about_kind=exception.about_kind,
                about_key=exception.about_key,
                message=exception.message,
                status=ExceptionStatus(exception.status).value,
                opened_at=exception.opened_at,
                resolved_at=exception.resolved_at,
                actions=[_action_json(a) for a in exception.actions],
            )
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(t.business_exceptions.c.id)
        )
        return self.conn.execute(stmt).first() is not None

    def get(self, exception_id: str) -> BusinessException | None:
        return self._get(exception_id, lock=False)

    def _get(self, exception_id: str, *, lock: bool) -> BusinessException | None:
        query = sa.select(t.business_exceptions).where(t.business_exceptions.c.id == exception_id)
        if lock and self.postgres:
            query = query.with_for_update()
        row = self.conn.execute(query).mappings().first()
        return _exception(row) if row else None

    def act(self, exception_id: str, action: ExceptionAction, *, resolve: bool) -> BusinessException | None:
        # Locked while the action is appended: two people acting at once both keep their action.
        current = self._get(exception_id, lock=True)
        if current is None:
            return None
        actions = (*current.actions, ExceptionAction(action.action, action.actor, _aware(action.at), action.note))
        status, resolved_at = current.status, current.resolved_at
        if resolve:
            status, resolved_at = ExceptionStatus.RESOLVED, _aware(action.at)
        self.conn.execute(
            t.business_exceptions.update()
            .where(t.business_exceptions.c.id == exception_id)
            .values(status=status.value, resolved_at=resolved_at, actions=[_action_json(a) for a in actions])
        )
        return BusinessException(
            id=current.id,
            owner=current.owner,
            reason_code=current.reason_code,
            about_kind=current.about_kind,
            about_key=current.about_key,
            message=current.message,
            opened_at=current.opened_at,
            status=status,
            resolved_at=resolved_at,
            actions=actions,
        )

    def find(self, flt: ExceptionFilter) -> list[BusinessException]:
        c = t.business_exceptions.c
        query = sa.select(t.business_exceptions).order_by(c.opened_at, c.id).limit(flt.limit)
        if flt.status is not None:
            query = query.where(c.status == ExceptionStatus(flt.status).value)
        if flt.owner is not None:
            query = query.where(c.owner == flt.owner)
        if flt.about_key is not None:
            query = query.where(c.about_key == flt.about_key)
        if flt.reason_code is not None:
            query = query.where(c.reason_code == flt.reason_code)
        return [_exception(r) for r in self.conn.execute(query).mappings()]

    def counts(self) -> dict[str, int]:
        c = t.business_exceptions.c
        query = sa.select(c.owner, sa.func.count()).where(c.status == ExceptionStatus.OPEN.value).group_by(c.owner)
        return {r[0]: r[1] for r in self.conn.execute(query)}


# ---------------------------------------------------------------------------------------------------------------
# Links and parked events


def _envelope_json(event: Envelope) -> dict[str, Any]:
    # The event log's stored form, so a parked event reads back exactly as a logged one does.
    return event.model_dump(mode="json", exclude_none=True)


class SqlLinks(Store):
    def __init__(self, conn: Connection, now: Callable[[], datetime]) -> None:
        super().__init__(conn)
        self._now = now

    def link(self, kind: str, key: str, target: str) -> None:
        c = t.links.c
        stmt = (
            self._insert(t.links)
            .values(kind=kind, key=key, target=target, created_at=self._now())
            .on_conflict_do_nothing(index_elements=["kind", "key"])
            .returning(c.key)
        )
        if self.conn.execute(stmt).first() is not None:
            return
        existing = self.target(kind, key)
        if existing != target:
            raise ValueError(f"{kind} {key} is linked to {existing}; it cannot also be linked to {target}")

    def target(self, kind: str, key: str) -> str | None:
        c = t.links.c
        found: str | None = self.conn.execute(sa.select(c.target).where(c.kind == kind, c.key == key)).scalar()
        return found

    def park(self, kind: str, key: str, event: Envelope, at: datetime) -> None:
        self.conn.execute(
            self._insert(t.parked_events)
            .values(kind=kind, key=key, event_id=event.id, envelope=_envelope_json(event), parked_at=at)
            .on_conflict_do_nothing(index_elements=["kind", "key", "event_id"])
        )

    def unpark(self, kind: str, key: str) -> list[Envelope]:
        c = t.parked_events.c
        query = sa.select(c.seq, c.envelope).where(c.kind == kind, c.key == key).order_by(c.parked_at, c.seq)
        if self.postgres:
            query = query.with_for_update()
        rows = self.conn.execute(query).all()
        if rows:
            self.conn.execute(t.parked_events.delete().where(c.seq.in_([row.seq for row in rows])))
        return [Envelope.model_validate(row.envelope) for row in rows]

    def parked(self, limit: int = 100) -> list[tuple[str, str, Envelope]]:
        c = t.parked_events.c
        query = sa.select(c.kind, c.key, c.envelope).order_by(c.parked_at, c.seq).limit(limit)
        return [(row.kind, row.key, Envelope.model_validate(row.envelope)) for row in self.conn.execute(query)]
