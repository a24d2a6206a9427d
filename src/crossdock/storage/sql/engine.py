"""Engines for the two supported databases, set up for durability and for one-writer SQLite.

SQLite: WAL, a busy timeout, and every transaction opened with BEGIN IMMEDIATE so that a writer takes the
lock up front instead of failing to upgrade half-way. PostgreSQL: psycopg 3 with a small pool.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

WRITER_WAIT_SECONDS = 30.0


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, *, sqlite_synchronous: str = "FULL", pool_size: int = 5) -> Engine:
    if is_sqlite(url):
        return _sqlite_engine(url, sqlite_synchronous)
    return sa.create_engine(_postgres_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _postgres_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_engine(url: str, synchronous: str) -> Engine:
    database = sa.engine.make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so that BEGIN IMMEDIATE below is what opens them.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    # SQLite has one writer. Threads of this process queue on a lock and are woken the moment it is free;
    # left to SQLite's busy handler they would poll with sleeps of up to 100 ms. Other processes still
    # meet at the database lock and its busy timeout.
    writer = threading.Lock()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if not writer.acquire(timeout=WRITER_WAIT_SECONDS):
            raise sa.exc.OperationalError("BEGIN IMMEDIATE", {}, TimeoutError("database is locked by this process"))
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            writer.release()
            raise

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(_connection: Any) -> None:
        if writer.locked():
            writer.release()

    return engine
