"""Partner file transport over SFTP against a real OpenSSH server on 127.0.0.1: a partner uploads with OpenSSH's own
sftp client, the poller reads and archives over SFTP, deliveries appear in outbound whole, the server's host key is
checked, and a dropped connection is reopened."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from crossdock.connectors.files.client import SftpSettings, SftpTransport, TransportError
from crossdock.connectors.files.outbound import FileSender
from crossdock.connectors.files.poller import FilePoller
from crossdock.hub.ports import AttemptOutcome, IntakeResult, IntakeStatus, MessageStatus
from tests.integration.sftp_server import SftpServer, running_sshd
from tests.unit.connectors.files.helpers import SOURCE, FakeClock, MemoryHub, RecordingIntake, names
from tests.unit.factories import T0, make_delivery


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SftpServer]:
    with running_sshd(tmp_path / "sshd") as running:
        yield running


@pytest.fixture
def partner_root(server: SftpServer) -> Path:
    root = server.home / "acme"
    for folder in ("inbound", "outbound", "archive", "error"):
        (root / folder).mkdir(parents=True)
    return root


def settings(server: SftpServer, root: Path, **overrides: object) -> SftpSettings:
    fields: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "username": server.username,
        "known_hosts": str(server.known_hosts),
        "client_keys": (str(server.client_key),),
        "root": str(root),
        "connect_timeout_seconds": 10.0,
        "timeout_seconds": 20.0,
    }
    fields.update(overrides)
    return SftpSettings(**fields)  # type: ignore[arg-type]


@pytest.fixture
def transport(server: SftpServer, partner_root: Path) -> Iterator[SftpTransport]:
    sftp = SftpTransport(settings(server, partner_root))
    yield sftp
    sftp.close()


def partner_uploads(server: SftpServer, commands: str) -> None:
    """What a partner does: OpenSSH's sftp client in batch mode, with our server's key pinned."""
    subprocess.run(
        [
            server.sftp_client,
            "-b",
            "-",
            "-i",
            str(server.client_key),
            "-P",
            str(server.port),
            "-o",
            f"UserKnownHostsFile={server.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            f"{server.username}@{server.host}",
        ],
        input=commands.encode(),
        check=True,
        capture_output=True,
        timeout=30,
    )


def test_a_file_a_partner_uploads_is_read_over_sftp_once_settled_and_archived(
    tmp_path: Path, server: SftpServer, partner_root: Path, transport: SftpTransport
) -> None:
    local = tmp_path / "850.edi"
    local.write_bytes(b"ISA*00*          *00*          *ZZ*ACME~")
    partner_uploads(server, f"put {local} {partner_root}/inbound/850.edi\n")
    hub = MemoryHub()
    clock = FakeClock()
    poller = FilePoller(transport, SOURCE, hub.receive, settle_seconds=2.0, clock=clock)

    assert poller.poll_once().waiting == ("850.edi",)
    clock.advance(2.0)
    report = poller.poll_once()

    assert report.archived == ("850.edi",)
    [message] = hub.messages()
    assert message.body == local.read_bytes()
    assert message.headers["x-file-name"] == "850.edi"
    assert names(partner_root / "inbound") == []
    [archived] = names(partner_root / "archive")
    assert archived.endswith("_850.edi")
    assert (partner_root / "archive" / archived).read_bytes() == local.read_bytes()


def test_an_upload_under_a_temporary_name_is_read_only_after_the_partner_renames_it(
    tmp_path: Path, server: SftpServer, partner_root: Path, transport: SftpTransport
) -> None:
    local = tmp_path / "850.edi"
    local.write_bytes(b"ISA*00*~")
    partner_uploads(server, f"put {local} {partner_root}/inbound/850.edi.part\n")
    intake = RecordingIntake(partner_root / "inbound")
    poller = FilePoller(transport, SOURCE, intake, settle_seconds=0.0)

    assert poller.poll_once().archived == ()
    partner_uploads(server, f"rename {partner_root}/inbound/850.edi.part {partner_root}/inbound/850.edi\n")

    assert poller.poll_once().archived == ("850.edi",)
    assert [call.body for call in intake.calls] == [b"ISA*00*~"]


def test_a_refused_file_goes_to_error_over_sftp_with_its_reason(partner_root: Path, transport: SftpTransport) -> None:
    (partner_root / "inbound" / "junk.edi").write_bytes(b"junk")
    intake = RecordingIntake(
        partner_root / "inbound",
        answer=lambda handed: IntakeResult(IntakeStatus.CONFLICT, 3, MessageStatus.PROCESSED, T0),
    )
    poller = FilePoller(transport, SOURCE, intake, settle_seconds=0.0)

    report = poller.poll_once()

    assert list(report.rejected) == ["junk.edi"]
    [reason_file] = [name for name in names(partner_root / "error") if name.endswith(".reason.txt")]
    assert "message 3 was received earlier" in (partner_root / "error" / reason_file).read_text()
    assert (partner_root / "error" / reason_file.removesuffix(".reason.txt")).read_bytes() == b"junk"


def test_a_delivery_appears_whole_in_the_partners_outbound_folder_and_a_retry_rewrites_it(
    partner_root: Path, transport: SftpTransport
) -> None:
    sender = FileSender(transport, template="855_{delivery_id}.json")
    delivery = make_delivery(id="dlv-42", payload={"id": "evt-42", "data": {"lines": ["x" * 100] * 1000}})

    first = sender.send([delivery])
    second = sender.send([delivery])

    assert [r.outcome for r in first + second] == [AttemptOutcome.DELIVERED, AttemptOutcome.DELIVERED]
    assert names(partner_root / "outbound") == ["855_dlv-42.json"]  # no temporary file left behind
    assert (partner_root / "outbound" / "855_dlv-42.json").read_bytes().startswith(b'{"id":"evt-42"')


def test_a_server_whose_host_key_is_not_the_known_one_is_refused(
    tmp_path: Path, server: SftpServer, partner_root: Path
) -> None:
    other_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    impostor = tmp_path / "known_hosts"
    impostor.write_text(f"[127.0.0.1]:{server.port} {other_key}\n")
    transport = SftpTransport(settings(server, partner_root, known_hosts=str(impostor)))
    (partner_root / "inbound" / "850.edi").write_bytes(b"ISA")
    try:
        with pytest.raises(TransportError, match=r"cannot open SFTP.*(?i:host key)"):
            transport.list_inbound()
        sender = FileSender(transport)
        [result] = sender.send([make_delivery()])
    finally:
        transport.close()

    assert result.outcome == AttemptOutcome.RETRYABLE
    assert names(partner_root / "outbound") == []


def test_a_dropped_connection_fails_one_call_and_the_next_one_reconnects(
    server: SftpServer, partner_root: Path, transport: SftpTransport
) -> None:
    (partner_root / "inbound" / "850.edi").write_bytes(b"ISA")
    assert [f.name for f in transport.list_inbound()] == ["850.edi"]

    assert server.drop_sessions() >= 1
    listed = None
    for _ in range(2):  # the first call may find the connection dead; the one after opens a new one
        try:
            listed = transport.list_inbound()
            break
        except TransportError:
            continue

    assert listed is not None and [f.name for f in listed] == ["850.edi"]
