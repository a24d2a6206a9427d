"""Delivering to a partner's outbound folder: one file per delivery, named from a template holding the delivery id
so that a retry rewrites the same file, and outcomes the outbox can act on."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from crossdock.connectors.files.client import TransportError
from crossdock.connectors.files.outbound import FileSender, check_template, file_name
from crossdock.hub.ports import AttemptOutcome, Delivery
from tests.unit.connectors.files.helpers import names, partner
from tests.unit.factories import make_delivery


def test_each_delivery_becomes_one_file_named_by_its_delivery_id_holding_the_event(tmp_path: Path) -> None:
    sender = FileSender(partner(tmp_path))
    deliveries = [make_delivery(id="dlv-1"), make_delivery(id="dlv-2", payload={"id": "evt-2"})]

    results = sender.send(deliveries)

    assert [(r.delivery_id, r.outcome) for r in results] == [
        ("dlv-1", AttemptOutcome.DELIVERED),
        ("dlv-2", AttemptOutcome.DELIVERED),
    ]
    outbound = tmp_path / "acme" / "outbound"
    assert names(outbound) == ["dlv-1.json", "dlv-2.json"]
    assert json.loads((outbound / "dlv-1.json").read_bytes()) == deliveries[0].payload


def test_a_retried_delivery_rewrites_its_own_file_instead_of_adding_another(tmp_path: Path) -> None:
    sender = FileSender(partner(tmp_path), template="855_{subject}_{delivery_id}.json")
    delivery = make_delivery(id="dlv-9", subject="PO-77")

    sender.send([delivery])
    sender.send([delivery])

    assert names(tmp_path / "acme" / "outbound") == ["855_PO-77_dlv-9.json"]


@pytest.mark.parametrize(
    ("template", "overrides", "expected"),
    [
        # the default
        ("{delivery_id}.json", {}, "dlv-1.json"),
        # every field; the creation time in the basic ISO form
        (
            "{destination}-{event_type}-{subject}-{event_id}-{created}-{delivery_id}.x12",
            {},
            "erp-crossdock.order.accepted.v1-SO-1001-evt-1-20240506T070809Z-dlv-1.x12",
        ),
        # a strftime format for the time
        ("{created:%Y/%m/%d}_{delivery_id}.edi", {}, "2024_05_06_dlv-1.edi"),
        # characters a file system or a partner's script might choke on become '_'
        ("{subject}_{delivery_id}.json", {"subject": "PO 77/A:ü"}, "PO_77_A___dlv-1.json"),
    ],
)
def test_file_names_come_from_the_template_with_unsafe_characters_replaced(
    template: str, overrides: dict[str, str], expected: str
) -> None:
    assert file_name(check_template(template), make_delivery(**overrides)) == expected


def test_the_creation_time_is_written_in_utc_whatever_zone_it_carries() -> None:
    created = datetime(2024, 5, 6, 9, 8, 9, tzinfo=timezone(timedelta(hours=2)))

    assert file_name("{created}_{delivery_id}", make_delivery(created_at=created)) == "20240506T070809Z_dlv-1"


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{subject}.json", "must contain {delivery_id}"),  # a retry could not find its own file
        ("{delivery_id}-{customer}.json", "unknown field"),  # not something a delivery has
        ("{delivery_id.upper}.json", "unknown field"),  # no attribute access
    ],
)
def test_a_template_that_cannot_name_each_delivery_once_is_refused(tmp_path: Path, template: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        FileSender(partner(tmp_path), template=template)


@pytest.mark.parametrize(
    "template",
    [
        ".{delivery_id}",  # hidden
        "{delivery_id}.tmp",  # temporary by convention
        "{delivery_id}.part",  # idem
    ],
)
def test_a_name_the_partner_would_ignore_is_a_permanent_failure(tmp_path: Path, template: str) -> None:
    sender = FileSender(partner(tmp_path), template=template)

    [result] = sender.send([make_delivery()])

    assert result.outcome == AttemptOutcome.PERMANENT
    assert result.error is not None and "would be ignored" in result.error
    assert names(tmp_path / "acme" / "outbound") == []


def test_a_payload_that_cannot_be_rendered_is_a_permanent_failure(tmp_path: Path) -> None:
    def render(delivery: Delivery) -> bytes:
        raise ValueError("no 855 mapping for this event")

    sender = FileSender(partner(tmp_path), render=render)

    [result] = sender.send([make_delivery()])

    assert result.outcome == AttemptOutcome.PERMANENT
    assert result.error == "cannot render the file: no 855 mapping for this event"


class Unreachable:
    """An SFTP server that is down: every write fails."""

    def write_outbound(self, name: str, data: bytes) -> None:
        raise TransportError("cannot open SFTP to partner.example:22: ConnectionRefusedError")

    def list_inbound(self) -> list[object]:
        return []

    def close(self) -> None:
        return None


def test_a_folder_or_server_that_cannot_be_written_is_a_retryable_failure() -> None:
    sender = FileSender(Unreachable())  # type: ignore[arg-type]

    results = sender.send([make_delivery(id="dlv-1"), make_delivery(id="dlv-2")])

    assert [r.outcome for r in results] == [AttemptOutcome.RETRYABLE, AttemptOutcome.RETRYABLE]
    assert results[0].error == "cannot write dlv-1.json: cannot open SFTP to partner.example:22: ConnectionRefusedError"


def test_a_custom_renderer_decides_the_bytes(tmp_path: Path) -> None:
    sender = FileSender(
        partner(tmp_path), template="{delivery_id}.x12", render=lambda d: f"ISA*{d.subject}~".encode("ascii")
    )

    sender.send([make_delivery(subject="PO-1")])

    assert (tmp_path / "acme" / "outbound" / "dlv-1.x12").read_bytes() == b"ISA*PO-1~"
