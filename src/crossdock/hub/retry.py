"""When to try a delivery again, when to stop calling an endpoint, and how fast to call it.

Owns: the backoff schedule, the circuit breaker's transitions and the token bucket's arithmetic, all pure
functions over EndpointState. Must not: read the clock or storage; outbox.py loads and saves the state in the
same unit of work so that every worker shares it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from crossdock.hub.ports import BreakerState, EndpointState


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped; a target's Retry-After wins when it asks for longer."""

    base_seconds: float = 1.0
    max_delay_seconds: float = 300.0
    max_attempts: int = 10
    max_age_seconds: float = 24 * 3600.0

    def delay(self, attempts: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after the given number of failed attempts (1 = the first failure)."""
        ceiling: float = min(self.max_delay_seconds, self.base_seconds * 2.0 ** min(max(attempts - 1, 0), 60))
        # Half fixed, half random: never zero, yet workers that failed together do not retry together.
        jittered: float = ceiling / 2 + (rng or random).uniform(0, ceiling / 2)
        if retry_after is not None:
            return max(jittered, min(retry_after, self.max_age_seconds))
        return jittered

    def exhausted(self, attempts: int, first_queued: datetime, now: datetime) -> bool:
        return attempts >= self.max_attempts or (now - first_queued).total_seconds() >= self.max_age_seconds


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int = 5
    reset_seconds: float = 30.0


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: `per_second` tokens refill continuously up to `burst`. None means unlimited."""

    per_second: float
    burst: float


def breaker_allows(state: EndpointState, now: datetime) -> tuple[bool, datetime | None]:
    """May we send now? When not, also say when to look again. Once the open breaker's wait is over it
    turns half-open and lets exactly one probe through; a probe whose result never came back (its worker
    died) is replaced after the same wait."""
    if state.breaker is BreakerState.CLOSED:
        return True, None
    if state.open_until is not None and now >= state.open_until:
        state.breaker = BreakerState.HALF_OPEN
        return True, None
    return False, state.open_until


def probe_budget(state: EndpointState) -> int | None:
    """How many sends the breaker lets through in this round; None means no limit."""
    return 1 if state.breaker is BreakerState.HALF_OPEN else None


def breaker_on_probe_sent(state: EndpointState, now: datetime, policy: BreakerPolicy) -> None:
    """While the probe is out, others wait until its result is recorded or its deadline passes."""
    state.open_until = now + timedelta(seconds=policy.reset_seconds)


def breaker_on_success(state: EndpointState) -> None:
    state.breaker = BreakerState.CLOSED
    state.failures = 0
    state.open_until = None


def breaker_on_failure(state: EndpointState, now: datetime, policy: BreakerPolicy, was_probe: bool) -> None:
    state.failures += 1
    if was_probe or state.failures >= policy.failure_threshold:
        state.breaker = BreakerState.OPEN
        state.open_until = now + timedelta(seconds=policy.reset_seconds)


def take_tokens(state: EndpointState, limit: RateLimit | None, wanted: int, now: datetime) -> tuple[int, float]:
    """Take up to `wanted` tokens; return how many were granted and seconds until the next one."""
    if limit is None:
        return wanted, 0.0
    if state.tokens < 0 or state.tokens_at is None:
        tokens = limit.burst
    else:
        elapsed = max((now - state.tokens_at).total_seconds(), 0.0)
        tokens = min(limit.burst, state.tokens + elapsed * limit.per_second)
    granted = min(wanted, int(tokens))
    state.tokens = tokens - granted
    # Workers' clocks differ a little: never move the mark back, or time would be refilled twice.
    state.tokens_at = max(now, state.tokens_at) if state.tokens_at is not None else now
    wait = 0.0 if state.tokens >= 1 else (1 - state.tokens) / limit.per_second
    return granted, wait
