"""The 3PL snapshot poller over a real folder: a snapshot leaves inbound only once the hub has taken its count."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from crossdock.connectors.files.client import FolderTransport
from crossdock.connectors.files.poller import PassReport
from crossdock.connectors.threepl.client import DEFAULT_SNAPSHOTS, Stream
from crossdock.connectors.threepl.snapshots import SnapshotPoller
from crossdock.domain.inventory import ReconciliationReport

NOW = datetime(2025, 3, 3, 9, tzinfo=UTC)


@dataclass
class Ledger:
    """Books that keep what they were asked to reconcile, and can be made to fail as a lost database does."""

    down: bool = False
    taken: list[tuple[dict[tuple[str, str], Decimal], str]] = field(default_factory=list)
    latest: datetime | None = None

    def last_as_of(self, source: str) -> datetime | None:
        return self.latest

    def reconcile(
        self, source: str, counts: dict[tuple[str, str], Decimal], reconciliation_id: str, as_of: datetime
    ) -> ReconciliationReport:
        if self.down:
            raise ConnectionError("the database went away")
        self.taken.append((counts, reconciliation_id))
        self.latest = max(as_of, self.latest or as_of)
        return ReconciliationReport(
            reconciliation_id=reconciliation_id, source=source, as_of=as_of, checked=len(counts), matched=0, drifts=()
        )


def poller(root: Path, books: Ledger | None) -> SnapshotPoller:
    transport = FolderTransport(root)
    return SnapshotPoller(
        Stream(transport, DEFAULT_SNAPSHOTS, snapshots=True, owner=True), "acme", books, "WH-3PL", settle_seconds=0,
        now=lambda: NOW,
    )  # fmt: skip


def test_a_snapshot_the_hub_could_not_take_stays_in_inbound_for_the_next_pass(tmp_path: Path) -> None:
    books = Ledger(down=True)
    reading = poller(tmp_path, books)
    (tmp_path / "inbound" / "stock_1.csv").write_bytes(b"sku,location,on_hand,as_of\nA,WH-3PL,3,2025-03-03\n")
    first = reading.poll_once()
    assert list(first.failed) == ["stock_1.csv"] and "database went away" in first.failed["stock_1.csv"]
    assert (tmp_path / "inbound" / "stock_1.csv").exists()

    books.down = False
    second = reading.poll_once()
    assert second.archived == ("stock_1.csv",)
    [(counts, ident)] = books.taken
    assert counts == {("A", "WH-3PL"): Decimal(3)} and ident.startswith("acme-")
    assert [p.name for p in (tmp_path / "archive").iterdir()] == ["20250303T090000Z_stock_1.csv"]


def test_snapshots_wait_until_the_reconciliation_is_wired(tmp_path: Path) -> None:
    reading = poller(tmp_path, None)
    (tmp_path / "inbound" / "stock_1.csv").write_bytes(b"sku,location,on_hand,as_of\nA,WH-3PL,3,2025-03-03\n")
    assert "not wired yet" in reading.poll_once().failed["stock_1.csv"]
    assert (tmp_path / "inbound" / "stock_1.csv").exists()


def test_other_files_are_not_the_snapshot_pollers(tmp_path: Path) -> None:
    books = Ledger()
    reading = poller(tmp_path, books)
    (tmp_path / "inbound" / "945_1.edi").write_bytes(b"ISA*...")
    assert reading.poll_once() == PassReport()  # nothing seen, nothing done
    assert books.taken == [] and (tmp_path / "inbound" / "945_1.edi").exists()
