"""The outbox contract: deliveries queue once, come due in order per destination and partition, keep every
attempt, and dead letters can be found, edited and revived; nothing unresolved is pruned."""

from __future__ import annotations

from dataclasses import replace

import pytest

from crossdock.hub.ports import (
    AttemptOutcome,
    Delivery,
    DeliveryFilter,
    DeliveryStatus,
    NewDelivery,
    UnitOfWorkFactory,
)
from tests.contract.builders import T0, at, attempt, dead, delivered, new_delivery, update


def enqueue(uow_factory: UnitOfWorkFactory, *deliveries: NewDelivery) -> None:
    with uow_factory() as uow:
        uow.outbox.enqueue(list(deliveries))
        uow.commit()


def get(uow_factory: UnitOfWorkFactory, delivery_id: str) -> Delivery:
    with uow_factory() as uow:
        found = uow.outbox.get(delivery_id)
    assert found is not None, f"delivery {delivery_id} is gone"
    return found


def due_ids(uow_factory: UnitOfWorkFactory, shards: list[int], minutes: float = 0, limit: int = 100) -> list[str]:
    with uow_factory() as uow:
        return [d.id for d in uow.outbox.due(shards, at(minutes=minutes), limit)]


def test_an_enqueued_delivery_is_pending_with_no_attempts(uow_factory: UnitOfWorkFactory) -> None:
    enqueue(uow_factory, new_delivery(next_attempt_at=at(seconds=30)))

    stored = get(uow_factory, "dlv-1")

    assert stored == Delivery(
        id="dlv-1",
        event_id="evt-1",
        event_type="crossdock.order.accepted.v1",
        subject="SO-1001",
        destination="erp",
        partition_key="SO-1001",
        shard=0,
        payload={"id": "evt-1", "data": {"lines": [{"sku": "BOLT-M8", "qty": "12.000"}]}, "position": 1},
        status=DeliveryStatus.PENDING,
        attempts=0,
        created_at=T0,
        next_attempt_at=at(seconds=30),
        last_error=None,
        delivered_at=None,
        queued_at=T0,
        replays=0,
    )


def test_enqueue_leaves_an_existing_id_as_it_is(uow_factory: UnitOfWorkFactory) -> None:
    enqueue(uow_factory, new_delivery(id="dlv-1", payload={"v": 1}))

    enqueue(uow_factory, new_delivery(id="dlv-1", payload={"v": 2}), new_delivery(id="dlv-2"))

    assert get(uow_factory, "dlv-1").payload == {"v": 1}
    with uow_factory() as uow:
        assert uow.outbox.counts() == {"pending": 2}


def test_enqueue_counts_only_the_rows_it_added(
    uow_factory: UnitOfWorkFactory, backend: str, request: pytest.FixtureRequest
) -> None:
    enqueue(uow_factory, new_delivery(id="dlv-1"))

    with uow_factory() as uow:
        fresh = uow.outbox.enqueue([new_delivery(id="dlv-2"), new_delivery(id="dlv-3")])
        mixed = uow.outbox.enqueue([new_delivery(id="dlv-1"), new_delivery(id="dlv-4")])
        repeated = uow.outbox.enqueue([new_delivery(id="dlv-4")])

    assert (fresh, mixed, repeated) == (2, 1, 0)


def test_due_returns_pending_deliveries_due_by_now_oldest_first_for_the_given_shards_only(
    uow_factory: UnitOfWorkFactory,
) -> None:
    enqueue(
        uow_factory,
        new_delivery(id="a", partition_key="P1", shard=1),
        new_delivery(id="b", partition_key="P2", shard=2),
        new_delivery(id="c", partition_key="P3", shard=3),
        new_delivery(id="d", partition_key="P4", shard=1, next_attempt_at=at(minutes=10)),
        new_delivery(id="e", partition_key="P5", shard=2),
    )

    assert due_ids(uow_factory, [1, 2]) == ["a", "b", "e"]
    assert due_ids(uow_factory, [1, 2], limit=2) == ["a", "b"]
    assert due_ids(uow_factory, [1], minutes=10) == ["a", "d"]
    assert due_ids(uow_factory, []) == []


