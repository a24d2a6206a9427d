"""The outbox's pure decisions: delivery ids, what one send result does to a delivery, batch ordering,
subscriptions, and how a misbehaving sender is contained."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossdock.hub import outbox, retry
from crossdock.hub.ports import AttemptOutcome, DeliveryStatus, SendResult
from tests.unit.factories import PROPERTY, T0, make_delivery

POLICY = retry.RetryPolicy(base_seconds=2, max_delay_seconds=60, max_attempts=5, max_age_seconds=3600)
NOW = T0 + timedelta(minutes=1)


def result(
    outcome: AttemptOutcome,
    *,
    status_code: int | None = None,
    error: str | None = None,
    retry_after_seconds: float | None = None,
) -> SendResult:
    return SendResult("dlv-1", outcome, status_code, error, retry_after_seconds)


# ---- delivery ids --------------------------------------------------------------------------------------------


def test_the_same_event_and_destination_always_get_the_same_delivery_id() -> None:
    assert outbox.delivery_id("evt-1", "erp") == outbox.delivery_id("evt-1", "erp")


@pytest.mark.parametrize(
    ("other_event", "other_destination"),
    [
        ("evt-2", "erp"),  # another event to the same target
        ("evt-1", "wms"),  # the same event to another target
    ],
)
def test_different_events_or_destinations_get_different_delivery_ids(other_event: str, other_destination: str) -> None:
    assert outbox.delivery_id("evt-1", "erp") != outbox.delivery_id(other_event, other_destination)


@PROPERTY
@given(generations=st.lists(st.integers(min_value=0, max_value=1_000), min_size=2, max_size=10, unique=True))
def test_each_resend_generation_gets_its_own_stable_delivery_id(generations: list[int]) -> None:
    ids = [outbox.delivery_id("evt-1", "erp", g) for g in generations]
    assert len(set(ids)) == len(ids)
    assert ids == [outbox.delivery_id("evt-1", "erp", g) for g in generations]


def test_generation_zero_is_the_original_delivery_id() -> None:
    assert outbox.delivery_id("evt-1", "erp", 0) == outbox.delivery_id("evt-1", "erp")


# ---- what one result does ------------------------------------------------------------------------------------


def test_a_delivered_result_marks_the_delivery_delivered_and_counts_the_attempt() -> None:
    update = outbox._decide(make_delivery(attempts=2), result(AttemptOutcome.DELIVERED, status_code=200), POLICY, NOW)

    assert (update.status, update.attempts, update.delivered_at, update.last_error) == (
        DeliveryStatus.DELIVERED,
        3,
        NOW,
        None,
    )
    assert update.attempt is not None
    assert (update.attempt.number, update.attempt.outcome, update.attempt.status_code) == (
        3,
        AttemptOutcome.DELIVERED,
        200,
    )


def test_a_retryable_failure_waits_with_backoff_and_keeps_the_error() -> None:
    delivery = make_delivery(attempts=1)
    update = outbox._decide(delivery, result(AttemptOutcome.RETRYABLE, status_code=503, error="HTTP 503"), POLICY, NOW)

    assert update.status is DeliveryStatus.PENDING
    assert update.attempts == 2
    assert update.last_error == "HTTP 503"
    # Second failure: the ceiling is base * 2 = 4 seconds, half of it fixed.
    assert NOW + timedelta(seconds=2) <= update.next_attempt_at <= NOW + timedelta(seconds=4)


def test_a_retryable_failure_waits_at_least_as_long_as_the_target_asked() -> None:
    update = outbox._decide(
        make_delivery(), result(AttemptOutcome.RETRYABLE, status_code=429, retry_after_seconds=120), POLICY, NOW
    )
    assert update.status is DeliveryStatus.PENDING
    assert update.next_attempt_at >= NOW + timedelta(seconds=120)


def test_a_permanent_failure_dead_letters_at_once() -> None:
    update = outbox._decide(
        make_delivery(attempts=0), result(AttemptOutcome.PERMANENT, status_code=404, error="HTTP 404"), POLICY, NOW
    )
    assert (update.status, update.attempts, update.last_error) == (DeliveryStatus.DEAD, 1, "HTTP 404")
    assert update.attempt is not None and update.attempt.outcome is AttemptOutcome.PERMANENT


def test_the_last_allowed_retryable_failure_dead_letters() -> None:
    update = outbox._decide(
        make_delivery(attempts=POLICY.max_attempts - 1), result(AttemptOutcome.RETRYABLE, error="timeout"), POLICY, NOW
    )
    assert (update.status, update.attempts, update.last_error) == (DeliveryStatus.DEAD, 5, "timeout")


def test_a_retryable_failure_after_the_maximum_age_dead_letters() -> None:
    old = make_delivery(attempts=1, created_at=T0, queued_at=T0)
    update = outbox._decide(old, result(AttemptOutcome.RETRYABLE), POLICY, T0 + timedelta(hours=1))
    assert update.status is DeliveryStatus.DEAD


def test_age_counts_from_the_last_replay_not_from_creation() -> None:
    replayed = make_delivery(attempts=0, created_at=T0 - timedelta(days=3), queued_at=T0, replays=1)
    update = outbox._decide(replayed, result(AttemptOutcome.RETRYABLE), POLICY, T0 + timedelta(minutes=5))
    assert update.status is DeliveryStatus.PENDING


# ---- batch order and subscriptions ---------------------------------------------------------------------------


def test_heads_first_puts_the_oldest_delivery_of_each_partition_before_any_follower() -> None:
    a1, a2, b1, a3, c1, b2 = (
        make_delivery(id=name, partition_key=name[0]) for name in ("a1", "a2", "b1", "a3", "c1", "b2")
    )
    ordered = outbox._heads_first([a1, a2, b1, a3, c1, b2])
    assert [d.id for d in ordered] == ["a1", "b1", "c1", "a2", "a3", "b2"]


@PROPERTY
@given(partitions=st.lists(st.sampled_from("abcd"), max_size=30))
def test_heads_first_keeps_every_delivery_and_the_order_within_each_partition(partitions: list[str]) -> None:
    batch = [make_delivery(id=f"d{i}", partition_key=p) for i, p in enumerate(partitions)]
    ordered = outbox._heads_first(batch)

    assert sorted(d.id for d in ordered) == sorted(d.id for d in batch)
    for partition in set(partitions):
        assert [d.id for d in ordered if d.partition_key == partition] == [
            d.id for d in batch if d.partition_key == partition
        ]
    distinct = len(set(partitions))
    assert len({d.partition_key for d in ordered[:distinct]}) == distinct


@pytest.mark.parametrize(
    ("patterns", "event_type", "wanted"),
    [
        (("crossdock.order.accepted.v1",), "crossdock.order.accepted.v1", True),  # exact type
        (("crossdock.invoice.*", "crossdock.order.*"), "crossdock.order.shipped.v1", True),  # any pattern matches
        (("crossdock.invoice.*",), "crossdock.order.shipped.v1", False),  # no pattern matches
        (("*",), "crossdock.anything.v3", True),  # catch-all
        ((), "crossdock.order.accepted.v1", False),  # no patterns, nothing wanted
    ],
)
def test_a_subscription_wants_events_matching_any_of_its_patterns(
    patterns: tuple[str, ...], event_type: str, wanted: bool
) -> None:
    assert outbox.Subscription("erp", patterns).wants(event_type) is wanted


# ---- containing a misbehaving sender -------------------------------------------------------------------------


def test_a_sender_that_raises_turns_into_retryable_results_for_its_whole_batch() -> None:
    batch = [make_delivery(id="d1"), make_delivery(id="d2")]

    def explode() -> list[SendResult]:
        raise ConnectionResetError("peer went away")

    results = outbox._safe_results(explode, batch)

    assert [r.delivery_id for r in results] == ["d1", "d2"]
    assert all(r.outcome is AttemptOutcome.RETRYABLE for r in results)
    assert all(r.error is not None and "peer went away" in r.error for r in results)


def test_deliveries_a_sender_forgot_to_report_count_as_retryable_failures() -> None:
    batch = [make_delivery(id="d1"), make_delivery(id="d2"), make_delivery(id="d3")]
    reported = [SendResult("d2", AttemptOutcome.DELIVERED, 200)]

    results = outbox._safe_results(lambda: reported, batch)

    by_id = {r.delivery_id: r for r in results}
    assert set(by_id) == {"d1", "d2", "d3"}
    assert by_id["d2"].outcome is AttemptOutcome.DELIVERED
    assert by_id["d1"].outcome is by_id["d3"].outcome is AttemptOutcome.RETRYABLE
    assert by_id["d1"].error == "sender returned no result"


def test_a_complete_report_is_passed_through_unchanged() -> None:
    batch = [make_delivery(id="d1")]
    reported = [SendResult("d1", AttemptOutcome.PERMANENT, 400, "HTTP 400")]
    assert outbox._safe_results(lambda: reported, batch) == reported
