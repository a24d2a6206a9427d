"""The SQL stores of connectors' own state: cross-references, pollers' watermarks, partners' control numbers, and
master data imported in batches.

Owns: the SQL that keeps a cross-reference one to one and hands out control numbers gap-free under concurrency.
Must not: decide what an id or a number means; connectors and the hub do.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from crossdock.hub.ports import (
    CUSTOMER_RECORD,
    PRICE_RECORD,
    CrossReference,
    MasterRecord,
    OrderMasterData,
    price_key,
)
from crossdock.storage.sql import tables as t
from crossdock.storage.sql.store import Store


def _reference(row: RowMapping) -> CrossReference:
    return CrossReference(
        kind=row["kind"],
        system=row["system"],
        hub_id=row["hub_id"],
        external_id=row["external_id"],
        created_at=row["created_at"],
    )


class SqlCrossReferences(Store):
    def link(self, ref: CrossReference, at: datetime) -> None:
        # No conflict target: either unique constraint (hub id or external id, per kind and system) absorbs the row,
        # without the IntegrityError that would abort a PostgreSQL transaction.
        inserted = self.conn.execute(
            self._insert(t.cross_references)
            .values(kind=ref.kind, system=ref.system, hub_id=ref.hub_id, external_id=ref.external_id, created_at=at)
            .on_conflict_do_nothing()
            .returning(t.cross_references.c.seq)
        ).first()
        if inserted is not None:
            return
        c = t.cross_references.c
        clash = (
            self.conn.execute(
                sa.select(t.cross_references)
                .where(
                    c.kind == ref.kind,
                    c.system == ref.system,
                    sa.or_(c.hub_id == ref.hub_id, c.external_id == ref.external_id),
                )
                .order_by(c.seq)
            )
            .mappings()
            .first()
        )
        if clash is None or (clash["hub_id"], clash["external_id"]) == (ref.hub_id, ref.external_id):
            return
        raise ValueError(
            f"{ref.kind} {clash['hub_id']} is linked to {ref.system} id {clash['external_id']}; "
            f"it cannot also link {ref.hub_id} to {ref.external_id}"
        )

    def external_id(self, kind: str, system: str, hub_id: str) -> str | None:
        c = t.cross_references.c
        query = sa.select(c.external_id).where(c.kind == kind, c.system == system, c.hub_id == hub_id)
        found: str | None = self.conn.execute(query).scalar()
        return found

    def hub_id(self, kind: str, system: str, external_id: str) -> str | None:
        c = t.cross_references.c
        query = sa.select(c.hub_id).where(c.kind == kind, c.system == system, c.external_id == external_id)
        found: str | None = self.conn.execute(query).scalar()
        return found

    def of(self, hub_id: str) -> list[CrossReference]:
        c = t.cross_references.c
        query = sa.select(t.cross_references).where(c.hub_id == hub_id).order_by(c.created_at, c.seq)
        return [_reference(r) for r in self.conn.execute(query).mappings()]

    def find(self, kind: str | None = None, system: str | None = None, limit: int = 100) -> list[CrossReference]:
        c = t.cross_references.c
        query = sa.select(t.cross_references).order_by(c.created_at, c.seq).limit(limit)
        if kind is not None:
            query = query.where(c.kind == kind)
        if system is not None:
            query = query.where(c.system == system)
        return [_reference(r) for r in self.conn.execute(query).mappings()]


class SqlWatermarks(Store):
    def get(self, connector: str, stream: str) -> str | None:
        c = t.watermarks.c
        found: str | None = self.conn.execute(
            sa.select(c.value).where(c.connector == connector, c.stream == stream)
        ).scalar()
        return found

    def advance(self, connector: str, stream: str, value: str, at: datetime) -> None:
        self.conn.execute(
            self._insert(t.watermarks)
            .values(connector=connector, stream=stream, value=value, moved_at=at)
            .on_conflict_do_update(index_elements=["connector", "stream"], set_={"value": value, "moved_at": at})
        )

    def all(self) -> dict[tuple[str, str], tuple[str, datetime]]:
        c = t.watermarks.c
        rows = self.conn.execute(sa.select(c.connector, c.stream, c.value, c.moved_at).order_by(c.connector, c.stream))
        return {(r.connector, r.stream): (r.value, r.moved_at) for r in rows}


class SqlControlNumbers(Store):
    """The UPDATE takes the sequence's row lock (PostgreSQL) or runs under the writer lock every transaction takes
    at BEGIN IMMEDIATE (SQLite) and holds it until the caller's transaction ends: a concurrent taker waits, then
    reads the number this one left, and a rollback gives the number back."""

    def take(self, partner: str, kind: str, *, first: int = 1, last: int = 999_999_999) -> int:
        if first > last:
            raise ValueError(f"control numbers {kind} for {partner}: the first ({first}) is above the last ({last})")
        c = t.control_numbers.c
        wraps = sa.or_(c.current >= last, c.current < first)
        advance = (
            t.control_numbers.update()
            .where(c.partner == partner, c.kind == kind)
            .values(current=sa.case((wraps, first), else_=c.current + 1))
            .returning(c.current)
        )
        while True:
            number = self.conn.execute(advance).scalar()
            if number is not None:
                return int(number)
            # The first number of a sequence. On PostgreSQL a concurrent first taker makes this insert wait for
            # its commit and then do nothing, and the UPDATE above, tried again, queues behind its row.
            started = self.conn.execute(
                self._insert(t.control_numbers)
                .values(partner=partner, kind=kind, current=first)
                .on_conflict_do_nothing(index_elements=["partner", "kind"])
                .returning(c.current)
            ).scalar()
            if started is not None:
                return int(started)

    def current(self, partner: str, kind: str) -> int | None:
        c = t.control_numbers.c
        found = self.conn.execute(sa.select(c.current).where(c.partner == partner, c.kind == kind)).scalar()
        return None if found is None else int(found)


class SqlMasterRecords(Store):
    """Master data imported in batches: the latest document per kind and key, with the digest that tells a row
    imported again unchanged from one that changed."""

    def put(self, kind: str, key: str, document: Mapping[str, Any], source: str, at: datetime) -> str:
        """Store the document; returns "added", "changed" or "unchanged" (then nothing is written)."""
        body = json.loads(json.dumps(document, sort_keys=True, default=str))
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()
        c = t.master_records.c
        query = sa.select(c.digest).where(c.kind == kind, c.key == key)
        if self.postgres:
            query = query.with_for_update()
        current = self.conn.execute(query).scalar()
        if current == digest:
            return "unchanged"
        values = {"document": body, "digest": digest, "source": source, "updated_at": at}
        if current is None:
            self.conn.execute(
                self._insert(t.master_records)
                .values(kind=kind, key=key, **values)
                .on_conflict_do_update(index_elements=["kind", "key"], set_=values)
            )
            return "added"
        self.conn.execute(t.master_records.update().where(c.kind == kind, c.key == key).values(**values))
        return "changed"

    def get(self, kind: str, key: str) -> MasterRecord | None:
        c = t.master_records.c
        row = self.conn.execute(sa.select(t.master_records).where(c.kind == kind, c.key == key)).mappings().first()
        if row is None:
            return None
        return MasterRecord(
            kind=row["kind"],
            key=row["key"],
            document=dict(row["document"]),
            digest=row["digest"],
            source=row["source"],
            updated_at=row["updated_at"],
        )

    def holds(self, kind: str) -> bool:
        c = t.master_records.c
        return self.conn.execute(sa.select(c.key).where(c.kind == kind).limit(1)).first() is not None

    def for_order(self, customer: str, skus: Collection[str], price_lists: Collection[str]) -> OrderMasterData:
        """One statement: the customer's row and the configured lists' entries by primary key, plus (joined to the
        customer's row) the entries of the list it names, whose keys are built from its document."""
        r = t.master_records
        wanted = sorted(set(skus))
        keys = [price_key(name, sku) for name in sorted(set(price_lists)) for sku in wanted]
        direct = sa.select(r.c.kind, r.c.key, r.c.document).where(
            sa.or_(
                sa.and_(r.c.kind == CUSTOMER_RECORD, r.c.key == customer),
                sa.and_(r.c.kind == PRICE_RECORD, r.c.key.in_(keys)),
            )
        )
        query: Any = direct
        if wanted:
            named = r.alias("customer")
            entry = r.alias("entry")
            own_list = named.c.document["price_list"].as_string()
            own_keys = [own_list + price_key("", sku) for sku in wanted]
            own = (
                sa.select(entry.c.kind, entry.c.key, entry.c.document)
                .select_from(named)
                .join(entry, sa.and_(entry.c.kind == PRICE_RECORD, entry.c.key.in_(own_keys)))
                .where(named.c.kind == CUSTOMER_RECORD, named.c.key == customer)
            )
            query = sa.union_all(direct, own)
        found: dict[str, Any] | None = None
        prices: dict[tuple[str, str], dict[str, Any]] = {}
        for row in self.conn.execute(query):
            document = dict(row.document)
            if row.kind == CUSTOMER_RECORD:
                found = document
            else:
                prices[(str(document["price_list"]), str(document["sku"]))] = document
        return OrderMasterData(customer=found, prices=prices)

    def all(self, kind: str) -> dict[str, dict[str, Any]]:
        c = t.master_records.c
        rows = self.conn.execute(sa.select(c.key, c.document).where(c.kind == kind).order_by(c.key))
        return {row.key: dict(row.document) for row in rows}
