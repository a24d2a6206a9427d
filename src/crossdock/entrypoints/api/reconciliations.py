"""Inventory reconciliation over HTTP: a count is posted, compared with the ledger by the same hub function the
`crossdock reconcile inventory` command uses, and kept as a run; runs are listed and read with every drift explained.

Owns: these routes, the count's validation (the command's rules: each sku and location once, a count of zero or
more), their response models and problem codes. Must not: compare or post anything itself (the order-to-cash
runtime does) or query a store directly (hub.views does).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from crossdock.bootstrap import Runtime
from crossdock.entrypoints.api import auth, problems
from crossdock.entrypoints.api.orders import KEY_PATTERN
from crossdock.hub import governance, views
from crossdock.hub.handlers import ReconciliationConflict, count_digest
from crossdock.observability.metrics import Metrics

# Counts are stored as text of at most 50 characters: a warehouse's figure, never an astronomical one.
MAX_COUNT = Decimal(10) ** 15


class CountedPosition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=100, pattern=KEY_PATTERN)
    location: str = Field(min_length=1, max_length=100, pattern=KEY_PATTERN)
    on_hand: Decimal = Field(
        ge=0, le=MAX_COUNT, max_digits=24, decimal_places=9, allow_inf_nan=False, description="Counted, base units."
    )


class InventoryCount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        min_length=1,
        max_length=100,
        pattern=KEY_PATTERN,
        description="The system that counted, e.g. wms: the authority rules say where it may correct the ledger.",
    )
    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=KEY_PATTERN,
        description="Names this reconciliation. Left out, it is derived from the source and the figures counted, so "
        "posting the same count again is answered with the first run and posts nothing new.",
    )
    counts: list[CountedPosition] = Field(
        min_length=1,
        max_length=100_000,
        description="Every position counted. A ledger position at a counted location that the count leaves out "
        "counts as zero.",
    )


class Drift(BaseModel):
    sku: str
    location: str
    ledger: str = Field(description="On hand in the ledger when counted.")
    counted: str
    drift: str = Field(description="Counted minus ledger.")
    explained: str = Field(description="The part its likely cause accounts for (movements still to come).")
    unexplained: str
    cause: str
    action: str = Field(description="adjust, wait, ignore or exception.")
    explanation: str
    adjustment: str | None = Field(description="The movement posted to correct it, if any.")


class LocationDrift(BaseModel):
    location: str
    drifted: int = Field(description="Positions whose count differed from the ledger.")
    adjusted: int
    waiting: int
    ignored: int
    raised: int = Field(description="Raised as exceptions for a person to decide.")
    drift: str
    unexplained: str


class RaisedException(BaseModel):
    id: str
    status: str | None = Field(description="open or resolved now (null: no longer kept).")
    about: str | None


class RunSummary(BaseModel):
    reconciliation: str
    source: str
    actor: str = Field(description="Who ran it: an API key, a command-line user, or system:<source> for a feed.")
    at: str
    checked: int
    matched: int
    drifted: int
    adjusted: int
    exceptions_raised: int
    link: str


class RunList(BaseModel):
    items: list[RunSummary]


class Run(RunSummary):
    drifts: list[Drift]
    by_location: list[LocationDrift]
    exceptions: list[RaisedException]


class RunAnswer(Run):
    repeated: bool = Field(description="True: this count was reconciled before; the first run is answered.")


def router(runtime: Runtime, *, guard: auth.Guard, metrics: Metrics | None = None) -> APIRouter:
    hub = runtime.hub
    order_to_cash = runtime.order_to_cash
    api = APIRouter()
    admin_only = [Depends(guard.require(governance.ADMIN))]

    @api.post(
        "/v1/reconciliations/inventory",
        tags=["reconciliation"],
        status_code=201,
        response_model=RunAnswer,
        responses={
            200: {"model": RunAnswer, "description": "The same count was reconciled before: its first run."},
            **problems.documented(problems.Code.INVALID_COUNT, problems.Code.RECONCILIATION_CONFLICT),
        },
    )
    def post_inventory_count(
        count: InventoryCount, principal: auth.Principal = Depends(guard.require(governance.ADMIN))
    ) -> Any:
        """Compare an authoritative stock count with the ledger: post the corrections its drifts explain, raise the
        rest as exceptions, and keep the run (201). The same count again is answered with the first run (200)."""
        snapshot: dict[tuple[str, str], Decimal] = {}
        first: dict[tuple[str, str], int] = {}
        repeats = []
        for index, position in enumerate(count.counts):
            key = (position.sku, position.location)
            if key in first:
                repeats.append(
                    {
                        "where": f"body.counts.{index}",
                        "problem": f"{position.sku} at {position.location} is counted again "
                        f"(first at body.counts.{first[key]})",
                    }
                )
                continue
            first[key] = index
            snapshot[key] = position.on_hand
        if repeats:
            return problems.problem(
                422,
                problems.Code.INVALID_COUNT,
                "The count is not valid",
                "; ".join(f"{e['where']}: {e['problem']}" for e in repeats),
                errors=repeats,
            )
        ident = count.id or f"{count.source}-{count_digest(count.source, snapshot)[:16]}"
        try:
            done = order_to_cash.reconcile(
                hub.begin,
                hub.clock.now(),
                snapshot,
                source=count.source,
                reconciliation_id=ident,
                actor=principal.actor,
                details={"via": "api"},
            )
        except ReconciliationConflict as exc:
            return problems.problem(
                409,
                problems.Code.RECONCILIATION_CONFLICT,
                "Reconciliation id reused with another count",
                str(exc),
                reconciliation=exc.kept.id,
            )
        if metrics is not None and not done.repeated:
            metrics.reconciled(done.report)
        with hub.begin() as uow:
            view = views.reconciliation_run_view(uow, done.run)
        body = RunAnswer.model_validate({**view, "repeated": done.repeated}).model_dump(mode="json")
        return JSONResponse(
            body, status_code=200 if done.repeated else 201, headers={"Location": views.reconciliation_link(ident)}
        )

    @api.get("/v1/reconciliations", tags=["reconciliation"], response_model=RunList, dependencies=admin_only)
    def list_reconciliations(
        source: str | None = Query(default=None, description="Only the runs of this counting system."),
        limit: int = Query(default=100, ge=1, le=1000),
    ) -> Any:
        """Reconciliation runs, newest first."""
        with hub.begin() as uow:
            return {"items": views.reconciliation_runs(uow, source=source, limit=limit)}

    @api.get(
        "/v1/reconciliations/{run_id:path}",
        tags=["reconciliation"],
        response_model=Run,
        responses=problems.documented(problems.Code.RECONCILIATION_NOT_FOUND),
        dependencies=admin_only,
    )
    def get_reconciliation(run_id: str = Path(min_length=1)) -> Any:
        """One run: every drift per sku and location with its cause, the part explained and what was done; the same
        per location; and each exception it raised as it stands now."""
        with hub.begin() as uow:
            found = views.reconciliation_detail(uow, run_id)
        if found is None:
            return problems.problem(
                404,
                problems.Code.RECONCILIATION_NOT_FOUND,
                "No such reconciliation",
                f"no reconciliation run is kept as {run_id}",
            )
        return found

    return api
