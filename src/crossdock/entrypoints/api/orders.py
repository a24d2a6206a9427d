"""The order-to-cash experience API: orders come in through the durable intake (source "api"); orders, availability,
exceptions and the journal are read through hub.views; operators act on exceptions. A key restricted to a channel
sees and places only that channel's orders.

Owns: these routes and their problem codes. Must not: write a store itself (intake and the order-to-cash runtime do).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from crossdock.bootstrap import ORDERS_API_SOURCE, Runtime
from crossdock.domain import catalog, documents
from crossdock.entrypoints.api import auth, problems
from crossdock.hub import governance, views
from crossdock.hub.handlers.exceptions import AlreadyResolved, UnknownException
from crossdock.hub.inbox import IDEMPOTENCY_HEADER
from crossdock.hub.ports import AuditEntry, ExceptionStatus, IntakeResult, IntakeStatus, MessageStatus, NewMessage
from crossdock.observability.metrics import Metrics

# Business keys as the documents define them (documents.Key): no leading or trailing blanks, at most 100 chars.
KEY_PATTERN = r"^\S(.*\S)?$"

Submit = Callable[[NewMessage], "Future[IntakeResult]"]
EXCEPTION_STATUSES = {"open": ExceptionStatus.OPEN, "resolved": ExceptionStatus.RESOLVED, "all": None}


Number = str  # decimals are answered as strings, never as binary floats


class OrderLineFigures(BaseModel):
    line_id: str
    sku: str
    ordered: Number = Field(description="Base units, as are the other quantities.")
    cancelled: Number
    reserved: Number
    backordered: Number
    released: Number
    shipped: Number
    invoiced: Number
    unit_price: Number = Field(description="Per base unit.")


class OrderAmounts(BaseModel):
    currency: str | None
    total: Number | None = Field(description="What is still ordered, before tax (null: the order itself not seen).")
    invoiced: Number
    paid: Number = Field(description="Every payment for the order, prepayments included.")
    balance_due: Number
    credit: Number = Field(description="Paid beyond what was invoiced, once the order is closed or cancelled.")


class PrepaymentApplication(BaseModel):
    invoice: str
    amount: Number = Field(description="What the prepayment settled of this invoice.")
    link: str


class Prepayment(BaseModel):
    payment: str = Field(description="The payment's reference.")
    received_on: str | None = Field(description="As the payment says (null: its event was pruned).")
    amount: Number = Field(description="What was taken for the order.")
    applied: Number = Field(description="What went to the order's invoices, oldest prepayment first.")
    released: Number = Field(description="What became the customer's credit when the order ended unapplied.")
    held: Number = Field(description="What it still holds for invoices to come.")
    applications: list[PrepaymentApplication] = Field(description="Per invoice, in the order applied.")


class ShipmentLineFigures(BaseModel):
    line_id: str
    shipped: Number
    invoiced: Number


class OrderShipment(BaseModel):
    shipment: str
    lines: list[ShipmentLineFigures]


class Rejection(BaseModel):
    code: str
    text: str


class SlaTimer(BaseModel):
    stage: str
    timer: str


class HistoryEntry(BaseModel):
    position: int
    time: str
    type: str
    id: str
    source: str
    causationid: str | None


class Order(BaseModel):
    """One order: its state, line quantities, amounts, prepayments, shipments, why it is still open, its open
    exceptions, running SLA timers and history."""

    order: str
    status: str
    channel: str | None
    customer: str | None
    currency: str | None
    total: Number | None
    balance_due: Number
    created_at: str | None
    updated_at: str | None
    link: str
    revision: int
    lines: list[OrderLineFigures]
    amounts: OrderAmounts
    prepayments: list[Prepayment] = Field(description="Money taken for the order before it was invoiced.")
    shipments: list[OrderShipment]
    releases: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Each release to a warehouse with the furthest stage it reported (released, picked, packed), "
        "when, the quantities picked and packed per line, and its packages.",
    )
    rejection: list[Rejection]
    open_reasons: list[str]
    held_facts: int = Field(description="Facts that came before what they depend on, waiting to be applied.")
    exceptions: list[dict[str, Any]] = Field(description="Its open exceptions, as GET /v1/exceptions/{id} shows them.")
    sla_timers: list[SlaTimer]
    history: list[HistoryEntry]


class ExceptionActionRequest(BaseModel):
    action: catalog.ExceptionAction
    actor: str = Field(min_length=1, max_length=200, description="Who decided: kept with the exception.")
    note: str = Field(default="", max_length=2000)


def router(runtime: Runtime, *, submit: Submit, guard: auth.Guard, metrics: Metrics | None = None) -> APIRouter:
    """The routes over a built runtime; `submit` hands a prepared message to the app's intake writer, `guard` says
    who may call which route."""
    hub = runtime.hub
    order_to_cash = runtime.order_to_cash
    policy = order_to_cash.policy
    api = APIRouter()
    admin_only = [Depends(guard.require(governance.ADMIN))]

    @api.post(
        "/v1/orders",
        tags=["orders"],
        status_code=202,
        # The body is read raw (it is kept as it came, even when invalid), so its schema is declared by hand.
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": _sales_order_schema()}}},
            "parameters": [{"name": "Idempotency-Key", "in": "header", "required": True, "schema": {"type": "string"}}],
        },
    )
    async def post_order(
        request: Request, principal: auth.Principal = Depends(guard.require(governance.ORDERS_WRITE))
    ) -> JSONResponse:
        """Take a canonical SalesOrder. The Idempotency-Key header is required: the same key again answers the
        first outcome, the same key with another body is a conflict."""
        if not request.headers.get(IDEMPOTENCY_HEADER, "").strip():
            return problems.problem(
                428,
                problems.Code.IDEMPOTENCY_KEY_REQUIRED,
                "Idempotency-Key header required",
                "POST /v1/orders needs an Idempotency-Key header, unique per order you mean to place: "
                "sending it again with the same key is then safe",
                header="Idempotency-Key",
            )
        body = await request.body()
        order, invalid = _sales_order(body)
        if order is not None and not principal.sees(order.channel):
            raise auth.forbidden()
        message = hub.intake.prepare(ORDERS_API_SOURCE, body, dict(request.headers), hub.clock.now())
        if invalid and message.status is MessageStatus.PENDING:
            # Kept as it came, failed with the reason: visible, and replayable once the sender's mistake is fixed.
            reason = "; ".join(f"{e['where']}: {e['problem']}" for e in invalid)
            message = replace(message, status=MessageStatus.FAILED, error=f"not a valid SalesOrder: {reason}")
        result = await asyncio.wrap_future(submit(message))
        if metrics is not None:
            metrics.received.labels(ORDERS_API_SOURCE, result.status.value).inc()
        if result.status is IntakeStatus.CONFLICT:
            return problems.problem(
                409,
                problems.Code.IDEMPOTENCY_CONFLICT,
                "Idempotency key reused with a different order",
                f"message {result.message_id} was received with this key and a different body; "
                "use a new key for a new order",
                message_id=result.message_id,
            )
        duplicate = result.status is IntakeStatus.DUPLICATE
        if order is None:
            errors = invalid or [{"where": "body", "problem": result.error or "not a valid SalesOrder"}]
            return problems.problem(
                422,
                problems.Code.INVALID_ORDER,
                "The body is not a valid SalesOrder",
                "; ".join(f"{e['where']}: {e['problem']}" for e in errors)
                + f". It is kept as message {result.message_id} and can be replayed after a fix.",
                errors=errors,
                message_id=result.message_id,
                duplicate=duplicate,
            )
        response: dict[str, Any] = {
            "order": order.number,
            "message_id": result.message_id,
            "status": result.message_status.value,
            "duplicate": duplicate,
            "received_at": result.received_at.isoformat(),
            "links": {"order": views.order_link(order.number), "message": f"/v1/messages/{result.message_id}"},
        }
        if result.message_status is MessageStatus.FAILED:
            response["error"] = result.error
        return JSONResponse(response, status_code=200 if duplicate else 202)

    @api.get("/v1/orders", tags=["orders"])
    def list_orders(
        principal: auth.Principal = Depends(guard.require(governance.ORDERS_READ)),
        status: str | None = None,
        channel: str | None = None,
        customer: str | None = None,
        limit: int = Query(default=100, ge=1, le=1000),
    ) -> JSONResponse:
        if channel is not None and not principal.sees(channel):
            raise auth.forbidden()
        channel = channel or principal.channel
        with hub.begin() as uow:
            found = views.list_orders(uow, status=status, channel=channel, customer=customer, limit=limit)
        return JSONResponse({"items": found})

    @api.get(
        "/v1/orders/{order_id:path}",
        tags=["orders"],
        response_model=Order,
        responses=problems.documented(problems.Code.ORDER_NOT_FOUND),
    )
    def get_order(
        order_id: str, principal: auth.Principal = Depends(guard.require(governance.ORDERS_READ))
    ) -> JSONResponse:
        with hub.begin() as uow:
            found = views.order_view(uow, order_id)
        # Another channel's order is answered as missing: a restricted key learns nothing about it.
        if found is None or not principal.sees(found["channel"]):
            return problems.problem(
                404, problems.Code.ORDER_NOT_FOUND, "No such order", f"the hub knows no order {order_id}"
            )
        return JSONResponse(found)

    @api.get("/v1/availability", tags=["inventory"], dependencies=[Depends(guard.require(governance.INVENTORY_READ))])
    def get_availability(
        sku: str | None = Query(default=None, min_length=1, max_length=100, pattern=KEY_PATTERN),
        location: str | None = Query(default=None, min_length=1, max_length=100, pattern=KEY_PATTERN),
        channel: str | None = Query(default=None, min_length=1, max_length=100, pattern=KEY_PATTERN),
        after: str | None = Query(default=None, description="The `next` cursor of the previous page."),
        limit: int = Query(default=100, ge=1, le=5000),
    ) -> JSONResponse:
        """One sku (network, per location, per channel), or without a sku a page of positions."""
        if channel is not None and channel not in policy.channels:
            return problems.problem(
                404,
                problems.Code.UNKNOWN_CHANNEL,
                "No such channel",
                f"channel {channel!r} is not configured (inventory.channels: {', '.join(policy.channels) or 'none'})",
            )
        with hub.begin() as uow:
            if sku is not None:
                return JSONResponse(views.availability(uow, policy, sku, location=location, channel=channel))
            try:
                page = views.positions_page(uow, location=location, after=after, limit=limit)
            except ValueError as exc:
                return problems.problem(422, problems.Code.INVALID_CURSOR, "The cursor is not valid", str(exc))
        return JSONResponse(page)

    @api.get("/v1/exceptions", tags=["exceptions"], dependencies=admin_only)
    def list_exceptions(
        status: str = Query(default="open", pattern="^(open|resolved|all)$"),
        owner: str | None = None,
        order: str | None = Query(default=None, description="Only those about this business key."),
        limit: int = Query(default=100, ge=1, le=1000),
    ) -> JSONResponse:
        with hub.begin() as uow:
            found = views.list_exceptions(uow, status=EXCEPTION_STATUSES[status], owner=owner, about=order, limit=limit)
        return JSONResponse({"items": found})

    @api.get("/v1/exceptions/{exception_id}", tags=["exceptions"], dependencies=admin_only)
    def get_exception(exception_id: str) -> JSONResponse:
        with hub.begin() as uow:
            found = views.exception_detail(uow, exception_id)
        if found is None:
            return _no_exception(exception_id)
        return JSONResponse(found)

    @api.post("/v1/exceptions/{exception_id}/actions", tags=["exceptions"])
    def act_on_exception(
        exception_id: str,
        request: ExceptionActionRequest,
        principal: auth.Principal = Depends(guard.require(governance.ADMIN)),
    ) -> JSONResponse:
        """Record a decision and carry it out: retry, override (accept a rejected order), cancel, or accept."""
        try:
            order_to_cash.act_on_exception(
                hub.begin,
                hub.clock.now(),
                exception_id,
                request.action,
                actor=request.actor,
                note=request.note,
            )
        except UnknownException:
            return _no_exception(exception_id)
        except AlreadyResolved as exc:
            return problems.problem(409, problems.Code.EXCEPTION_RESOLVED, "Already resolved", str(exc))
        with hub.begin() as uow:
            uow.audit.append(
                [
                    AuditEntry(
                        actor=principal.actor,
                        action="exception.act",
                        target=exception_id,
                        at=hub.clock.now(),
                        details={"action": request.action.value, "decided_by": request.actor, "note": request.note},
                    )
                ]
            )
            found = views.exception_detail(uow, exception_id)
            uow.commit()
        return JSONResponse(found)

    @api.get("/v1/journal", tags=["accounting"], dependencies=admin_only)
    def get_journal(
        ledger: str | None = None,
        after: int = Query(default=0, ge=0, le=2**63 - 1, description="Sequence to start after."),
        limit: int = Query(default=100, ge=1, le=1000),
    ) -> JSONResponse:
        with hub.begin() as uow:
            page = views.journal_page(uow, ledger=ledger or policy.ledger, after=after, limit=limit)
        return JSONResponse(page)

    return api


def _sales_order_schema() -> dict[str, Any]:
    """The SalesOrder JSON Schema with its definitions inlined: OpenAPI resolves `$ref`s from its own root."""
    schema = documents.SalesOrder.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(definitions[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    result: dict[str, Any] = inline(schema)
    return result


def _sales_order(body: bytes) -> tuple[documents.SalesOrder | None, list[dict[str, str]]]:
    """The order, or what is wrong with it, field by field."""
    try:
        return documents.SalesOrder.model_validate_json(body), []
    except ValidationError as exc:
        return None, [
            {"where": ".".join(str(p) for p in e["loc"]) or "body", "problem": e["msg"]} for e in exc.errors()
        ]


def _no_exception(exception_id: str) -> JSONResponse:
    return problems.problem(
        404, problems.Code.EXCEPTION_NOT_FOUND, "No such exception", f"there is no exception {exception_id}"
    )
