"""Durable timers for SLAs and periodic jobs: rows with a due time and a unique key, fired once, in the
same unit of work as their effect, so they survive restarts and never fire twice.

Owns: scheduling, firing, periodic re-arming. Must not: sleep or keep time itself; the caller passes `now`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from crossdock.domain.events import Envelope, derive_id
from crossdock.hub.ports import Timer, UnitOfWork
from crossdock.hub.router import HandlerContext

log = logging.getLogger(__name__)

TimerJob = Callable[[Timer, UnitOfWork, datetime], None]
# publish(uow, events, position of their cause in the log or None, now): how a desk's follow-ups enter the log.
Publish = Callable[[UnitOfWork, Sequence[Envelope], int | None, datetime], None]
TIMER_SOURCE = "crossdock/timers"
FAILED_TIMER_RETRY = timedelta(seconds=60)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timer_cause(key: str, now: datetime, partition: str) -> Envelope:
    """The cause of what a timer does: never stored itself, it gives the follow-ups stable ids and a correlation id
    to trace them by."""
    return Envelope(
        id=derive_id("timer", key),
        source=TIMER_SOURCE,
        type="crossdock.timer.acted.v1",
        subject=key,
        time=now,
        partitionkey=partition,
    )


def desk_job(
    handle: Callable[[HandlerContext, Timer], None], publish: Publish, *, partition_by: Sequence[str]
) -> TimerJob:
    """A timer job that runs a desk's handler and publishes what it emitted. Its follow-ups are partitioned by the
    first of the `partition_by` payload fields the timer carries (else its key), as the desk's events are."""

    def job(timer: Timer, uow: UnitOfWork, now: datetime) -> None:
        partition = next((str(v) for name in partition_by if (v := timer.payload.get(name))), timer.key)
        ctx = HandlerContext(uow=uow, now=now, cause=timer_cause(timer.key, now, partition))
        handle(ctx, timer)
        if ctx.emitted:
            publish(uow, ctx.emitted, None, now)

    return job


@dataclass(frozen=True)
class Periodic:
    kind: str
    every: timedelta


def periodic_key(kind: str, due: datetime) -> str:
    return f"periodic:{kind}:{due.astimezone(UTC).isoformat()}"


def slot_after(now: datetime, every: timedelta) -> datetime:
    """The next slot boundary: every process computes the same one, so the unique key dedupes them.
    Integer microseconds, so that a boundary is never rounded back onto itself."""
    step = every // timedelta(microseconds=1)
    elapsed = (now - EPOCH) // timedelta(microseconds=1)
    return EPOCH + timedelta(microseconds=(elapsed // step + 1) * step)


@dataclass
class Timers:
    jobs: dict[str, TimerJob] = field(default_factory=dict)
    periodic: dict[str, Periodic] = field(default_factory=dict)

    def register(self, kind: str, job: TimerJob, every: timedelta | None = None) -> None:
        self.jobs[kind] = job
        if every is not None:
            self.periodic[kind] = Periodic(kind, every)

    def schedule(
        self, uow: UnitOfWork, key: str, kind: str, due: datetime, payload: Mapping[str, Any] | None = None
    ) -> bool:
        return uow.timers.schedule(Timer(key=key, kind=kind, due_at=due, payload=dict(payload or {})))

    def arm_periodic(self, uow: UnitOfWork, now: datetime) -> None:
        for job in self.periodic.values():
            self.schedule(uow, periodic_key(job.kind, slot_after(now, job.every)), job.kind, slot_after(now, job.every))

    def fire_due(self, uow: UnitOfWork, now: datetime, limit: int = 100) -> int:
        fired = 0
        for timer in uow.timers.due(now, limit):
            job = self.jobs.get(timer.kind)
            try:
                with uow.savepoint():
                    if job is None:
                        raise LookupError(f"no job registered for timer kind {timer.kind!r}")
                    job(timer, uow, now)
                    uow.timers.fire(timer.key, now)
                    if timer.kind in self.periodic:
                        nxt = slot_after(now, self.periodic[timer.kind].every)
                        self.schedule(uow, periodic_key(timer.kind, nxt), timer.kind, nxt)
                fired += 1
            except Exception as exc:  # noqa: BLE001 - kept on the timer and retried, never dropped
                log.warning("timer %s failed: %s", timer.key, exc)
                uow.timers.delay(timer.key, now + FAILED_TIMER_RETRY, f"{exc.__class__.__name__}: {exc}")
        return fired