def test_due_skips_a_delivery_waiting_behind_an_earlier_pending_one_of_the_same_destination_and_partition(
    uow_factory: UnitOfWorkFactory,
) -> None:
    enqueue(
        uow_factory,
        new_delivery(id="first", partition_key="SO-1", next_attempt_at=at(minutes=5)),  # backing off
        new_delivery(id="second", partition_key="SO-1"),  # due, but must not overtake
        new_delivery(id="other-partition", partition_key="SO-2"),
        new_delivery(id="other-destination", partition_key="SO-1", destination="wms"),
    )

    assert due_ids(uow_factory, [0]) == ["other-partition", "other-destination"]
    assert due_ids(uow_factory, [0], minutes=5) == ["first", "second", "other-partition", "other-destination"]


def test_due_does_not_wait_behind_earlier_deliveries_that_are_delivered_or_dead(
    uow_factory: UnitOfWorkFactory,
) -> None:
    enqueue(
        uow_factory,
        new_delivery(id="done", next_attempt_at=at(minutes=5)),
        new_delivery(id="given-up", next_attempt_at=at(minutes=5)),
        new_delivery(id="next"),
    )
    with uow_factory() as uow:
        uow.outbox.record(
            [
                replace(delivered("done"), next_attempt_at=at(minutes=5)),
                replace(dead("given-up"), next_attempt_at=at(minutes=5)),
            ]
        )
        uow.commit()

    assert due_ids(uow_factory, [0]) == ["next"]


def test_postpone_moves_the_due_time_without_charging_an_attempt(uow_factory: UnitOfWorkFactory) -> None:
    enqueue(uow_factory, new_delivery(id="a", partition_key="P1"), new_delivery(id="b", partition_key="P2"))

    with uow_factory() as uow:
        uow.outbox.postpone(["a"], at(minutes=2))
        uow.commit()

    assert due_ids(uow_factory, [0]) == ["b"]
    postponed = get(uow_factory, "a")
    assert (postponed.next_attempt_at, postponed.attempts, postponed.status) == (
        at(minutes=2),
        0,
        DeliveryStatus.PENDING,
    )
    with uow_factory() as uow:
        assert uow.outbox.attempts("a") == []


def test_resume_makes_due_now_only_the_destinations_pending_deliveries_held_until_exactly_that_time(
    uow_factory: UnitOfWorkFactory,
) -> None:
    probe_deadline = at(seconds=30)
    enqueue(
        uow_factory,
        new_delivery(id="held", partition_key="P1"),
        new_delivery(id="held-too", partition_key="P2"),
        new_delivery(id="backing-off", partition_key="P3", next_attempt_at=at(seconds=31)),
        new_delivery(id="other-destination", partition_key="P4", destination="wms"),
        new_delivery(id="dead", partition_key="P5"),
    )
    with uow_factory() as uow:
        uow.outbox.postpone(["held", "held-too", "other-destination", "dead"], probe_deadline)
        uow.outbox.record([replace(dead("dead"), next_attempt_at=probe_deadline)])
        uow.commit()

    with uow_factory() as uow:
        assert uow.outbox.resume("erp", probe_deadline, at(seconds=2)) == 2
        uow.commit()

    assert due_ids(uow_factory, [0], minutes=2 / 60) == ["held", "held-too"]
    assert get(uow_factory, "backing-off").next_attempt_at == at(seconds=31)
    assert get(uow_factory, "other-destination").next_attempt_at == probe_deadline


def test_record_writes_the_outcome_and_keeps_every_attempt_in_order(uow_factory: UnitOfWorkFactory) -> None:
    enqueue(uow_factory, new_delivery())
    first = update(attempts=1, next_attempt_at=at(minutes=1), attempt=attempt(number=1, at=T0, round=1))
    second = replace(
        delivered(when=at(minutes=1)),
        attempts=2,
        attempt=attempt(number=2, at=at(minutes=1), outcome=AttemptOutcome.DELIVERED, status_code=200, error=None),
    )

    with uow_factory() as uow:
        uow.outbox.record([first])
        uow.commit()
    retrying = get(uow_factory, "dlv-1")
    with uow_factory() as uow:
        uow.outbox.record([second])
        uow.commit()

    assert (retrying.status, retrying.attempts, retrying.next_attempt_at, retrying.last_error) == (
        DeliveryStatus.PENDING,
        1,
        at(minutes=1),
        "HTTP 503 Service Unavailable",
    )
    done = get(uow_factory, "dlv-1")
    assert (done.status, done.attempts, done.delivered_at, done.last_error) == (
        DeliveryStatus.DELIVERED,
        2,
        at(minutes=1),
        None,
    )
    with uow_factory() as uow:
        assert uow.outbox.attempts("dlv-1") == [first.attempt, second.attempt]


