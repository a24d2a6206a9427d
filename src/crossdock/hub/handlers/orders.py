"""The order desk: one durable order-to-cash state machine per order, fed by canonical events and carrying out
what each step asks (validation, reservation, release to the warehouse, invoicing, exceptions, SLA timers).

Owns: order rows and their SLA timers. Must not: write the stock ledger or the journal itself; it asks the stock
desk, publishes events that the posting desk follows, and asks the posting desk (its Bookkeeper) to book what the
workflow does with a prepayment, for which no event exists.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Protocol

from crossdock.domain import catalog, documents, errors
from crossdock.domain.catalog import ExceptionOwner
from crossdock.domain.events import Envelope, derive_id
from crossdock.domain.workflows import order_to_cash as otc
from crossdock.hub.handlers.exceptions import Problem, open_exception
from crossdock.hub.handlers.policy import SLA_OWNERS, OrderToCashPolicy
from crossdock.hub.handlers.stock import StockDesk
from crossdock.hub.ports import CUSTOMER_RECORD, PRICE_RECORD, OrderFilter, OrderMasterData, OrderRecord, Timer
from crossdock.hub.router import HandlerContext, Router

ZERO = Decimal(0)
SLA_TIMER = "order.sla"
INVOICE_LINK = "invoice"
SHIPMENT_LINK = "shipment"  # a shipment number -> its order, whoever bills the shipment (the hub or an ERP)
CREDIT_MEMO_LINK = "credit_memo_of"  # a credit memo number -> the invoice it credits
# "<invoice>#<n>" -> the number of the n-th credit memo of that invoice (n = 1, 2, ...): links answer a key's target
# only, so an invoice's credit memos are numbered under it and read back in turn.
CREDIT_MEMOS_LINK = "credit_memos"
# Who is asked when a fact about an order breaks a rule.
_REFUSAL_OWNERS = {
    "invoiced": ExceptionOwner.FINANCE,
    "paid": ExceptionOwner.FINANCE,
    "prepaid": ExceptionOwner.FINANCE,
    "shipped": ExceptionOwner.WAREHOUSE,
    "released": ExceptionOwner.WAREHOUSE,
    "reserved": ExceptionOwner.WAREHOUSE,
}
_FINISHED = frozenset({otc.OrderStatus.CLOSED, otc.OrderStatus.CANCELLED})


def load_state(record: OrderRecord | None, order_id: str) -> otc.OrderState:
    return otc.OrderState.model_validate(record.state) if record is not None else otc.OrderState.new(order_id)


class Bookkeeper(Protocol):
    """Books a prepayment's movements in the same unit of work: applied to an invoice, or released as credit."""

    def apply_prepayment(self, ctx: HandlerContext, command: otc.ApplyPrepayment) -> None: ...

    def release_prepayment(self, ctx: HandlerContext, command: otc.ReleasePrepayment) -> None: ...


