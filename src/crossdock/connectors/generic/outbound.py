"""Deliver canonical events to an HTTP webhook (CloudEvents structured JSON) or to a JSON-lines file.

Every request carries the delivery id as `Idempotency-Key`, and the event's correlation id and trace (a W3C
`traceparent` of the delivery's span, in the trace stored with the event, so a retry hours later joins the same
trace); the body is signed with HMAC-SHA256 when a secret is configured. The answer decides the outcome: 2xx
delivered; 408, 425, 429 and 5xx, timeouts and connection errors retryable (honouring Retry-After); any other 4xx
permanent.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from crossdock.connectors import http_delivery
from crossdock.connectors.generic.client import HttpTransport, TransportError
from crossdock.hub.errors import PermanentDeliveryError, RetryableDeliveryError
from crossdock.hub.ports import AttemptOutcome, Delivery, SendResult

_PROPAGATOR = TraceContextTextMapPropagator()


class WebhookSender:
    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float = 10.0,
        secret: str | None = None,
        headers: Mapping[str, str] | None = None,
        max_connections: int = 16,
    ) -> None:
        self.url = url
        self._secret = secret
        self._headers = dict(headers or {})
        self._max_connections = max_connections
        self._http = HttpTransport(timeout_seconds, max_connections)

    def send(self, deliveries: Sequence[Delivery]) -> list[SendResult]:
        async def send_all() -> list[SendResult]:
            # Waiting on a semaphore is cheaper than queueing inside the connection pool (measured).
            gate = asyncio.Semaphore(self._max_connections)

            async def gated(delivery: Delivery) -> SendResult:
                async with gate:
                    return await self._send_one(delivery)

            return list(await asyncio.gather(*(gated(d) for d in deliveries)))

        return self._http.run(send_all())

    async def _send_one(self, delivery: Delivery) -> SendResult:
        body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        headers = {
            **self._headers,
            "Content-Type": "application/cloudevents+json",
            **http_delivery.delivery_headers(delivery),
        }
        if self._secret:
            headers[http_delivery.SIGNATURE_HEADER] = http_delivery.sign(self._secret, body)
        with _delivery_span(delivery) as span:
            _PROPAGATOR.inject(headers)
            result = await self._attempt(delivery, body, headers)
            span.set_attribute("crossdock.outcome", result.outcome.value)
            if result.status_code is not None:
                span.set_attribute("http.response.status_code", result.status_code)
            if result.outcome is not AttemptOutcome.DELIVERED:
                span.set_status(Status(StatusCode.ERROR, (result.error or "")[:200]))
        return result

    async def _attempt(self, delivery: Delivery, body: bytes, headers: dict[str, str]) -> SendResult:
        started = time.perf_counter()
        try:
            response = await self._http.post(self.url, body, headers)
            status = http_delivery.checked(response)
        except (RetryableDeliveryError, PermanentDeliveryError) as exc:
            return http_delivery.refused(delivery, started, exc)
        except TransportError as exc:
            return http_delivery.unanswered(delivery, started, exc)
        return http_delivery.result(delivery, AttemptOutcome.DELIVERED, started, status, None)

    def close(self) -> None:
        self._http.close()


def _delivery_span(delivery: Delivery) -> Any:
    """A client span per attempt, child of the trace stored with the event: without one, a new trace. The URL is
    left out: it may hold a token."""
    stored = delivery.payload.get("traceparent")
    parent = _PROPAGATOR.extract({"traceparent": stored}) if isinstance(stored, str) else None
    return trace.get_tracer("crossdock").start_as_current_span(
        f"deliver {delivery.event_type} to {delivery.destination}",
        context=parent,
        kind=SpanKind.CLIENT,
        attributes={
            "crossdock.delivery_id": delivery.id,
            "crossdock.destination": delivery.destination,
            "crossdock.event_type": delivery.event_type,
            "crossdock.attempt": delivery.attempts + 1,
        },
    )


class JsonLinesSender:
    """Appends one line per delivery, delivery id included so a reader can drop the rare repeat after a
    crash. Used by the example estate as an audit trail."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def send(self, deliveries: Sequence[Delivery]) -> list[SendResult]:
        started = time.perf_counter()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lines = "".join(
                json.dumps({"delivery_id": d.id, "event": d.payload}, separators=(",", ":")) + "\n" for d in deliveries
            )
            with self._lock, self.path.open("a", encoding="utf-8") as handle:
                handle.write(lines)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            return [
                http_delivery.result(d, AttemptOutcome.RETRYABLE, started, None, f"cannot write {self.path}: {exc}")
                for d in deliveries
            ]
        return [http_delivery.result(d, AttemptOutcome.DELIVERED, started, None, None) for d in deliveries]

    def close(self) -> None:
        return None
