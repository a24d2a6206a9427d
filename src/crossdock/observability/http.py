"""Tracing at the HTTP edge: a server span around each intake request (webhooks, /v1/inbound, /v1/orders), child of
the caller's W3C `traceparent` when it sent one. The message taken in is stored in that span's trace, so its
processing and deliveries join it. Reads no body and records no header but the trace's.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from starlette.types import ASGIApp, Receive, Scope, Send

from crossdock.observability import context

INTAKE_PATHS = ("/v1/inbound/", "/v1/orders")


class IntakeTracing:
    def __init__(self, app: ASGIApp, paths: Sequence[str] = INTAKE_PATHS) -> None:
        self.app = app
        self.paths = tuple(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope.get("method") != "POST" or not path.startswith(self.paths):
            await self.app(scope, receive, send)
            return
        traceparent = None
        # Under the framework's own server span (FastAPI makes one when an SDK is installed), which already continues
        # the caller's trace, the intake span is its child; otherwise it continues the caller's trace itself.
        if not trace.get_current_span().get_span_context().is_valid:
            for name, value in scope.get("headers", ()):
                if name == b"traceparent":
                    traceparent = value.decode("latin-1")
        status: list[int] = []

        async def sending(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))  # type: ignore[call-overload]
            await send(message)

        with context.working_on(
            f"intake POST {path}",
            correlation=None,
            traceparent=traceparent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": "POST", "url.path": path},
        ) as span:
            await self.app(scope, receive, sending)  # type: ignore[arg-type]
            if status:
                span.set_attribute("http.response.status_code", status[0])
