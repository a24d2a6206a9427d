"""The HTTP API: intake, health, and operations over the hub (status, trace, dead letters, replay).

Every /v1 route needs an API key with its scope (entrypoints/api/auth.py) unless `api.auth` is off, and every /v1
call is recorded in the audit trail; health and metrics stay open for probes and scrapers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from importlib import metadata
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from crossdock.bootstrap import Runtime
from crossdock.domain import asyncapi
from crossdock.entrypoints.api import (
    admin,
    auth,
    orders,
    problems,
    purchase_orders,
    reconciliations,
    shipments,
    webhooks,
    xrefs,
)
from crossdock.entrypoints.api.intake_writer import IntakeWriter
from crossdock.entrypoints.console import app as console
from crossdock.hub import governance, operations
from crossdock.hub import trace as tracing
from crossdock.hub.errors import UnknownSource
from crossdock.hub.ports import (
    DeliveryFilter,
    DeliveryStatus,
    IntakeResult,
    IntakeStatus,
    MessageStatus,
)
from crossdock.observability.activity import SqlFigures
from crossdock.observability.http import IntakeTracing
from crossdock.observability.metrics import Metrics
from crossdock.storage.sql import migrate

log = logging.getLogger(__name__)

# Row ids and sequences are 64-bit signed integers in both databases: a larger number names nothing.
MAX_ROW_ID = 2**63 - 1
MessageId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


class ReplayRequest(BaseModel):
    destination: str | None = None
    event_type: str | None = None
    error_contains: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = Field(default=1000, ge=1, le=100_000)
    dry_run: bool = False
    note: str = ""


class EditReplayRequest(BaseModel):
    payload: dict[str, Any] | None = None
    note: str = ""


def create_app(runtime: Runtime, *, metrics: Metrics | None = None, intake: IntakeWriter | None = None) -> FastAPI:
    """The API over a built hub. Pass `intake` when a worker in this process drains it; without one the
    API commits intake batches on a writer thread of its own."""
    hub = runtime.hub
    metrics = metrics or Metrics()
    metrics.attach(hub)
    refresh = runtime.settings.observability.metrics_refresh_seconds
    metrics.watch(SqlFigures(runtime.engine).read, hub.clock.now, refresh_seconds=refresh)
    http = runtime.settings.http
    state: dict[str, IntakeWriter] = {}
    guard = auth.Guard(
        hub.begin,
        hub.clock,
        required=runtime.settings.api.auth == "required",
        key_cache_seconds=runtime.settings.api.key_cache_seconds,
    )
    audit = auth.AuditWriter(hub.begin)
    admin_only = [Depends(guard.require(governance.ADMIN))]

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if intake is not None:
            state["writer"] = intake
            yield
            audit.close()
            return
        state["writer"] = IntakeWriter(
            hub.accept,
            window_ms=http.intake_batch_ms,
            max_batch=http.intake_batch_size,
            on_commit=metrics.intake_batch.observe,
        )
        yield
        state["writer"].close()
        audit.close()

    app = FastAPI(
        title="Crossdock",
        version="0.1.0",
        lifespan=lifespan,
        description="Sync hub for wholesale distributors: intake, delivery and operations.",
    )
    app.add_exception_handler(StarletteHTTPException, problems.on_http_error)
    app.add_exception_handler(RequestValidationError, problems.on_validation_error)
    app.add_exception_handler(Exception, problems.on_unexpected)
    app.add_exception_handler(auth.Refused, auth.on_refused)
    app.add_middleware(auth.AuditMiddleware, writer=audit, clock=hub.clock)
    app.add_middleware(IntakeTracing)  # outermost: the intake span covers authentication and the audit record
    app.state.audit = audit

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        try:
            with runtime.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            current, head = migrate.current_revision(runtime.engine), migrate.head_revision(runtime.engine)
        except Exception as exc:  # noqa: BLE001 - reported as not ready, with the reason
            return problems.problem(
                503, problems.Code.DATABASE_UNREACHABLE, "Not ready", f"database unreachable: {exc}"
            )
        if current != head:
            return problems.problem(
                503,
                problems.Code.MIGRATIONS_PENDING,
                "Not ready",
                f"database is at revision {current}, code expects {head}: run `crossdock db upgrade`",
            )
        return JSONResponse({"status": "ready", "revision": current})

    @app.post("/v1/inbound/{source}", tags=["intake"], status_code=202, dependencies=[Depends(guard.webhook())])
    async def inbound(source: str, request: Request) -> JSONResponse:
        body = await request.body()
        try:
            message = hub.intake.prepare(source, body, dict(request.headers), hub.clock.now())
        except UnknownSource as exc:
            metrics.received.labels(source, "unknown-source").inc()
            return problems.problem(404, problems.Code.UNKNOWN_SOURCE, "Unknown source", str(exc))
        result = await asyncio.wrap_future(state["writer"].submit(message))
        metrics.received.labels(source, result.status.value).inc()
        return _intake_response(result)

    @app.get("/v1/messages/{message_id}", tags=["operations"], dependencies=admin_only)
    def get_message(message_id: MessageId) -> JSONResponse:
        with hub.begin() as uow:
            message = uow.inbox.get(message_id)
            events = uow.log.for_message(message_id) if message else []
        if message is None:
            return problems.problem(404, problems.Code.MESSAGE_NOT_FOUND, "No such message", f"no message {message_id}")
        return JSONResponse(operations.message_view(message, events))

    @app.post("/v1/messages/{message_id}/replay", tags=["operations"])
    def replay_message(
        message_id: MessageId, principal: auth.Principal = Depends(guard.require(governance.ADMIN))
    ) -> JSONResponse:
        replayed = operations.replay_messages(hub, actor=principal.actor, message_ids=[message_id])
        if not replayed:
            return problems.problem(
                409,
                problems.Code.NOT_REPLAYABLE,
                "Not replayable",
                f"message {message_id} does not exist or has not failed",
            )
        return JSONResponse({"replayed": [m.id for m in replayed]})

    @app.get("/v1/deliveries", tags=["operations"], dependencies=admin_only)
    def list_deliveries(
        status: DeliveryStatus | None = DeliveryStatus.DEAD,
        destination: str | None = None,
        event_type: str | None = None,
        error: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = Query(default=100, ge=1, le=10_000),
    ) -> JSONResponse:
        found = operations.dead_letters(
            hub, DeliveryFilter(destination, event_type, error, since, until, status, limit)
        )
        return JSONResponse({"items": [operations.delivery_view(d) for d in found]})

    @app.get("/v1/deliveries/{delivery_id}", tags=["operations"], dependencies=admin_only)
    def get_delivery(delivery_id: str) -> JSONResponse:
        found = operations.delivery(hub, delivery_id)
        if found is None:
            return problems.problem(
                404, problems.Code.DELIVERY_NOT_FOUND, "No such delivery", f"no delivery {delivery_id}"
            )
        return JSONResponse(operations.delivery_view(*found))

    @app.post("/v1/deliveries/replay", tags=["operations"])
    def replay_deliveries(
        request: ReplayRequest, principal: auth.Principal = Depends(guard.require(governance.ADMIN))
    ) -> JSONResponse:
        flt = DeliveryFilter(
            request.destination,
            request.event_type,
            request.error_contains,
            request.since,
            request.until,
            DeliveryStatus.DEAD,
            request.limit,
        )
        chosen = operations.replay_dead_letters(
            hub, flt, actor=principal.actor, dry_run=request.dry_run, note=request.note
        )
        return JSONResponse({"dry_run": request.dry_run, "count": len(chosen), "ids": [d.id for d in chosen]})

    @app.post("/v1/deliveries/{delivery_id}/replay", tags=["operations"])
    def replay_delivery(
        delivery_id: str,
        principal: auth.Principal = Depends(guard.require(governance.ADMIN)),
        request: EditReplayRequest | None = None,
    ) -> JSONResponse:
        revived = operations.replay_delivery(
            hub,
            delivery_id,
            actor=principal.actor,
            payload=request.payload if request else None,
            note=request.note if request else "",
        )
        if not revived:
            return problems.problem(
                409,
                problems.Code.NOT_REPLAYABLE,
                "Not replayable",
                f"delivery {delivery_id} does not exist or is not dead-lettered",
            )
        return JSONResponse({"replayed": [delivery_id]})

    @app.get("/v1/status", tags=["operations"], dependencies=admin_only)
    def get_status() -> JSONResponse:
        s = operations.status(hub)
        return JSONResponse(
            {
                "messages": s.messages,
                "deliveries": s.deliveries,
                "log_head": s.log_head,
                "endpoints": [
                    {**e, "open_until": e["open_until"].isoformat() if e["open_until"] else None} for e in s.endpoints
                ],
                "workers": s.workers,
                "timers_pending": s.timers_pending,
            }
        )

    trace_scope = tracing.Scope.configured(
        runtime.settings.sources, runtime.settings.destinations, runtime.settings.partners
    )

    @app.get("/v1/trace/{key:path}", tags=["operations"], dependencies=admin_only)
    def get_trace(key: str) -> JSONResponse:
        """The timeline of one business transaction: `entries` in time order (at, kind, title, detail,
        duration_ms since the entry before, elapsed_ms since the first, links), and the same facts grouped as
        `messages` and `events` with their deliveries. The key is a correlation id, an order, PO, invoice,
        shipment or payment number, another system's id, an EDI control number, a message id or an event id."""
        found = operations.trace(hub, key, trace_scope)
        if not found.found:
            return problems.problem(
                404, problems.Code.NOTHING_FOUND, "Nothing found", f"nothing the hub knows matches {key!r}"
            )
        return JSONResponse(
            {
                **found.as_dict(),
                "messages": [operations.message_view(m) for m in found.messages],
                "events": [
                    {
                        "position": t.event.position,
                        "id": t.event.envelope.id,
                        "type": t.event.envelope.type,
                        "subject": t.event.envelope.subject,
                        "time": t.event.envelope.time.isoformat(),
                        "deliveries": [operations.delivery_view(d, list(a)) for d, a in t.deliveries],
                    }
                    for t in found.events
                ],
            }
        )

    @app.get("/metrics", tags=["health"])
    def get_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    catalogue = asyncapi.asyncapi_document(_version())

    @app.get("/asyncapi.json", tags=["catalogue"])
    def get_event_catalogue() -> dict[str, Any]:
        """The event catalogue (AsyncAPI 3.0): every canonical event type, its payload schema and envelope."""
        return catalogue

    # Before the orders routes: /v1/orders/{id} would take /v1/orders/{id}/shipments as an order id.
    app.include_router(shipments.router(runtime, guard=guard))
    app.include_router(
        orders.router(runtime, submit=lambda message: state["writer"].submit(message), metrics=metrics, guard=guard)
    )
    app.include_router(purchase_orders.router(runtime, guard=guard))
    app.include_router(reconciliations.router(runtime, guard=guard, metrics=metrics))
    app.include_router(admin.router(runtime, guard=guard))
    app.include_router(xrefs.router(runtime, guard=guard))
    # Webhooks that authenticate by their own signature (Shopify's), not by an API key.
    app.include_router(
        webhooks.router(runtime, submit=lambda message: state["writer"].submit(message), metrics=metrics)
    )
    # The operator console (HTML, its own sign-in); outside the OpenAPI document, audited by the same writer.
    app.mount("/console", console.create_console(runtime, audit=audit))
    return app


def _version() -> str:
    try:
        return metadata.version("crossdock")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "0.0.0"


def _intake_response(result: IntakeResult) -> JSONResponse:
    body = {
        "message_id": result.message_id,
        "status": result.message_status.value,
        "duplicate": result.status is IntakeStatus.DUPLICATE,
        "received_at": result.received_at.isoformat(),
    }
    if result.status is IntakeStatus.CONFLICT:
        return problems.problem(
            409,
            problems.Code.IDEMPOTENCY_CONFLICT,
            "Idempotency key reused with a different payload",
            f"message {result.message_id} was received with this key and a different payload; "
            "use a new key for a new message",
            message_id=result.message_id,
        )
    if result.message_status is MessageStatus.FAILED and result.error and result.error.startswith("cannot identify"):
        return problems.problem(
            422,
            problems.Code.UNREADABLE_MESSAGE,
            "The message could not be read",
            f"{result.error}. It is kept as message {result.message_id} and can be replayed after a fix.",
            message_id=result.message_id,
            duplicate=result.status is IntakeStatus.DUPLICATE,
        )
    status = 200 if result.status is IntakeStatus.DUPLICATE else 202
    return JSONResponse(body, status_code=status)
