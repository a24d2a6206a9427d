"""The admin API over cross-references: the links between the hub's ids and other systems' (a Shopify location or
inventory item, a customer's id in the ERP), listed with filters and made by a person (scope admin).

Owns: these routes, their models and problem codes. Must not: link, check or settle exceptions itself (hub/xrefs.py
does, for the command line too), or name a system the configuration does not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from crossdock.bootstrap import Runtime
from crossdock.entrypoints.api import auth, problems
from crossdock.hub import governance, xrefs
from crossdock.hub.ports import CrossReference

KIND_PATTERN = r"^[a-z][a-z0-9_]*$"
NO_NUL = r"^[^\x00]*$"  # PostgreSQL keeps no NUL in text: a note holding one could not be stored


class Link(BaseModel):
    kind: str = Field(description="What is linked: item, location, customer, order, purchase_order, shipment...")
    system: str = Field(description="The other system, as configured: a source, destination or trading partner.")
    hub_id: str = Field(description="The hub's id: a sku, a location code, a customer or order number...")
    external_id: str = Field(description="The other system's id for the same thing.")
    created_at: datetime | None


class LinkList(BaseModel):
    items: list[Link]


class LinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=1, max_length=50, pattern=KIND_PATTERN, examples=["item"])
    system: str = Field(min_length=1, max_length=100, examples=["northwind-out"])
    hub_id: str = Field(min_length=1, max_length=300, examples=["WIDGET-1"])
    external_id: str = Field(min_length=1, max_length=300, examples=["gid://shopify/InventoryItem/808950810"])
    note: str = Field(default="", max_length=1000, pattern=NO_NUL, description="Why: kept in the audit trail.")


class LinkAnswer(BaseModel):
    xref: Link
    created: bool = Field(description="False: the same link was there already; nothing changed.")
    resolved: list[str] = Field(
        description="The missing-cross-reference exceptions this link settled (action accept, by the caller). "
        "Replay what was dead-lettered for them."
    )


def _view(ref: CrossReference) -> dict[str, Any]:
    return {
        "kind": ref.kind,
        "system": ref.system,
        "hub_id": ref.hub_id,
        "external_id": ref.external_id,
        "created_at": ref.created_at,
    }


def router(runtime: Runtime, *, guard: auth.Guard) -> APIRouter:
    hub = runtime.hub
    settings = runtime.settings
    systems = {*settings.sources, *settings.destinations, *settings.partners}
    api = APIRouter()

    @api.get(
        "/v1/xrefs",
        tags=["operations"],
        response_model=LinkList,
        responses=problems.documented(problems.Code.INVALID_REQUEST),
        dependencies=[Depends(guard.require(governance.ADMIN))],
    )
    def list_xrefs(
        kind: str | None = Query(default=None, max_length=50, description="Only this kind."),
        system: str | None = Query(default=None, max_length=100, description="Only this system."),
        hub_id: str | None = Query(default=None, max_length=300, description="Only the links of this hub id."),
        limit: int = Query(default=100, ge=1, le=10_000),
    ) -> Any:
        """The cross-references, oldest first."""
        given = {"kind": kind, "system": system, "hub_id": hub_id}
        unreadable = [name for name, value in given.items() if value and any(ord(c) < 32 for c in value)]
        if unreadable:
            errors = [{"where": f"query.{name}", "problem": "holds a control character"} for name in unreadable]
            detail = "; ".join(f"{e['where']}: {e['problem']}" for e in errors)
            title = "The request is not valid"
            return problems.problem(422, problems.Code.INVALID_REQUEST, title, detail, errors=errors)
        with hub.begin() as uow:
            if hub_id is not None:
                found = [r for r in uow.xrefs.of(hub_id) if kind in (None, r.kind) and system in (None, r.system)]
                found = found[:limit]
            else:
                found = uow.xrefs.find(kind=kind, system=system, limit=limit)
        return {"items": [_view(r) for r in found]}

    @api.post(
        "/v1/xrefs",
        tags=["operations"],
        status_code=201,
        response_model=LinkAnswer,
        responses={
            200: {"model": LinkAnswer, "description": "The same link was there already: nothing changed."},
            **problems.documented(problems.Code.INVALID_CROSS_REFERENCE, problems.Code.CROSS_REFERENCE_CONFLICT),
        },
    )
    def post_xref(request: LinkRequest, principal: auth.Principal = Depends(guard.require(governance.ADMIN))) -> Any:
        """Link the hub's id to another system's (201), audited; the missing-cross-reference exceptions waiting for
        this pair are settled by the caller (exception.resolved). A link that contradicts one already made is
        refused (409, naming it)."""
        ref = CrossReference(request.kind, request.system, request.hub_id, request.external_id)
        wrong = xrefs.check(ref, systems)
        if wrong:
            errors = [{"where": f"body.{name}", "problem": reason} for name, reason in wrong]
            return problems.problem(
                422,
                problems.Code.INVALID_CROSS_REFERENCE,
                "The cross-reference is not valid",
                "; ".join(f"{e['where']}: {e['problem']}" for e in errors),
                errors=errors,
            )
        with hub.begin() as uow:
            try:
                linked = xrefs.link(
                    uow,
                    ref,
                    actor=principal.actor,
                    at=hub.clock.now(),
                    publish=hub.processor.publish,
                    note=request.note,
                )
            except xrefs.LinkConflict as exc:
                return problems.problem(
                    409,
                    problems.Code.CROSS_REFERENCE_CONFLICT,
                    "Linked to another id already",
                    str(exc),
                    existing={k: v for k, v in _view(exc.existing).items() if k != "created_at"},
                )
            uow.commit()
        body = LinkAnswer.model_validate(
            {"xref": _view(linked.ref), "created": linked.created, "resolved": list(linked.resolved)}
        ).model_dump(mode="json")
        return JSONResponse(body, status_code=201 if linked.created else 200)

    return api
