"""Backoff, circuit breaker and token bucket: the pure rules every worker applies to shared endpoint state."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from crossdock.hub import retry
from crossdock.hub.ports import BreakerState, EndpointState
from tests.unit.factories import PROPERTY, T0

policies = st.builds(
    retry.RetryPolicy,
    base_seconds=st.floats(min_value=0.01, max_value=60),
    max_delay_seconds=st.floats(min_value=0.1, max_value=3600),
    max_attempts=st.integers(min_value=1, max_value=50),
    max_age_seconds=st.floats(min_value=1, max_value=7 * 24 * 3600),
)
attempt_counts = st.integers(min_value=1, max_value=200)
rngs = st.randoms(use_true_random=False)


def ceiling(policy: retry.RetryPolicy, attempts: int) -> float:
    """The documented schedule: base doubling per failure, capped at max_delay."""
    return min(policy.max_delay_seconds, policy.base_seconds * 2.0 ** (attempts - 1))


# ---- backoff -------------------------------------------------------------------------------------------------


@PROPERTY
@given(policy=policies, attempts=attempt_counts, rng=rngs)
def test_delay_lies_between_half_and_all_of_the_backoff_ceiling(
    policy: retry.RetryPolicy, attempts: int, rng: random.Random
) -> None:
    delay = policy.delay(attempts, rng=rng)
    assert ceiling(policy, attempts) / 2 <= delay <= ceiling(policy, attempts)


@PROPERTY
@given(policy=policies, attempts=attempt_counts, rng=rngs)
def test_delay_never_exceeds_the_maximum_delay(policy: retry.RetryPolicy, attempts: int, rng: random.Random) -> None:
    assert policy.delay(attempts, rng=rng) <= policy.max_delay_seconds


@PROPERTY
@given(policy=policies, attempts=st.integers(min_value=1, max_value=12), first=rngs, second=rngs)
def test_delay_grows_with_attempts_until_the_cap(
    policy: retry.RetryPolicy, attempts: int, first: random.Random, second: random.Random
) -> None:
    assume(policy.base_seconds * 2**attempts <= policy.max_delay_seconds)
    # Below the cap the next ceiling's lower half starts where this ceiling ends, so any jitter still grows.
    assert policy.delay(attempts + 1, rng=second) >= policy.delay(attempts, rng=first)


@PROPERTY
@given(
    policy=policies,
    attempts=attempt_counts,
    rng=rngs,
    retry_after=st.floats(min_value=0, max_value=10_000, allow_nan=False),
)
def test_delay_is_never_shorter_than_the_targets_retry_after(
    policy: retry.RetryPolicy, attempts: int, rng: random.Random, retry_after: float
) -> None:
    delay = policy.delay(attempts, retry_after=retry_after, rng=rng)
    assert delay >= min(retry_after, policy.max_age_seconds)
    assert delay >= ceiling(policy, attempts) / 2


def test_a_retry_after_longer_than_the_maximum_age_is_capped_at_that_age() -> None:
    policy = retry.RetryPolicy(max_age_seconds=3600)
    assert policy.delay(1, retry_after=10 * 24 * 3600) == 3600


def test_the_first_retry_comes_within_the_base_delay() -> None:
    policy = retry.RetryPolicy(base_seconds=2.0)
    delays = [policy.delay(1, rng=random.Random(seed)) for seed in range(50)]
    assert all(1.0 <= d <= 2.0 for d in delays)
    assert len(set(delays)) > 1, "jitter: workers that failed together must not retry together"


def test_delay_stays_capped_however_many_attempts_were_made() -> None:
    policy = retry.RetryPolicy(max_attempts=5000)
    assert policy.delay(2000, rng=random.Random(1)) <= policy.max_delay_seconds


@pytest.mark.parametrize(
    ("attempts", "age", "expected"),
    [
        (9, timedelta(hours=1), False),  # attempts and age left
        (10, timedelta(hours=1), True),  # the tenth failed attempt was the last
        (1, timedelta(hours=24), True),  # a day in the queue is enough, however few attempts
        (1, timedelta(hours=23, minutes=59), False),  # just under a day
    ],
)
def test_a_delivery_is_exhausted_by_attempts_or_by_age(attempts: int, age: timedelta, expected: bool) -> None:
    policy = retry.RetryPolicy(max_attempts=10, max_age_seconds=24 * 3600)
    assert policy.exhausted(attempts, T0, T0 + age) is expected


# ---- circuit breaker -----------------------------------------------------------------------------------------

BREAKER = retry.BreakerPolicy(failure_threshold=3, reset_seconds=30)


def open_breaker() -> EndpointState:
    state = EndpointState("erp")
    for _ in range(BREAKER.failure_threshold):
        retry.breaker_on_failure(state, T0, BREAKER, was_probe=False)
    return state


def test_a_closed_breaker_lets_everything_through() -> None:
    state = EndpointState("erp")
    assert retry.breaker_allows(state, T0) == (True, None)
    assert retry.probe_budget(state) is None


def test_failures_below_the_threshold_keep_the_breaker_closed() -> None:
    state = EndpointState("erp")
    for _ in range(BREAKER.failure_threshold - 1):
        retry.breaker_on_failure(state, T0, BREAKER, was_probe=False)
    assert state.breaker is BreakerState.CLOSED
    assert retry.breaker_allows(state, T0) == (True, None)


def test_the_threshold_of_consecutive_failures_opens_the_breaker() -> None:
    state = open_breaker()
    assert state.breaker is BreakerState.OPEN
    assert state.open_until == T0 + timedelta(seconds=30)


def test_a_success_between_failures_restarts_the_count() -> None:
    state = EndpointState("erp")
    for _ in range(BREAKER.failure_threshold - 1):
        retry.breaker_on_failure(state, T0, BREAKER, was_probe=False)
    retry.breaker_on_success(state)
    for _ in range(BREAKER.failure_threshold - 1):
        retry.breaker_on_failure(state, T0, BREAKER, was_probe=False)
    assert state.breaker is BreakerState.CLOSED


def test_an_open_breaker_refuses_until_its_wait_is_over_and_says_when() -> None:
    state = open_breaker()
    for moment in (T0, T0 + timedelta(seconds=29, microseconds=999_999)):
        assert retry.breaker_allows(state, moment) == (False, T0 + timedelta(seconds=30))
    assert state.breaker is BreakerState.OPEN


def test_after_the_wait_exactly_one_probe_goes_through() -> None:
    state = open_breaker()
    later = T0 + timedelta(seconds=30)

    allowed, _ = retry.breaker_allows(state, later)
    assert allowed
    assert state.breaker is BreakerState.HALF_OPEN
    assert retry.probe_budget(state) == 1
    retry.breaker_on_probe_sent(state, later, BREAKER)

    # Another worker looking at the same moment must wait for the probe's result.
    assert retry.breaker_allows(state, later) == (False, later + timedelta(seconds=30))


def test_a_probe_whose_result_never_came_back_is_replaced_after_the_wait() -> None:
    state = open_breaker()
    probe_at = T0 + timedelta(seconds=30)
    retry.breaker_allows(state, probe_at)
    retry.breaker_on_probe_sent(state, probe_at, BREAKER)

    allowed, _ = retry.breaker_allows(state, probe_at + timedelta(seconds=30))
    assert allowed
    assert retry.probe_budget(state) == 1


def test_a_failed_probe_reopens_the_breaker_at_once() -> None:
    patient = retry.BreakerPolicy(failure_threshold=100, reset_seconds=30)
    state = EndpointState("erp", breaker=BreakerState.HALF_OPEN, failures=0)
    probe_at = T0 + timedelta(minutes=1)

    retry.breaker_on_failure(state, probe_at, patient, was_probe=True)

    assert state.breaker is BreakerState.OPEN
    assert retry.breaker_allows(state, probe_at) == (False, probe_at + timedelta(seconds=30))


def test_a_successful_probe_closes_the_breaker_and_forgets_the_failures() -> None:
    state = open_breaker()
    retry.breaker_allows(state, T0 + timedelta(seconds=30))

    retry.breaker_on_success(state)

    assert (state.breaker, state.failures, state.open_until) == (BreakerState.CLOSED, 0, None)
    assert retry.breaker_allows(state, T0 + timedelta(seconds=30)) == (True, None)


# ---- token bucket --------------------------------------------------------------------------------------------


def test_no_rate_limit_grants_everything_at_once() -> None:
    assert retry.take_tokens(EndpointState("erp"), None, 10_000, T0) == (10_000, 0.0)


def test_a_fresh_bucket_starts_full_at_its_burst() -> None:
    granted, _ = retry.take_tokens(EndpointState("erp"), retry.RateLimit(per_second=2, burst=5), 100, T0)
    assert granted == 5


def test_an_empty_bucket_refills_at_its_rate_and_says_how_long_to_wait() -> None:
    limit = retry.RateLimit(per_second=2, burst=5)
    state = EndpointState("erp")
    retry.take_tokens(state, limit, 5, T0)

    granted, wait = retry.take_tokens(state, limit, 1, T0)
    assert (granted, wait) == (0, 0.5)

    granted, _ = retry.take_tokens(state, limit, 100, T0 + timedelta(seconds=1.5))
    assert granted == 3


def test_a_long_pause_refills_only_up_to_the_burst() -> None:
    limit = retry.RateLimit(per_second=2, burst=5)
    state = EndpointState("erp")
    retry.take_tokens(state, limit, 5, T0)
    granted, _ = retry.take_tokens(state, limit, 100, T0 + timedelta(hours=1))
    assert granted == 5


def test_asking_for_fewer_than_available_keeps_the_rest_for_later() -> None:
    limit = retry.RateLimit(per_second=1, burst=5)
    state = EndpointState("erp")
    assert retry.take_tokens(state, limit, 2, T0) == (2, 0.0)
    assert retry.take_tokens(state, limit, 10, T0)[0] == 3


requests = st.lists(
    st.tuples(st.integers(min_value=0, max_value=5_000), st.integers(min_value=0, max_value=50)),  # (ms later, wanted)
    min_size=1,
    max_size=60,
)
limits = st.builds(
    retry.RateLimit,
    per_second=st.floats(min_value=0.1, max_value=500),
    burst=st.floats(min_value=1, max_value=100),
)


@PROPERTY
@given(limit=limits, sequence=requests)
def test_tokens_granted_over_any_window_never_exceed_burst_plus_refill(
    limit: retry.RateLimit, sequence: list[tuple[int, int]]
) -> None:
    state = EndpointState("erp")
    now = T0
    history: list[tuple[float, int]] = []
    for advance_ms, wanted in sequence:
        now += timedelta(milliseconds=advance_ms)
        granted, wait = retry.take_tokens(state, limit, wanted, now)
        assert 0 <= granted <= min(wanted, limit.burst), "never more than asked for, never more than one burst"
        assert wait >= 0
        history.append(((now - T0).total_seconds(), granted))

    for start in range(len(history)):
        total = 0
        for end in range(start, len(history)):
            total += history[end][1]
            window = history[end][0] - history[start][0]
            assert total <= limit.burst + limit.per_second * window + 1e-9
