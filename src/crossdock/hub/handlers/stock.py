"""The stock desk: keeps the inventory ledger rows in step with movements, reservations and shipments, fills
backorders when stock arrives, enforces who owns on-hand, and announces channel availability in bursts.

Owns: every write to the stock ledger. Must not: decide order states; it answers the order desk's commands with
inventory events (reserved, released) that the order desk applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from crossdock.domain import catalog, documents, inventory
from crossdock.domain.catalog import ExceptionOwner
from crossdock.domain.events import Envelope
from crossdock.domain.inventory import LedgerState, Movement, MovementKind
from crossdock.domain.workflows.order_to_cash import CommandLine
from crossdock.hub.handlers.exceptions import Problem, open_exception
from crossdock.hub.handlers.policy import OrderToCashPolicy
from crossdock.hub.ports import Timer
from crossdock.hub.router import HandlerContext, Router
from crossdock.hub.timers import slot_after

ZERO = Decimal(0)
AVAILABILITY_TIMER = "inventory.availability"
AWAITING_RESERVATION = "reservation"
_ADJUSTMENT_KINDS = {
    catalog.AdjustmentReason.RECEIPT: MovementKind.RECEIPT,
    catalog.AdjustmentReason.RETURN: MovementKind.RETURN,
}


class StockDesk:
    def __init__(self, policy: OrderToCashPolicy) -> None:
        self.policy = policy

    def register(self, router: Router) -> None:
        router.register(catalog.InventoryAdjusted.event_type, self.on_adjusted)
        router.register(catalog.InventoryMoved.event_type, self.on_moved)
        router.register(catalog.ShipmentConfirmed.event_type, self.on_shipped)

    # --- commands from the order desk -------------------------------------------------------------------------

    def reserve(self, ctx: HandlerContext, order_id: str, lines: Sequence[CommandLine]) -> None:
        """Reserve these quantities for the order now, backordering what is not available; always answers with
        inventory.reserved (possibly all backorders) so that the order learns the outcome."""
        asked = [(order_id, line.line_id) for line in lines]
        before = ctx.uow.inventory.load(sorted({line.sku for line in lines}), lock=True, lines=asked)
        state = before
        held: list[documents.Reservation] = []
        waiting: list[catalog.Backorder] = []
        locations = self.policy.locations or None
        for line in lines:
            existing = state.reservation(order_id, line.line_id)
            wanted = line.quantity + (existing.requested if existing is not None else ZERO)
            decision = inventory.reserve_stock(
                state, order_id, line.line_id, line.sku, wanted, self.policy.reservation_policy, locations
            )
            state = decision.state
            held.extend(self._reservation(order_id, line.line_id, line.sku, a) for a in decision.allocated)
            if decision.backorder > 0:
                waiting.append(
                    catalog.Backorder(
                        line=int(line.line_id), sku=line.sku, quantity=self._quantity(line.sku, decision.backorder)
                    )
                )
        self._save(ctx, before, state, ())
        payload = catalog.InventoryReserved(order=order_id, reservations=tuple(held), backorders=tuple(waiting))
        ctx.emit(catalog.InventoryReserved.event_type, order_id, catalog.data_of(payload), partitionkey=order_id)
        for shipped in ctx.uow.links.unpark(AWAITING_RESERVATION, order_id):
            self.on_shipped(shipped, ctx)

    def resize(self, ctx: HandlerContext, order_id: str, lines: Sequence[CommandLine], reason: str) -> None:
        """Bring each line's reservation to `quantity` over its life (shipped units count), giving back the most
        recent holds and dropping backorders beyond it; a line never reserved is left alone."""
        asked = [(order_id, line.line_id) for line in lines]
        before = ctx.uow.inventory.load(sorted({line.sku for line in lines}), lock=True, lines=asked)
        state = before
        given: list[documents.Reservation] = []
        for line in lines:
            existing = state.reservation(order_id, line.line_id)
            if existing is None or existing.cancelled or existing.requested <= line.quantity:
                continue
            wanted = max(line.quantity, existing.consumed)
            # No locations to take from: a resize only gives back, it never reserves more behind the order's back.
            decision = inventory.reserve_stock(
                state, order_id, line.line_id, line.sku, wanted, self.policy.reservation_policy, locations=()
            )
            state = decision.state
            given.extend(self._reservation(order_id, line.line_id, line.sku, a) for a in decision.released)
        if state is before:
            return
        self._save(ctx, before, state, ())
        if given:
            payload = catalog.InventoryReleased(reservations=tuple(given), reason=reason)
            ctx.emit(catalog.InventoryReleased.event_type, order_id, catalog.data_of(payload), partitionkey=order_id)

    def holdings(
        self, ctx: HandlerContext, order_id: str, lines: Sequence[CommandLine]
    ) -> dict[str, list[tuple[str, Decimal]]]:
        """Where each line's stock is held now: line id -> [(location, quantity)]."""
        asked = [(order_id, line.line_id) for line in lines]
        state = ctx.uow.inventory.load(sorted({line.sku for line in lines}), lines=asked)
        found: dict[str, list[tuple[str, Decimal]]] = {}
        for line in lines:
            reservation = state.reservation(order_id, line.line_id)
            if reservation is not None:
                found[line.line_id] = [(a.location, a.quantity) for a in reservation.allocations]
        return found

    # --- events from warehouses, 3PLs and ERPs --------------------------------------------------------------

    def on_adjusted(self, event: Envelope, ctx: HandlerContext) -> None:
        adjusted = catalog.payload_as(event, catalog.InventoryAdjusted)
        change = self.policy.base_quantity(adjusted.sku, adjusted.change)
        if not self._authorised(ctx, event, adjusted.location, f"{adjusted.reason.value} of {adjusted.sku}"):
            return
        kind = _ADJUSTMENT_KINDS.get(adjusted.reason, MovementKind.ADJUSTMENT)
        if kind is not MovementKind.ADJUSTMENT and change < 0:
            kind = MovementKind.ADJUSTMENT  # a negative receipt is a correction of one
        movement = Movement(
            id=event.id,
            kind=kind,
            sku=adjusted.sku,
            location=adjusted.location,
            quantity=change if kind is MovementKind.ADJUSTMENT else abs(change),
            occurred_at=event.time,
            source=event.source,
            reason=adjusted.reference or adjusted.reason.value,
        )
        self.record(ctx, [movement])

    def on_moved(self, event: Envelope, ctx: HandlerContext) -> None:
        moved = catalog.payload_as(event, catalog.InventoryMoved)
        quantity = self.policy.base_quantity(moved.sku, moved.quantity)
        dispatched = moved.stage is catalog.TransferStage.DISPATCHED
        movement = Movement(
            id=f"transfer:{moved.transfer}:{moved.sku}:{moved.stage.value}",
            kind=MovementKind.TRANSFER_OUT if dispatched else MovementKind.TRANSFER_IN,
            sku=moved.sku,
            location=moved.from_location if dispatched else moved.to_location,
            counterpart=moved.to_location if dispatched else moved.from_location,
            quantity=quantity,
            occurred_at=event.time,
            source=event.source,
        )
        self.record(ctx, [movement])

    def on_shipped(self, event: Envelope, ctx: HandlerContext) -> None:
        shipment = catalog.payload_as(event, catalog.ShipmentConfirmed).shipment
        asked = [(shipment.order, documents.line_id(line.line)) for line in shipment.lines]
        state = ctx.uow.inventory.load(sorted({line.sku for line in shipment.lines}), lines=asked)
        if any(state.reservation(shipment.order, documents.line_id(line.line)) is None for line in shipment.lines):
            # Shipped before the order was accepted here: recording it now would leave the reservation that
            # follows holding stock that already left. It waits for the order's reservation (see `reserve`).
            ctx.uow.links.park(AWAITING_RESERVATION, shipment.order, event, ctx.now)
            return
        movements = [
            Movement(
                id=f"shipment:{shipment.number}:{line.line}",
                kind=MovementKind.SHIPMENT,
                sku=line.sku,
                location=shipment.from_location,
                quantity=self.policy.base_quantity(line.sku, line.quantity),
                occurred_at=shipment.shipped_at or event.time,
                order_id=shipment.order,
                line_id=documents.line_id(line.line),
                source=event.source,
            )
            for line in shipment.lines
        ]
        self.record(ctx, movements)

    def record(self, ctx: HandlerContext, movements: Sequence[Movement]) -> LedgerState:
        """Apply movements once each (a repeat is skipped), then fill backorders from any stock that arrived."""
        asked = [(m.order_id, m.line_id) for m in movements if m.order_id is not None and m.line_id is not None]
        before = ctx.uow.inventory.load(sorted({m.sku for m in movements}), lock=True, lines=asked)
        known = ctx.uow.inventory.recorded([m.id for m in movements])
        with_known = before
        if known:
            # Repeats are recognised by id: the domain skips (or refuses, if changed) movements it holds.
            with_known = LedgerState.build(
                positions=before.positions(), reservations=before.reservations(), movements=known
            )
        update = inventory.apply_movements(with_known, movements)
        state = self._fill_backorders(ctx, update.state, {m.sku for m in movements})
        self._save(ctx, before, state, update.entries)
        for lost in update.shortfalls:
            open_exception(
                ctx,
                Problem(
                    owner=ExceptionOwner.WAREHOUSE,
                    reason_code="reserved_stock_lost",
                    about_kind="order",
                    about_key=lost.order_id,
                    message=f"{lost.quantity} {lost.sku} reserved for line {lost.line_id} at {lost.location} "
                    "are no longer on hand",
                ),
                key=f"{lost.line_id}:{lost.location}:{ctx.cause.id}",
            )
        return state

    # --- reconciliation ---------------------------------------------------------------------------------------

    def reconcile(
        self,
        ctx: HandlerContext,
        snapshot: dict[tuple[str, str], Decimal],
        *,
        source: str,
        reconciliation_id: str,
    ) -> inventory.ReconciliationReport:
        """Compare a count with the ledger, post the explained adjustments, and open exceptions for the rest."""
        skus = {sku for sku, _ in snapshot}
        # Positions at the counted locations that the count leaves out count as zero: load their skus too.
        for location in sorted({location for _, location in snapshot}):
            skus |= self._skus_at(ctx, location)
        state = ctx.uow.inventory.load(sorted(skus))
        report = inventory.reconcile_inventory(
            state,
            snapshot,
            source=source,
            rules=self.policy.authority,
            reconciliation_id=reconciliation_id,
            as_of=ctx.now,
        )
        if report.adjustments:
            self.record(ctx, report.adjustments)
        for drift in report.exceptions:
            open_exception(
                ctx,
                Problem(
                    owner=ExceptionOwner.WAREHOUSE,
                    reason_code="inventory_drift",
                    about_kind="stock",
                    about_key=f"{drift.sku}@{drift.location}",
                    message=drift.explanation,
                ),
                key=reconciliation_id,
            )
        return report

    def _skus_at(self, ctx: HandlerContext, location: str, page: int = 5_000) -> set[str]:
        skus: set[str] = set()
        after: tuple[str, str] | None = None
        while True:
            found = list(ctx.uow.inventory.positions(location=location, after=after, limit=page).positions())
            skus |= {position.sku for position in found if position.on_hand != 0}
            if len(found) < page:
                return skus
            last = max((position.sku, position.location) for position in found)
            after = last

    # --- availability -----------------------------------------------------------------------------------------

    def announce_availability(self, ctx: HandlerContext, timer: Timer) -> None:
        """At the end of a burst window: one availability_changed per channel whose figure moved since the
        burst began."""
        sku = str(timer.payload["sku"])
        state = ctx.uow.inventory.load([sku])
        started: dict[str, str] = dict(timer.payload.get("before", {}))
        for channel in self.policy.channels:
            now_available = inventory.channel_availability(state, sku, channel, self.policy.buffers)
            if channel in started and Decimal(started[channel]) == now_available:
                continue
            payload = catalog.AvailabilityChanged(
                sku=sku,
                channel=channel,
                available=documents.Quantity(value=now_available, unit=self.policy.base_unit(sku)),
            )
            ctx.emit(catalog.AvailabilityChanged.event_type, sku, catalog.data_of(payload), partitionkey=sku)

    # --- inside -----------------------------------------------------------------------------------------------

    def _authorised(self, ctx: HandlerContext, event: Envelope, location: str, what: str) -> bool:
        # Rules name the configured source; an envelope's source is "crossdock/<source>".
        decision = inventory.decide_authority(self.policy.authority, location, event.source.removeprefix("crossdock/"))
        if decision.outcome is inventory.AuthorityOutcome.ACCEPTED:
            return True
        if decision.outcome is inventory.AuthorityOutcome.EXCEPTION:
            open_exception(
                ctx,
                Problem(
                    owner=ExceptionOwner.WAREHOUSE,
                    reason_code="stock_authority_conflict",
                    about_kind="stock",
                    about_key=location,
                    message=f"{what}: {decision.reason}",
                ),
                key=event.id,
            )
        return False

    def _fill_backorders(self, ctx: HandlerContext, state: LedgerState, skus: Iterable[str]) -> LedgerState:
        """Stock that arrived goes to lines waiting for it, oldest first, each announced to its order."""
        for sku in sorted(skus):
            if inventory.available_to_promise(state, sku) <= 0:
                continue
            for waiting in ctx.uow.inventory.backordered(sku):
                current = state.reservation(waiting.order_id, waiting.line_id)
                if current is None or current.cancelled or current.backorder <= 0:
                    continue
                decision = inventory.reserve_stock(
                    state,
                    waiting.order_id,
                    waiting.line_id,
                    sku,
                    current.requested,
                    self.policy.reservation_policy,
                    self.policy.locations or None,
                )
                if not decision.allocated:
                    break  # nothing left to give
                state = decision.state
                payload = catalog.InventoryReserved(
                    order=waiting.order_id,
                    reservations=tuple(
                        self._reservation(waiting.order_id, waiting.line_id, sku, a) for a in decision.allocated
                    ),
                )
                ctx.emit(
                    catalog.InventoryReserved.event_type,
                    waiting.order_id,
                    catalog.data_of(payload),
                    partitionkey=waiting.order_id,
                )
        return state

    def _save(
        self, ctx: HandlerContext, before: LedgerState, after: LedgerState, entries: Sequence[inventory.LedgerEntry]
    ) -> None:
        ctx.uow.inventory.save(before, after, entries, ctx.now)
        if self.policy.channels:
            self._note_burst(ctx, before, after)

    def _note_burst(self, ctx: HandlerContext, before: LedgerState, after: LedgerState) -> None:
        """The first change of a sku in a window arms its announcement with the figures before the burst; later
        changes in the same window find the timer armed and add nothing."""
        skus = {
            change.sku
            for change in inventory.availability_changes(before, after, self.policy.channels, self.policy.buffers)
        }
        due = slot_after(ctx.now, self.policy.availability_window)
        for sku in sorted(skus):
            figures = {
                channel: str(inventory.channel_availability(before, sku, channel, self.policy.buffers))
                for channel in self.policy.channels
            }
            ctx.uow.timers.schedule(
                Timer(
                    key=f"{AVAILABILITY_TIMER}:{sku}:{due.isoformat()}",
                    kind=AVAILABILITY_TIMER,
                    due_at=due,
                    payload={"sku": sku, "before": figures},
                )
            )

    def _quantity(self, sku: str, value: Decimal) -> documents.Quantity:
        return documents.Quantity(value=value, unit=self.policy.base_unit(sku))

    def _reservation(
        self, order_id: str, line_id: str, sku: str, allocation: inventory.Allocation
    ) -> documents.Reservation:
        return documents.Reservation(
            order=order_id,
            line=int(line_id),
            sku=sku,
            location=allocation.location,
            quantity=self._quantity(sku, allocation.quantity),
        )