def test_an_update_without_an_attempt_row_changes_only_the_delivery(uow_factory: UnitOfWorkFactory) -> None:
    enqueue(uow_factory, new_delivery())

    with uow_factory() as uow:
        uow.outbox.record([replace(dead(error="no route to destination 'erp'", attempts=0), attempt=None)])
        uow.commit()

    assert get(uow_factory, "dlv-1").status is DeliveryStatus.DEAD
    with uow_factory() as uow:
        assert uow.outbox.attempts("dlv-1") == []


def dead_letters(uow_factory: UnitOfWorkFactory) -> None:
    """Four dead letters and one pending delivery to search through."""
    enqueue(
        uow_factory,
        new_delivery(id="erp-order", destination="erp", event_type="crossdock.order.accepted.v1"),
        new_delivery(
            id="erp-invoice", destination="erp", event_type="crossdock.invoice.posted.v1", created_at=at(hours=1)
        ),
        new_delivery(
            id="wms-order", destination="wms", event_type="crossdock.order.accepted.v1", created_at=at(hours=2)
        ),
        new_delivery(
            id="wms-shipment", destination="wms", event_type="crossdock.order.shipped.v1", created_at=at(hours=3)
        ),
        new_delivery(id="still-pending", destination="erp", event_type="crossdock.order.accepted.v1"),
    )
    with uow_factory() as uow:
        uow.outbox.record(
            [
                dead("erp-order", error="HTTP 422: unknown customer C-17"),
                dead("erp-invoice", error="HTTP 400: tax code missing"),
                dead("wms-order", error="HTTP 422: unknown customer C-99"),
                dead("wms-shipment", error="timeout after 10s (100% of budget)"),
            ]
        )
        uow.commit()


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        # no criteria: every dead letter, oldest first, never the pending one
        (DeliveryFilter(), ["erp-order", "erp-invoice", "wms-order", "wms-shipment"]),
        # one destination
        (DeliveryFilter(destination="wms"), ["wms-order", "wms-shipment"]),
        # an exact event type
        (DeliveryFilter(event_type="crossdock.order.accepted.v1"), ["erp-order", "wms-order"]),
        # a type pattern with '*'
        (DeliveryFilter(event_type="crossdock.order.*"), ["erp-order", "wms-order", "wms-shipment"]),
        # a '*' inside the pattern
        (DeliveryFilter(event_type="crossdock.*.v1"), ["erp-order", "erp-invoice", "wms-order", "wms-shipment"]),
        # text anywhere in the last error
        (DeliveryFilter(error_contains="unknown customer"), ["erp-order", "wms-order"]),
        # error text with LIKE metacharacters is taken literally
        (DeliveryFilter(error_contains="100%"), ["wms-shipment"]),
        # since is inclusive
        (DeliveryFilter(since=at(hours=1)), ["erp-invoice", "wms-order", "wms-shipment"]),
        # until is exclusive
        (DeliveryFilter(until=at(hours=2)), ["erp-order", "erp-invoice"]),
        # criteria combine
        (DeliveryFilter(destination="erp", error_contains="unknown"), ["erp-order"]),
        # any status
        (DeliveryFilter(status=None, destination="erp"), ["erp-order", "erp-invoice", "still-pending"]),
        # another status
        (DeliveryFilter(status=DeliveryStatus.PENDING), ["still-pending"]),
        # the limit keeps the oldest
        (DeliveryFilter(limit=2), ["erp-order", "erp-invoice"]),
    ],
)
def test_find_filters_dead_letters(uow_factory: UnitOfWorkFactory, flt: DeliveryFilter, expected: list[str]) -> None:
    dead_letters(uow_factory)

    with uow_factory() as uow:
        assert [d.id for d in uow.outbox.find(flt)] == expected


def test_for_event_lists_every_destinations_delivery(uow_factory: UnitOfWorkFactory) -> None:
    enqueue(
        uow_factory,
        new_delivery(id="erp", event_id="evt-1", destination="erp"),
        new_delivery(id="other", event_id="evt-2"),
        new_delivery(id="wms", event_id="evt-1", destination="wms"),
    )

    with uow_factory() as uow:
        assert [d.id for d in uow.outbox.for_event("evt-1")] == ["erp", "wms"]
        assert uow.outbox.for_event("evt-9") == []


