"""The SQL stores of governance: API keys and the append-only, hash-chained audit log.

Owns: the rows and the lock that keeps appenders of the chain one at a time. Must not: decide what a scope grants
or how a record is hashed (hub/governance.py does); it never updates or deletes an audit row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from crossdock.hub import governance
from crossdock.hub.ports import ApiKey, AuditEntry, AuditRecord
from crossdock.storage.sql import tables as t
from crossdock.storage.sql.store import Store

# Any constant will do: it names the one advisory lock every appender of the audit chain takes on PostgreSQL.
AUDIT_LOCK_ID = 0x4344_4155_4449_54


def _key(row: RowMapping) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        scopes=tuple(row["scopes"]),
        salt=row["salt"],
        secret_hash=row["secret_hash"],
        created_at=row["created_at"],
        channel=row["channel"],
        rate_per_minute=row["rate_per_minute"],
        created_by=row["created_by"],
        revoked_at=row["revoked_at"],
    )


class SqlKeys:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, key: ApiKey) -> None:
        self.conn.execute(
            t.api_keys.insert().values(
                id=key.id,
                name=key.name,
                scopes=list(key.scopes),
                channel=key.channel,
                rate_per_minute=key.rate_per_minute,
                salt=key.salt,
                secret_hash=key.secret_hash,
                created_at=key.created_at,
                created_by=key.created_by,
                revoked_at=key.revoked_at,
            )
        )

    def get(self, key_id: str) -> ApiKey | None:
        row = self.conn.execute(sa.select(t.api_keys).where(t.api_keys.c.id == key_id)).mappings().first()
        return _key(row) if row else None

    def all(self) -> list[ApiKey]:
        c = t.api_keys.c
        return [_key(r) for r in self.conn.execute(sa.select(t.api_keys).order_by(c.created_at, c.id)).mappings()]

    def revoke(self, key_id: str, at: datetime) -> ApiKey | None:
        c = t.api_keys.c
        self.conn.execute(t.api_keys.update().where(c.id == key_id, c.revoked_at.is_(None)).values(revoked_at=at))
        return self.get(key_id)


def _record(row: RowMapping) -> AuditRecord:
    return AuditRecord(
        seq=row["seq"],
        at=row["at"],
        actor=row["actor"],
        action=row["action"],
        target=row["target"],
        details=row["details"],
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


class SqlAudit(Store):
    def append(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        if not entries:
            return []
        if self.postgres:
            # Held to the end of the transaction: the next appender reads the last record only after this one
            # committed, so two transactions cannot both chain onto the same record. SQLite's BEGIN IMMEDIATE
            # already lets one writer in at a time.
            self.conn.execute(sa.select(sa.func.pg_advisory_xact_lock(AUDIT_LOCK_ID)))
        linked = governance.chain(self.last(), entries)
        self.conn.execute(
            t.audit_log.insert(),
            [
                {
                    "seq": r.seq,
                    "at": r.at,
                    "actor": r.actor,
                    "action": r.action,
                    "target": r.target,
                    "details": dict(r.details),
                    "prev_hash": r.prev_hash,
                    "hash": r.hash,
                }
                for r in linked
            ],
        )
        return linked

    def read(self, after: int = 0, limit: int = 1000) -> list[AuditRecord]:
        c = t.audit_log.c
        query = sa.select(t.audit_log).where(c.seq > after).order_by(c.seq).limit(limit)
        return [_record(r) for r in self.conn.execute(query).mappings()]

    def last(self) -> AuditRecord | None:
        c = t.audit_log.c
        row = self.conn.execute(sa.select(t.audit_log).order_by(c.seq.desc()).limit(1)).mappings().first()
        return _record(row) if row else None
