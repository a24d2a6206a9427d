"""The link store contract: a key belongs to one target for good, and events parked until a link exists are kept
once, handed back oldest first, and forgotten once taken."""

from __future__ import annotations

import pytest

from crossdock.domain.events import Envelope
from crossdock.hub.ports import UnitOfWorkFactory
from tests.contract.builders import at, envelope


def park(uow_factory: UnitOfWorkFactory, *parked: tuple[str, str, Envelope, float]) -> None:
    with uow_factory() as uow:
        for kind, key, event, minutes in parked:
            uow.links.park(kind, key, event, at(minutes=minutes))
        uow.commit()


def unpark(uow_factory: UnitOfWorkFactory, kind: str, key: str) -> list[str]:
    with uow_factory() as uow:
        taken = [e.id for e in uow.links.unpark(kind, key)]
        uow.commit()
    return taken


def test_a_linked_key_reads_back_its_target(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.links.link("invoice", "INV-7", "SO-1001")
        uow.commit()

    with uow_factory() as uow:
        assert uow.links.target("invoice", "INV-7") == "SO-1001"
        assert uow.links.target("shipment", "INV-7") is None
        assert uow.links.target("invoice", "INV-8") is None


def test_linking_again_to_the_same_target_changes_nothing(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.links.link("invoice", "INV-7", "SO-1001")
        uow.links.link("invoice", "INV-7", "SO-1001")
        uow.commit()

    with uow_factory() as uow:
        assert uow.links.target("invoice", "INV-7") == "SO-1001"


def test_linking_a_key_to_another_target_is_refused_naming_both(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.links.link("invoice", "INV-7", "SO-1001")
        uow.commit()

    with uow_factory() as uow, pytest.raises(ValueError) as refused:
        uow.links.link("invoice", "INV-7", "SO-2002")

    assert all(word in str(refused.value) for word in ("invoice", "INV-7", "SO-1001", "SO-2002"))
    with uow_factory() as uow:
        assert uow.links.target("invoice", "INV-7") == "SO-1001"


def test_parked_events_are_taken_back_oldest_first_and_then_forgotten(uow_factory: UnitOfWorkFactory) -> None:
    park(
        uow_factory,
        ("invoice", "INV-7", envelope(id="evt-late"), 5),
        ("invoice", "INV-7", envelope(id="evt-early"), 1),
        ("invoice", "INV-8", envelope(id="evt-other"), 2),
    )

    assert unpark(uow_factory, "invoice", "INV-7") == ["evt-early", "evt-late"]
    assert unpark(uow_factory, "invoice", "INV-7") == []
    assert unpark(uow_factory, "invoice", "INV-8") == ["evt-other"]


def test_events_parked_at_the_same_time_come_back_in_the_order_they_were_parked(
    uow_factory: UnitOfWorkFactory,
) -> None:
    park(uow_factory, *(("invoice", "INV-7", envelope(id=f"evt-{name}"), 1) for name in ("c", "a", "b")))

    assert unpark(uow_factory, "invoice", "INV-7") == ["evt-c", "evt-a", "evt-b"]


def test_parking_the_same_event_again_keeps_one_copy(uow_factory: UnitOfWorkFactory) -> None:
    park(uow_factory, ("invoice", "INV-7", envelope(), 1))
    park(uow_factory, ("invoice", "INV-7", envelope(), 2))

    assert unpark(uow_factory, "invoice", "INV-7") == ["evt-1"]


def test_a_parked_event_comes_back_equal_to_the_one_parked(uow_factory: UnitOfWorkFactory) -> None:
    event = envelope(correlationid="corr-1", partitionkey="SO-1001")
    park(uow_factory, ("invoice", "INV-7", event, 1))

    with uow_factory() as uow:
        assert uow.links.parked() == [("invoice", "INV-7", event)]
        assert uow.links.unpark("invoice", "INV-7") == [event]


def test_parked_lists_every_waiting_event_oldest_first_up_to_a_limit(uow_factory: UnitOfWorkFactory) -> None:
    park(
        uow_factory,
        ("invoice", "INV-8", envelope(id="evt-2"), 2),
        ("payment", "PAY-1", envelope(id="evt-1"), 1),
        ("invoice", "INV-7", envelope(id="evt-3"), 3),
    )

    with uow_factory() as uow:
        assert [(kind, key, e.id) for kind, key, e in uow.links.parked(limit=2)] == [
            ("payment", "PAY-1", "evt-1"),
            ("invoice", "INV-8", "evt-2"),
        ]


def test_links_and_parked_events_of_a_unit_of_work_left_without_commit_are_not_stored(
    uow_factory: UnitOfWorkFactory,
) -> None:
    with uow_factory() as uow:
        uow.links.link("invoice", "INV-7", "SO-1001")
        uow.links.park("invoice", "INV-9", envelope(), at())

    with uow_factory() as uow:
        assert uow.links.target("invoice", "INV-7") is None
        assert uow.links.parked() == []
