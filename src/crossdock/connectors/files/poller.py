"""The inbound watcher of one partner's folder: a pass lists inbound, reads each file that has settled, hands its
bytes to intake and moves it to archive only after intake returned (the message is durable), or to error with the
reason when intake refuses it. Must not: parse a file, or write to the hub's store other than through intake.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from crossdock.connectors.files.client import FileGone, RemoteFile, Transport
from crossdock.hub.errors import IntakeError
from crossdock.hub.ports import IntakeResult, IntakeStatus, MessageStatus

log = logging.getLogger(__name__)

FILE_NAME_HEADER = "x-file-name"
FILE_HASH_HEADER = "x-file-sha256"
IDEMPOTENCY_HEADER = "idempotency-key"
DEFAULT_SETTLE_SECONDS = 2.0
DEFAULT_MAX_BYTES = 64 * 1024 * 1024

# hub.receive(source, body, headers): returns only once the message is stored durably (or raises, and nothing was
# stored). Named apart from hub.inbox.Intake, which prepares messages and stores nothing.
Receive = Callable[[str, bytes, dict[str, str]], IntakeResult]

# "message": the source's adapter keys the message (an X12 file on sender + ISA13 + GS06 + ST02), falling back to
# the content hash; a resent file under a new name is then a duplicate. "file": the key is the file's name plus
# its content hash, for partners whose file names are the identity of what they send.
Dedupe = Literal["message", "file"]


@dataclass
class Settling:
    """A file is ready once its size and modification time, as this process observes them, have not changed for
    `seconds`. Observed rather than compared with the server's clock, so a partner's skewed clock cannot make a
    half-written file look old; the cost is that a file is read `seconds` after it was first seen at the earliest."""

    seconds: float
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, tuple[tuple[int, float], float]] = field(default_factory=dict)

    def ready(self, files: Sequence[RemoteFile]) -> tuple[list[RemoteFile], list[RemoteFile]]:
        """(ready, still settling). Names no longer listed are forgotten."""
        now = self.clock()
        ready: list[RemoteFile] = []
        waiting: list[RemoteFile] = []
        for file in files:
            signature = (file.size, file.mtime)
            seen = self._seen.get(file.name)
            if seen is None or seen[0] != signature:
                seen = self._seen[file.name] = (signature, now)
            (ready if now - seen[1] >= self.seconds else waiting).append(file)
        listed = {file.name for file in files}
        for name in [name for name in self._seen if name not in listed]:
            del self._seen[name]
        return ready, waiting

    def restart(self, name: str) -> None:
        """The file changed after it looked settled: it must settle again."""
        self._seen.pop(name, None)


@dataclass(frozen=True)
class PassReport:
    """What one pass did with each file it saw."""

    archived: tuple[str, ...] = ()  # durable in the hub (new or duplicate) and moved to archive
    rejected: dict[str, str] = field(default_factory=dict)  # moved to error: name -> reason
    waiting: tuple[str, ...] = ()  # still settling (or changed while read): not read yet
    failed: dict[str, str] = field(default_factory=dict)  # left in inbound, tried again next pass: name -> error
    listing_error: str | None = None  # the folder could not be listed at all

    @property
    def busy(self) -> bool:
        return bool(self.archived or self.rejected)


class FilePoller:
    """One partner folder (or SFTP account) feeding one intake source. Run `poll_once` every few seconds; one
    poller per folder at a time is the plan, but two do no harm (the second finds files gone or duplicate)."""

    def __init__(
        self,
        transport: Transport,
        source: str,
        receive: Receive,
        *,
        settle_seconds: float = DEFAULT_SETTLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        dedupe: Dedupe = "message",
        max_files: int = 100,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.transport = transport
        self.source = source
        self.receive = receive
        self.settling = Settling(settle_seconds, clock)
        self.now = now
        self.dedupe = dedupe
        self.max_files = max_files
        self.max_bytes = max_bytes

    def poll_once(self) -> PassReport:
        try:
            listed = self.transport.list_inbound()
        except OSError as exc:
            log.warning("cannot list inbound of source %s: %s", self.source, exc)
            return PassReport(listing_error=str(exc))
        ready, settling = self.settling.ready(listed)
        ready.sort(key=lambda file: (file.mtime, file.name))
        archived: list[str] = []
        rejected: dict[str, str] = {}
        waiting = [file.name for file in settling] + [file.name for file in ready[self.max_files :]]
        failed: dict[str, str] = {}
        for file in ready[: self.max_files]:
            outcome = self._take(file)
            if outcome is None:
                continue
            kind, detail = outcome
            if kind == "archived":
                archived.append(file.name)
            elif kind == "rejected":
                rejected[file.name] = detail
            elif kind == "waiting":
                waiting.append(file.name)
            else:
                failed[file.name] = detail
        return PassReport(tuple(archived), rejected, tuple(waiting), failed)

    def _take(self, file: RemoteFile) -> tuple[str, str] | None:
        """Read, hand over, move. None when the file went away meanwhile (another poller took it)."""
        try:
            if file.size > self.max_bytes:
                return self._reject(file.name, f"file is {file.size} bytes, over the limit of {self.max_bytes}")
            body = self.transport.read_inbound(file.name)
        except FileGone:
            self.settling.restart(file.name)
            return None
        except OSError as exc:
            return self._failed(file.name, f"cannot read: {exc}")
        if len(body) != file.size:
            # Written to since it was listed: not settled after all.
            self.settling.restart(file.name)
            return "waiting", ""
        headers = self._headers(file.name, body)
        try:
            result = self.receive(self.source, body, headers)
        except IntakeError as exc:
            return self._reject(file.name, str(exc))
        except Exception as exc:  # noqa: BLE001 - nothing is stored: the file stays and is offered again
            return self._failed(file.name, f"intake failed: {exc.__class__.__name__}: {exc}")
        if result.status == IntakeStatus.CONFLICT:
            return self._reject(
                file.name,
                f"message {result.message_id} was received earlier under the same key with different content",
            )
        if result.message_status == MessageStatus.FAILED:
            # Kept by the hub (and replayable there after a fix), but the partner folder should show it too.
            return self._reject(file.name, f"kept as message {result.message_id} and marked failed: {result.error}")
        try:
            self.transport.archive(file.name, self._stamped(file.name))
        except FileGone:
            return None
        except OSError as exc:
            # Durable already: the next pass reads it again, intake answers duplicate, and it is archived then.
            return self._failed(file.name, f"received, but cannot move to archive: {exc}")
        self.settling.restart(file.name)
        return "archived", ""

    def _headers(self, name: str, body: bytes) -> dict[str, str]:
        # Only the name and the content: a re-read after a crash must produce the very same key.
        digest = hashlib.sha256(body).hexdigest()
        headers = {FILE_NAME_HEADER: name, FILE_HASH_HEADER: digest}
        if self.dedupe == "file":
            headers[IDEMPOTENCY_HEADER] = f"file:{name}:{digest}"
        return headers

    def _reject(self, name: str, reason: str) -> tuple[str, str] | None:
        try:
            self.transport.reject(name, self._stamped(name), reason)
        except FileGone:
            return None
        except OSError as exc:
            return self._failed(name, f"refused ({reason}), but cannot move to error: {exc}")
        self.settling.restart(name)
        log.warning("source %s: file %s moved to error: %s", self.source, name, reason)
        return "rejected", reason

    def _failed(self, name: str, error: str) -> tuple[str, str]:
        log.warning("source %s: file %s stays in inbound: %s", self.source, name, error)
        return "failed", error

    def _stamped(self, name: str) -> str:
        """Archive and error names start with the time of the move: partners reuse names (ORDERS.EDI daily)."""
        return f"{self.now().astimezone(UTC):%Y%m%dT%H%M%SZ}_{name}"
