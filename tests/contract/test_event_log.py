"""The event log contract: global positions from 1, gap-free and never reused; events read back as written."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from crossdock.domain.events import Envelope
from crossdock.hub.ports import UnitOfWorkFactory
from crossdock.storage.memory import UniqueViolation
from tests.contract.builders import ManualClock, at, dead, delivered, envelope, new_delivery


def append(uow_factory: UnitOfWorkFactory, *events: Envelope, message_id: int | None = None) -> list[int]:
    with uow_factory() as uow:
        positions = uow.log.append([(e, message_id) for e in events])
        uow.commit()
    return positions


def test_an_empty_log_has_head_zero(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        assert uow.log.head() == 0
        assert uow.log.read(0, 10) == []


def test_positions_start_at_one_and_are_contiguous_across_appends(uow_factory: UnitOfWorkFactory) -> None:
    first = append(uow_factory, envelope(id="e1"), envelope(id="e2"))
    second = append(uow_factory, envelope(id="e3"))

    assert (first, second) == ([1, 2], [3])
    with uow_factory() as uow:
        assert uow.log.head() == 3
        assert [e.position for e in uow.log.read(0, 10)] == [1, 2, 3]


def test_appending_nothing_takes_no_position(uow_factory: UnitOfWorkFactory) -> None:
    assert append(uow_factory) == []
    with uow_factory() as uow:
        assert uow.log.head() == 0


def test_a_rolled_back_append_gives_its_positions_back(uow_factory: UnitOfWorkFactory) -> None:
    append(uow_factory, envelope(id="e1"))
    with uow_factory() as uow:
        assert uow.log.append([(envelope(id="lost-1"), None), (envelope(id="lost-2"), None)]) == [2, 3]

    assert append(uow_factory, envelope(id="e2")) == [2]


def test_an_append_undone_by_a_savepoint_gives_its_positions_back(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.log.append([(envelope(id="e1"), None)])
        with pytest.raises(LookupError), uow.savepoint():
            uow.log.append([(envelope(id="lost"), None)])
            raise LookupError("handler failed")
        assert uow.log.append([(envelope(id="e2"), None)]) == [2]
        uow.commit()

    with uow_factory() as uow:
        assert [e.envelope.id for e in uow.log.read(0, 10)] == ["e1", "e2"]


def test_an_event_id_is_logged_only_once(uow_factory: UnitOfWorkFactory) -> None:
    append(uow_factory, envelope(id="e1"))

    with uow_factory() as uow:
        with pytest.raises((IntegrityError, UniqueViolation)), uow.savepoint():
            uow.log.append([(envelope(id="e2"), None), (envelope(id="e1"), None)])
        assert uow.log.head() == 1
        assert uow.log.get("e2") is None


def test_events_read_back_with_their_envelope_and_message(uow_factory: UnitOfWorkFactory, clock: ManualClock) -> None:
    written = envelope(
        id="e1",
        correlationid="corr-1",
        causationid="cause-1",
        partitionkey="SO-1001",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
    append(uow_factory, written, message_id=7)

    with uow_factory() as uow:
        stored = uow.log.get("e1")

    assert stored is not None
    assert (stored.position, stored.envelope, stored.message_id) == (1, written, 7)


def test_read_returns_events_after_a_position_in_order_up_to_the_limit(uow_factory: UnitOfWorkFactory) -> None:
    append(uow_factory, *(envelope(id=f"e{i}") for i in range(1, 6)))

    with uow_factory() as uow:
        assert [e.envelope.id for e in uow.log.read(2, 2)] == ["e3", "e4"]
        assert [e.envelope.id for e in uow.log.read(4, 10)] == ["e5"]
        assert uow.log.read(5, 10) == []


def test_for_subject_finds_events_by_subject_correlation_or_event_id(uow_factory: UnitOfWorkFactory) -> None:
    append(
        uow_factory,
        envelope(id="order", subject="SO-1"),
        envelope(id="shipment", subject="SH-9", correlationid="order"),
        envelope(id="other", subject="SO-2"),
    )

    with uow_factory() as uow:
        by_subject = uow.log.for_subject("SO-1")
        by_correlation = uow.log.for_subject("order")
        by_id = uow.log.for_subject("shipment")
        limited = uow.log.for_subject("order", limit=1)

    assert [e.envelope.id for e in by_subject] == ["order"]
    assert [e.envelope.id for e in by_correlation] == ["order", "shipment"]
    assert [e.envelope.id for e in by_id] == ["shipment"]
    assert [e.envelope.id for e in limited] == ["order"]


def test_for_message_lists_the_events_a_message_produced_in_order(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.log.append([(envelope(id="a"), 1), (envelope(id="b"), 2), (envelope(id="c"), 1), (envelope(id="d"), None)])
        uow.commit()

    with uow_factory() as uow:
        assert [e.envelope.id for e in uow.log.for_message(1)] == ["a", "c"]
        assert uow.log.for_message(3) == []


def test_get_of_an_unknown_event_is_none(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        assert uow.log.get("nope") is None


def test_prune_keeps_events_whose_deliveries_are_not_all_delivered(
    uow_factory: UnitOfWorkFactory, clock: ManualClock
) -> None:
    clock.current = at(days=-100)
    append(uow_factory, *(envelope(id=i) for i in ["no-deliveries", "all-delivered", "one-pending", "one-dead"]))
    clock.current = at(days=-1)
    append(uow_factory, envelope(id="recent"))
    with uow_factory() as uow:
        uow.outbox.enqueue(
            [
                new_delivery(id="d1", event_id="all-delivered"),
                new_delivery(id="d2", event_id="one-pending", destination="erp"),
                new_delivery(id="d3", event_id="one-pending", destination="wms"),
                new_delivery(id="d4", event_id="one-dead"),
            ]
        )
        uow.outbox.record([delivered("d1"), delivered("d2"), dead("d4")])
        uow.commit()

    with uow_factory() as uow:
        assert uow.log.prune(at(days=-90)) == 2
        uow.commit()

    with uow_factory() as uow:
        assert [e.envelope.id for e in uow.log.read(0, 10)] == ["one-pending", "one-dead", "recent"]
    assert append(uow_factory, envelope(id="next")) == [6]
