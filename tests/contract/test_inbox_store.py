"""The inbox contract: every message is kept raw once per (source, key); a repeat gets the first outcome."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest
from sqlalchemy.exc import StatementError

from crossdock.hub.ports import IntakeStatus, MessageStatus, NewMessage, UnitOfWorkFactory
from tests.contract.builders import T0, at, new_message


def accept(uow_factory: UnitOfWorkFactory, *messages: NewMessage) -> list[int]:
    with uow_factory() as uow:
        results = uow.inbox.add(list(messages))
        uow.commit()
    return [r.message_id for r in results]


def mark(uow_factory: UnitOfWorkFactory, message_id: int, status: MessageStatus, error: str | None = None) -> None:
    with uow_factory() as uow:
        uow.inbox.mark([message_id], status, error, at(minutes=1))
        uow.commit()


def test_a_new_key_is_accepted_and_kept_raw(uow_factory: UnitOfWorkFactory) -> None:
    message = new_message(body=b"\x00raw bytes\xff", headers={"x-shop-topic": "orders/create"}, shard=5)

    with uow_factory() as uow:
        [result] = uow.inbox.add([message])
        uow.commit()

    assert (result.status, result.message_status, result.received_at, result.error) == (
        IntakeStatus.ACCEPTED,
        MessageStatus.PENDING,
        T0,
        None,
    )
    with uow_factory() as uow:
        stored = uow.inbox.get(result.message_id)
    assert stored is not None
    assert (stored.source, stored.key, stored.payload_hash, stored.body, dict(stored.headers)) == (
        "shop",
        "id:wh-1001",
        "hash-a",
        b"\x00raw bytes\xff",
        {"x-shop-topic": "orders/create"},
    )
    assert (stored.received_at, stored.partition_key, stored.shard, stored.status) == (
        T0,
        "SO-1001",
        5,
        MessageStatus.PENDING,
    )
    assert (stored.error, stored.replays, stored.processed_at) == (None, 0, None)


def test_a_repeated_key_returns_the_first_messages_id_as_a_duplicate(uow_factory: UnitOfWorkFactory) -> None:
    [first] = accept(uow_factory, new_message())

    with uow_factory() as uow:
        [repeat] = uow.inbox.add([new_message(received_at=at(minutes=5))])
        uow.commit()

    assert (repeat.status, repeat.message_id, repeat.received_at) == (IntakeStatus.DUPLICATE, first, T0)


def test_same_key_with_a_different_payload_is_a_conflict_and_does_not_overwrite(
    uow_factory: UnitOfWorkFactory,
) -> None:
    [first] = accept(uow_factory, new_message(body=b'{"qty": 1}', payload_hash="hash-a"))

    with uow_factory() as uow:
        [changed] = uow.inbox.add([new_message(body=b'{"qty": 2}', payload_hash="hash-b")])
        uow.commit()

    assert (changed.status, changed.message_id) == (IntakeStatus.CONFLICT, first)
    with uow_factory() as uow:
        stored = uow.inbox.get(first)
        assert uow.inbox.counts() == {"pending": 1}
    assert stored is not None
    assert (stored.body, stored.payload_hash) == (b'{"qty": 1}', "hash-a")


def test_duplicates_within_one_batch_are_judged_against_the_first_occurrence(uow_factory: UnitOfWorkFactory) -> None:
    batch = [
        new_message(key="id:a", payload_hash="h1"),
        new_message(key="id:b", payload_hash="h1"),
        new_message(key="id:a", payload_hash="h1"),
        new_message(key="id:a", payload_hash="h2"),
    ]

    with uow_factory() as uow:
        results = uow.inbox.add(batch)
        uow.commit()

    assert [r.status for r in results] == [
        IntakeStatus.ACCEPTED,
        IntakeStatus.ACCEPTED,
        IntakeStatus.DUPLICATE,
        IntakeStatus.CONFLICT,
    ]
    assert results[0].message_id == results[2].message_id == results[3].message_id != results[1].message_id
    with uow_factory() as uow:
        assert uow.inbox.counts() == {"pending": 2}


def test_the_same_key_from_another_source_is_another_message(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        results = uow.inbox.add([new_message(source="shop"), new_message(source="edi")])

    assert [r.status for r in results] == [IntakeStatus.ACCEPTED, IntakeStatus.ACCEPTED]
    assert results[0].message_id != results[1].message_id


def test_a_repeat_reports_the_first_messages_current_outcome(uow_factory: UnitOfWorkFactory) -> None:
    [first] = accept(uow_factory, new_message())
    mark(uow_factory, first, MessageStatus.FAILED, "MappingError: no sku")

    with uow_factory() as uow:
        [repeat] = uow.inbox.add([new_message()])

    assert (repeat.status, repeat.message_status, repeat.error) == (
        IntakeStatus.DUPLICATE,
        MessageStatus.FAILED,
        "MappingError: no sku",
    )


def test_a_message_can_be_stored_already_failed_with_its_reason(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        [result] = uow.inbox.add([new_message(status=MessageStatus.FAILED, error="unparseable JSON")])
        stored = uow.inbox.get(result.message_id)

    assert (result.message_status, result.error) == (MessageStatus.FAILED, "unparseable JSON")
    assert stored is not None
    assert (stored.status, stored.error) == (MessageStatus.FAILED, "unparseable JSON")


def test_message_ids_grow_in_arrival_order(uow_factory: UnitOfWorkFactory) -> None:
    ids = accept(uow_factory, new_message(key="id:1"), new_message(key="id:2"))
    ids += accept(uow_factory, new_message(key="id:3"))

    assert ids == sorted(ids)
    assert len(set(ids)) == 3


def test_get_of_an_unknown_id_is_none(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        assert uow.inbox.get(424242) is None


def test_pending_returns_oldest_first_and_only_the_given_shards(uow_factory: UnitOfWorkFactory) -> None:
    ids = accept(
        uow_factory,
        new_message(key="id:1", shard=1),
        new_message(key="id:2", shard=2),
        new_message(key="id:3", shard=1),
        new_message(key="id:4", shard=3),
        new_message(key="id:5", shard=2),
    )
    mark(uow_factory, ids[2], MessageStatus.PROCESSED)

    with uow_factory() as uow:
        pending = uow.inbox.pending([1, 2], limit=10)
        limited = uow.inbox.pending([1, 2], limit=2)
        none = uow.inbox.pending([7], limit=10)

    assert [m.key for m in pending] == ["id:1", "id:2", "id:5"]
    assert [m.key for m in limited] == ["id:1", "id:2"]
    assert none == []


def test_mark_records_status_error_and_time_on_every_given_message(uow_factory: UnitOfWorkFactory) -> None:
    ids = accept(uow_factory, new_message(key="id:1"), new_message(key="id:2"), new_message(key="id:3"))

    with uow_factory() as uow:
        uow.inbox.mark(ids[:2], MessageStatus.FAILED, "UnknownSource: 'shop'", at(minutes=3))
        uow.commit()

    with uow_factory() as uow:
        marked = [uow.inbox.get(i) for i in ids]
    assert [(m.status, m.error, m.processed_at) for m in marked if m] == [
        (MessageStatus.FAILED, "UnknownSource: 'shop'", at(minutes=3)),
        (MessageStatus.FAILED, "UnknownSource: 'shop'", at(minutes=3)),
        (MessageStatus.PENDING, None, None),
    ]


@pytest.mark.parametrize(
    ("status", "requeued"),
    [
        (MessageStatus.FAILED, True),  # the only status a replay applies to
        (MessageStatus.PENDING, False),  # already waiting: nothing to do
        (MessageStatus.PROCESSED, False),  # done: must not run twice
    ],
)
def test_requeue_puts_only_a_failed_message_back_and_counts_the_replay(
    uow_factory: UnitOfWorkFactory, status: MessageStatus, requeued: bool
) -> None:
    [message_id] = accept(uow_factory, new_message())
    mark(uow_factory, message_id, status, "boom" if status is MessageStatus.FAILED else None)

    with uow_factory() as uow:
        assert uow.inbox.requeue(message_id) is requeued
        uow.commit()

    with uow_factory() as uow:
        stored = uow.inbox.get(message_id)
    assert stored is not None
    assert (stored.status, stored.replays) == ((MessageStatus.PENDING, 1) if requeued else (status, 0))


def test_requeue_of_an_unknown_message_is_refused(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        assert uow.inbox.requeue(424242) is False


def test_find_filters_by_source_status_and_key_newest_first(uow_factory: UnitOfWorkFactory) -> None:
    ids = accept(
        uow_factory,
        new_message(source="shop", key="id:1", partition_key="SO-1"),
        new_message(source="edi", key="id:2", partition_key="PO-7"),
        new_message(source="shop", key="id:3", partition_key="SO-3"),
        new_message(source="shop", key="id:4", partition_key="SO-1"),
    )
    mark(uow_factory, ids[2], MessageStatus.FAILED, "boom")

    with uow_factory() as uow:
        everything = uow.inbox.find()
        by_source = uow.inbox.find(source="shop")
        by_status = uow.inbox.find(status=MessageStatus.FAILED)
        by_key = uow.inbox.find(key="id:2")
        by_partition = uow.inbox.find(key="SO-1")
        limited = uow.inbox.find(source="shop", limit=2)

    assert [m.key for m in everything] == ["id:4", "id:3", "id:2", "id:1"]
    assert [m.key for m in by_source] == ["id:4", "id:3", "id:1"]
    assert [m.key for m in by_status] == ["id:3"]
    assert [m.key for m in by_key] == ["id:2"]
    assert [m.key for m in by_partition] == ["id:4", "id:1"]
    assert [m.key for m in limited] == ["id:4", "id:3"]


def test_counts_are_per_status(uow_factory: UnitOfWorkFactory) -> None:
    ids = accept(uow_factory, *(new_message(key=f"id:{i}") for i in range(4)))
    mark(uow_factory, ids[0], MessageStatus.PROCESSED)
    mark(uow_factory, ids[1], MessageStatus.FAILED, "boom")

    with uow_factory() as uow:
        assert uow.inbox.counts() == {"pending": 2, "processed": 1, "failed": 1}


def test_prune_deletes_only_processed_messages_received_before_the_cut_off(uow_factory: UnitOfWorkFactory) -> None:
    ids = accept(
        uow_factory,
        new_message(key="old-processed", received_at=at(days=-40)),
        new_message(key="old-failed", received_at=at(days=-40)),
        new_message(key="old-pending", received_at=at(days=-40)),
        new_message(key="new-processed", received_at=at(days=-1)),
    )
    mark(uow_factory, ids[0], MessageStatus.PROCESSED)
    mark(uow_factory, ids[1], MessageStatus.FAILED, "boom")
    mark(uow_factory, ids[3], MessageStatus.PROCESSED)

    with uow_factory() as uow:
        assert uow.inbox.prune(at(days=-30)) == 1
        uow.commit()

    with uow_factory() as uow:
        assert sorted(m.key for m in uow.inbox.find()) == ["new-processed", "old-failed", "old-pending"]


def test_times_come_back_in_utc_whatever_zone_they_were_given_in(uow_factory: UnitOfWorkFactory) -> None:
    berlin = timezone(timedelta(hours=2))

    with uow_factory() as uow:
        [result] = uow.inbox.add([new_message(received_at=T0.astimezone(berlin))])
        stored = uow.inbox.get(result.message_id)

    assert stored is not None
    assert stored.received_at == T0
    assert stored.received_at.utcoffset() == timedelta(0)


def test_a_naive_time_is_refused(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow, pytest.raises((ValueError, StatementError)):
        uow.inbox.add([new_message(received_at=T0.replace(tzinfo=None))])


def test_a_pruned_messages_key_is_accepted_again_as_a_new_message(uow_factory: UnitOfWorkFactory) -> None:
    [old] = accept(uow_factory, new_message(received_at=at(days=-40)))
    mark(uow_factory, old, MessageStatus.PROCESSED)
    with uow_factory() as uow:
        uow.inbox.prune(at(days=-30))
        uow.commit()

    with uow_factory() as uow:
        [again] = uow.inbox.add([new_message()])

    assert again.status is IntakeStatus.ACCEPTED


def test_a_message_id_is_never_handed_out_twice_even_after_pruning(
    uow_factory: UnitOfWorkFactory, backend: str, request: pytest.FixtureRequest
) -> None:
    ids = accept(uow_factory, new_message(key="id:1"), new_message(key="id:2", received_at=at(days=-40)))
    mark(uow_factory, ids[1], MessageStatus.PROCESSED)
    with uow_factory() as uow:
        assert uow.inbox.prune(at(days=-30)) == 1
        uow.commit()

    [newest] = accept(uow_factory, new_message(key="id:3"))

    assert newest > max(ids)
