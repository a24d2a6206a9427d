"""Durable timers across a crash: the periodic retention slot that fell due while the hub was down fires once
after the restart, the next slot is armed once by both the restart and the re-arm, and no slot runs twice."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from crossdock.storage.sql import tables
from tests.integration.harness import HubConfig, Processes, wait_until

# Long enough that a slow start on a busy machine still arms the first slot before it falls due.
EVERY = timedelta(seconds=10)


def test_periodic_timer_due_while_the_hub_was_down_fires_once_after_restart(
    database_url: str,
    processes: Processes,
    hub_config: Callable[..., HubConfig],
    database: Callable[[str], Engine],
) -> None:
    # No event flows in this test, so the destination is never called.
    config = hub_config(
        database_url, "http://127.0.0.1:9/unused", retention={"every_minutes": EVERY.total_seconds() / 60}
    )
    engine = database(database_url)
    # Start just after a slot boundary, so the first slot is a whole period away and the kill lands before it.
    period = EVERY.total_seconds()
    time.sleep(math.ceil(time.time() / period) * period - time.time() + 0.2)
    hub = processes.hub(config, log_level="INFO")
    hub.kill()
    killed_at = datetime.now(UTC)

    armed = _retention_timers(engine)
    assert len(armed) == 1, f"expected the first slot armed at start: {armed}"
    first = armed[0]
    assert first["fired_at"] is None and first["due_at"] > killed_at, "the slot fired before the kill; too slow a start"

    # Stay down until the slot is overdue, then restart on the same database.
    time.sleep(max((first["due_at"] - datetime.now(UTC)).total_seconds(), 0) + 0.5)
    restarted_at = datetime.now(UTC)
    restarted = processes.hub(config, "hub-restarted", log_level="INFO")
    wait_until(lambda: _fired(engine) >= 1, 15, "the overdue slot to fire after the restart")
    wait_until(lambda: _fired(engine) >= 2, 2 * period, "the next slot to fire")
    restarted.stop()

    timers = _retention_timers(engine)
    fired = [t for t in timers if t["fired_at"] is not None]
    assert [t["key"] for t in fired[:2]] == [first["key"], _slot_key(first["due_at"] + EVERY)]
    assert fired[0]["fired_at"] >= restarted_at, "the overdue slot fired in the killed process"
    assert all(t["fired_at"] >= t["due_at"] for t in fired), "a slot fired before it was due"
    assert all(t["last_error"] is None for t in timers)
    assert all(t["fired_at"] is None for t in timers if t not in fired), "an unfired slot is marked fired"
    runs = sum(p.log_path.read_text().count("retention pruned") for p in (hub, restarted))
    assert runs == len(fired), f"{runs} retention runs for {len(fired)} fired slots: a slot ran twice"


def _slot_key(due: datetime) -> str:
    return f"periodic:retention:{due.astimezone(UTC).isoformat()}"


def _retention_timers(engine: Engine) -> list[dict[str, Any]]:
    query = sa.select(tables.timers).where(tables.timers.c.kind == "retention").order_by(tables.timers.c.due_at)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def _fired(engine: Engine) -> int:
    return sum(1 for t in _retention_timers(engine) if t["fired_at"] is not None)
