"""The procurement desk: one durable procure-to-pay state machine per purchase order, fed by canonical events, carrying
out what each step asks (release to the supplier, stock and accrue receipts, post approved supplier invoices, open
and close exceptions, overdue timers) and what people decide on its exceptions.

Owns: purchase order rows, their overdue timers and the release of a PO to its supplier's channel. Must not: write the
stock ledger or the journal itself (the stock and posting desks do), or know a wire format: the channel that reaches
the supplier (the EDI connector's 850, a portal) subscribes to purchaseorder.released and renders it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel

from crossdock.domain import accounting, catalog, documents, errors
from crossdock.domain.catalog import ExceptionOwner
from crossdock.domain.events import Envelope
from crossdock.domain.inventory import Movement, MovementKind
from crossdock.domain.procurement import MatchTolerance, PurchaseOrder, PurchaseOrderLine, Supplier
from crossdock.domain.workflows import procure_to_pay as p2p
from crossdock.hub.handlers import exceptions
from crossdock.hub.handlers.exceptions import Problem, open_exception
from crossdock.hub.handlers.postings import PostingDesk
from crossdock.hub.handlers.stock import StockDesk
from crossdock.hub.ports import (
    BusinessException,
    ExceptionAction,
    PurchaseOrderRecord,
    Timer,
    UnitOfWork,
)
from crossdock.hub.router import HandlerContext, Router
from crossdock.hub.timers import Publish, Timers, desk_job

PO_KIND = "purchase_order"  # what the PO's exceptions are about
PO_TIMER = "po.sla"
# Events that need their PO's document (its units and lines) wait under this kind until the PO arrives.
AWAITING_PO = "purchase_order"
# Who closes an exception that no longer applies; its exception.resolved is not a decision to carry out.
RULE_ACTOR = "crossdock/procure-to-pay"


# The fact kind of each input event, to name what was refused when its document cannot be read.
_KIND_OF = {event_type: kind for kind, event_type in p2p.INPUT_TYPES.items()}
_REFUSAL_OWNERS = {
    "invoiced": ExceptionOwner.FINANCE,
    "received": ExceptionOwner.WAREHOUSE,
    "asn": ExceptionOwner.WAREHOUSE,
}
_FINISHED = frozenset({p2p.POStatus.CLOSED, p2p.POStatus.CANCELLED})
# Exceptions about what the supplier owes us, where "cancel" means: stop waiting, cancel what is still awaited.
# On others (a refused fact, a posting held for a closed period) it only records the decision.
_CANCEL_AWAITED = frozenset(
    {
        "acknowledgement_overdue",
        "ship_notice_overdue",
        "receipt_overdue",
        "rejected_by_supplier",
        "acknowledgement_changes",
        "receipt_variance",
    }
)


@dataclass(frozen=True)
class ProcureToPayPolicy:
    """What the procure-to-pay handlers are told by configuration (bootstrap builds it; nothing here reads settings)."""

    suppliers: Mapping[str, Supplier] = field(default_factory=dict)
    default_tolerance: MatchTolerance = field(default_factory=MatchTolerance)  # for suppliers the master lacks
    workflow: p2p.Policy = p2p.DEFAULT_POLICY
    items: Mapping[str, documents.Item] = field(default_factory=dict)
    # False: a PO counts as sent when the hub releases it to the supplier's channel. True: only when that channel
    # reports purchaseorder.transmitted (an 850 delivered, its 997 back), so the acknowledgement clock starts then.
    await_transmission: bool = False

    def tolerance_for(self, supplier_id: str) -> MatchTolerance:
        supplier = self.suppliers.get(supplier_id)
        return supplier.match_tolerance() if supplier is not None else self.default_tolerance

    def item(self, sku: str, unit: str) -> documents.Item:
        """The item; one counted in the PO line's unit when the catalogue does not know it."""
        return self.items.get(sku) or documents.Item(sku=sku, base_unit=unit)


