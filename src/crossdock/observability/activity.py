"""Figures about the pipeline read straight from the SQL tables with aggregate queries: backlogs and their age,
dead letters, breakers, open exceptions, and what each source sent. Read-only, on a connection of its own, for the
metrics collector at scrape time and the source watch (hub/silence.py) on its timer; never per event.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crossdock.hub.ports import DeliveryStatus, ExceptionStatus, MessageStatus, UnitOfWork
from crossdock.hub.silence import Activity
from crossdock.storage.sql import tables as t

# Upper bounds of the age buckets of open exceptions, in hours; older ones fall in the last, open-ended bucket.
AGE_BUCKETS: tuple[tuple[str, float], ...] = (("1h", 1), ("4h", 4), ("1d", 24), ("7d", 168))
OLDER = "older"
DRIFT_REASON = "inventory_drift"


@dataclass(frozen=True)
class Backlog:
    waiting: int
    oldest: datetime | None

    def lag_seconds(self, now: datetime) -> float:
        return max((now - self.oldest).total_seconds(), 0.0) if self.oldest is not None else 0.0


@dataclass(frozen=True)
class Figures:
    inbox_by_source: Mapping[str, Backlog] = field(default_factory=dict)
    inbox_by_shard: Mapping[int, Backlog] = field(default_factory=dict)
    outbox_by_destination: Mapping[str, Backlog] = field(default_factory=dict)
    outbox_by_shard: Mapping[int, Backlog] = field(default_factory=dict)
    failed_messages: Mapping[str, int] = field(default_factory=dict)
    dead_letters: Mapping[str, int] = field(default_factory=dict)
    breakers: Mapping[str, str] = field(default_factory=dict)
    open_exceptions: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (owner, age bucket)
    drift_open: Mapping[str, int] = field(default_factory=dict)  # location -> open inventory_drift exceptions


def age_bucket(opened_at: datetime, now: datetime) -> str:
    hours = (now - opened_at).total_seconds() / 3600
    return next((name for name, bound in AGE_BUCKETS if hours < bound), OLDER)


class SqlFigures:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def read(self, now: datetime) -> Figures:
        with self.engine.connect() as conn:
            inbox, outbox = t.inbox_messages.c, t.deliveries.c
            pending_in = inbox.status == MessageStatus.PENDING.value
            pending_out = outbox.status == DeliveryStatus.PENDING.value
            return Figures(
                inbox_by_source=_backlog(conn, inbox.source, inbox.received_at, pending_in),
                inbox_by_shard=_backlog(conn, inbox.shard, inbox.received_at, pending_in),
                outbox_by_destination=_backlog(conn, outbox.destination, outbox.queued_at, pending_out),
                outbox_by_shard=_backlog(conn, outbox.shard, outbox.queued_at, pending_out),
                failed_messages=_count(conn, inbox.source, inbox.status == MessageStatus.FAILED.value),
                dead_letters=_count(conn, outbox.destination, outbox.status == DeliveryStatus.DEAD.value),
                breakers=_breakers(conn),
                open_exceptions=_exceptions_by_age(conn, now),
                drift_open=_drift(conn),
            )

    def activity(self, uow: UnitOfWork, sources: Sequence[str], since: datetime) -> Mapping[str, Activity]:
        """Per source: its last message kept, and since `since` how many came and how many of them failed or had
        a delivery dead-lettered. Read on the unit of work's own connection: on SQLite a second one would wait for
        the first to finish."""
        if not sources:
            return {}
        c = t.inbox_messages.c
        conn = getattr(uow.inbox, "conn", None)
        if not isinstance(conn, sa.Connection):
            raise TypeError("the source activity is read through a SQL unit of work")
        recent = sa.select(c.source, c.status, sa.func.count(), sa.func.max(c.received_at)).where(
            c.source.in_(sources), c.received_at >= since
        )
        counted: dict[str, int] = defaultdict(int)
        failed: dict[str, int] = defaultdict(int)
        last: dict[str, datetime] = {}
        for source, status, count, newest in conn.execute(recent.group_by(c.source, c.status)):
            counted[source] += count
            if status == MessageStatus.FAILED.value:
                failed[source] += count
            if newest is not None and (source not in last or newest > last[source]):
                last[source] = newest
        for source in sources:
            if source not in last:
                # Quiet for the whole window: its newest message, by walking the primary key back from the end.
                newest = conn.execute(
                    sa.select(c.received_at).where(c.source == source).order_by(c.id.desc()).limit(1)
                ).scalar()
                if newest is not None:
                    last[source] = newest
        for source, count in _dead_lettered_messages(conn, sources, since).items():
            failed[source] += count
        return {
            source: Activity(last.get(source), counted[source], min(failed[source], counted[source]))
            for source in sources
        }


def _backlog(conn: sa.Connection, key: Any, since: Any, where: Any) -> dict[Any, Backlog]:
    rows = conn.execute(sa.select(key, sa.func.count(), sa.func.min(since)).where(where).group_by(key))
    return {row[0]: Backlog(row[1], row[2]) for row in rows}


def _count(conn: sa.Connection, key: Any, where: Any) -> dict[Any, int]:
    return {row[0]: row[1] for row in conn.execute(sa.select(key, sa.func.count()).where(where).group_by(key))}


def _breakers(conn: sa.Connection) -> dict[str, str]:
    c = t.endpoint_state.c
    return {row[0]: row[1] for row in conn.execute(sa.select(c.endpoint, c.breaker))}


def _exceptions_by_age(conn: sa.Connection, now: datetime) -> dict[tuple[str, str], int]:
    c = t.business_exceptions.c
    bounds = [(name, now - timedelta(hours=hours)) for name, hours in AGE_BUCKETS]
    columns = [sa.func.sum(sa.case((c.opened_at > cut, 1), else_=0)) for _, cut in bounds]
    query = (
        sa.select(c.owner, sa.func.count(), *columns).where(c.status == ExceptionStatus.OPEN.value).group_by(c.owner)
    )
    found: dict[tuple[str, str], int] = {}
    for owner, total, *younger in conn.execute(query):
        below = 0
        for (name, _), within in zip(bounds, younger, strict=True):
            found[(owner, name)] = int(within or 0) - below
            below = int(within or 0)
        found[(owner, OLDER)] = int(total) - below
    return found


def _drift(conn: sa.Connection) -> dict[str, int]:
    c = t.business_exceptions.c
    rows = conn.execute(
        sa.select(c.about_key).where(c.status == ExceptionStatus.OPEN.value, c.reason_code == DRIFT_REASON)
    )
    found: dict[str, int] = defaultdict(int)
    for (about,) in rows:
        found[str(about).rpartition("@")[2] or "unknown"] += 1
    return dict(found)


def _dead_lettered_messages(conn: sa.Connection, sources: Sequence[str], since: datetime) -> dict[str, int]:
    """Messages of each source received since `since` with at least one dead-lettered delivery."""
    d, e, m = t.deliveries.c, t.events.c, t.inbox_messages.c
    query = (
        sa.select(m.source, sa.func.count(sa.distinct(m.id)))
        .select_from(t.deliveries.join(t.events, e.id == d.event_id).join(t.inbox_messages, m.id == e.message_id))
        .where(d.status == DeliveryStatus.DEAD.value, m.source.in_(sources), m.received_at >= since)
        .group_by(m.source)
    )
    return {row[0]: row[1] for row in conn.execute(query)}
