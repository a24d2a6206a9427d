"""The hub as one object: intake, processing, delivery and timers over a unit-of-work factory.

Owns: the rounds a worker runs (lease, process, deliver, fire timers) and retention. Must not: start threads,
servers or read configuration; entrypoints drive it and bootstrap builds it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from crossdock.hub import inbox
from crossdock.hub.outbox import Outbox
from crossdock.hub.ports import (
    INBOX_POOL,
    OUTBOX_POOL,
    Clock,
    Delivery,
    IntakeResult,
    IntakeStatus,
    MessageStatus,
    NewMessage,
    ReplayRecord,
    SendResult,
    StoredMessage,
    Timer,
    UnitOfWork,
    UnitOfWorkFactory,
)
from crossdock.hub.timers import Timers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retention:
    """How long finished work is kept. Failed messages, dead letters and pending rows are never pruned."""

    messages: timedelta = timedelta(days=30)
    events: timedelta = timedelta(days=90)
    deliveries: timedelta = timedelta(days=30)
    timers: timedelta = timedelta(days=7)
    every: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class WorkerSettings:
    shards: int = 16
    batch_size: int = 200
    lease_seconds: float = 15.0


@dataclass
class RoundResult:
    processed: int = 0
    failed: int = 0
    sent: int = 0
    timers: int = 0

    @property
    def busy(self) -> bool:
        return bool(self.processed or self.failed or self.sent or self.timers)


def _after(result: IntakeResult, done: inbox.Processed) -> IntakeResult:
    """A message stored and processed in one unit of work is answered with where it ended up."""
    status = done.status_of(result.message_id) if result.status is IntakeStatus.ACCEPTED else None
    if status is None:
        return result
    return replace(result, message_status=status[0], error=status[1])


@dataclass(frozen=True)
class PipelineStep:
    processed: int
    failed: int
    to_send: list[Delivery]
    accepted: list[IntakeResult]


@dataclass
class Hub:
    begin: UnitOfWorkFactory
    clock: Clock
    intake: inbox.Intake
    processor: inbox.Processor
    outbox: Outbox
    timers: Timers
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    retention: Retention = field(default_factory=Retention)

    def __post_init__(self) -> None:
        self.timers.register("retention", self._retention_job, every=self.retention.every)

    # ---- intake --------------------------------------------------------------------------------------
    def receive(self, source: str, body: bytes, headers: dict[str, str]) -> IntakeResult:
        return self.accept([self.intake.prepare(source, body, headers, self.clock.now())])[0]

    def accept(self, messages: Sequence[NewMessage]) -> list[IntakeResult]:
        return inbox.accept(self.begin(), messages)

    # ---- one worker round ------------------------------------------------------------------------------
    def lease(self, pool: str, owner: str) -> list[int]:
        with self.begin() as uow:
            shards = uow.leases.rebalance(pool, owner, self.worker.shards, self.clock.now(), self.worker.lease_seconds)
            uow.commit()
        return shards

    def process_round(self, owner: str, shards: Sequence[int]) -> tuple[int, int]:
        with self.begin() as uow:
            done = self._process_pending(uow, owner, shards, self.clock.now())
            uow.commit()
        return done.counts

    def _process_pending(self, uow: UnitOfWork, owner: str, shards: Sequence[int], now: datetime) -> inbox.Processed:
        """Process the pending messages of the shards this owner still holds."""
        held = uow.leases.hold(INBOX_POOL, owner, shards)
        messages = uow.inbox.pending(held, self.worker.batch_size) if held else []
        return self.processor.process(uow, messages, now) if messages else inbox.Processed()

    def deliver_round(self, owner: str, shards: Sequence[int]) -> int:
        return self.outbox.deliver_due(self.begin, owner, shards, self.clock.now)

    def pipeline_round(
        self,
        owner: str,
        inbox_shards: Sequence[int],
        outbox_shards: Sequence[int],
        finished: Sequence[tuple[Sequence[Delivery], Mapping[str, SendResult]]],
        busy: Collection[tuple[str, str]],
        arrivals: Sequence[NewMessage] = (),
    ) -> PipelineStep:
        """One unit of work for a worker that keeps sends in flight: store what arrived, record the sends
        that came back, process pending messages, and choose the next sends (which may be the deliveries of
        messages that arrived in this very round)."""
        with self.begin() as uow:
            now = self.clock.now()
            accepted = uow.inbox.add(arrivals) if arrivals else []
            done = self._process_pending(uow, owner, inbox_shards, now)
            # Processing (the log head) before recording and planning (endpoint rows): every worker takes
            # its row locks in this one order, so that on PostgreSQL no two can deadlock.
            for sent, results in finished:
                self.outbox.record(uow, sent, results, now)
            chosen = self.outbox.plan(uow, owner, outbox_shards, now, busy)
            uow.commit()
        return PipelineStep(*done.counts, chosen, [_after(result, done) for result in accepted])

    def timer_round(self) -> int:
        with self.begin() as uow:
            fired = self.timers.fire_due(uow, self.clock.now())
            uow.commit()
        return fired

    def arm_timers(self) -> None:
        with self.begin() as uow:
            self.timers.arm_periodic(uow, self.clock.now())
            uow.commit()

    def work_once(self, owner: str) -> RoundResult:
        """Everything a worker does, once, in one thread: handy for tests and the CLI's drain."""
        processed, failed = self.process_round(owner, self.lease(INBOX_POOL, owner))
        sent = self.deliver_round(owner, self.lease(OUTBOX_POOL, owner))
        return RoundResult(processed, failed, sent, self.timer_round())

    def drain(self, owner: str, max_rounds: int = 10_000) -> RoundResult:
        """Work until nothing is due now (deliveries waiting for a later retry stay queued)."""
        total = RoundResult()
        for _ in range(max_rounds):
            result = self.work_once(owner)
            if not result.busy:
                break
            total = RoundResult(
                total.processed + result.processed,
                total.failed + result.failed,
                total.sent + result.sent,
                total.timers + result.timers,
            )
        return total

    def release(self, owner: str) -> None:
        with self.begin() as uow:
            uow.leases.release(INBOX_POOL, owner)
            uow.leases.release(OUTBOX_POOL, owner)
            uow.commit()

    # ---- replay of inbound messages --------------------------------------------------------------------
    def replay_messages(
        self, uow: UnitOfWork, candidates: Sequence[StoredMessage], actor: str, dry_run: bool = False
    ) -> list[StoredMessage]:
        """Failed messages go back to pending, to be mapped again (after a fix); each replay is recorded."""
        chosen = [m for m in candidates if m.status is MessageStatus.FAILED]
        if dry_run:
            return chosen
        now = self.clock.now()
        replayed = [m for m in chosen if uow.inbox.requeue(m.id)]
        for message in replayed:
            uow.replays.add(ReplayRecord("message", str(message.id), now, actor))
        return replayed

    # ---- retention -------------------------------------------------------------------------------------
    def _retention_job(self, timer: Timer, uow: UnitOfWork, now: datetime) -> None:
        pruned = {
            "deliveries": uow.outbox.prune(now - self.retention.deliveries),
            "events": uow.log.prune(now - self.retention.events),
            "messages": uow.inbox.prune(now - self.retention.messages),
            "timers": uow.timers.prune(now - self.retention.timers),
        }
        log.info("retention pruned %s", pruned)
