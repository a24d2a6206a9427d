"""A 3PL's daily stock snapshots: read from its inbound folder once settled, reconciled against the stock ledger
through `Books` (the stock desk's reconciliation, handed over by bootstrap), then moved to archive; a file with
rows that cannot be taken goes to error with each row named by line and column, after the rows that could be taken
were reconciled. Must not: change stock itself or pass snapshots through intake.

A snapshot is reconciled under an id derived from the source and the file's content, so the same snapshot again
(a resend, a crash between reconciling and archiving) posts nothing new. A snapshot older than one already
reconciled is refused: it would undo what the newer count corrected.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from crossdock.connectors import batch_import
from crossdock.connectors.files.client import FileGone, RemoteFile, Transport
from crossdock.connectors.files.poller import DEFAULT_SETTLE_SECONDS, PassReport, Settling
from crossdock.connectors.threepl import mapping
from crossdock.domain.inventory import ReconciliationReport

log = logging.getLogger(__name__)
KEPT_REPORTS = 20


class Books(Protocol):
    """What the poller needs of the hub: the latest snapshot time reconciled for a source, and reconciling."""

    def last_as_of(self, source: str) -> datetime | None: ...

    def reconcile(
        self, source: str, counts: dict[tuple[str, str], Decimal], reconciliation_id: str, as_of: datetime
    ) -> ReconciliationReport: ...


def reconciliation_id(source: str, content: bytes) -> str:
    """Named by the count itself, as `crossdock reconcile inventory` names one: the same file is the same count."""
    return f"{source}-{hashlib.sha256(content).hexdigest()[:16]}"


@dataclass
class SnapshotPoller:
    transport: Transport  # the snapshot stream of the 3PL's folders (client.Stream)
    source: str
    books: Books | None  # handed over by bootstrap once the hub is built (wiring.wire)
    location: str | None
    settle_seconds: float = DEFAULT_SETTLE_SECONDS
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    max_files: int = 20
    reconciled: list[tuple[str, ReconciliationReport]] = field(default_factory=list)  # latest first, for operators

    def __post_init__(self) -> None:
        self.settling = Settling(self.settle_seconds, self.clock)

    def poll_once(self) -> PassReport:
        try:
            listed = self.transport.list_inbound()
        except OSError as exc:
            log.warning("cannot list the stock snapshots of %s: %s", self.source, exc)
            return PassReport(listing_error=str(exc))
        ready, settling = self.settling.ready(listed)
        ready.sort(key=lambda file: (file.mtime, file.name))
        archived: list[str] = []
        rejected: dict[str, str] = {}
        failed: dict[str, str] = {}
        waiting = [file.name for file in settling] + [file.name for file in ready[self.max_files :]]
        for file in ready[: self.max_files]:
            try:
                outcome, detail = self._take(file)
            except FileGone:
                self.settling.restart(file.name)
                continue
            except OSError as exc:
                failed[file.name] = f"{exc.__class__.__name__}: {exc}"
                continue
            except Exception as exc:  # noqa: BLE001 - the hub could not take it now: the file stays for the next pass
                log.warning("stock snapshot %s of %s stays in inbound: %s", file.name, self.source, exc)
                failed[file.name] = f"{exc.__class__.__name__}: {exc}"
                continue
            self.settling.restart(file.name)
            if outcome == "archived":
                archived.append(file.name)
            elif outcome == "rejected":
                rejected[file.name] = detail
            else:
                waiting.append(file.name)
        return PassReport(tuple(archived), rejected, tuple(waiting), failed)

    def _take(self, file: RemoteFile) -> tuple[str, str]:
        if self.books is None:
            raise LookupError(f"{self.source}: the stock reconciliation is not wired yet")
        books = self.books
        content = self.transport.read_inbound(file.name)
        if len(content) != file.size:
            return "waiting", ""  # written to since it was listed: not settled after all
        try:
            snapshot = mapping.read_snapshot(file.name, content, self.location)
        except batch_import.ImportFileError as exc:
            return self._reject(file.name, str(exc))
        if snapshot.as_of is not None:
            last = books.last_as_of(self.source)
            if last is not None and snapshot.as_of < last:
                return self._reject(
                    file.name,
                    f"stale: this snapshot is as of {snapshot.as_of.isoformat()}, and one as of {last.isoformat()} "
                    "was reconciled already; reconciling it would undo what the newer count corrected",
                )
        if snapshot.counts:
            assert snapshot.as_of is not None  # every counted row has a readable as_of
            report = books.reconcile(
                self.source, snapshot.counts, reconciliation_id(self.source, content), snapshot.as_of
            )
            log.info(
                "stock snapshot %s of %s, counted as of %s: %d positions checked, %d drifted",
                file.name, self.source, snapshot.as_of.isoformat(), report.checked, len(report.drifts),
            )  # fmt: skip
            self._keep(file.name, report)
        if snapshot.errors:
            return self._reject(file.name, snapshot.report())
        self.transport.archive(file.name, self._stamped(file.name))
        return "archived", ""

    def _reject(self, name: str, reason: str) -> tuple[str, str]:
        self.transport.reject(name, self._stamped(name), reason)
        log.warning("stock snapshot %s of %s moved to error: %s", name, self.source, reason)
        return "rejected", reason

    def _keep(self, name: str, report: ReconciliationReport) -> None:
        for drift in report.drifts:
            log.info("%s %s: %s %s (%s)", self.source, name, drift.sku, drift.explanation, drift.action.value)
        self.reconciled.insert(0, (name, report))
        del self.reconciled[KEPT_REPORTS:]

    def _stamped(self, name: str) -> str:
        """Archive and error names start with the time of the move, as partner files' do."""
        return f"{self.now().astimezone(UTC):%Y%m%dT%H%M%SZ}_{name}"
