"""A resync to a trading partner (`crossdock replay events --destination`) goes out as new interchanges: every
resent event is numbered from the partner's sequences like a new one, written as a file, recorded as awaiting its
997, and never dead-lettered as unnumbered. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crossdock.connectors import x12
from crossdock.hub import operations
from crossdock.hub.ports import DeliveryFilter, DeliveryStatus
from tests.e2e.procure_to_pay_estate import ProcureToPayEstate, purchase_order
from tests.e2e.test_edi_acknowledgements import DESTINATION, estate_with, supplier


@pytest.fixture
def estate(tmp_path: Path, database_url: str) -> Iterator[ProcureToPayEstate]:
    built = estate_with(tmp_path, database_url, acme=supplier("acme", "SUP-1"))
    yield built
    built.stop()


def interchange_numbers(estate: ProcureToPayEstate) -> list[tuple[str, str]]:
    """(ISA13, GS06) of every 850 written to the supplier, oldest first."""
    found = []
    for path in estate.outbound("850"):
        [interchange] = x12.parse(path.read_bytes())
        found.append((interchange.control_number, interchange.groups[0].control_number))
    return found


def resend_everything(estate: ProcureToPayEstate) -> int:
    with estate.hub.begin() as uow:
        head = uow.log.head()
    return operations.resend_events(estate.hub, destination=DESTINATION, after=0, upto=head, actor="ops")


def test_events_resent_to_a_trading_partner_are_numbered_written_and_await_their_997(
    estate: ProcureToPayEstate,
) -> None:
    estate.issue(purchase_order())
    estate.drain()
    assert interchange_numbers(estate) == [("000000001", "1")]

    queued = resend_everything(estate)
    estate.drain()

    assert queued >= 1
    with estate.hub.begin() as uow:
        dead = uow.outbox.find(DeliveryFilter(status=DeliveryStatus.DEAD))
    assert [(d.destination, d.last_error) for d in dead] == [], "a resent delivery went out unnumbered"
    assert sorted(interchange_numbers(estate)) == [("000000001", "1"), ("000000002", "2")], (
        "the resent 850 is a new interchange, numbered after the first"
    )
    first, again = estate.sent()
    assert (again.interchange, again.group, again.status) == ("000000002", "2", "awaiting")
    assert again.event_id == first.event_id and again.delivery_id != first.delivery_id
    assert again.document == first.document == "purchase order PO-1 revision 1"


def test_a_second_resync_takes_numbers_again_and_the_first_keeps_its_own(estate: ProcureToPayEstate) -> None:
    estate.issue(purchase_order())
    estate.drain()

    resend_everything(estate)
    estate.drain()
    resend_everything(estate)
    estate.drain()

    assert sorted(number for number, _ in interchange_numbers(estate)) == ["000000001", "000000002", "000000003"]
    assert [s.interchange for s in estate.sent()] == ["000000001", "000000002", "000000003"]
