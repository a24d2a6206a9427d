"""RFC 9457 problem details: every error the API returns has a stable `code` from one registry, never a stack trace.

Owns: the codes (`Code`), what each means and what a caller should do about it (`REGISTRY`, documented one for one in
docs/errors.md), and the answers of the app-wide error handlers. Must not: change the meaning of a published code:
callers branch on them. A new kind of refusal gets a new code here and a row in docs/errors.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://crossdock.dev/problems/"
MEDIA_TYPE = "application/problem+json"


class Code(StrEnum):
    """Every `code` a problem+json answer can carry."""

    # The request itself
    INVALID_REQUEST = "invalid-request"
    NOT_FOUND = "not-found"
    METHOD_NOT_ALLOWED = "method-not-allowed"
    HTTP_ERROR = "http-error"
    # Who is calling
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate-limited"
    # Intake
    UNKNOWN_SOURCE = "unknown-source"
    IDEMPOTENCY_CONFLICT = "idempotency-conflict"
    IDEMPOTENCY_KEY_REQUIRED = "idempotency-key-required"
    UNREADABLE_MESSAGE = "unreadable-message"
    INVALID_ORDER = "invalid-order"
    # Reading business state
    ORDER_NOT_FOUND = "order-not-found"
    PURCHASE_ORDER_NOT_FOUND = "purchase-order-not-found"
    UNKNOWN_CHANNEL = "unknown-channel"
    INVALID_CURSOR = "invalid-cursor"
    NOTHING_FOUND = "nothing-found"
    SHIPMENT_NOT_FOUND = "shipment-not-found"
    INVOICE_NOT_FOUND = "invoice-not-found"
    # Operations
    MESSAGE_NOT_FOUND = "message-not-found"
    DELIVERY_NOT_FOUND = "delivery-not-found"
    NOT_REPLAYABLE = "not-replayable"
    EXCEPTION_NOT_FOUND = "exception-not-found"
    EXCEPTION_RESOLVED = "exception-resolved"
    RECONCILIATION_NOT_FOUND = "reconciliation-not-found"
    RECONCILIATION_CONFLICT = "reconciliation-conflict"
    INVALID_COUNT = "invalid-count"
    PARTNER_NOT_FOUND = "partner-not-found"
    INVALID_CROSS_REFERENCE = "invalid-cross-reference"
    CROSS_REFERENCE_CONFLICT = "cross-reference-conflict"
    # The hub itself
    DATABASE_UNREACHABLE = "database-unreachable"
    MIGRATIONS_PENDING = "migrations-pending"
    INTERNAL_ERROR = "internal-error"


@dataclass(frozen=True)
class Definition:
    """`status` None: the HTTP status varies (it is the one the framework chose)."""

    status: int | None
    title: str
    meaning: str
    action: str


REGISTRY: Mapping[Code, Definition] = {
    Code.INVALID_REQUEST: Definition(
        422,
        "The request is not valid",
        "A path, query, header or body field is missing or malformed; `errors` lists each with where it is.",
        "Fix the fields named in `errors` and send again.",
    ),
    Code.NOT_FOUND: Definition(404, "Not Found", "No route has this path.", "Check the path against /openapi.json."),
    Code.METHOD_NOT_ALLOWED: Definition(
        405, "Method Not Allowed", "The path exists but not with this method.", "Use a method /openapi.json lists."
    ),
    Code.HTTP_ERROR: Definition(
        None,
        "HTTP error",
        "Another protocol-level refusal from the web framework; `status` says which.",
        "Read `detail`; do not retry unchanged.",
    ),
    Code.UNAUTHENTICATED: Definition(
        401,
        "Unauthenticated",
        "No API key, or one that is malformed, unknown, wrong or revoked (the answer does not say which).",
        "Send a valid key as `Authorization: Bearer <key>` or `X-API-Key`; ask an admin for a new one.",
    ),
    Code.FORBIDDEN: Definition(
        403,
        "Forbidden",
        "The key lacks the scope of the route, or is bound to another sales channel than the one asked about.",
        "Use a key with the scope the route needs (docs/api-governance.md); do not retry with this key.",
    ),
    Code.RATE_LIMITED: Definition(
        429,
        "Too many requests",
        "The key used up its requests per minute.",
        "Wait the seconds in the `Retry-After` header, then retry.",
    ),
    Code.UNKNOWN_SOURCE: Definition(
        404,
        "Unknown source",
        "No source of this name is configured: the message was not stored.",
        "Post to a configured source (`crossdock config check` lists them).",
    ),
    Code.IDEMPOTENCY_CONFLICT: Definition(
        409,
        "Idempotency key reused with a different payload",
        "A message with this idempotency key (or sender id) was received before with a different body; "
        "`message_id` names it. Nothing was changed.",
        "Use a new key for a new message; resend the first body to get its outcome.",
    ),
    Code.IDEMPOTENCY_KEY_REQUIRED: Definition(
        428,
        "Idempotency-Key header required",
        "The route takes new business documents only with an `Idempotency-Key` header.",
        "Send again with a key unique to this document; resending with the same key is then safe.",
    ),
    Code.UNREADABLE_MESSAGE: Definition(
        422,
        "The message could not be read",
        "The body could not be identified (not JSON, not an interchange...). It is kept as `message_id`, failed.",
        "Fix the sender; an operator can replay the kept message after a mapping fix.",
    ),
    Code.INVALID_ORDER: Definition(
        422,
        "The body is not a valid SalesOrder",
        "The order is kept as `message_id`, failed, with every field problem in `errors`.",
        "Fix the fields named in `errors` and send under a new Idempotency-Key, or replay after a fix.",
    ),
    Code.ORDER_NOT_FOUND: Definition(
        404,
        "No such order",
        "The hub has no state for this order, or it belongs to a channel the key may not see.",
        "Check the number; an order just posted may still be in the queue: retry shortly.",
    ),
    Code.PURCHASE_ORDER_NOT_FOUND: Definition(
        404,
        "No such purchase order",
        "The hub has no state for this purchase order.",
        "Check the number; one just issued may still be in the queue: retry shortly.",
    ),
    Code.UNKNOWN_CHANNEL: Definition(
        404,
        "No such channel",
        "The sales channel asked about is not configured.",
        "Use a channel listed in `detail`.",
    ),
    Code.INVALID_CURSOR: Definition(
        422,
        "The cursor is not valid",
        "The `after` cursor was not given out by this hub.",
        "Start again without `after`, then pass the `next` value of each page as it is.",
    ),
    Code.NOTHING_FOUND: Definition(
        404,
        "Nothing found",
        "No message, event, order, purchase order, document, cross-reference or EDI control number is known by the "
        "id traced.",
        "Check the id; one just sent may still be in the queue: retry shortly.",
    ),
    Code.SHIPMENT_NOT_FOUND: Definition(
        404,
        "No such shipment",
        "The hub cannot tie this shipment number to an order (none it billed or costed), or the order belongs to a "
        "channel the key may not see.",
        "Check the number, or read the order's shipments (`GET /v1/orders/{id}/shipments`); one just confirmed may "
        "still be in the queue: retry shortly.",
    ),
    Code.INVOICE_NOT_FOUND: Definition(
        404,
        "No such invoice",
        "No order claims this invoice number, or its order belongs to a channel the key may not see.",
        "Check the number; an invoice just posted may still be in the queue: retry shortly.",
    ),
    Code.MESSAGE_NOT_FOUND: Definition(
        404, "No such message", "No inbound message has this id (it may have been pruned).", "Check the id."
    ),
    Code.DELIVERY_NOT_FOUND: Definition(
        404, "No such delivery", "No delivery has this id (it may have been pruned).", "Check the id."
    ),
    Code.NOT_REPLAYABLE: Definition(
        409,
        "Not replayable",
        "The message has not failed, or the delivery is not dead-lettered (or neither exists): nothing was replayed.",
        "Look it up first; only failed messages and dead letters are replayed.",
    ),
    Code.EXCEPTION_NOT_FOUND: Definition(
        404, "No such exception", "No business exception has this id.", "Check the id in `GET /v1/exceptions`."
    ),
    Code.EXCEPTION_RESOLVED: Definition(
        409,
        "Already resolved",
        "The exception was settled before; a second verdict would contradict the first. Nothing was done.",
        "Read the exception to see who resolved it and how; do not retry.",
    ),
    Code.RECONCILIATION_NOT_FOUND: Definition(
        404,
        "No such reconciliation",
        "No inventory reconciliation run is kept under this id.",
        "Check the id in `GET /v1/reconciliations`.",
    ),
    Code.RECONCILIATION_CONFLICT: Definition(
        409,
        "Reconciliation id reused with another count",
        "A reconciliation of this id was run on a different count; `reconciliation` names it. Nothing was changed.",
        "Leave `id` out (it is then derived from the count) or choose a new one for a new count.",
    ),
    Code.INVALID_COUNT: Definition(
        422,
        "The count is not valid",
        "A position is counted twice; `errors` names each repeat and where it was first counted. Nothing was changed.",
        "Send each sku and location once.",
    ),
    Code.PARTNER_NOT_FOUND: Definition(
        404,
        "No such partner",
        "No trading partner of this name is configured.",
        "Check the name in `GET /v1/partners`.",
    ),
    Code.INVALID_CROSS_REFERENCE: Definition(
        422,
        "The cross-reference is not valid",
        "A field of the link is refused (a system the configuration does not name, a kind that is not a lower-case "
        "word, blanks or control characters); `errors` names each. Nothing was linked.",
        "Fix the fields named in `errors` (`crossdock config check` lists the systems) and send again.",
    ),
    Code.CROSS_REFERENCE_CONFLICT: Definition(
        409,
        "Linked to another id already",
        "One of the two ids is linked to another id of the same kind and system; `existing` names that link. "
        "Nothing was changed.",
        "Check which link is right; a link is never moved by another one. Do not retry unchanged.",
    ),
    Code.DATABASE_UNREACHABLE: Definition(
        503,
        "Not ready",
        "The readiness probe could not reach the database.",
        "Keep the instance out of rotation; check the database and the storage URL.",
    ),
    Code.MIGRATIONS_PENDING: Definition(
        503,
        "Not ready",
        "The database schema is older than the code.",
        "Run `crossdock db upgrade`.",
    ),
    Code.INTERNAL_ERROR: Definition(
        500,
        "Internal error",
        "The hub failed to handle the request; the cause is logged on the server, never sent.",
        "Retry later with the same idempotency key (safe); report it with the time if it persists.",
    ),
}


# The shape of every problem, for the OpenAPI document: the fields every answer has, and room for the extras.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "enum": [c.value for c in Code]},
    },
    "additionalProperties": True,
}


def documented(*codes: Code) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that may answer these problems: one entry per status, naming its codes."""
    by_status: dict[int | str, list[Code]] = {}
    for code in codes:
        by_status.setdefault(REGISTRY[code].status or "default", []).append(code)
    return {
        status: {
            "description": "; ".join(f"`{c.value}`: {REGISTRY[c].meaning}" for c in found),
            "content": {MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}},
        }
        for status, found in by_status.items()
    }