def load_state(record: PurchaseOrderRecord | None, po_id: str) -> p2p.POState:
    return p2p.POState.model_validate(record.state) if record is not None else p2p.POState.new(po_id)


def load_document(record: PurchaseOrderRecord | None) -> PurchaseOrder | None:
    if record is None or record.document is None:
        return None
    return PurchaseOrder.model_validate(record.document)


def timer_key(timer: p2p.POTimer, due: datetime) -> str:
    # The due time is part of the key: a stage entered again (a new revision awaits its answer) arms a new timer
    # even though the one before it fired and keeps its row.
    return f"{timer.key}@{due.isoformat()}"


class ProcurementDesk:
    def __init__(self, policy: ProcureToPayPolicy, stock: StockDesk, postings: PostingDesk | None) -> None:
        self.policy = policy
        self.stock = stock
        # Receipts accrue to GR/IR and invoices clear it into payables: without both accounts nothing is posted.
        accounts = postings.accounts if postings is not None else None
        self.postings = postings if accounts is not None and accounts.gr_ir and accounts.payables else None

    def register(self, router: Router) -> None:
        for event_type in p2p.INPUT_TYPES.values():
            router.register(event_type, self.handle)
        router.register(catalog.ExceptionResolved.event_type, self.on_resolution)

    # --- canonical events -> facts ----------------------------------------------------------------------------

    def handle(self, event: Envelope, ctx: HandlerContext) -> None:
        payload = catalog.payload_of(event)
        if isinstance(payload, catalog.PurchaseOrderIssued):
            po = payload.purchase_order
            self.apply(ctx, p2p.issued_fact(po, self.policy.tolerance_for(po.supplier)), document=po)
            # What came before the PO waited for its lines and units: take it now, oldest first.
            for parked in ctx.uow.links.unpark(AWAITING_PO, po.number):
                self.handle(parked, ctx)
            return
        po_id = _po_of(payload)
        document = load_document(ctx.uow.purchase_orders.load(po_id))
        if document is None and _needs_document(payload):
            ctx.uow.links.park(AWAITING_PO, po_id, event, ctx.now)
            return
        try:
            facts = list(self.facts_of(event, payload, document))
        except (errors.CrossdockError, ValueError) as broken:
            # A document the PO cannot count (a unit no item converts): kept in the log, and a person is asked.
            kind = _KIND_OF.get(event.type, "fact")
            owner = _REFUSAL_OWNERS.get(kind, ExceptionOwner.PROCUREMENT)
            self._open(ctx, po_id, owner, f"refused_{kind}", event.id, str(broken))
            return
        changed = payload.purchase_order if isinstance(payload, catalog.PurchaseOrderChanged) else None
        for fact in facts:
            self.apply(ctx, fact, document=changed)

    def facts_of(self, event: Envelope, payload: BaseModel, po: PurchaseOrder | None) -> Iterator[p2p.POFact]:
        """The fact a canonical event reports; `po` is the PO's document (None only for facts that need none)."""
        items = self.policy.items
        match payload:
            case catalog.PurchaseOrderTransmitted(order=order, revision=revision, transmission=ident):
                yield p2p.POSent(po_id=order, transmission_id=ident, revision=revision, sent_at=event.time)
            case catalog.PurchaseOrderCancellationRequested(order=order, cancellation=ident, lines=lines, reason=why):
                counts = None
                if lines is not None:
                    counts = tuple(p2p.LineCount(line_id=ln.line_id, quantity=ln.quantity) for ln in lines)
                yield p2p.POCancelled(po_id=order, cancellation_id=ident, lines=counts, reason=why)
            case catalog.PurchaseOrderChanged(purchase_order=changed, revision=revision):
                yield p2p.changed_fact(changed, revision)
            case catalog.PurchaseOrderAcknowledged(acknowledgement=ack) if po is not None:
                yield p2p.acknowledged_fact(ack, po, items)
            case catalog.ShipNoticeReceived(notice=notice) if po is not None:
                yield p2p.noticed_fact(notice, po, items)
            case catalog.GoodsReceiptPosted(receipt=receipt) if po is not None:
                yield p2p.received_fact(receipt, po, items)
            case catalog.SupplierInvoiceReceived(invoice=invoice) if po is not None:
                yield p2p.invoiced_fact(invoice, po, items)

    # --- one fact -----------------------------------------------------------------------------------------------

    def apply(self, ctx: HandlerContext, fact: p2p.POFact, *, document: PurchaseOrder | None = None) -> p2p.POState:
        """Apply the fact and carry out its step in a savepoint: a fact that breaks a rule leaves the PO as it was
        and opens an exception instead. `document` is the PO's document when the fact brings a new revision."""
        record = ctx.uow.purchase_orders.load(fact.po_id)
        state = load_state(record, fact.po_id)
        stored = load_document(record)
        current = document if document is not None and (stored is None or isinstance(fact, p2p.POChanged)) else stored
        emitted = len(ctx.emitted)
        try:
            with ctx.uow.savepoint():
                after = self._run(ctx, state, fact, current, stored)
        except (errors.CrossdockError, ValueError) as broken:
            del ctx.emitted[emitted:]
            self._carry_out(ctx, state, p2p.refusal_exception(state, fact, str(broken)), stored)
            return state
        # A new revision's document replaces the old one only once the machine took the revision.
        keep = current if current is not stored and (stored is None or after.revision > state.revision) else stored
        if after != state or keep is not stored:
            ctx.uow.purchase_orders.save(
                PurchaseOrderRecord(
                    po_id=after.po_id,
                    status=after.status.value,
                    state=after.model_dump(mode="json"),
                    version=record.version if record is not None else 0,
                    supplier_id=after.supplier_id,
                    document=keep.model_dump(mode="json") if keep is not None else None,
                ),
                ctx.now,
            )
        return after

    def _run(
        self,
        ctx: HandlerContext,
        state: p2p.POState,
        fact: p2p.POFact,
        document: PurchaseOrder | None,
        previous: PurchaseOrder | None = None,
    ) -> p2p.POState:
        """Apply the fact and carry out its step; a PO released to its supplier is reported sent in the same turn."""
        queue: list[p2p.POFact] = [fact]
        while queue:
            step = p2p.apply_fact(state, queue.pop(0), policy=self.policy.workflow)
            if step.duplicate:
                continue
            before, state = state, step.state
            self._set_timers(ctx, before, step.timers)
            for event in step.emitted:
                ctx.emit(event.type, event.subject, event.data, partitionkey=state.po_id)
            for command in step.commands:
                follow_up = self._carry_out(ctx, state, command, document, previous)
                if follow_up is not None:
                    queue.append(follow_up)
        return state

    def _carry_out(
        self,
        ctx: HandlerContext,
        state: p2p.POState,
        command: p2p.Command,
        document: PurchaseOrder | None,
        previous: PurchaseOrder | None = None,
    ) -> p2p.POFact | None:
        match command:
            case p2p.SendPurchaseOrder():
                return self._release(ctx, command, document, previous)
            case p2p.PostGoodsReceipt():
                self._receive(ctx, command, document)
            case p2p.RevalueAccrual():
                self._revalue(ctx, command)
            case p2p.PostSupplierInvoice():
                self._post_invoice(ctx, command)
            case p2p.OpenException(owner=owner, reason_code=code, reference=reference, text=text):
                self._open(ctx, state.po_id, owner, code, reference, text)
            case p2p.CloseException(reason_code=code, reference=reference, text=text):
                self._close(ctx, state.po_id, code, reference, text)
            case p2p.SendCancellation() | p2p.RejectSupplierInvoice():
                # The machine publishes purchaseorder.cancelled and supplierinvoice.rejected itself: the supplier's
                # channel and the ERP follow those, so there is nothing more to send here.
                pass
        return None

    # --- releasing a PO to its supplier ----------------------------------------------------------------------------

    def _release(
        self,
        ctx: HandlerContext,
        command: p2p.SendPurchaseOrder,
        document: PurchaseOrder | None,
        previous: PurchaseOrder | None,
    ) -> p2p.POSent | None:
        """Publish the PO as it now stands for the supplier's channel (purchaseorder.released); unless the channel is
        to confirm it, that hand-over is when the PO counts as sent. `previous` is the document of the revision
        before, whose lines a new revision may drop."""
        lines: list[PurchaseOrderLine] = []
        withdrawn: list[int] = []
        for ordered in command.lines:
            number = int(ordered.line_id)
            original = _line(document, number)
            if ordered.quantity <= 0:
                withdrawn.append(number)
                continue
            unit = original.quantity.unit if original is not None else self.policy.item(ordered.sku, "EA").base_unit
            same_item = original is not None and original.sku == ordered.sku
            lines.append(
                PurchaseOrderLine(
                    line=number,
                    sku=ordered.sku,
                    supplier_item=original.supplier_item if same_item and original is not None else None,
                    quantity=documents.Quantity(value=ordered.quantity, unit=unit),
                    unit_price=ordered.unit_price,
                    requested_on=ordered.delivery_on,
                )
            )
        if not lines:
            return None  # nothing left to order: the cancellation is what the supplier hears about
        listed = {int(ordered.line_id) for ordered in command.lines}
        withdrawn.extend(
            line.line for line in (previous.lines if previous is not None else ()) if line.line not in listed
        )
        released = catalog.PurchaseOrderReleased(
            purchase_order=PurchaseOrder(
                number=command.po_id,
                supplier=command.supplier_id,
                currency=command.currency,
                ship_to=command.ship_to,
                ordered_on=document.ordered_on if document is not None else None,
                requested_on=document.requested_on if document is not None else None,
                lines=tuple(lines),
            ),
            revision=command.revision,
            withdrawn=tuple(sorted(withdrawn)),
            reason=command.reason,
        )
        envelope = ctx.emit(
            catalog.type_of(released), command.po_id, catalog.data_of(released), partitionkey=command.po_id
        )
        if self.policy.await_transmission:
            return None
        return p2p.POSent(po_id=command.po_id, transmission_id=envelope.id, revision=command.revision, sent_at=ctx.now)

    # --- stock and the journal ---------------------------------------------------------------------------------------

    def _receive(self, ctx: HandlerContext, command: p2p.PostGoodsReceipt, document: PurchaseOrder | None) -> None:
        """Goods in good condition go to stock at the receiving location (which also fills backorders waiting for
        them) and are accrued against GR/IR at the PO's prices."""
        movements = []
        for line in command.lines:
            original = _line(document, int(line.line_id))
            unit = original.quantity.unit if original is not None else self.policy.item(line.sku, "EA").base_unit
            quantity = documents.Quantity(value=line.quantity, unit=unit)
            movements.append(
                Movement(
                    id=f"po-receipt:{command.po_id}:{command.receipt_id}:{line.line_id}",
                    kind=MovementKind.RECEIPT,
                    sku=line.sku,
                    location=command.location,
                    quantity=self.policy.item(line.sku, unit).to_base_units(quantity).value,
                    occurred_at=ctx.now,
                    source=ctx.cause.source,
                    reason=f"goods receipt {command.receipt_id} of purchase order {command.po_id}",
                )
            )
        self.stock.record(ctx, movements)
        if self.postings is None:
            return
        entry = accounting.entry_for_goods_receipt(
            event_id=ctx.cause.id,
            receipt_number=f"{command.po_id}/{command.receipt_id}",
            day=ctx.now.date(),
            currency=command.currency,
            lines=[
                accounting.ReceivedLine(quantity=ln.quantity, unit_price=ln.unit_price, item_class=self._class(ln.sku))
                for ln in command.lines
            ],
            accounts=self.postings.accounts,
        )
        self.postings.post(ctx, entry, about=(PO_KIND, command.po_id))

    def _revalue(self, ctx: HandlerContext, command: p2p.RevalueAccrual) -> None:
        if self.postings is None:
            return
        entry = accounting.entry_for_accrual_revaluation(
            event_id=ctx.cause.id,
            # Acknowledgement and revision ids are the supplier's and the buyer's, not unique across POs.
            reference=f"{command.po_id}/{command.reference}",
            day=ctx.now.date(),
            currency=command.currency,
            lines=[
                accounting.RevaluedLine(
                    quantity=ln.quantity,
                    old_unit_price=ln.old_unit_price,
                    new_unit_price=ln.new_unit_price,
                    item_class=self._class(ln.sku),
                )
                for ln in command.lines
            ],
            accounts=self.postings.accounts,
        )
        self.postings.post(ctx, entry, about=(PO_KIND, command.po_id))

    def _post_invoice(self, ctx: HandlerContext, command: p2p.PostSupplierInvoice) -> None:
        """The approved invoice clears GR/IR at the PO price, books the price variance and the input tax, and is
        owed to the supplier. supplierinvoice.approved is the machine's own event: it is not published again."""
        if self.postings is None:
            return
        entry = accounting.entry_for_supplier_invoice(
            event_id=ctx.cause.id,
            # Each supplier numbers its own invoices: the number is only unique with the supplier's id.
            invoice_number=f"{command.supplier_id}/{command.invoice_id}",
            day=ctx.now.date(),
            currency=command.currency,
            lines=[
                accounting.SupplierInvoiceLine(
                    quantity=ln.quantity,
                    unit_price=ln.unit_price,
                    po_unit_price=ln.po_unit_price,
                    item_class=self._class(ln.sku) if ln.sku else None,
                )
                for ln in command.lines
            ],
            tax=command.tax,
            total=command.total,
            accounts=self.postings.accounts,
        )
        self.postings.post(ctx, entry, about=(PO_KIND, command.po_id))

    def _class(self, sku: str) -> str:
        item = self.policy.items.get(sku)
        return item.item_class if item is not None else "default"

    # --- exceptions -------------------------------------------------------------------------------------------------

    def _open(
        self, ctx: HandlerContext, po_id: str, owner: ExceptionOwner, code: str, reference: str, text: str
    ) -> None:
        problem = Problem(owner=owner, reason_code=code, about_kind=PO_KIND, about_key=po_id, message=text)
        open_exception(ctx, problem, key=reference)

    def _close(self, ctx: HandlerContext, po_id: str, code: str, reference: str, text: str) -> None:
        """Resolve the exception this machine opened for the same cause, if no one has yet, and announce it."""
        for exception in _openings(ctx.uow, exceptions.exception_id(PO_KIND, po_id, code, reference)):
            if exception.resolved_at is not None:
                continue
            accepted = catalog.ExceptionAction.ACCEPT
            action = ExceptionAction(action=accepted.value, actor=RULE_ACTOR, at=ctx.now, note=text)
            ctx.uow.exceptions.act(exception.id, action, resolve=True)
            resolution = catalog.ExceptionResolved(
                exception=exception.id, action=catalog.ExceptionAction.ACCEPT, resolved_by=RULE_ACTOR, note=text
            )
            ctx.emit(exceptions.RESOLVED, exception.id, catalog.data_of(resolution), partitionkey=po_id)

    def on_resolution(self, event: Envelope, ctx: HandlerContext) -> None:
        """Carry out what a person decided on an exception about a purchase order."""
        resolved = catalog.payload_as(event, catalog.ExceptionResolved)
        if resolved.resolved_by == RULE_ACTOR:
            return  # closed by the machine itself: there is nothing to carry out
        exception = ctx.uow.exceptions.get(resolved.exception)
        if exception is None or exception.about_kind != PO_KIND:
            return
        state = load_state(ctx.uow.purchase_orders.load(exception.about_key), exception.about_key)
        decision = self.decision(state, exception, resolved)
        if decision is not None:
            self.apply(ctx, decision)

    def decision(
        self, state: p2p.POState, exception: BusinessException, resolved: catalog.ExceptionResolved
    ) -> p2p.POFact | None:
        """The fact an action on a PO's exception amounts to, if any:
        - invoice_match: accept or override approves the invoice as it is; cancel or retry rejects it (the supplier
          is asked for a corrected one);
        - acknowledgement_changes: accept or override takes the proposed changes; retry refuses them (the PO goes to
          the supplier again as ordered); cancel cancels the PO;
        - an overdue deadline, a rejection by the supplier or a receiving variance: cancel cancels what is still
          awaited (the whole PO when nothing arrived); other actions only record the decision (a retry means "keep
          waiting");
        - any other (a refused fact, a posting held for a closed period): the decision is only recorded."""
        action = resolved.action
        actions = catalog.ExceptionAction
        if exception.reason_code == "invoice_match":
            invoice = _invoice_of(state, exception)
            if invoice is None:
                return None
            approve = action in (actions.ACCEPT, actions.OVERRIDE)
            return p2p.MatchResolved(po_id=state.po_id, invoice_id=invoice, approve=approve, note=resolved.note)
        if exception.reason_code == "acknowledgement_changes" and action is not actions.CANCEL:
            if state.standing is not p2p.Standing.CHANGES_PENDING or state.acknowledgement_id is None:
                return None  # a later answer or revision replaced the changes decided on
            if action in (actions.ACCEPT, actions.OVERRIDE):
                return p2p.accept_proposed_changes(state, resolved.note)
            return p2p.ChangesDecided(
                po_id=state.po_id, acknowledgement_id=state.acknowledgement_id, accept=False, note=resolved.note
            )
        if action is actions.CANCEL and exception.reason_code in _CANCEL_AWAITED:
            return _cancel_awaited(state, exception.id, resolved.note or exception.reason_code)
        return None

    # --- overdue timers -----------------------------------------------------------------------------------------------

    def _set_timers(self, ctx: HandlerContext, before: p2p.POState, timers: Sequence[p2p.POTimer]) -> None:
        running = p2p.active_timers(before, self.policy.workflow)
        for timer in timers:
            if timer.action == "disarm":
                due = running.get((timer.stage, timer.reference))
                if due is not None:
                    ctx.uow.timers.cancel(timer_key(timer, due))
            elif timer.due_at is not None:
                ctx.uow.timers.schedule(
                    Timer(
                        key=timer_key(timer, timer.due_at),
                        kind=PO_TIMER,
                        due_at=timer.due_at,
                        payload={
                            "po_id": timer.po_id,
                            "stage": timer.stage.value,
                            "reference": timer.reference,
                            "due_at": timer.due_at.isoformat(),
                        },
                    )
                )

    def overdue(self, ctx: HandlerContext, timer: Timer) -> None:
        """A PO waited past a deadline (acknowledgement, ship notice, receipt): its owner is asked, if it still waits
        for the same thing by the same time."""
        po_id = str(timer.payload["po_id"])
        stage = p2p.TimerStage(str(timer.payload["stage"]))
        reference = str(timer.payload.get("reference", ""))
        due = datetime.fromisoformat(str(timer.payload["due_at"]))
        state = load_state(ctx.uow.purchase_orders.load(po_id), po_id)
        if p2p.active_timers(state, self.policy.workflow).get((stage, reference)) != due:
            return  # the PO moved on (or was re-timed) in the same instant the timer came due
        what = f"{stage.value} since {due.isoformat()}" + (f" ({reference})" if reference else "")
        self._open(
            ctx,
            po_id,
            p2p.TIMER_OWNERS[stage],
            stage.value.replace("-", "_"),
            reference,
            "; ".join((what, *p2p.open_reasons(state))),
        )


