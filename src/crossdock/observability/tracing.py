"""Where spans go: none (the default: the API records nothing), the console, or an OTLP collector. Chosen once per
process from the `observability` settings; the hub and connectors only ever speak the OpenTelemetry API.

The OTLP exporter is the optional extra `otlp` (pip install 'crossdock[otlp]').
"""

from __future__ import annotations

import threading
from typing import Literal

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

Exporter = Literal["none", "console", "otlp"]

_lock = threading.Lock()
_recorder: InMemorySpanExporter | None = None


class TracingUnavailable(RuntimeError):
    """The configured span exporter cannot be loaded."""


def configure(exporter: Exporter, *, endpoint: str | None = None, service_name: str = "crossdock") -> None:
    """Send this process's spans to `exporter`. "none" leaves the API's no-op in place; anything else installs
    the SDK once (OpenTelemetry allows one provider per process) and adds the exporter to it."""
    if exporter == "none":
        return
    if exporter == "console":
        install(ConsoleSpanExporter(), service_name=service_name)
        return
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise TracingUnavailable(
            "observability.exporter is otlp but the OTLP exporter is not installed: pip install 'crossdock[otlp]'"
        ) from None
    install(OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter(), service_name=service_name)


def install(exporter: SpanExporter, *, batch: bool = True, service_name: str = "crossdock") -> TracerProvider:
    """Add an exporter to the process's SDK provider, installing that provider first if need be."""
    with _lock:
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
            trace.set_tracer_provider(provider)
        provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
        return provider


def recorder() -> InMemorySpanExporter:
    """Spans kept in memory as they end, for tests: one recorder per process (a provider cannot be replaced),
    emptied on each call."""
    global _recorder
    with _lock:
        existing = _recorder
    if existing is None:
        existing = InMemorySpanExporter()
        install(existing, batch=False)
        with _lock:
            _recorder = existing
    existing.clear()
    return existing


def flush() -> None:
    """Hand finished spans to the exporter before the process ends."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush()