def problem(status: int, code: Code | str, title: str, detail: str, **extra: Any) -> JSONResponse:
    if code not in REGISTRY:
        # Still answered: a missing registry row must not turn a refusal into a 500. The taxonomy test fails on it.
        log.error("problem code %r is not in the registry (entrypoints/api/problems.py, docs/errors.md)", code)
    value = str(code)
    body = {"type": PROBLEM_TYPE_BASE + value, "title": title, "status": status, "detail": detail, "code": value}
    return JSONResponse({**body, **extra}, status_code=status, media_type=MEDIA_TYPE)


async def on_http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: Code.NOT_FOUND, 405: Code.METHOD_NOT_ALLOWED}.get(exc.status_code, Code.HTTP_ERROR)
    return problem(exc.status_code, code, str(exc.detail), str(exc.detail))


async def on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"where": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()]
    return problem(
        422,
        Code.INVALID_REQUEST,
        "The request is not valid",
        "; ".join(f"{e['where']}: {e['problem']}" for e in errors),
        errors=errors,
    )


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The cause goes to the log only: a trace or an exception text could show internals, data or secrets.
    log.error("unhandled error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    definition = REGISTRY[Code.INTERNAL_ERROR]
    return problem(500, Code.INTERNAL_ERROR, definition.title, definition.meaning)
