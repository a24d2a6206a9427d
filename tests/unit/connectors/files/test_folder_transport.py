"""A partner's folders on the local disk: what inbound lists, how files move to archive and error, and that a file
written to outbound is never seen partial under its final name."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from crossdock.connectors.files import client
from crossdock.connectors.files.client import FileGone, FolderTransport, Layout
from tests.unit.connectors.files.helpers import names, partner


@pytest.mark.parametrize(
    ("name", "read"),
    [
        ("ORDERS.EDI", True),  # an ordinary drop
        ("850_2024-05-06.x12", True),  # dashes, underscores and dots inside a name are fine
        ("orders.edi.tmp", False),  # still being written, by convention
        ("orders.edi.part", False),  # idem (the suffix browsers and rsync use)
        ("ORDERS.EDI.PART", False),  # suffixes are matched whatever their case
        (".orders.edi", False),  # hidden: editors' and uploaders' working copies
        (".", False),  # not a file name
    ],
)
def test_temporary_and_hidden_names_are_never_candidates(name: str, read: bool) -> None:
    assert client.is_candidate(name) is read


def test_inbound_lists_only_regular_files_with_readable_names(tmp_path: Path) -> None:
    transport = partner(tmp_path)
    inbound = tmp_path / "acme" / "inbound"
    (inbound / "a.edi").write_bytes(b"ISA*00")
    (inbound / "b.edi.part").write_bytes(b"ISA*")
    (inbound / ".c.edi").write_bytes(b"ISA*")
    (inbound / "subfolder").mkdir()
    (inbound / "link.edi").symlink_to(inbound / "a.edi")

    listed = transport.list_inbound()

    assert [(f.name, f.size) for f in listed] == [("a.edi", 6)]
    assert listed[0].mtime == pytest.approx(os.stat(inbound / "a.edi").st_mtime)


def test_the_four_folders_are_created_under_the_partner_root_with_the_names_of_the_layout(tmp_path: Path) -> None:
    FolderTransport(tmp_path / "acme", Layout(inbound="from-acme", outbound="to-acme", archive="done", error="bad"))

    assert names(tmp_path / "acme") == ["bad", "done", "from-acme", "to-acme"]


def test_archiving_moves_the_file_and_never_replaces_an_archived_one(tmp_path: Path) -> None:
    transport = partner(tmp_path)
    root = tmp_path / "acme"
    (root / "inbound" / "orders.edi").write_bytes(b"first")
    assert transport.archive("orders.edi", "orders.edi") == "orders.edi"
    (root / "inbound" / "orders.edi").write_bytes(b"second")

    assert transport.archive("orders.edi", "orders.edi") == "orders-1.edi"

    assert names(root / "inbound") == []
    assert (root / "archive" / "orders.edi").read_bytes() == b"first"
    assert (root / "archive" / "orders-1.edi").read_bytes() == b"second"


def test_a_rejected_file_lands_in_error_with_its_reason_beside_it(tmp_path: Path) -> None:
    transport = partner(tmp_path)
    root = tmp_path / "acme"
    (root / "inbound" / "orders.edi").write_bytes(b"garbage")

    used = transport.reject("orders.edi", "20240506T070809Z_orders.edi", "ISA segment missing")

    assert used == "20240506T070809Z_orders.edi"
    assert names(root / "error") == ["20240506T070809Z_orders.edi", "20240506T070809Z_orders.edi.reason.txt"]
    assert (root / "error" / "20240506T070809Z_orders.edi.reason.txt").read_text() == "ISA segment missing"
    assert names(root / "inbound") == []


def test_moving_a_file_another_poller_already_moved_says_it_is_gone(tmp_path: Path) -> None:
    transport = partner(tmp_path)

    with pytest.raises(FileGone):
        transport.archive("orders.edi", "orders.edi")
    with pytest.raises(FileGone):
        transport.reject("orders.edi", "orders.edi", "bad")
    with pytest.raises(FileGone):
        transport.read_inbound("orders.edi")
    assert names(tmp_path / "acme" / "error") == []  # no reason file left without its file


@pytest.mark.parametrize("name", ["../escape.edi", "sub/orders.edi", "..", ""])  # every way out of the folder
def test_a_name_that_would_leave_the_folder_is_refused(tmp_path: Path, name: str) -> None:
    transport = partner(tmp_path)

    with pytest.raises(ValueError, match="not a plain file name"):
        transport.write_outbound(name, b"x")
    with pytest.raises(ValueError, match="not a plain file name"):
        transport.read_inbound(name)


def test_an_outbound_write_that_breaks_off_leaves_nothing_under_the_final_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = partner(tmp_path)
    outbound = tmp_path / "acme" / "outbound"

    def disk_full(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(os, "fsync", disk_full)
        with pytest.raises(OSError, match="No space left"):
            transport.write_outbound("855-1.x12", b"ISA*00*" * 1000)

    # Only the hidden temporary file, which no reader takes.
    assert names(outbound) == [".855-1.x12.part"]
    assert not client.is_candidate(".855-1.x12.part")
    transport.write_outbound("855-1.x12", b"ISA*00*" * 1000)  # the retry reuses (overwrites) the temporary name
    assert names(outbound) == ["855-1.x12"]
    assert (outbound / "855-1.x12").read_bytes() == b"ISA*00*" * 1000


def test_a_reader_never_sees_a_partial_outbound_file_while_it_is_rewritten(tmp_path: Path) -> None:
    transport = partner(tmp_path)
    final = tmp_path / "acme" / "outbound" / "846.x12"
    versions = [bytes([65 + n]) * 2_000_000 for n in range(8)]  # 2 MB each: big enough to be caught mid-write
    seen: list[bytes] = []
    done = threading.Event()

    def read_all_along() -> None:
        while not done.is_set():
            try:
                seen.append(final.read_bytes())
            except FileNotFoundError:
                continue

    reader = threading.Thread(target=read_all_along)
    reader.start()
    try:
        for content in versions:
            transport.write_outbound("846.x12", content)
    finally:
        done.set()
        reader.join()

    assert seen, "the reader never saw the file"
    assert all(content in versions for content in seen)
    assert final.read_bytes() == versions[-1]
