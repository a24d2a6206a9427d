"""The worker: threads that lease shards and run the hub's rounds until told to stop.

One thread processes the inbox, one delivers the outbox, one fires timers. Each lease pool has its own
owner id, so processing and delivery run side by side while each shard still has one owner at a time.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from crossdock.hub.runtime import INBOX_POOL, OUTBOX_POOL, Hub
from crossdock.observability.metrics import Metrics

log = logging.getLogger(__name__)


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Worker:
    hub: Hub
    metrics: Metrics
    idle_sleep: float = 0.02
    owner: str = field(default_factory=owner_id)
    stop_event: threading.Event = field(default_factory=threading.Event)
    inbox_ready: threading.Event = field(default_factory=threading.Event)
    outbox_ready: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self.hub.arm_timers()
        for name, loop in (("inbox", self._inbox_loop), ("outbox", self._outbox_loop), ("timers", self._timer_loop)):
            thread = threading.Thread(target=self._guarded(name, loop), name=f"worker-{name}", daemon=True)
            thread.start()
            self.threads.append(thread)
        log.info("worker %s started", self.owner)

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        self.inbox_ready.set()
        self.outbox_ready.set()
        for thread in self.threads:
            thread.join(timeout)
        try:
            self.hub.release(self.owner)
        except Exception:  # noqa: BLE001 - leases expire by themselves; stopping must not fail on this
            log.warning("could not release leases of %s; they will expire", self.owner)
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
        state: dict[str, object] = {"at": 0.0, "shards": []}
        every = self.hub.worker.lease_seconds / 3

        def shards() -> list[int]:
            if time.monotonic() - float(state["at"]) >= every:  # type: ignore[arg-type]
                state["shards"] = self.hub.lease(pool, self.owner)
                state["at"] = time.monotonic()
            return state["shards"]  # type: ignore[return-value]

        return shards

    def _inbox_loop(self) -> None:
        shards = self._leased(INBOX_POOL)
        while not self.stop_event.is_set():
            self.inbox_ready.clear()
            processed, failed = self.hub.process_round(self.owner, shards())
            if processed or failed:
                self.metrics.processed.labels("processed").inc(processed)
                self.metrics.processed.labels("failed").inc(failed)
                self.outbox_ready.set()
                continue
            self.inbox_ready.wait(self.idle_sleep)

    def _outbox_loop(self) -> None:
        shards = self._leased(OUTBOX_POOL)
        while not self.stop_event.is_set():
            self.outbox_ready.clear()
            sent = self.hub.deliver_round(self.owner, shards())
            if sent:
                self.metrics.sent.inc(sent)
                continue
            self.outbox_ready.wait(self.idle_sleep)

    def _timer_loop(self) -> None:
        while not self.stop_event.is_set():
            fired = self.hub.timer_round()
            self.metrics.timers.inc(fired)
            if not fired:
                self.stop_event.wait(1.0)
