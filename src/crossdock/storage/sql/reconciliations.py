"""The SQL store of inventory reconciliation runs, kept as they ran.

Owns: the rows of reconciliation_runs. Must not: compare counts with the ledger (domain/inventory.py does) or change
a run once kept.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from crossdock.hub.ports import ReconciliationRun
from crossdock.storage.sql import tables as t
from crossdock.storage.sql.store import Store


def _run(row: RowMapping) -> ReconciliationRun:
    return ReconciliationRun(
        id=row["id"],
        source=row["source"],
        actor=row["actor"],
        at=row["at"],
        digest=row["digest"],
        checked=row["checked"],
        matched=row["matched"],
        drifts=tuple(dict(drift) for drift in row["drifts"]),
        exceptions=tuple(str(ident) for ident in row["exceptions"]),
    )


class SqlReconciliations(Store):
    def add(self, run: ReconciliationRun) -> bool:
        values = {
            "id": run.id,
            "source": run.source,
            "actor": run.actor,
            "at": run.at,
            "digest": run.digest,
            "checked": run.checked,
            "matched": run.matched,
            "drifts": [dict(drift) for drift in run.drifts],
            "exceptions": list(run.exceptions),
        }
        insert: Any = self._insert(t.reconciliation_runs).values(**values)
        # The unique id decides, also between two processes running the same count at once: the first is kept.
        kept = insert.on_conflict_do_nothing(index_elements=["id"]).returning(t.reconciliation_runs.c.seq)
        return self.conn.execute(kept).first() is not None

    def get(self, run_id: str) -> ReconciliationRun | None:
        c = t.reconciliation_runs.c
        row = self.conn.execute(sa.select(t.reconciliation_runs).where(c.id == run_id)).mappings().first()
        return _run(row) if row is not None else None

    def recent(self, *, source: str | None = None, limit: int = 100) -> list[ReconciliationRun]:
        c = t.reconciliation_runs.c
        query = sa.select(t.reconciliation_runs).order_by(c.seq.desc()).limit(limit)
        if source is not None:
            query = query.where(c.source == source)
        return [_run(row) for row in self.conn.execute(query).mappings()]
