"""The SQL store of interchanges written to trading partners and what their acknowledgements said.

Owns: the rows of edi_interchanges. Must not: decide what an acknowledgement means (domain/edi_acknowledgements.py).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from crossdock.hub.ports import SentInterchange
from crossdock.storage.sql import tables as t
from crossdock.storage.sql.store import Store


def _row(sent: SentInterchange) -> dict[str, Any]:
    return {
        "delivery_id": sent.delivery_id,
        "partner": sent.partner,
        "standard": sent.standard,
        "interchange": sent.interchange,
        "group_number": sent.group,
        "functional_id": sent.functional_id,
        "sets": [list(s) for s in sent.sets],
        "document": sent.document,
        "business_key": sent.business_key,
        "event_id": sent.event_id,
        "queued_at": sent.queued_at,
        "due_by": sent.due_by,
        "status": sent.status,
        "sent_at": sent.sent_at,
        "acknowledged_at": sent.acknowledged_at,
        "acknowledgement": sent.acknowledgement,
    }


def _sent(row: RowMapping) -> SentInterchange:
    return SentInterchange(
        delivery_id=row["delivery_id"],
        partner=row["partner"],
        standard=row["standard"],
        interchange=row["interchange"],
        group=row["group_number"],
        functional_id=row["functional_id"],
        sets=tuple((str(s[0]), str(s[1])) for s in row["sets"]),
        document=row["document"],
        business_key=row["business_key"],
        event_id=row["event_id"],
        queued_at=row["queued_at"],
        due_by=row["due_by"],
        status=row["status"],
        sent_at=row["sent_at"],
        acknowledged_at=row["acknowledged_at"],
        acknowledgement=row["acknowledgement"],
    )


class SqlInterchanges(Store):
    def save(self, sent: SentInterchange) -> None:
        values = _row(sent)
        insert: Any = self._insert(t.edi_interchanges).values(**values)
        changed = {name: value for name, value in values.items() if name != "delivery_id"}
        self.conn.execute(insert.on_conflict_do_update(index_elements=["delivery_id"], set_=changed))

    def get(self, delivery_id: str) -> SentInterchange | None:
        c = t.edi_interchanges.c
        row = self.conn.execute(sa.select(t.edi_interchanges).where(c.delivery_id == delivery_id)).mappings().first()
        return _sent(row) if row is not None else None

    def find(
        self,
        *,
        partner: str | None = None,
        interchange: str | None = None,
        group: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[SentInterchange]:
        c = t.edi_interchanges.c
        query = sa.select(t.edi_interchanges).order_by(c.seq.desc()).limit(limit)
        for column, value in ((c.partner, partner), (c.interchange, interchange), (c.group_number, group)):
            if value is not None:
                query = query.where(column == value)
        if status is not None:
            query = query.where(c.status == status)
        return [_sent(r) for r in self.conn.execute(query).mappings()]