@pytest.mark.parametrize(
    ("status", "revived"),
    [
        (DeliveryStatus.DEAD, True),  # a dead letter goes back to the queue
        (DeliveryStatus.PENDING, False),  # still being tried: a replay would double it
        (DeliveryStatus.DELIVERED, False),  # done: never sent twice by a replay
    ],
)
def test_revive_brings_back_only_dead_deliveries(
    uow_factory: UnitOfWorkFactory, status: DeliveryStatus, revived: bool
) -> None:
    enqueue(uow_factory, new_delivery())
    with uow_factory() as uow:
        uow.outbox.record(
            [
                {DeliveryStatus.DEAD: dead(), DeliveryStatus.PENDING: update(), DeliveryStatus.DELIVERED: delivered()}[
                    status
                ]
            ]
        )
        uow.commit()

    with uow_factory() as uow:
        assert uow.outbox.revive("dlv-1", at(hours=1), None) is revived
        uow.commit()

    assert get(uow_factory, "dlv-1").status is (DeliveryStatus.PENDING if revived else status)


def test_revive_of_an_unknown_delivery_is_refused(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        assert uow.outbox.revive("nope", T0, None) is False


def test_a_revived_delivery_starts_a_new_round_of_attempts_and_keeps_its_history(
    uow_factory: UnitOfWorkFactory,
) -> None:
    enqueue(uow_factory, new_delivery())
    with uow_factory() as uow:
        uow.outbox.record([dead(attempts=3)])
        uow.commit()

    with uow_factory() as uow:
        assert uow.outbox.revive("dlv-1", at(hours=1), None)
        uow.commit()

    revived = get(uow_factory, "dlv-1")
    assert (revived.status, revived.attempts, revived.next_attempt_at, revived.queued_at, revived.replays) == (
        DeliveryStatus.PENDING,
        0,
        at(hours=1),
        at(hours=1),
        1,
    )
    assert (revived.created_at, revived.payload) == (T0, new_delivery().payload)
    assert due_ids(uow_factory, [0], minutes=60) == ["dlv-1"]
    with uow_factory() as uow:
        assert len(uow.outbox.attempts("dlv-1")) == 1


def test_revive_with_an_edited_payload_sends_the_edit(uow_factory: UnitOfWorkFactory) -> None:
    enqueue(uow_factory, new_delivery())
    with uow_factory() as uow:
        uow.outbox.record([dead()])
        uow.commit()

    with uow_factory() as uow:
        assert uow.outbox.revive("dlv-1", at(hours=1), {"customer": "C-18", "lines": [1, 2]})
        uow.commit()

    assert get(uow_factory, "dlv-1").payload == {"customer": "C-18", "lines": [1, 2]}


def test_a_second_revive_counts_a_second_replay(uow_factory: UnitOfWorkFactory) -> None:
    enqueue(uow_factory, new_delivery())
    for hour in (1, 2):
        with uow_factory() as uow:
            uow.outbox.record([dead()])
            assert uow.outbox.revive("dlv-1", at(hours=hour), None)
            uow.commit()

    assert get(uow_factory, "dlv-1").replays == 2


def test_counts_are_per_status(uow_factory: UnitOfWorkFactory) -> None:
    enqueue(uow_factory, *(new_delivery(id=f"d{i}") for i in range(4)))
    with uow_factory() as uow:
        uow.outbox.record([delivered("d0"), dead("d1"), dead("d2")])
        uow.commit()

    with uow_factory() as uow:
        assert uow.outbox.counts() == {"pending": 1, "delivered": 1, "dead": 2}


def test_prune_deletes_only_deliveries_delivered_before_the_cut_off_with_their_attempts(
    uow_factory: UnitOfWorkFactory,
) -> None:
    enqueue(uow_factory, *(new_delivery(id=i, created_at=at(days=-60)) for i in ["old", "recent", "dead", "pending"]))
    with uow_factory() as uow:
        uow.outbox.record(
            [
                delivered("old", when=at(days=-40)),
                delivered("recent", when=at(days=-1)),
                dead("dead"),
                update(delivery_id="pending", attempt=attempt(delivery_id="pending")),
            ]
        )
        uow.commit()

    with uow_factory() as uow:
        assert uow.outbox.prune(at(days=-30)) == 1
        uow.commit()

    with uow_factory() as uow:
        assert uow.outbox.get("old") is None
        assert uow.outbox.attempts("old") == []
        assert [d.id for d in uow.outbox.find(DeliveryFilter(status=None))] == ["recent", "dead", "pending"]
        assert len(uow.outbox.attempts("recent")) == 1
