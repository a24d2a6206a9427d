"""Order-to-cash on the runtime: the order, stock and posting desks, their timers, and the operator actions that
publish events (exception actions, inventory reconciliation). Procure-to-pay (procurement.py) shares its stock and
posting desks, and its exceptions are acted on through the same act_on_exception.

Owns: wiring the desks into a router and the timers. Must not: read configuration (bootstrap passes the policy).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from crossdock.domain import catalog, inventory
from crossdock.domain.events import Envelope, derive_id
from crossdock.hub.handlers import exceptions
from crossdock.hub.handlers.orders import SLA_TIMER, OrderDesk
from crossdock.hub.handlers.policy import OrderToCashPolicy
from crossdock.hub.handlers.postings import PostingDesk
from crossdock.hub.handlers.procurement import ProcureToPay, ProcureToPayPolicy
from crossdock.hub.handlers.stock import AVAILABILITY_TIMER, StockDesk
from crossdock.hub.ports import (
    AuditEntry,
    BusinessException,
    ExceptionFilter,
    ExceptionStatus,
    ReconciliationRun,
    UnitOfWork,
    UnitOfWorkFactory,
)
from crossdock.hub.router import HandlerContext, Router
from crossdock.hub.timers import Publish, Timers, desk_job

OPERATOR_SOURCE = "crossdock/operator"
RECONCILE_ACTION = "inventory.reconcile"  # the audit record of a reconciliation a person asked for
DRIFT_REASON = "inventory_drift"  # what the stock desk opens for a drift it may not correct
STOCK_KIND = "stock"

__all__ = [
    "OrderToCash",
    "OrderToCashPolicy",
    "ProcureToPay",
    "ProcureToPayPolicy",
    "Reconciled",
    "ReconciliationConflict",
    "count_digest",
]


class ReconciliationConflict(Exception):
    """A reconciliation of this id was run on another count: a new count needs a new id."""

    def __init__(self, kept: ReconciliationRun) -> None:
        super().__init__(
            f"reconciliation {kept.id} was run on another count (from {kept.source}, {kept.at.isoformat()}); "
            "a different count needs a different id"
        )
        self.kept = kept


@dataclass(frozen=True)
class Reconciled:
    """What a reconciliation call did: the run as kept, the report of this call, and whether the run was kept
    before (the same count again: `run` is the first outcome and this call posted nothing new)."""

    run: ReconciliationRun
    report: inventory.ReconciliationReport
    repeated: bool


def count_digest(source: str, snapshot: Mapping[tuple[str, str], Decimal]) -> str:
    """SHA-256 of a count as figures, not as bytes: the same positions in any order or notation (5, 5.0) agree."""
    rows = sorted([sku, location, format(on_hand.normalize(), "f")] for (sku, location), on_hand in snapshot.items())
    return hashlib.sha256(json.dumps({"source": source, "counts": rows}).encode("utf-8")).hexdigest()


def _operator_cause(key: str, now: datetime, partition: str) -> Envelope:
    """The cause of what an operator does (timers have timers.timer_cause): never stored itself, it gives its
    follow-ups stable ids and a correlation id to trace them by."""
    return Envelope(
        id=derive_id("operator", key),
        source=OPERATOR_SOURCE,
        type="crossdock.operator.acted.v1",
        subject=key,
        time=now,
        partitionkey=partition,
    )


@dataclass
class OrderToCash:
    policy: OrderToCashPolicy
    stock: StockDesk
    orders: OrderDesk
    postings: PostingDesk | None

    @classmethod
    def build(cls, policy: OrderToCashPolicy) -> OrderToCash:
        stock = StockDesk(policy)
        postings = PostingDesk(policy, policy.accounts) if policy.accounts is not None else None
        return cls(policy=policy, stock=stock, orders=OrderDesk(policy, stock, postings), postings=postings)

    def register(self, router: Router, timers: Timers, publish: Publish) -> None:
        self._publish = publish
        self.orders.register(router)
        self.stock.register(router)
        if self.postings is not None:
            self.postings.register(router)
        by_order_or_sku = ("order_id", "sku")
        timers.register(SLA_TIMER, desk_job(self.orders.sla_breached, publish, partition_by=by_order_or_sku))
        availability = desk_job(self.stock.announce_availability, publish, partition_by=by_order_or_sku)
        timers.register(AVAILABILITY_TIMER, availability)

    # --- operator actions -----------------------------------------------------------------------------------

    def act_on_exception(
        self,
        begin: UnitOfWorkFactory,
        now: datetime,
        exception_id: str,
        action: catalog.ExceptionAction,
        *,
        actor: str,
        note: str = "",
    ) -> BusinessException:
        """Record the action, publish exception.resolved, and let the owning desk carry it out, in one unit of
        work. Raises exceptions.UnknownException or exceptions.AlreadyResolved."""
        with begin() as uow:
            updated, resolution = exceptions.take_action(uow, exception_id, action, actor=actor, note=note, now=now)
            cause = _operator_cause(f"{exception_id}:{action.value}:{now.isoformat()}", now, updated.about_key)
            ctx = HandlerContext(uow=uow, now=now, cause=cause)
            ctx.emit(exceptions.RESOLVED, exception_id, catalog.data_of(resolution), partitionkey=updated.about_key)
            self._publish(uow, ctx.emitted, None, now)
            uow.commit()
        return updated

    def reconcile_inventory(
        self,
        begin: UnitOfWorkFactory,
        now: datetime,
        snapshot: Mapping[tuple[str, str], Decimal],
        *,
        source: str,
        reconciliation_id: str,
        actor: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> inventory.ReconciliationReport:
        """Compare an authoritative count with the ledger and post what it explains, in one unit of work; the
        same reconciliation id again posts nothing new. The run is kept (see `reconcile`)."""
        return self.reconcile(
            begin, now, snapshot, source=source, reconciliation_id=reconciliation_id, actor=actor, details=details
        ).report

    def reconcile(
        self,
        begin: UnitOfWorkFactory,
        now: datetime,
        snapshot: Mapping[tuple[str, str], Decimal],
        *,
        source: str,
        reconciliation_id: str,
        actor: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Reconciled:
        """Reconcile and keep the run in the same unit of work: who, when, the count's digest, every drift and the
        exceptions behind them. A person's run (`actor` given) is also recorded in the audit trail with `details`;
        an automatic one (a 3PL snapshot) is kept under `system:<source>`. The same id again re-checks and posts
        nothing new, and answers the run kept first; the same id with another count raises ReconciliationConflict."""
        digest = count_digest(source, snapshot)
        with begin() as uow:
            kept = uow.reconciliations.get(reconciliation_id)
            if kept is not None and kept.digest != digest:
                raise ReconciliationConflict(kept)
            cause = _operator_cause(f"reconciliation:{reconciliation_id}", now, source)
            ctx = HandlerContext(uow=uow, now=now, cause=cause)
            report = self.stock.reconcile(ctx, dict(snapshot), source=source, reconciliation_id=reconciliation_id)
            if ctx.emitted:
                self._publish(uow, ctx.emitted, None, now)
            run, repeated = kept, True
            if run is None:
                run = _run_of(uow, report, actor=actor or f"system:{source}", digest=digest)
                if uow.reconciliations.add(run):
                    repeated = False
                    if actor is not None:
                        uow.audit.append([_audit_entry(run, actor, now, details or {})])
                else:
                    # Another process kept this id between our read and our insert: its run stands.
                    run = uow.reconciliations.get(reconciliation_id) or run
                    if run.digest != digest:
                        raise ReconciliationConflict(run)
            uow.commit()
        return Reconciled(run, report, repeated)


def _audit_entry(run: ReconciliationRun, actor: str, now: datetime, details: Mapping[str, Any]) -> AuditEntry:
    return AuditEntry(
        actor=actor,
        action=RECONCILE_ACTION,
        target=run.id,
        at=now,
        details={
            **details,
            "source": run.source,
            "checked": run.checked,
            "drifts": len(run.drifts),
            "adjustments": run.adjusted,
            "exceptions": list(run.exceptions),
        },
    )


def _run_of(uow: UnitOfWork, report: inventory.ReconciliationReport, *, actor: str, digest: str) -> ReconciliationRun:
    """The run as kept: every drift with its cause and action, and the open exceptions its drifts stand behind."""
    raised: list[str] = []
    for drift in report.exceptions:
        found = uow.exceptions.find(
            ExceptionFilter(
                status=ExceptionStatus.OPEN, about_key=f"{drift.sku}@{drift.location}", reason_code=DRIFT_REASON
            )
        )
        raised.extend(e.id for e in found if e.about_kind == STOCK_KIND and e.id not in raised)
    return ReconciliationRun(
        id=report.reconciliation_id,
        source=report.source,
        actor=actor,
        at=report.as_of,
        digest=digest,
        checked=report.checked,
        matched=report.matched,
        drifts=tuple(
            {
                "sku": drift.sku,
                "location": drift.location,
                "ledger": str(drift.ledger_on_hand),
                "counted": str(drift.counted),
                "drift": str(drift.drift),
                "explained": str(drift.explained),
                "unexplained": str(drift.unexplained),
                "cause": drift.cause.value,
                "action": drift.action.value,
                "explanation": drift.explanation,
                "adjustment": drift.adjustment.id if drift.adjustment is not None else None,
            }
            for drift in report.drifts
        ),
        exceptions=tuple(raised),
    )
