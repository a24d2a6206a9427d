"""The procure-to-pay read API: purchase orders with their lines, receipts, invoices, match results, exceptions and
history, read through hub.views. Purchase orders belong to no sales channel: a key restricted to a channel sees none.

Owns: these routes and their problem codes. Must not: write a store (POs come in through intake like any event).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from crossdock.bootstrap import Runtime
from crossdock.domain.workflows.procure_to_pay import DEFAULT_POLICY
from crossdock.entrypoints.api import auth, problems
from crossdock.hub import governance, views

# Reading purchase orders takes the orders:read scope, from a key that is not restricted to a sales channel.
READ_SCOPE = governance.ORDERS_READ


def router(runtime: Runtime, *, guard: auth.Guard) -> APIRouter:
    hub = runtime.hub
    workflow = runtime.procure_to_pay.policy.workflow if runtime.procure_to_pay is not None else DEFAULT_POLICY
    api = APIRouter()

    @api.get("/v1/purchase-orders", tags=["purchasing"])
    def list_purchase_orders(
        principal: auth.Principal = Depends(guard.require(READ_SCOPE)),
        status: str | None = Query(default=None, description="Only this status (sent, acknowledged, received...)."),
        supplier: str | None = None,
        limit: int = Query(default=100, ge=1, le=1000),
    ) -> JSONResponse:
        """Purchase orders, most recently changed first."""
        if principal.channel is not None:
            raise auth.forbidden()
        with hub.begin() as uow:
            found = views.list_purchase_orders(uow, status=status, supplier=supplier, limit=limit)
        return JSONResponse({"items": found})

    @api.get("/v1/purchase-orders/{po_id:path}", tags=["purchasing"])
    def get_purchase_order(po_id: str, principal: auth.Principal = Depends(guard.require(READ_SCOPE))) -> JSONResponse:
        """One purchase order: per line ordered, acknowledged, announced, received and invoiced, the variances,
        each invoice's match, why it is still open, its open exceptions, running timers and history."""
        if principal.channel is not None:
            raise auth.forbidden()
        with hub.begin() as uow:
            found = views.purchase_order_view(uow, po_id, workflow)
        if found is None:
            return problems.problem(
                404,
                problems.Code.PURCHASE_ORDER_NOT_FOUND,
                "No such purchase order",
                f"the hub knows no purchase order {po_id}",
            )
        return JSONResponse(found)

    return api