@dataclass
class ProcureToPay:
    """The procurement desk wired into a router and the timers, next to order-to-cash's stock and posting desks."""

    policy: ProcureToPayPolicy
    desk: ProcurementDesk

    @classmethod
    def build(cls, policy: ProcureToPayPolicy, *, stock: StockDesk, postings: PostingDesk | None) -> ProcureToPay:
        return cls(policy=policy, desk=ProcurementDesk(policy, stock, postings))

    def register(self, router: Router, timers: Timers, publish: Publish) -> None:
        self.desk.register(router)
        timers.register(PO_TIMER, desk_job(self.desk.overdue, publish, partition_by=("po_id",)))


# --- inside ----------------------------------------------------------------------------------------------------------


def _po_of(payload: BaseModel) -> str:
    match payload:
        case catalog.PurchaseOrderIssued(purchase_order=po) | catalog.PurchaseOrderChanged(purchase_order=po):
            return po.number
        case catalog.PurchaseOrderTransmitted(order=order) | catalog.PurchaseOrderCancellationRequested(order=order):
            return order
        case catalog.PurchaseOrderAcknowledged(acknowledgement=ack):
            return ack.order
        case catalog.ShipNoticeReceived(notice=notice):
            return notice.order
        case catalog.GoodsReceiptPosted(receipt=receipt):
            return receipt.order
        case catalog.SupplierInvoiceReceived(invoice=invoice):
            return invoice.order
    raise ValueError(f"{type(payload).__name__} is not about a purchase order")


