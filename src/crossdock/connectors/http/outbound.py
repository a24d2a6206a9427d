"""Deliver events to a REST API through the integrator's outbound mapping: each event becomes the request the function
returns (or nothing, when it returns None), sent under base_url with the destination's credentials and the delivery
id as Idempotency-Key, so a retried request is taken once. The answer decides the outcome: 2xx delivered; 408, 425,
429, 5xx, timeouts and connection errors retryable (Retry-After honoured); any other 4xx, and a mapping that fails or
returns something that is not a request, permanent (dead-lettered with the reason).

Must not: write to the hub's store, or keep more requests in flight than its concurrency.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from pydantic import ValidationError

from crossdock.connectors.generic.outbound import CORRELATION_HEADER, SIGNATURE_HEADER, parse_retry_after, sign
from crossdock.connectors.http import client as http_client
from crossdock.connectors.http import mapping
from crossdock.connectors.http.loading import Loaded
from crossdock.domain.events import Envelope
from crossdock.hub.errors import MappingError, PermanentDeliveryError, RetryableDeliveryError
from crossdock.hub.ports import AttemptOutcome, Delivery, SendResult

RETRYABLE_STATUS = {408, 425, 429}


class HttpSender:
    def __init__(
        self,
        destination: str,
        to_request: Loaded,
        base_url: str,
        client: http_client.HttpClient,
        *,
        concurrency: int = 1,
        secret: str | None = None,
    ) -> None:
        self.destination = destination
        self.to_request = to_request
        self.base_url = base_url
        self.client = client
        self.concurrency = concurrency
        self._secret = secret
        self._pool = (
            ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"http-{destination}")
            if concurrency > 1
            else None
        )

    def send(self, deliveries: Sequence[Delivery]) -> list[SendResult]:
        if self._pool is None or len(deliveries) < 2:
            return [self._send_one(delivery) for delivery in deliveries]
        return list(self._pool.map(self._send_one, deliveries))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self.client.close()

    def _send_one(self, delivery: Delivery) -> SendResult:
        started = time.perf_counter()
        try:
            prepared = self._prepared(delivery)
            if prepared is None:
                return _result(delivery, AttemptOutcome.DELIVERED, started, None, None)  # nothing for this system
            answer = self.client.request(
                prepared.method, prepared.url, prepared.content, self._headers(delivery, prepared)
            )
            _checked(answer, f"{prepared.method} {urlsplit(prepared.url).path}")  # no query: it may hold a token
        except RetryableDeliveryError as exc:
            return _result(delivery, AttemptOutcome.RETRYABLE, started, exc.status_code, str(exc), exc.retry_after)
        except PermanentDeliveryError as exc:
            return _result(delivery, AttemptOutcome.PERMANENT, started, exc.status_code, str(exc))
        except http_client.TransportError as exc:
            detail = str(exc) or "no answer in time"
            return _result(delivery, AttemptOutcome.RETRYABLE, started, None, f"{exc.__class__.__name__}: {detail}")
        return _result(delivery, AttemptOutcome.DELIVERED, started, answer.status_code, None)

    def _prepared(self, delivery: Delivery) -> mapping.Prepared | None:
        try:
            # The payload is the envelope plus the hub's own bookkeeping (its log position).
            event = Envelope.model_validate({k: v for k, v in delivery.payload.items() if k in Envelope.model_fields})
        except ValidationError as exc:
            raise PermanentDeliveryError(f"delivery {delivery.id} does not hold a canonical event: {exc}") from None
        try:
            return mapping.request_of(self.to_request(event), self.to_request.reference, self.base_url)
        except MappingError as exc:
            raise PermanentDeliveryError(
                f"cannot map {event.type} event {event.id} for {self.destination}: {exc}"
            ) from None

    def _headers(self, delivery: Delivery, prepared: mapping.Prepared) -> dict[str, str]:
        # The hub's own headers win over the mapping's: the Idempotency-Key must be the same on every retry.
        headers = {
            **prepared.headers,
            "Idempotency-Key": delivery.id,
            "X-Crossdock-Delivery": delivery.id,
            "X-Crossdock-Event-Type": delivery.event_type,
        }
        correlation = delivery.payload.get("correlationid")
        if isinstance(correlation, str):
            headers[CORRELATION_HEADER] = correlation
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, prepared.content)
        return headers


def _checked(answer: http_client.Answer, what: str) -> None:
    status = answer.status_code
    if 200 <= status < 300:
        return
    detail = f"{what}: HTTP {status}: {answer.text[:300]}"
    if status in RETRYABLE_STATUS or status >= 500:
        raise RetryableDeliveryError(
            detail, status_code=status, retry_after=parse_retry_after(answer.headers.get("retry-after"))
        )
    raise PermanentDeliveryError(detail, status_code=status)


def _result(
    delivery: Delivery,
    outcome: AttemptOutcome,
    started: float,
    status: int | None,
    error: str | None,
    retry_after: float | None = None,
) -> SendResult:
    return SendResult(delivery.id, outcome, status, error, retry_after, (time.perf_counter() - started) * 1000)
