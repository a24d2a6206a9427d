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

from crossdock.connectors import http_delivery
from crossdock.connectors.http import client as http_client
from crossdock.connectors.http import mapping
from crossdock.connectors.http.loading import Loaded
from crossdock.domain.events import Envelope
from crossdock.hub.errors import MappingError, PermanentDeliveryError, RetryableDeliveryError
from crossdock.hub.ports import AttemptOutcome, Delivery, SendResult


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
                # nothing for this system
                return http_delivery.result(delivery, AttemptOutcome.DELIVERED, started, None, None)
            answer = self.client.request(
                prepared.method, prepared.url, prepared.content, self._headers(delivery, prepared)
            )
            # no query in the error: it may hold a token
            status = http_delivery.checked(answer, f"{prepared.method} {urlsplit(prepared.url).path}")
        except (RetryableDeliveryError, PermanentDeliveryError) as exc:
            return http_delivery.refused(delivery, started, exc)
        except http_client.TransportError as exc:
            return http_delivery.unanswered(delivery, started, exc)
        return http_delivery.result(delivery, AttemptOutcome.DELIVERED, started, status, None)

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
        headers = {**prepared.headers, **http_delivery.delivery_headers(delivery)}
        if self._secret:
            headers[http_delivery.SIGNATURE_HEADER] = http_delivery.sign(self._secret, prepared.content)
        return headers
