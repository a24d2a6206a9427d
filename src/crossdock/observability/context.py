"""The context of the work in hand: the correlation id (a contextvar the logs read) and its trace (W3C traceparent,
OpenTelemetry spans). Stdlib and the OpenTelemetry API only, so that the hub may import it; never the SDK, storage
or configuration. Without an SDK installed the spans record nothing, yet the trace ids still travel.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

CORRELATION_HEADER = "x-correlation-id"
TRACEPARENT_HEADER = "traceparent"
TRACER_NAME = "crossdock"
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_PROPAGATOR = TraceContextTextMapPropagator()

_correlation: ContextVar[str | None] = ContextVar("crossdock_correlation_id", default=None)


def correlation_id() -> str | None:
    """The correlation id of the message, event or delivery being handled in this thread or task, if any."""
    return _correlation.get()


@contextmanager
def correlated(value: str | None) -> Iterator[None]:
    """Everything logged inside carries this correlation id."""
    token = _correlation.set(value)
    try:
        yield
    finally:
        _correlation.reset(token)


def valid_traceparent(value: str | None) -> str | None:
    """The header if it is a well-formed version-00 traceparent with non-zero ids, else None: a malformed one
    starts a new trace rather than failing the message."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
        return None
    return match.group(0)


def trace_id_of(traceparent: str | None) -> str | None:
    valid = valid_traceparent(traceparent)
    return valid.split("-")[1] if valid else None


def derived_traceparent(*parts: str) -> str:
    """A trace for a message that came without one, derived from what identifies it: taking the same message
    in again (a retry, a crash) continues the same trace instead of starting another."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"00-{digest[:32]}-{digest[32:48]}-01"


def current_traceparent() -> str | None:
    """The traceparent of the span in progress (an intake request's), or None outside any trace."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return valid_traceparent(carrier.get(TRACEPARENT_HEADER))


def inject(headers: dict[str, str]) -> None:
    """Write the current span's traceparent into outgoing headers."""
    _PROPAGATOR.inject(headers)


def tracer() -> trace.Tracer:
    # Looked up at each use: the provider is chosen by the entrypoint after the hub is built.
    return trace.get_tracer(TRACER_NAME)


def _recording() -> bool:
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider)


@contextmanager
def working_on(
    name: str,
    *,
    correlation: str | None,
    traceparent: str | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[trace.Span]:
    """A span for one piece of work, child of `traceparent` when given (the context stored with the message, so
    work done an hour later still joins its trace), with the correlation id set for the logs."""
    if not _recording():
        # Without an SDK a span records nothing: skip its cost (it would be most of the handling of a small event).
        with correlated(correlation):
            yield trace.INVALID_SPAN
        return
    parent = _PROPAGATOR.extract({TRACEPARENT_HEADER: traceparent}) if valid_traceparent(traceparent) else None
    attrs = {key: value for key, value in (attributes or {}).items() if value is not None}
    if correlation:
        attrs["crossdock.correlation_id"] = correlation
    with (
        correlated(correlation),
        tracer().start_as_current_span(name, context=parent, kind=kind, attributes=attrs) as span,
    ):
        yield span
