"""Order-to-cash on the runtime: the order, stock and posting desks, their timers, and the operator actions that
publish events (exception actions, inventory reconciliation). Procure-to-pay (procurement.py) shares its stock and
posting desks, and its exceptions are acted on through the same act_on_exception.

Owns: wiring the desks into a router and the timers. Must not: read configuration (bootstrap passes the policy).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from crossdock.domain import catalog, inventory
from crossdock.domain.events import Envelope, derive_id
from crossdock.hub.handlers import exceptions
from crossdock.hub.handlers.orders import SLA_TIMER, OrderDesk
from crossdock.hub.handlers.policy import OrderToCashPolicy
from crossdock.hub.handlers.postings import PostingDesk
from crossdock.hub.handlers.procurement import ProcureToPay, ProcureToPayPolicy
from crossdock.hub.handlers.stock import AVAILABILITY_TIMER, StockDesk
from crossdock.hub.ports import BusinessException, Timer, UnitOfWork, UnitOfWorkFactory
from crossdock.hub.router import HandlerContext, Router
from crossdock.hub.timers import TimerJob, Timers

Publish = Callable[[UnitOfWork, Sequence[Envelope], int | None, datetime], None]
OPERATOR_SOURCE = "crossdock/operator"

__all__ = ["OrderToCash", "OrderToCashPolicy", "ProcureToPay", "ProcureToPayPolicy"]


def _root(kind: str, key: str, now: datetime, partition: str) -> Envelope:
    """The cause of events that no inbound message caused (a timer, an operator): never stored itself, it gives
    its follow-ups stable ids and a correlation id to trace them by."""
    return Envelope(
        id=derive_id(kind, key),
        source=OPERATOR_SOURCE if kind == "operator" else "crossdock/timers",
        type=f"crossdock.{kind}.acted.v1",
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
        return cls(policy=policy, stock=stock, orders=OrderDesk(policy, stock), postings=postings)

    def register(self, router: Router, timers: Timers, publish: Publish) -> None:
        self._publish = publish
        self.orders.register(router)
        self.stock.register(router)
        if self.postings is not None:
            self.postings.register(router)
        timers.register(SLA_TIMER, self._timer_job(self.orders.sla_breached))
        timers.register(AVAILABILITY_TIMER, self._timer_job(self.stock.announce_availability))

    def _timer_job(self, handle: Callable[[HandlerContext, Timer], None]) -> TimerJob:
        def job(timer: Timer, uow: UnitOfWork, now: datetime) -> None:
            partition = str(timer.payload.get("order_id") or timer.payload.get("sku") or timer.key)
            ctx = HandlerContext(uow=uow, now=now, cause=_root("timer", timer.key, now, partition))
            handle(ctx, timer)
            if ctx.emitted:
                self._publish(uow, ctx.emitted, None, now)

        return job

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
            cause = _root("operator", f"{exception_id}:{action.value}:{now.isoformat()}", now, updated.about_key)
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
    ) -> inventory.ReconciliationReport:
        """Compare an authoritative count with the ledger and post what it explains, in one unit of work; the
        same reconciliation id again posts nothing new."""
        with begin() as uow:
            cause = _root("operator", f"reconciliation:{reconciliation_id}", now, source)
            ctx = HandlerContext(uow=uow, now=now, cause=cause)
            report = self.stock.reconcile(ctx, dict(snapshot), source=source, reconciliation_id=reconciliation_id)
            if ctx.emitted:
                self._publish(uow, ctx.emitted, None, now)
            uow.commit()
        return report
