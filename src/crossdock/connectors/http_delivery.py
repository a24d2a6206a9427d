"""Delivering to an HTTP target, for every sender that calls one: the hub's own headers on the request (the delivery
id as Idempotency-Key, the same on every retry), and what the answer means: 2xx delivered; 408, 425, 429 and 5xx
retryable, after the Retry-After the target asked for; any other 4xx permanent; and the timed result of an attempt.
Must not: make calls or know a wire format.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol

from crossdock.hub.errors import PermanentDeliveryError, RetryableDeliveryError
from crossdock.hub.ports import AttemptOutcome, Delivery, SendResult

RETRYABLE_STATUS = frozenset({408, 425, 429})
IDEMPOTENCY_HEADER = "Idempotency-Key"
SIGNATURE_HEADER = "X-Crossdock-Signature"
CORRELATION_HEADER = "X-Correlation-Id"


class Answer(Protocol):
    """An HTTP answer as a connector's transport hands it over, header names lower-cased."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def text(self) -> str: ...


def retry_after_asked(answer: Answer) -> float | None:
    """The wait the target asked for in its Retry-After header, if it asked."""
    return parse_retry_after(answer.headers.get("retry-after"))


def checked(answer: Answer, what: str = "", *, wait: Callable[[Answer], float | None] = retry_after_asked) -> int:
    """The status of a 2xx answer; for any other, raise the delivery error it calls for, naming `what` was asked and
    quoting the start of the answer. `wait` reads how long a retryable answer asks the hub to wait."""
    status = answer.status_code
    if 200 <= status < 300:
        return status
    detail = f"HTTP {status}: {answer.text[:300]}"
    if what:
        detail = f"{what}: {detail}"
    if status in RETRYABLE_STATUS or status >= 500:
        raise RetryableDeliveryError(detail, status_code=status, retry_after=wait(answer))
    raise PermanentDeliveryError(detail, status_code=status)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP-date (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_headers(delivery: Delivery) -> dict[str, str]:
    """The hub's headers on a delivery's request: laid over the target's own, as the Idempotency-Key must not
    change between retries."""
    headers = {
        IDEMPOTENCY_HEADER: delivery.id,
        "X-Crossdock-Delivery": delivery.id,
        "X-Crossdock-Event-Type": delivery.event_type,
    }
    correlation = delivery.payload.get("correlationid")
    if isinstance(correlation, str):
        headers[CORRELATION_HEADER] = correlation
    return headers


def result(
    delivery: Delivery,
    outcome: AttemptOutcome,
    started: float,
    status: int | None,
    error: str | None,
    retry_after: float | None = None,
) -> SendResult:
    """The result of one attempt begun at `started` (time.perf_counter), timed to now."""
    return SendResult(delivery.id, outcome, status, error, retry_after, (time.perf_counter() - started) * 1000)


def refused(delivery: Delivery, started: float, error: RetryableDeliveryError | PermanentDeliveryError) -> SendResult:
    """The result of an attempt the target (or the mapping before it) did not take."""
    if isinstance(error, RetryableDeliveryError):
        return result(delivery, AttemptOutcome.RETRYABLE, started, error.status_code, str(error), error.retry_after)
    return result(delivery, AttemptOutcome.PERMANENT, started, error.status_code, str(error))


def unanswered(delivery: Delivery, started: float, error: Exception) -> SendResult:
    """The result of an attempt that got no answer (timeout, refused connection): worth another try."""
    detail = str(error) or "no answer in time"
    return result(delivery, AttemptOutcome.RETRYABLE, started, None, f"{error.__class__.__name__}: {detail}")
