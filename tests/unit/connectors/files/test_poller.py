"""The inbound watcher: a file is read once it has settled, handed to intake, and moved only after intake returned;
a failure leaves it for the next pass, a refusal sends it to error with the reason, and a crash between the two
steps costs nothing but a duplicate that the hub's intake absorbs."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crossdock.connectors.files.client import FileGone, FolderTransport, RemoteFile
from crossdock.connectors.files.poller import Dedupe, FilePoller, Settling
from crossdock.hub.errors import UnknownSource
from crossdock.hub.ports import IntakeResult, IntakeStatus, MessageStatus
from tests.unit.connectors.files.helpers import (
    SOURCE,
    FakeClock,
    Handed,
    MemoryHub,
    RecordingIntake,
    names,
    partner,
)
from tests.unit.factories import T0

MOVED_AT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
STAMP = "20240506T070809Z_"


@dataclass
class Setup:
    root: Path
    transport: FolderTransport
    clock: FakeClock
    intake: RecordingIntake
    poller: FilePoller

    @property
    def inbound(self) -> Path:
        return self.root / "inbound"

    def drop(self, name: str, body: bytes) -> Path:
        path = self.inbound / name
        path.write_bytes(body)
        return path


def setup(tmp_path: Path, settle: float = 2.0, **options: Any) -> Setup:
    transport = partner(tmp_path)
    clock = FakeClock()
    intake = RecordingIntake(tmp_path / "acme" / "inbound")
    poller = FilePoller(transport, SOURCE, intake, settle_seconds=settle, clock=clock, now=lambda: MOVED_AT, **options)
    return Setup(tmp_path / "acme", transport, clock, intake, poller)


def settled_pass(s: Setup, seconds: float = 2.0) -> None:
    """First sight, then a pass once the settle time has gone by."""
    s.poller.poll_once()
    s.clock.advance(seconds)


def test_a_settled_file_is_handed_over_once_and_archived_only_after_intake_returned(tmp_path: Path) -> None:
    s = setup(tmp_path)
    s.drop("ORDERS.EDI", b"ISA*00*...")

    first = s.poller.poll_once()
    assert first.waiting == ("ORDERS.EDI",) and s.intake.calls == []
    s.clock.advance(2.0)
    second = s.poller.poll_once()
    s.clock.advance(10.0)
    third = s.poller.poll_once()

    assert second.archived == ("ORDERS.EDI",)
    assert [call.body for call in s.intake.calls] == [b"ISA*00*..."]
    assert s.intake.calls[0].source == SOURCE
    assert s.intake.calls[0].inbound_then == ["ORDERS.EDI"]  # still in inbound while intake ran
    assert names(s.root / "archive") == [f"{STAMP}ORDERS.EDI"]
    assert names(s.inbound) == []
    assert third.archived == () and len(s.intake.calls) == 1


def test_intake_gets_the_file_name_and_content_hash_as_headers_and_nothing_that_changes_on_a_reread(
    tmp_path: Path,
) -> None:
    s = setup(tmp_path)
    s.drop("ORDERS.EDI", b"ISA*00*...")
    settled_pass(s)
    s.poller.poll_once()

    assert s.intake.calls[0].headers == {
        "x-file-name": "ORDERS.EDI",
        "x-file-sha256": hashlib.sha256(b"ISA*00*...").hexdigest(),
    }


def test_with_file_dedupe_the_idempotency_key_is_the_file_name_plus_its_content_hash(tmp_path: Path) -> None:
    s = setup(tmp_path, dedupe="file")
    s.drop("ORDERS.EDI", b"ISA*00*...")
    settled_pass(s)
    s.poller.poll_once()

    digest = hashlib.sha256(b"ISA*00*...").hexdigest()
    assert s.intake.calls[0].headers["idempotency-key"] == f"file:ORDERS.EDI:{digest}"


def test_a_file_still_growing_is_not_read_until_it_has_stopped_changing_for_the_settle_time(tmp_path: Path) -> None:
    s = setup(tmp_path)
    path = s.drop("ORDERS.EDI", b"ISA*00*")

    for _ in range(5):  # a slow upload: a chunk every 1.5 s, each one restarting the wait
        assert s.poller.poll_once().waiting == ("ORDERS.EDI",)
        s.clock.advance(1.5)
        with path.open("ab") as handle:
            handle.write(b"GS*PO*")
    assert s.poller.poll_once().waiting == ("ORDERS.EDI",)  # just changed: seen anew
    s.clock.advance(1.9)
    assert s.poller.poll_once().waiting == ("ORDERS.EDI",)  # not yet 2 s unchanged
    s.clock.advance(0.1)

    assert s.poller.poll_once().archived == ("ORDERS.EDI",)
    assert [call.body for call in s.intake.calls] == [b"ISA*00*" + b"GS*PO*" * 5]


def test_a_file_rewritten_in_place_at_the_same_size_must_settle_again(tmp_path: Path) -> None:
    s = setup(tmp_path)
    path = s.drop("ORDERS.EDI", b"AAAA")
    os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    s.poller.poll_once()
    s.clock.advance(1.5)
    path.write_bytes(b"BBBB")
    os.utime(path, ns=(1_700_000_001_000_000_000, 1_700_000_001_000_000_000))
    s.poller.poll_once()
    s.clock.advance(1.5)

    assert s.poller.poll_once().waiting == ("ORDERS.EDI",)
    s.clock.advance(0.5)
    assert s.poller.poll_once().archived == ("ORDERS.EDI",)
    assert [call.body for call in s.intake.calls] == [b"BBBB"]


def test_a_settle_time_of_zero_reads_a_file_on_first_sight(tmp_path: Path) -> None:
    s = setup(tmp_path, settle=0.0)
    s.drop("ORDERS.EDI", b"ISA")

    assert s.poller.poll_once().archived == ("ORDERS.EDI",)


@pytest.mark.parametrize(
    "name",
    [
        "ORDERS.EDI.tmp",  # a writer's temporary suffix
        "ORDERS.EDI.part",  # idem
        ".ORDERS.EDI",  # hidden: the upload is not finished
    ],
)
def test_temporary_names_are_never_read_however_long_they_sit(tmp_path: Path, name: str) -> None:
    s = setup(tmp_path)
    s.drop(name, b"ISA*00*")
    for _ in range(3):
        report = s.poller.poll_once()
        s.clock.advance(60.0)

    assert report.waiting == () and s.intake.calls == []
    assert names(s.inbound) == [name]


def test_a_file_renamed_from_its_temporary_name_is_read_once_it_settles(tmp_path: Path) -> None:
    s = setup(tmp_path)
    s.drop("ORDERS.EDI.part", b"ISA*00*")
    settled_pass(s, 60.0)
    (s.inbound / "ORDERS.EDI.part").rename(s.inbound / "ORDERS.EDI")

    settled_pass(s)

    assert s.poller.poll_once().archived == ("ORDERS.EDI",)


def test_when_intake_fails_the_file_stays_in_inbound_and_is_offered_again_next_pass(tmp_path: Path) -> None:
    s = setup(tmp_path)
    outcomes: list[Exception | None] = [ConnectionError("database is down"), None]

    def flaky(handed: Handed) -> IntakeResult:
        failure = outcomes.pop(0)
        if failure is not None:
            raise failure
        return IntakeResult(IntakeStatus.ACCEPTED, 7, MessageStatus.PENDING, T0)

    s.intake.answer = flaky
    s.drop("ORDERS.EDI", b"ISA*00*")
    settled_pass(s)

    failed = s.poller.poll_once()
    assert failed.failed == {"ORDERS.EDI": "intake failed: ConnectionError: database is down"}
    assert names(s.inbound) == ["ORDERS.EDI"] and names(s.root / "archive") == []
    retried = s.poller.poll_once()  # no new settle wait: the file has not changed

    assert retried.archived == ("ORDERS.EDI",)
    assert len(s.intake.calls) == 2


@pytest.mark.parametrize(
    ("refusal", "reason"),
    [
        # intake raises: no source of that name (a configuration mistake, visible in the folder)
        (UnknownSource("no source named 'acme-files' is configured"), "no source named 'acme-files' is configured"),
        # the same key arrived before with other content: never silently replaced
        (
            IntakeResult(IntakeStatus.CONFLICT, 41, MessageStatus.PROCESSED, T0),
            "message 41 was received earlier under the same key with different content",
        ),
        # kept by the hub but unidentifiable: the folder shows it too
        (
            IntakeResult(IntakeStatus.ACCEPTED, 42, MessageStatus.FAILED, T0, "cannot identify message: no ISA"),
            "kept as message 42 and marked failed: cannot identify message: no ISA",
        ),
    ],
)
def test_a_refused_file_goes_to_error_with_the_reason_beside_it(
    tmp_path: Path, refusal: Exception | IntakeResult, reason: str
) -> None:
    s = setup(tmp_path)

    def refuse(handed: Handed) -> IntakeResult:
        if isinstance(refusal, Exception):
            raise refusal
        return refusal

    s.intake.answer = refuse
    s.drop("ORDERS.EDI", b"not edi")
    settled_pass(s)

    report = s.poller.poll_once()

    assert report.rejected == {"ORDERS.EDI": reason}
    assert names(s.root / "error") == [f"{STAMP}ORDERS.EDI", f"{STAMP}ORDERS.EDI.reason.txt"]
    assert (s.root / "error" / f"{STAMP}ORDERS.EDI").read_bytes() == b"not edi"
    assert (s.root / "error" / f"{STAMP}ORDERS.EDI.reason.txt").read_text() == reason
    assert names(s.inbound) == [] and names(s.root / "archive") == []


def test_a_file_over_the_size_limit_goes_to_error_unread(tmp_path: Path) -> None:
    s = setup(tmp_path, max_bytes=10)
    s.drop("HUGE.EDI", b"x" * 11)
    settled_pass(s)

    report = s.poller.poll_once()

    assert report.rejected == {"HUGE.EDI": "file is 11 bytes, over the limit of 10"}
    assert s.intake.calls == []


def test_the_oldest_files_go_first_and_a_pass_takes_at_most_max_files(tmp_path: Path) -> None:
    s = setup(tmp_path, max_files=2)
    for n, name in enumerate(["c.edi", "a.edi", "b.edi"]):
        path = s.drop(name, name.encode())
        stamp = (1_700_000_000 + n) * 1_000_000_000
        os.utime(path, ns=(stamp, stamp))
    settled_pass(s)

    report = s.poller.poll_once()

    assert report.archived == ("c.edi", "a.edi") and report.waiting == ("b.edi",)
    assert s.poller.poll_once().archived == ("b.edi",)


@dataclass
class Unreliable:
    """A FolderTransport with faults on demand: a crash before the move, a file taken away, a file still growing."""

    inner: FolderTransport
    archive_failures: int = 0
    vanish_on_read: set[str] = field(default_factory=set)
    grow_on_read: set[str] = field(default_factory=set)

    def list_inbound(self) -> list[RemoteFile]:
        return self.inner.list_inbound()

    def read_inbound(self, name: str) -> bytes:
        if name in self.vanish_on_read:
            (self.inner.root / "inbound" / name).unlink()
            raise FileGone(name)
        data = self.inner.read_inbound(name)
        if name in self.grow_on_read:
            self.grow_on_read.discard(name)
            return data + b"more"
        return data

    def archive(self, name: str, as_name: str) -> str:
        if self.archive_failures:
            self.archive_failures -= 1
            raise OSError("the process died here")
        return self.inner.archive(name, as_name)

    def reject(self, name: str, as_name: str, reason: str) -> str:
        return self.inner.reject(name, as_name, reason)

    def write_outbound(self, name: str, data: bytes) -> None:
        self.inner.write_outbound(name, data)

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("dedupe", ["message", "file"])  # either key survives a re-read of the same file
def test_a_crash_after_intake_but_before_the_move_only_yields_a_duplicate_the_hub_absorbs(
    tmp_path: Path, dedupe: Dedupe
) -> None:
    hub = MemoryHub()
    transport = Unreliable(partner(tmp_path), archive_failures=1)
    poller = FilePoller(transport, SOURCE, hub.receive, settle_seconds=0.0, dedupe=dedupe)
    (tmp_path / "acme" / "inbound" / "ORDERS.EDI").write_bytes(b"ISA*00*first")

    crashed = poller.poll_once()
    assert list(crashed.failed) == ["ORDERS.EDI"]
    assert len(hub.messages()) == 1  # durable before the move was tried
    recovered = FilePoller(transport, SOURCE, hub.receive, settle_seconds=0.0, dedupe=dedupe)  # a restarted process
    report = recovered.poll_once()

    assert report.archived == ("ORDERS.EDI",)
    assert len(hub.messages()) == 1
    assert names(tmp_path / "acme" / "inbound") == []


def test_with_message_dedupe_a_resent_file_under_a_new_name_is_a_duplicate(tmp_path: Path) -> None:
    hub = MemoryHub()
    poller = FilePoller(partner(tmp_path), SOURCE, hub.receive, settle_seconds=0.0)
    inbound = tmp_path / "acme" / "inbound"
    (inbound / "ORDERS-1.EDI").write_bytes(b"ISA*00*same")
    poller.poll_once()
    (inbound / "ORDERS-1-resent.EDI").write_bytes(b"ISA*00*same")

    assert poller.poll_once().archived == ("ORDERS-1-resent.EDI",)
    assert len(hub.messages()) == 1


def test_with_file_dedupe_the_same_content_under_another_name_is_a_new_message(tmp_path: Path) -> None:
    hub = MemoryHub()
    poller = FilePoller(partner(tmp_path), SOURCE, hub.receive, settle_seconds=0.0, dedupe="file")
    inbound = tmp_path / "acme" / "inbound"
    (inbound / "STOCK-MON.CSV").write_bytes(b"sku,qty\nA,1\n")
    poller.poll_once()
    (inbound / "STOCK-TUE.CSV").write_bytes(b"sku,qty\nA,1\n")
    poller.poll_once()

    digest = hashlib.sha256(b"sku,qty\nA,1\n").hexdigest()
    assert sorted(m.key for m in hub.messages()) == [
        f"idem:file:STOCK-MON.CSV:{digest}",
        f"idem:file:STOCK-TUE.CSV:{digest}",
    ]


def test_a_file_another_poller_took_meanwhile_is_skipped_quietly(tmp_path: Path) -> None:
    transport = Unreliable(partner(tmp_path), vanish_on_read={"ORDERS.EDI"})
    intake = RecordingIntake(tmp_path / "acme" / "inbound")
    poller = FilePoller(transport, SOURCE, intake, settle_seconds=0.0)
    (tmp_path / "acme" / "inbound" / "ORDERS.EDI").write_bytes(b"ISA")

    report = poller.poll_once()

    assert (report.archived, report.rejected, report.failed, report.waiting) == ((), {}, {}, ())
    assert intake.calls == []


def test_a_file_that_grew_between_listing_and_reading_waits_to_settle_again(tmp_path: Path) -> None:
    transport = Unreliable(partner(tmp_path), grow_on_read={"ORDERS.EDI"})
    clock = FakeClock()
    intake = RecordingIntake(tmp_path / "acme" / "inbound")
    poller = FilePoller(transport, SOURCE, intake, settle_seconds=2.0, clock=clock)
    (tmp_path / "acme" / "inbound" / "ORDERS.EDI").write_bytes(b"ISA")
    poller.poll_once()
    clock.advance(2.0)

    assert poller.poll_once().waiting == ("ORDERS.EDI",)
    assert poller.poll_once().waiting == ("ORDERS.EDI",)  # seen anew: the settle time starts over
    clock.advance(2.0)
    assert poller.poll_once().archived == ("ORDERS.EDI",)
    assert [call.body for call in intake.calls] == [b"ISA"]


def test_a_folder_that_cannot_be_listed_is_reported_not_raised(tmp_path: Path) -> None:
    transport = partner(tmp_path)
    (tmp_path / "acme" / "inbound").rmdir()
    poller = FilePoller(transport, SOURCE, RecordingIntake(tmp_path), settle_seconds=0.0)

    report = poller.poll_once()

    assert report.listing_error is not None and "inbound" in report.listing_error


def test_settling_forgets_files_that_are_no_longer_listed() -> None:
    clock = FakeClock()
    settling = Settling(2.0, clock)
    file = RemoteFile("a.edi", 3, 1.0)
    settling.ready([file])
    clock.advance(5.0)
    settling.ready([])  # moved away by someone else

    ready, waiting = settling.ready([file])  # and back again: a new arrival

    assert ready == [] and waiting == [file]
