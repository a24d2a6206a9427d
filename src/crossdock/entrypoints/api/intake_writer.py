"""Group commit at intake: concurrent requests are handed to one writer that stores whatever has arrived as
one transaction, then answers them all. Durable before acknowledged, still; one commit per batch instead of
per request is what lets intake keep up.

The writer is a thread of its own in an API-only process. Where the process also runs a worker, the worker
drains the queue instead (`own_thread=False`, `take()`), so that messages are stored, processed and their
deliveries chosen in one transaction, and the database has a single writer in the process."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from crossdock.hub.ports import IntakeResult, NewMessage

log = logging.getLogger(__name__)

_STOP = object()


class IntakeWriter:
    def __init__(
        self,
        accept: Callable[[Sequence[NewMessage]], list[IntakeResult]],
        *,
        window_ms: float,
        max_batch: int,
        on_commit: Callable[[int], None] | None = None,
        own_thread: bool = True,
    ) -> None:
        self._accept = accept
        self._window = window_ms / 1000
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._queue: queue.Queue[object] = queue.Queue()
        self.on_submit: Callable[[], None] | None = None
        self._thread: threading.Thread | None = None
        if own_thread:
            self._thread = threading.Thread(target=self._run, name="intake-writer", daemon=True)
            self._thread.start()

    def submit(self, message: NewMessage) -> Future[IntakeResult]:
        future: Future[IntakeResult] = Future()
        self._queue.put((message, future))
        if self.on_submit is not None:
            self.on_submit()
        return future

    def take(self, limit: int) -> list[tuple[NewMessage, Future[IntakeResult]]]:
        """What has arrived, without waiting: for a worker that stores it in its own unit of work."""
        taken: list[tuple[NewMessage, Future[IntakeResult]]] = []
        while len(taken) < limit:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                taken.append(item)  # type: ignore[arg-type]
        return taken

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=10)
            return
        for _, future in self.take(1_000_000):
            future.set_exception(RuntimeError("the hub is shutting down; send the message again"))

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self._window
            stopping = False
            while len(batch) < self._max_batch:
                remaining = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._commit(batch)  # type: ignore[arg-type]
            if stopping:
                return

    def _commit(self, batch: list[tuple[NewMessage, Future[IntakeResult]]]) -> None:
        try:
            results = self._accept([message for message, _ in batch])
        except Exception as exc:
            log.exception("intake batch of %d failed", len(batch))
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)
        if self._on_commit:
            self._on_commit(len(batch))