class OrderDesk:
    def __init__(self, policy: OrderToCashPolicy, stock: StockDesk, bookkeeper: Bookkeeper | None = None) -> None:
        self.policy = policy
        self.stock = stock
        self.bookkeeper = bookkeeper  # None: no accounts configured, nothing is booked

    def register(self, router: Router) -> None:
        for event_type in dict.fromkeys(otc.INPUT_TYPES.values()):  # once per type: payments and prepayments share one
            router.register(event_type, self.handle)
        router.register(catalog.ExceptionResolved.event_type, self.on_resolution)
        router.register(catalog.CreditMemoPosted.event_type, self.on_credit_memo)

    def handle(self, event: Envelope, ctx: HandlerContext) -> None:
        channel = None
        if event.type == catalog.OrderReceived.event_type:
            channel = catalog.payload_as(event, catalog.OrderReceived).order.channel
        for fact in self.facts_of(event, ctx):
            self.apply(ctx, fact, channel=channel)

    # --- canonical events -> facts ----------------------------------------------------------------------------

    def facts_of(self, event: Envelope, ctx: HandlerContext) -> Iterator[otc.OrderFact]:
        payload = catalog.payload_of(event)
        match payload:
            case catalog.OrderReceived(order=order):
                yield otc.OrderReceived(
                    order_id=order.number,
                    customer_id=order.customer,
                    currency=order.currency,
                    lines=self._lines(order),
                )
            case catalog.OrderChanged(order=order, revision=revision):
                yield otc.OrderChanged(order_id=order.number, revision=revision, lines=self._lines(order))
            case catalog.InventoryReserved(order=order, reservations=held):
                allocations = tuple(
                    otc.Allocation(
                        line_id=documents.line_id(r.line),
                        location=r.location,
                        quantity=self.policy.base_quantity(r.sku, r.quantity),
                    )
                    for r in held
                )
                yield otc.StockReserved(order_id=order, reservation_id=event.id, allocations=allocations)
            case catalog.ShipmentReleased(release=release, order=order, lines=lines):
                yield otc.WarehouseReleased(order_id=order, release_id=release, lines=self._quantities(lines))
            case catalog.ShipmentConfirmed(shipment=shipment):
                self._link_shipment(ctx, shipment)
                yield otc.ShipmentConfirmed(
                    order_id=shipment.order, shipment_id=shipment.number, lines=self._quantities(shipment.lines)
                )
            case catalog.InvoicePosted(invoice=invoice):
                yield from self._invoiced(invoice, ctx)
            case catalog.PaymentApplied(payment=payment):
                yield from self._paid(event, payment, ctx)
            case catalog.OrderCancellationRequested(order=order, cancellation=cancellation, lines=lines, reason=why):
                cancelled = None
                if lines is not None:
                    cancelled = tuple(otc.LineQuantity(line_id=ln.line_id, quantity=ln.quantity) for ln in lines)
                yield otc.OrderCancelled(order_id=order, cancellation_id=cancellation, lines=cancelled, reason=why)
            case catalog.OrderCloseRequested(order=order, reason=why):
                yield otc.OrderClosed(order_id=order, reason=why)

    def _lines(self, order: documents.SalesOrder) -> tuple[otc.OrderLine, ...]:
        lines = []
        for line in order.lines:
            quantity = self.policy.base_quantity(line.sku, line.quantity)
            # The price is per unit ordered; the workflow counts base units, so the price follows them.
            per_base = line.unit_price * line.quantity.value / quantity
            lines.append(
                otc.OrderLine(
                    line_id=documents.line_id(line.line), sku=line.sku, quantity=quantity, unit_price=per_base
                )
            )
        return tuple(lines)

    def _quantities(self, lines: Sequence[documents.ShipmentLine]) -> tuple[otc.LineQuantity, ...]:
        return tuple(
            otc.LineQuantity(
                line_id=documents.line_id(ln.line), quantity=self.policy.base_quantity(ln.sku, ln.quantity)
            )
            for ln in lines
        )

    def _link_shipment(self, ctx: HandlerContext, shipment: documents.Shipment) -> None:
        """The shipment's number leads to its order, billed or not. A number already linked to another order keeps
        its first: the shipment still counts on the order it names."""
        if ctx.uow.links.target(SHIPMENT_LINK, shipment.number) is None:
            ctx.uow.links.link(SHIPMENT_LINK, shipment.number, shipment.order)

    def on_credit_memo(self, event: Envelope, ctx: HandlerContext) -> None:
        """Note the invoice a credit memo credits, so that the invoice shows it and what it leaves open."""
        memo = catalog.payload_as(event, catalog.CreditMemoPosted).credit_memo
        if memo.invoice is None:
            return
        credited = ctx.uow.links.target(CREDIT_MEMO_LINK, memo.number)
        if credited == memo.invoice:
            return  # the same memo again
        if credited is not None:
            open_exception(
                ctx,
                Problem(
                    owner=ExceptionOwner.FINANCE,
                    reason_code="credit_memo_conflict",
                    about_kind="credit_memo",
                    about_key=memo.number,
                    message=f"credit memo {memo.number} credits invoice {credited}; "
                    f"a credit memo of the same number now names invoice {memo.invoice}",
                ),
                key=memo.invoice,
            )
            return
        ctx.uow.links.link(CREDIT_MEMO_LINK, memo.number, memo.invoice)
        for n in itertools.count(1):
            slot = f"{memo.invoice}#{n}"
            if ctx.uow.links.target(CREDIT_MEMOS_LINK, slot) is not None:
                continue
            try:
                ctx.uow.links.link(CREDIT_MEMOS_LINK, slot, memo.number)
            except ValueError:
                continue  # another memo of the invoice took this place in the meantime
            return

    def _invoiced(self, invoice: documents.Invoice, ctx: HandlerContext) -> Iterator[otc.OrderFact]:
        yield otc.InvoicePosted(
            order_id=invoice.order,
            invoice_id=invoice.number,
            shipment_id=invoice.shipment,
            currency=invoice.currency,
            amount=invoice.total().amount,
            lines=tuple(
                otc.LineQuantity(
                    line_id=documents.line_id(ln.line), quantity=self.policy.base_quantity(ln.sku, ln.quantity)
                )
                for ln in invoice.lines
            ),
        )
        ctx.uow.links.link(INVOICE_LINK, invoice.number, invoice.order)
        # Payments that arrived before this invoice were parked for it: apply them now.
        for parked in ctx.uow.links.unpark(INVOICE_LINK, invoice.number):
            yield from self._paid(parked, catalog.payload_as(parked, catalog.PaymentApplied).payment, ctx)

    def _paid(self, event: Envelope, payment: documents.Payment, ctx: HandlerContext) -> Iterator[otc.OrderFact]:
        if payment.is_prepayment:
            assert payment.order is not None
            yield otc.PrepaymentReceived(
                order_id=payment.order,
                payment_id=payment.reference,
                currency=payment.currency,
                amount=payment.amount,
            )
            return
        if not payment.applications:
            open_exception(
                ctx,
                Problem(
                    owner=ExceptionOwner.FINANCE,
                    reason_code="unapplied_payment",
                    about_kind="payment",
                    about_key=payment.reference,
                    message=f"{payment.amount} {payment.currency} from {payment.customer} names no invoice, no order",
                ),
            )
            return
        for application in payment.applications:
            order_id = ctx.uow.links.target(INVOICE_LINK, application.invoice)
            if order_id is None:
                ctx.uow.links.park(INVOICE_LINK, application.invoice, event, ctx.now)
                continue
            yield otc.PaymentApplied(
                order_id=order_id,
                payment_id=f"{payment.reference}:{application.invoice}",
                currency=payment.currency,
                amount=application.amount,
            )

    # --- one fact -----------------------------------------------------------------------------------------------

    def apply(self, ctx: HandlerContext, fact: otc.OrderFact, *, channel: str | None = None) -> otc.OrderState:
        record = ctx.uow.orders.load(fact.order_id)
        state = load_state(record, fact.order_id)
        emitted = len(ctx.emitted)
        try:
            with ctx.uow.savepoint():
                after = self._run(ctx, state, fact)
        except (errors.CrossdockError, ValueError) as broken:
            # What the step did is undone with the savepoint; the order stays as it was and a person decides.
            del ctx.emitted[emitted:]
            open_exception(
                ctx,
                Problem(
                    owner=_REFUSAL_OWNERS.get(fact.kind, ExceptionOwner.CUSTOMER_SERVICE),
                    reason_code=f"refused_{fact.kind}",
                    about_kind="order",
                    about_key=fact.order_id,
                    message=str(broken),
                ),
                key=otc.fact_key(fact),
            )
            return state
        if after != state:
            ctx.uow.orders.save(
                OrderRecord(
                    order_id=after.order_id,
                    status=after.status.value,
                    state=after.model_dump(mode="json"),
                    version=record.version if record is not None else 0,
                    channel=(record.channel if record is not None else None) or channel,
                    customer_id=after.customer_id,
                ),
                ctx.now,
            )
        return after

    def _run(self, ctx: HandlerContext, state: otc.OrderState, fact: otc.OrderFact) -> otc.OrderState:
        """Apply the fact and carry out its step; a validation verdict is fed back in the same turn."""
        queue: list[otc.OrderFact] = [fact]
        while queue:
            current = queue.pop(0)
            step = otc.apply_fact(state, current, ctx.now, sla=self.policy.sla)
            if step.duplicate:
                continue
            cancelled = {
                line.line_id
                for line in step.state.lines
                if line.cancelled > getattr(state.line(line.line_id), "cancelled", line.cancelled)
            }
            state = step.state
            self._set_timers(ctx, step.timers)
            for event in step.emitted:
                ctx.emit(event.type, event.subject, event.data, partitionkey=state.order_id)
            for command in step.commands:
                verdict = self._carry_out(ctx, state, command, current)
                if verdict is not None:
                    queue.append(verdict)
            if cancelled:
                # Backordered units that were cancelled hold nothing yet, so no release covers them: the ledger
                # must stop waiting for them too, or stock that arrives later would be held for nobody.
                self._fit_reservations(ctx, state, cancelled)
        return state

    def _fit_reservations(self, ctx: HandlerContext, state: otc.OrderState, line_ids: set[str]) -> None:
        """Bring the ledger's reservation of these lines down to what the customer still wants."""
        wanted = [
            otc.CommandLine(line_id=line.line_id, sku=line.sku, quantity=line.open)
            for line in state.lines
            if line.line_id in line_ids
        ]
        if wanted:
            self.stock.resize(ctx, state.order_id, wanted, reason="order lines cancelled")

    def _carry_out(
        self, ctx: HandlerContext, state: otc.OrderState, command: otc.Command, cause: otc.OrderFact
    ) -> otc.OrderFact | None:
        match command:
            case otc.ValidateOrder(revision=revision):
                if state.status is not otc.OrderStatus.RECEIVED or state.revision != revision:
                    return None  # superseded in the same turn (a held cancellation or change came after it)
                return self.validate(ctx, state)
            case otc.ReserveStock(lines=lines):
                self.stock.reserve(ctx, state.order_id, lines)
            case otc.ReleaseToWarehouse(lines=lines):
                self._release_to_warehouse(ctx, state, lines, cause)
            case otc.CancelRelease(lines=lines):
                self._cancel_release(ctx, state, lines)
            case otc.ReleaseReservation(lines=lines):
                self._fit_reservations(ctx, state, {line.line_id for line in lines})
            case otc.PostInvoice():
                if self.policy.hub_invoices:
                    self._emit(ctx, state, catalog.InvoicePosted(invoice=self._invoice(ctx, command)))
            case otc.ApplyPrepayment():
                if self.bookkeeper is not None:
                    self.bookkeeper.apply_prepayment(ctx, command)
            case otc.ReleasePrepayment():
                if self.bookkeeper is not None:
                    self.bookkeeper.release_prepayment(ctx, command)
            case otc.RecordCustomerCredit(amount=amount, currency=currency, customer_id=customer):
                open_exception(
                    ctx,
                    Problem(
                        owner=ExceptionOwner.FINANCE,
                        reason_code="customer_credit",
                        about_kind="order",
                        about_key=state.order_id,
                        message=f"{customer} paid {amount} {currency} more than was invoiced: refund or apply it",
                    ),
                    key=str(state.credit),
                )
            case otc.OpenException(owner=owner, reason_code=code, text=text):
                open_exception(
                    ctx,
                    Problem(owner=owner, reason_code=code, about_kind="order", about_key=state.order_id, message=text),
                    key=str(state.revision),
                )
        return None

    # --- validation ----------------------------------------------------------------------------------------------

    def validate(self, ctx: HandlerContext, state: otc.OrderState) -> otc.OrderAccepted | otc.OrderRejected:
        """Against the customer and price list as imported (`crossdock import`), read in one query, and as
        configured where nothing was imported for that customer, list or sku."""
        customer_id = state.customer_id or ""
        configured = self.policy.customers.get(customer_id)
        lists = {n for n in (configured.price_list if configured else None, self.policy.default_price_list) if n}
        imported = ctx.uow.master_records.for_order(customer_id, {line.sku for line in state.lines}, lists)
        customer = documents.Customer.model_validate(imported.customer) if imported.customer else configured
        return otc.validate_order(
            state,
            customer=self._standing(ctx, state, customer),
            price_list=self._price_list(ctx, state, customer, imported),
            price_tolerance_percent=self.policy.price_tolerance_percent,
        )

    def _price_list(
        self,
        ctx: HandlerContext,
        state: otc.OrderState,
        customer: documents.Customer | None,
        imported: OrderMasterData,
    ) -> otc.PriceList:
        """The customer's list (else the default one): imported entries win over configured prices sku by sku. A
        list is in one currency: its imported entries' (the order's when they disagree), else the configured one;
        a price in another currency is left out, so its line is not listed."""
        currency = state.currency or ""
        name = (customer.price_list if customer else None) or self.policy.default_price_list
        configured = self.policy.price_lists.get(name) if name else None
        entries = {sku: entry for (listed, sku), entry in imported.prices.items() if listed == name}
        if configured is None and not entries:
            if not self.policy.price_lists and not ctx.uow.master_records.holds(PRICE_RECORD):
                # No price lists configured or imported: the channel's prices stand.
                return otc.PriceList(currency=currency, prices={line.sku: line.unit_price for line in state.lines})
            return otc.PriceList(currency=currency, prices={})
        currencies = sorted({str(entry["currency"]) for entry in entries.values()})
        if not currencies:
            assert configured is not None
            return configured
        in_currency = currency if currency in currencies else currencies[0]
        prices = dict(configured.prices) if configured is not None and configured.currency == in_currency else {}
        prices.update(
            {sku: Decimal(str(entry["price"])) for sku, entry in entries.items() if entry["currency"] == in_currency}
        )
        return otc.PriceList(currency=in_currency, prices=prices)

    def _standing(
        self, ctx: HandlerContext, state: otc.OrderState, customer: documents.Customer | None
    ) -> otc.CustomerStanding | None:
        customer_id = state.customer_id or ""
        if customer is None:
            if self.policy.customers or ctx.uow.master_records.holds(CUSTOMER_RECORD):
                return None
            # No customer master configured or imported: every customer is known and has no credit limit.
            return otc.CustomerStanding(customer_id=customer_id, currency=state.currency or "EUR")
        return otc.CustomerStanding(
            customer_id=customer_id,
            currency=customer.currency,
            credit_limit=customer.credit_limit,
            open_receivables=self._exposure(ctx, customer_id, state.order_id),
        )

    def _exposure(self, ctx: HandlerContext, customer_id: str, except_order: str) -> Decimal:
        """What the customer owes or has committed to on its other open orders: their value less payments."""
        total = ZERO
        for record in ctx.uow.orders.find(OrderFilter(customer_id=customer_id, limit=10_000)):
            if record.order_id == except_order or record.status not in _COMMITTED:
                continue
            other = load_state(record, record.order_id)
            total += max(ZERO, otc.order_total(other) - other.paid)
        return total

    # --- the warehouse and billing ---------------------------------------------------------------------------------

    def _release_to_warehouse(
        self, ctx: HandlerContext, state: otc.OrderState, lines: Sequence[otc.CommandLine], cause: otc.OrderFact
    ) -> None:
        """One release per location: where the reservation that grew put the stock."""
        placed: dict[str, list[tuple[str, Decimal]]] = {}
        if isinstance(cause, otc.StockReserved):
            for allocation in cause.allocations:
                placed.setdefault(allocation.line_id, []).append((allocation.location, allocation.quantity))
        missing = [line for line in lines if line.line_id not in placed]
        if missing:
            placed.update(self.stock.holdings(ctx, state.order_id, missing))
        by_location: dict[str, list[documents.ShipmentLine]] = {}
        for line in lines:
            left = line.quantity
            for location, quantity in placed.get(line.line_id, []):
                take = min(left, quantity)
                if take <= 0:
                    continue
                left -= take
                by_location.setdefault(location, []).append(
                    documents.ShipmentLine(
                        line=int(line.line_id), sku=line.sku, quantity=self._quantity(line.sku, take)
                    )
                )
        for location, released in sorted(by_location.items()):
            release = "REL-" + derive_id(ctx.cause.id, state.order_id, location)[:13].upper()
            payload = catalog.ShipmentReleased(
                release=release, order=state.order_id, from_location=location, lines=tuple(released)
            )
            self._emit(ctx, state, payload)

    def _cancel_release(self, ctx: HandlerContext, state: otc.OrderState, lines: Sequence[otc.CommandLine]) -> None:
        """One cancellation per location the quantities were released to (newest release first), so that each
        warehouse stops only what it was given. What the order's history cannot place goes out without a location:
        every warehouse of the order stops what it holds of it."""
        history = [stored.envelope for stored in ctx.uow.log.for_subject(state.order_id, limit=RELEASE_HISTORY)]
        seen = {envelope.id for envelope in history}
        held = released_where(state.order_id, [*history, *(e for e in ctx.emitted if e.id not in seen)])
        by_location: dict[str | None, list[catalog.CancelledLine]] = {}
        for line in lines:
            left = line.quantity
            for place, open_ in held.get(line.line_id, ()):
                take = min(left, open_)
                if take > 0:
                    by_location.setdefault(place, []).append(_cancelled(line, take))
                    left -= take
            if left > 0:
                by_location.setdefault(None, []).append(_cancelled(line, left))
        for location, cancelled in sorted(by_location.items(), key=lambda item: (item[0] is None, item[0] or "")):
            payload = catalog.ReleaseCancelled(
                order=state.order_id, lines=tuple(cancelled), reason="lines cancelled", from_location=location
            )
            self._emit(ctx, state, payload)

    def _invoice(self, ctx: HandlerContext, command: otc.PostInvoice) -> documents.Invoice:
        return documents.Invoice(
            number=f"{self.policy.invoice_prefix}{command.shipment_id}",
            order=command.order_id,
            shipment=command.shipment_id,
            customer=command.customer_id,
            currency=command.currency,
            issued_on=ctx.now.date(),
            lines=tuple(
                documents.InvoiceLine(
                    line=int(line.line_id),
                    sku=line.sku,
                    quantity=self._quantity(line.sku, line.quantity),
                    unit_price=line.unit_price,
                    tax_rate=self.policy.tax_rate,
                )
                for line in command.lines
            ),
        )

    # --- SLA timers and exception actions ------------------------------------------------------------------------

    def _set_timers(self, ctx: HandlerContext, timers: Sequence[otc.SlaTimer]) -> None:
        for timer in timers:
            if timer.action == "disarm":
                ctx.uow.timers.cancel(timer.key)
            elif timer.due_at is not None:
                ctx.uow.timers.schedule(
                    Timer(
                        key=timer.key,
                        kind=SLA_TIMER,
                        due_at=timer.due_at,
                        payload={"order_id": timer.order_id, "stage": timer.stage.value},
                    )
                )

    def sla_breached(self, ctx: HandlerContext, timer: Timer) -> None:
        """An order sat in a stage past its SLA: its owner is asked, with what is still open."""
        order_id = str(timer.payload["order_id"])
        stage = otc.SlaStage(str(timer.payload["stage"]))
        state = load_state(ctx.uow.orders.load(order_id), order_id)
        if stage not in otc.active_stages(state):
            return  # left the stage in the same instant the timer came due
        waited = self.policy.sla.get(stage)
        open_exception(
            ctx,
            Problem(
                owner=SLA_OWNERS[stage],
                reason_code=f"sla_{stage.value.replace('-', '_')}",
                about_kind="order",
                about_key=order_id,
                message=f"{stage.value} for more than {waited}: " + "; ".join(otc.open_reasons(state)),
            ),
        )

    def on_resolution(self, event: Envelope, ctx: HandlerContext) -> None:
        """Carry out what a person decided on an exception about an order."""
        resolved = catalog.payload_as(event, catalog.ExceptionResolved)
        exception = ctx.uow.exceptions.get(resolved.exception)
        if exception is None or exception.about_kind != "order":
            return
        order_id = exception.about_key
        state = load_state(ctx.uow.orders.load(order_id), order_id)
        action = resolved.action
        if action is catalog.ExceptionAction.OVERRIDE and state.status is otc.OrderStatus.REJECTED:
            self.apply(ctx, otc.OrderAccepted(order_id=order_id, revision=state.revision, override=True))
        elif action is catalog.ExceptionAction.CANCEL and state.status not in _FINISHED:
            self.apply(
                ctx,
                otc.OrderCancelled(
                    order_id=order_id, cancellation_id=resolved.exception, reason=resolved.note or "cancelled"
                ),
            )
        elif action is catalog.ExceptionAction.RETRY:
            self._retry(ctx, state, exception.reason_code)

    def _retry(self, ctx: HandlerContext, state: otc.OrderState, reason_code: str) -> None:
        if state.status is otc.OrderStatus.REJECTED:
            verdict = self.validate_again(ctx, state)
            if isinstance(verdict, otc.OrderAccepted):
                self.apply(ctx, verdict)
                return
            open_exception(
                ctx,
                Problem(
                    owner=ExceptionOwner.CUSTOMER_SERVICE,
                    reason_code=reason_code,
                    about_kind="order",
                    about_key=state.order_id,
                    message="still rejected: " + "; ".join(r.text for r in verdict.reasons),
                ),
                key=str(state.revision),
            )
        elif state.status in otc.FULFILMENT:
            # Try again to reserve what is backordered: more stock may have arrived.
            short = tuple(
                otc.CommandLine(line_id=line.line_id, sku=line.sku, quantity=ZERO)
                for line in state.lines
                if line.backordered > 0
            )
            if short:
                self.stock.reserve(ctx, state.order_id, short)

    def validate_again(self, ctx: HandlerContext, state: otc.OrderState) -> otc.OrderAccepted | otc.OrderRejected:
        """Validation of a rejected revision, as if it were received again (the customer or prices changed)."""
        return self.validate(ctx, state.model_copy(update={"status": otc.OrderStatus.RECEIVED}))

    # --- inside ----------------------------------------------------------------------------------------------------

    def _emit(self, ctx: HandlerContext, state: otc.OrderState, payload: catalog.Payload) -> None:
        ctx.emit(catalog.type_of(payload), state.order_id, catalog.data_of(payload), partitionkey=state.order_id)

    def _quantity(self, sku: str, value: Decimal) -> documents.Quantity:
        return documents.Quantity(value=value, unit=self.policy.base_unit(sku))


