"""The posting desk: turns financial events into balanced journal entries, sequenced gap-free per ledger, posted
once, and never into a closed period (moved to the next open one, or held for finance, as configured).

Owns: every write to the journal. Must not: change orders or stock.
"""

from __future__ import annotations

from decimal import Decimal

from crossdock.domain import accounting, catalog, documents
from crossdock.domain.catalog import ExceptionOwner
from crossdock.domain.events import Envelope
from crossdock.domain.workflows import order_to_cash as otc
from crossdock.hub.handlers.exceptions import Problem, open_exception
from crossdock.hub.handlers.orders import INVOICE_LINK, load_state
from crossdock.hub.handlers.policy import OrderToCashPolicy
from crossdock.hub.router import HandlerContext, Router

ZERO = Decimal(0)


class PostingDesk:
    def __init__(self, policy: OrderToCashPolicy, accounts: accounting.AccountMap) -> None:
        self.policy = policy
        self.accounts = accounts

    def register(self, router: Router) -> None:
        router.register(catalog.InvoicePosted.event_type, self.on_invoice)
        router.register(catalog.ShipmentConfirmed.event_type, self.on_shipment)
        router.register(catalog.PaymentApplied.event_type, self.on_payment)
        router.register(catalog.CreditMemoPosted.event_type, self.on_credit_memo)

    def on_invoice(self, event: Envelope, ctx: HandlerContext) -> None:
        invoice = catalog.payload_as(event, catalog.InvoicePosted).invoice
        entry = accounting.entry_for_invoice(
            event_id=event.id,
            invoice_number=invoice.number,
            day=invoice.issued_on,
            currency=invoice.currency,
            lines=[self._sales_line(line, invoice.currency) for line in invoice.lines],
            accounts=self.accounts,
            channel=self._channel(ctx, invoice.order),
            total=invoice.total().amount,
        )
        self.post(ctx, entry, about=("invoice", invoice.number))

    def on_credit_memo(self, event: Envelope, ctx: HandlerContext) -> None:
        memo = catalog.payload_as(event, catalog.CreditMemoPosted).credit_memo
        order = ctx.uow.links.target(INVOICE_LINK, memo.invoice) if memo.invoice else None
        entry = accounting.entry_for_credit_memo(
            event_id=event.id,
            credit_memo_number=memo.number,
            invoice_number=memo.invoice,
            day=memo.issued_on,
            currency=memo.currency,
            lines=[self._sales_line(line, memo.currency) for line in memo.lines],
            accounts=self.accounts,
            channel=self._channel(ctx, order) if order else None,
            total=memo.total().amount,
        )
        self.post(ctx, entry, about=("credit_memo", memo.number))

    def on_shipment(self, event: Envelope, ctx: HandlerContext) -> None:
        shipment = catalog.payload_as(event, catalog.ShipmentConfirmed).shipment
        if not self.policy.unit_costs:
            return  # no cost known: nothing to move out of inventory at cost
        # Stock is valued in the ledger's currency whatever the order's, so the entry needs nothing from the
        # order: a shipment confirmed before its order arrives is costed at once.
        record = ctx.uow.orders.load(shipment.order)
        lines = [
            accounting.CostLine(
                quantity=self.policy.base_quantity(line.sku, line.quantity),
                unit_cost=self.policy.unit_costs.get(line.sku, ZERO),
                item_class=self.policy.item(line.sku).item_class,
            )
            for line in shipment.lines
        ]
        entry = accounting.entry_for_shipment(
            event_id=event.id,
            shipment_number=shipment.number,
            day=(shipment.shipped_at or event.time).date(),
            currency=self.policy.ledger_currency,
            lines=lines,
            accounts=self.accounts,
            channel=record.channel if record else None,
        )
        self.post(ctx, entry, about=("shipment", shipment.number))

    def on_payment(self, event: Envelope, ctx: HandlerContext) -> None:
        payment = catalog.payload_as(event, catalog.PaymentApplied).payment
        if payment.is_prepayment:
            assert payment.order is not None
            entry = accounting.entry_for_prepayment(
                event_id=event.id,
                payment_number=payment.reference,
                order_number=payment.order,
                day=payment.received_on,
                currency=payment.currency,
                amount=payment.amount,
                accounts=self.accounts,
                channel=self._channel(ctx, payment.order),
            )
            self.post(ctx, entry, about=("payment", payment.reference))
            return
        entry = accounting.entry_for_payment(
            event_id=event.id,
            payment_number=payment.reference,
            day=payment.received_on,
            currency=payment.currency,
            amount=payment.amount,
            open_receivable=self._open_before(ctx, payment),
            accounts=self.accounts,
        )
        self.post(ctx, entry, about=("payment", payment.reference))

    # --- prepayments: the order desk asks, as its workflow applies or releases them --------------------------------

    def apply_prepayment(self, ctx: HandlerContext, command: otc.ApplyPrepayment) -> None:
        """Part of a prepayment settles an invoice: deposit against receivable."""
        self._cause_first(ctx)
        entry = accounting.entry_for_prepayment_application(
            event_id=ctx.cause.id,
            payment_number=command.payment_id,
            order_number=command.order_id,
            application=command.number,
            invoice_number=command.invoice_id,
            day=ctx.now.date(),
            currency=command.currency,
            amount=command.amount,
            accounts=self.accounts,
            channel=self._channel(ctx, command.order_id),
        )
        self.post(ctx, entry, about=("payment", command.payment_id))

    def release_prepayment(self, ctx: HandlerContext, command: otc.ReleasePrepayment) -> None:
        """The order ended with part of a prepayment unapplied: deposit to customer credit."""
        self._cause_first(ctx)
        entry = accounting.entry_for_prepayment_release(
            event_id=ctx.cause.id,
            payment_number=command.payment_id,
            order_number=command.order_id,
            day=ctx.now.date(),
            currency=command.currency,
            amount=command.amount,
            accounts=self.accounts,
        )
        self.post(ctx, entry, about=("payment", command.payment_id))

    def _cause_first(self, ctx: HandlerContext) -> None:
        """The order desk handles an event before this desk does; post the receipt or invoice that caused an
        application first, so the journal reads in the order things happened. Posting is idempotent: when this
        desk's own turn comes for that event, it posts nothing more."""
        if ctx.cause.type == catalog.PaymentApplied.event_type:
            self.on_payment(ctx.cause, ctx)
        elif ctx.cause.type == catalog.InvoicePosted.event_type:
            self.on_invoice(ctx.cause, ctx)

    def _open_before(self, ctx: HandlerContext, payment: documents.Payment) -> Decimal:
        """What the payment's invoices left open before it: the rest of the payment is the customer's credit.
        An invoice not known yet counts as fully open; its order settles the difference when it arrives."""
        applied: dict[str, Decimal] = {}
        unknown = ZERO
        for application in payment.applications:
            order_id = ctx.uow.links.target(INVOICE_LINK, application.invoice)
            if order_id is None:
                unknown += application.amount
            else:
                applied[order_id] = applied.get(order_id, ZERO) + application.amount
        open_amount = unknown
        for order_id, amount in applied.items():
            state = load_state(ctx.uow.orders.load(order_id), order_id)
            counted = any(key.startswith(f"payment:{payment.reference}:") for key in state.seen)
            # Prepayments still held on the order (not applied to an invoice) settle no receivable yet.
            settled = state.paid_against_invoices
            paid_before = settled - amount if counted else settled
            open_amount += min(amount, max(ZERO, state.invoiced_amount - paid_before))
        return open_amount

    def post(self, ctx: HandlerContext, entry: accounting.JournalEntry | None, *, about: tuple[str, str]) -> None:
        if entry is None:
            return  # worth nothing: no entry
        ledger = ctx.uow.journal.ledger(self.policy.ledger, [entry.id])
        result = accounting.post(ledger, [entry], closed_period_policy=self.policy.closed_period_policy)
        if result.posted:
            ctx.uow.journal.add(self.policy.ledger, result.posted, result.state.last_sequence, ctx.now)
        for posted in result.posted:
            assert posted.sequence is not None
            payload = catalog.JournalPosted(
                entry=posted.id,
                sequence=posted.sequence,
                period=posted.period,
                posted_on=posted.date,
                currency=posted.currency,
                source=catalog.BusinessRef(kind=posted.source.document_type, key=posted.source.document_number),
                lines=tuple(
                    catalog.JournalLine(account=line.account, debit=line.debit, credit=line.credit, memo=line.memo)
                    for line in posted.lines
                ),
            )
            ctx.emit(
                catalog.JournalPosted.event_type, posted.id, catalog.data_of(payload), partitionkey=self.policy.ledger
            )
        for held in result.held:
            open_exception(
                ctx,
                Problem(
                    owner=ExceptionOwner(held.owner.value),
                    reason_code=held.reason_code.value,
                    about_kind=about[0],
                    about_key=about[1],
                    message=held.detail,
                ),
                key=held.exception_id,
            )

    def _sales_line(self, line: documents.InvoiceLine, currency: str) -> accounting.SalesLine:
        return accounting.SalesLine(
            net=line.net(currency).amount,
            tax=line.tax(currency).amount,
            item_class=self.policy.item(line.sku).item_class,
        )

    def _channel(self, ctx: HandlerContext, order_id: str) -> str | None:
        record = ctx.uow.orders.load(order_id)
        return record.channel if record is not None else None