def _needs_document(payload: BaseModel) -> bool:
    """Whether the fact is counted in the PO's lines and units, or (a change) must replace its document in order.
    What reached the supplier and cancellations need neither: the machine itself holds them until the PO comes."""
    return not isinstance(payload, catalog.PurchaseOrderTransmitted | catalog.PurchaseOrderCancellationRequested)


def _line(document: PurchaseOrder | None, number: int) -> PurchaseOrderLine | None:
    if document is None:
        return None
    return next((line for line in document.lines if line.line == number), None)


def _openings(uow: UnitOfWork, base: str) -> Iterator[BusinessException]:
    """An exception and its reopenings (numbered after it), as open_exception names them."""
    ident = base
    for again in range(1, exceptions.MAX_REOPENINGS + 2):
        found = uow.exceptions.get(ident)
        if found is None:
            return
        yield found
        ident = f"{base}-{again}"


def _invoice_of(state: p2p.POState, exception: BusinessException) -> str | None:
    """The invoice an invoice_match exception is about: its id is derived from the invoice's."""
    for invoice in state.invoices:
        base = exceptions.exception_id(PO_KIND, state.po_id, "invoice_match", invoice.invoice_id)
        if exception.id == base or exception.id.startswith(f"{base}-"):
            return invoice.invoice_id
    return None


def _cancel_awaited(state: p2p.POState, cancellation_id: str, reason: str) -> p2p.POCancelled | None:
    if state.status in _FINISHED or state.status is p2p.POStatus.NOT_ISSUED:
        return None
    if not any(line.received > 0 for line in state.lines):
        return p2p.POCancelled(po_id=state.po_id, cancellation_id=cancellation_id, reason=reason)
    awaited = tuple(
        p2p.LineCount(line_id=line.line_id, quantity=line.awaited) for line in state.lines if line.awaited > 0
    )
    if not awaited:
        return None
    return p2p.POCancelled(po_id=state.po_id, cancellation_id=cancellation_id, lines=awaited, reason=reason)


__all__ = ["PO_KIND", "PO_TIMER", "ProcureToPay", "ProcureToPayPolicy", "ProcurementDesk"]