RELEASE_HISTORY = 10_000  # events of one order read to place a release cancellation; far more than any order has
_PLACING = frozenset(
    {catalog.ShipmentReleased.event_type, catalog.ShipmentConfirmed.event_type, catalog.ReleaseCancelled.event_type}
)


def _cancelled(line: otc.CommandLine, quantity: Decimal) -> catalog.CancelledLine:
    return catalog.CancelledLine(line_id=line.line_id, sku=line.sku, quantity=quantity)


def released_where(order_id: str, events: Sequence[Envelope]) -> dict[str, list[tuple[str, Decimal]]]:
    """Per order line, the quantities released and still with a warehouse (not shipped, not cancelled), by location,
    newest release first: read from the order's releases, shipments and earlier cancellations in log order. A
    cancellation without a location (recorded before they said) takes from the newest release first, as the
    warehouses took it."""
    held: dict[str, dict[str, Decimal]] = {}  # line -> location -> open; a location moves to the end when released to

    def take(line: str, location: str | None, quantity: Decimal | None) -> None:
        places = held.get(line, {})
        chosen: list[str] = list(reversed(places)) if location is None else [location]
        for place in chosen:
            if place not in places:
                continue
            taken = places[place] if quantity is None else min(quantity, places[place])
            places[place] -= taken
            if quantity is not None:
                quantity -= taken
                if quantity <= 0:
                    return

    for envelope in events:
        if envelope.type not in _PLACING:
            continue
        try:
            found = catalog.payload_of(envelope)
        except errors.InvalidEvent:
            continue  # a fact that does not read places nothing
        match found:
            case catalog.ShipmentReleased(order=order, from_location=location, lines=lines) if order == order_id:
                for part in lines:
                    places = held.setdefault(documents.line_id(part.line), {})
                    places[location] = places.pop(location, ZERO) + part.quantity.value
            case catalog.ShipmentConfirmed(shipment=shipment) if shipment.order == order_id:
                for part in shipment.lines:
                    take(documents.line_id(part.line), shipment.from_location, part.quantity.value)
            case catalog.ReleaseCancelled(order=order, from_location=location, lines=cancelled) if order == order_id:
                for line in cancelled:
                    take(line.line_id, location, line.quantity)
    return {
        line: [(location, quantity) for location, quantity in reversed(places.items()) if quantity > 0]
        for line, places in held.items()
    }


# Orders whose value counts against the customer's credit: accepted and not yet settled.
_COMMITTED = frozenset(status.value for status in otc.FULFILMENT)
