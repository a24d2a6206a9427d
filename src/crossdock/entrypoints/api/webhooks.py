"""Webhooks that authenticate by their own signature instead of an API key: Shopify's, at
POST /v1/webhooks/shopify/{shop} ({shop} is the name of a source of kind shopify).

Owns: checking the signature before anything is stored, keeping every refused attempt in the audit trail (who
claimed to send what, never the unauthenticated body itself), and the answer Shopify needs: 2xx as soon as the
message is durable, also for a repeat, because anything else makes Shopify retry and in the end drop the
subscription. Must not: map the payload (the connector's inbound side does, in a worker).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from crossdock.bootstrap import Runtime
from crossdock.connectors.shopify import inbound as shopify
from crossdock.entrypoints.api import auth, problems
from crossdock.hub.ports import AuditEntry, IntakeResult, IntakeStatus, MessageStatus, NewMessage
from crossdock.observability.metrics import Metrics

Submit = Callable[[NewMessage], "Future[IntakeResult]"]
REJECTED_ACTION = "webhook.rejected"


def router(runtime: Runtime, *, submit: Submit, metrics: Metrics) -> APIRouter:
    hub = runtime.hub
    api = APIRouter()

    @api.post("/v1/webhooks/shopify/{shop}", tags=["intake"], status_code=202)
    async def shopify_webhook(shop: str, request: Request) -> JSONResponse:
        """A Shopify webhook, signed with the shop's secret (X-Shopify-Hmac-Sha256). Stored raw and acknowledged;
        mapped afterwards. A bad or missing signature is 401, nothing is stored, and the attempt is audited."""
        body = await request.body()
        adapter = hub.intake.adapters.get(shop)
        if not isinstance(adapter, shopify.ShopifyInbound):
            metrics.received.labels(shop, "unknown-source").inc()
            return problems.problem(
                404, problems.Code.UNKNOWN_SOURCE, "Unknown shop", f"no source of kind shopify is named {shop!r}"
            )
        if not adapter.verify(body, request.headers.get(shopify.HMAC_HEADER)):
            metrics.received.labels(shop, "bad-signature").inc()
            request.app.state.audit.record(_rejected(shop, body, request, hub.clock.now()))
            return problems.problem(
                401,
                problems.Code.UNAUTHENTICATED,
                "Bad signature",
                "X-Shopify-Hmac-Sha256 does not match the body signed with this shop's secret; nothing was kept",
            )
        message = hub.intake.prepare(shop, body, dict(request.headers), hub.clock.now())
        result = await asyncio.wrap_future(submit(message))
        metrics.received.labels(shop, result.status.value).inc()
        answer = {
            "message_id": result.message_id,
            "status": result.message_status.value,
            # A conflict here is the same order version in other bytes (the poll's copy, another topic): a repeat.
            "duplicate": result.status is not IntakeStatus.ACCEPTED,
        }
        if result.message_status is MessageStatus.FAILED and result.error:
            answer["error"] = f"{result.error}; kept as message {result.message_id}, replayable after a fix"
        return JSONResponse(answer, status_code=202 if result.status is IntakeStatus.ACCEPTED else 200)

    return api


def _rejected(shop: str, body: bytes, request: Request, at: datetime) -> AuditEntry:
    headers = request.headers
    client = request.client.host if request.client else None
    return AuditEntry(
        actor=auth.ANONYMOUS,
        action=REJECTED_ACTION,
        target=f"shopify:{shop}",
        at=at,
        details={
            "reason": "missing signature" if not headers.get(shopify.HMAC_HEADER) else "signature mismatch",
            "topic": headers.get(shopify.TOPIC_HEADER),
            "webhook_id": headers.get(shopify.WEBHOOK_ID_HEADER),
            "shop_domain": headers.get(shopify.SHOP_HEADER),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "body_bytes": len(body),
            "client": client,
        },
    )
