"""The worker: leases shards and drives the hub until told to stop.

One thread does all of this process's work on the database, in one unit of work per round: it records the
sends that came back, processes pending messages and chooses the next sends. The sends themselves run
beside it, so the database never waits on a target and a target never waits on the database; a partition
with a send in flight gets nothing more sent until that send is recorded, which keeps its order. A second
thread fires timers.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from crossdock.entrypoints.api.intake_writer import IntakeWriter
from crossdock.hub.ports import INBOX_POOL, OUTBOX_POOL, Delivery, Poller, SendResult
from crossdock.hub.runtime import Hub
from crossdock.observability.metrics import Metrics

log = logging.getLogger(__name__)

MAX_ROUNDS_IN_FLIGHT = 2


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class _InFlight:
    deliveries: Sequence[Delivery]
    results: Future[dict[str, SendResult]]


@dataclass
class Worker:
    hub: Hub
    metrics: Metrics
    idle_sleep: float = 0.02
    owner: str = field(default_factory=owner_id)
    stop_event: threading.Event = field(default_factory=threading.Event)
    inbox_ready: threading.Event = field(default_factory=threading.Event)  # set by intake in this process
    threads: list[threading.Thread] = field(default_factory=list)
    in_flight: list[_InFlight] = field(default_factory=list)
    intake: IntakeWriter | None = None  # drained here when the API runs in this process
    pollers: Sequence[Poller] = ()  # systems read into intake (partner folders, an ERP), when configured
    poll_every: float | None = None  # None: each poller at its own interval; a number: all of them that often

    def __post_init__(self) -> None:
        self._senders = ThreadPoolExecutor(max_workers=MAX_ROUNDS_IN_FLIGHT, thread_name_prefix="round")
        self.metrics.attach(self.hub)
        if self.intake is not None:
            self.intake.on_submit = self.inbox_ready.set

    def start(self) -> None:
        self.hub.arm_timers()
        loops: list[tuple[str, Callable[[], None]]] = [("pipeline", self._pipeline_loop), ("timers", self._timer_loop)]
        if self.pollers:
            loops.append(("pollers", self._poll_loop))
        for name, loop in loops:
            thread = threading.Thread(target=self._guarded(name, loop), name=f"worker-{name}", daemon=True)
            thread.start()
            self.threads.append(thread)
        log.info("worker %s started", self.owner)

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        self.inbox_ready.set()
        for thread in self.threads:
            thread.join(timeout)
        self._senders.shutdown(wait=True)
        try:
            self._record_finished(wait=True)
            self.hub.release(self.owner)
        except Exception:  # noqa: BLE001 - unrecorded sends are sent again (same id); leases expire
            log.warning("worker %s could not settle its last round; it will be redone", self.owner)
        log.info("worker %s stopped", self.owner)

    def wait(self) -> None:
        while not self.stop_event.is_set():
            self.stop_event.wait(1.0)

    def _guarded(self, name: str, loop: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            while not self.stop_event.is_set():
                try:
                    loop()
                except Exception:
                    log.exception("%s loop failed; retrying in 1s", name)
                    self.stop_event.wait(1.0)

        return run

    def _leased(self, pool: str) -> Callable[[], list[int]]:
        """The shards this worker owns in a pool, rebalanced (and so renewed) every third of a lease."""
        every = self.hub.worker.lease_seconds / 3
        renewed_at = -every
        owned: list[int] = []

        def shards() -> list[int]:
            nonlocal renewed_at, owned
            if time.monotonic() - renewed_at >= every:
                owned = self.hub.lease(pool, self.owner)
                renewed_at = time.monotonic()
            return owned

        return shards

    def _pipeline_loop(self) -> None:
        inbox_shards, outbox_shards = self._leased(INBOX_POOL), self._leased(OUTBOX_POOL)
        while not self.stop_event.is_set():
            self.inbox_ready.clear()
            finished = self._take_finished()
            busy = {(d.destination, d.partition_key) for flight in self.in_flight for d in flight.deliveries}
            arrivals = self.intake.take(self.hub.worker.batch_size) if self.intake is not None else []
            try:
                step = self.hub.pipeline_round(
                    self.owner, inbox_shards(), outbox_shards(), finished, busy, [m for m, _ in arrivals]
                )
            except BaseException as exc:
                for _, answer in arrivals:
                    answer.set_exception(exc)  # the sender hears of it and sends again
                raise
            for (_, answer), result in zip(arrivals, step.accepted, strict=True):
                answer.set_result(result)
            if arrivals:
                self.metrics.intake_batch.observe(len(arrivals))
            self.metrics.processed.labels("processed").inc(step.processed)
            self.metrics.processed.labels("failed").inc(step.failed)
            if step.to_send:
                self._launch(step.to_send)
            if len(self.in_flight) >= MAX_ROUNDS_IN_FLIGHT:
                self._wait_for_a_send()
            elif not (step.processed or step.failed or step.to_send or finished or arrivals):
                self.inbox_ready.wait(self.idle_sleep)

    def _launch(self, deliveries: list[Delivery]) -> None:
        results = self._senders.submit(self.hub.outbox.send, deliveries)
        results.add_done_callback(lambda _done: self.inbox_ready.set())
        self.in_flight.append(_InFlight(deliveries, results))
        self.metrics.sent.inc(len(deliveries))

    def _take_finished(self) -> list[tuple[Sequence[Delivery], Mapping[str, SendResult]]]:
        # Ask each send once: one finishing between two looks would otherwise fall between the lists.
        done: list[_InFlight] = []
        running: list[_InFlight] = []
        for flight in self.in_flight:
            (done if flight.results.done() else running).append(flight)
        self.in_flight = running
        return [(flight.deliveries, flight.results.result()) for flight in done]

    def _wait_for_a_send(self) -> None:
        while self.in_flight and not any(f.results.done() for f in self.in_flight) and not self.stop_event.is_set():
            self.inbox_ready.wait(self.idle_sleep)
            self.inbox_ready.clear()

    def _record_finished(self, wait: bool) -> None:
        if wait:
            for flight in self.in_flight:
                flight.results.exception()
        finished = self._take_finished()
        if finished:
            self.hub.pipeline_round(self.owner, [], [], finished, set())

    def _poll_loop(self) -> None:
        """Read the systems that do not post to the hub, each at its interval, one after the other. A poller stores
        what it read before it moves its marker on (a file is archived, a watermark advanced), so a crash re-reads
        and intake answers duplicate."""
        due = [0.0] * len(self.pollers)
        while not self.stop_event.is_set():
            for index, poller in enumerate(self.pollers):
                if time.monotonic() < due[index]:
                    continue
                self._poll(poller)
                due[index] = time.monotonic() + (self.poll_every if self.poll_every is not None else poller.every)
            self.stop_event.wait(max(0.0, min(due) - time.monotonic()))

    def _poll(self, poller: Poller) -> None:
        try:
            report = poller.poll()
        except Exception:  # one poller's fault must not stop the others
            log.exception("source %s: polling failed; tried again next time", poller.source)
            return
        if report.taken_in:
            self.metrics.received.labels(poller.source, "polled").inc(report.taken_in)
        if report.refused:
            self.metrics.received.labels(poller.source, "refused").inc(report.refused)
        if report.error:
            log.warning("source %s: poll failed, tried again next time: %s", poller.source, report.error)
        elif report.busy:
            log.info(
                "source %s: %d taken in, %d already had, %d refused %s",
                poller.source,
                report.taken_in,
                report.already_had,
                report.refused,
                report.note,
            )

    def _timer_loop(self) -> None:
        while not self.stop_event.is_set():
            fired = self.hub.timer_round()
            self.metrics.timers.inc(fired)
            if not fired:
                self.stop_event.wait(1.0)
