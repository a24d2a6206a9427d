"""The SQL store of the procure-to-pay business state: purchase orders, their workflow state and their document.

Owns: the rows and the optimistic lock (a version per row) that keeps two rounds from both saving over one read.
Must not: decide business outcomes (the domain does) or read the state it stores.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from crossdock.hub.ports import ConcurrentUpdate, PurchaseOrderFilter, PurchaseOrderRecord
from crossdock.storage.sql import tables as t
from crossdock.storage.sql.store import Store


def _record(row: RowMapping) -> PurchaseOrderRecord:
    return PurchaseOrderRecord(
        po_id=row["po_id"],
        status=row["status"],
        state=row["state"],
        version=row["version"],
        supplier_id=row["supplier_id"],
        document=row["document"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _json(value: Any) -> Any:
    # A JSON column's round trip: the record handed back is what a later load returns.
    return json.loads(json.dumps(value))


class SqlPurchaseOrders(Store):
    def load(self, po_id: str) -> PurchaseOrderRecord | None:
        c = t.purchase_orders.c
        row = self.conn.execute(sa.select(t.purchase_orders).where(c.po_id == po_id)).mappings().first()
        return _record(row) if row else None

    def save(self, record: PurchaseOrderRecord, at: datetime) -> PurchaseOrderRecord:
        c = t.purchase_orders.c
        values = {
            "status": record.status,
            "supplier_id": record.supplier_id,
            "document": _json(dict(record.document)) if record.document is not None else None,
            "state": _json(dict(record.state)),
            "version": record.version + 1,
            "updated_at": at,
        }
        stmt: Any
        if record.version == 0:
            # ON CONFLICT rather than catching the IntegrityError: PostgreSQL would abort the whole transaction.
            insert = self._insert(t.purchase_orders)
            stmt = (
                insert.values(po_id=record.po_id, created_at=at, **values)
                .on_conflict_do_nothing(index_elements=["po_id"])
                .returning(c.created_at)
            )
        else:
            stmt = (
                t.purchase_orders.update()
                .where(c.po_id == record.po_id, c.version == record.version)
                .values(**values)
                .returning(c.created_at)
            )
        created = self.conn.execute(stmt).scalar()
        if created is None:
            raise ConcurrentUpdate(f"purchase order {record.po_id} changed since version {record.version} was read")
        return PurchaseOrderRecord(
            po_id=record.po_id,
            status=record.status,
            state=values["state"],
            version=record.version + 1,
            supplier_id=record.supplier_id,
            document=values["document"],
            created_at=created,
            updated_at=at.astimezone(UTC),
        )

    def find(self, flt: PurchaseOrderFilter) -> list[PurchaseOrderRecord]:
        c = t.purchase_orders.c
        query = sa.select(t.purchase_orders).order_by(c.updated_at.desc(), c.po_id.desc()).limit(flt.limit)
        if flt.status is not None:
            query = query.where(c.status == flt.status)
        if flt.supplier_id is not None:
            query = query.where(c.supplier_id == flt.supplier_id)
        if flt.updated_before is not None:
            query = query.where(c.updated_at < flt.updated_before)
        return [_record(r) for r in self.conn.execute(query).mappings()]

    def counts(self) -> dict[str, int]:
        c = t.purchase_orders.c
        query = sa.select(c.status, sa.func.count()).group_by(c.status)
        return {r[0]: r[1] for r in self.conn.execute(query)}
