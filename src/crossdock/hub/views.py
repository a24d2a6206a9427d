"""Read views of order-to-cash for portals and operators: orders, availability, exceptions, the journal and
reconciliation reports, and of procure-to-pay: purchase orders with their receipts, invoices and match results;
answered once as JSON-ready dicts for the API and the CLI alike (decimals as strings).

Owns: the shape of these answers and the availability cursor. Must not: write anything, or format for a terminal.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from crossdock.domain import inventory
from crossdock.domain.accounting import JournalEntry
from crossdock.domain.money import round_money
from crossdock.domain.procurement import PurchaseOrder
from crossdock.domain.workflows import order_to_cash as otc
from crossdock.domain.workflows import procure_to_pay as p2p
from crossdock.hub.handlers.policy import OrderToCashPolicy
from crossdock.hub.ports import (
    BusinessException,
    ExceptionFilter,
    ExceptionStatus,
    OrderFilter,
    OrderRecord,
    PurchaseOrderFilter,
    PurchaseOrderRecord,
    StoredEvent,
    UnitOfWork,
)

ZERO = Decimal(0)
ORDER_KIND = "order"
STOCK_KIND = "stock"
DRIFT_REASON = "inventory_drift"  # what the stock desk opens for a drift it may not correct
HISTORY_LIMIT = 1000


def order_link(order_id: str) -> str:
    return f"/v1/orders/{quote(order_id, safe='')}"


# ---- orders ----------------------------------------------------------------------------------------------------


def order_state(record: OrderRecord) -> otc.OrderState:
    return otc.OrderState.model_validate(record.state)


def order_summary(record: OrderRecord) -> dict[str, Any]:
    state = order_state(record)
    return {
        "order": record.order_id,
        "status": record.status,
        "channel": record.channel,
        "customer": record.customer_id,
        "currency": state.currency,
        "total": _total(state),
        "balance_due": _dec(state.balance_due),
        "created_at": _iso(record.created_at),
        "updated_at": _iso(record.updated_at),
        "link": order_link(record.order_id),
    }


def list_orders(
    uow: UnitOfWork,
    *,
    status: str | None = None,
    channel: str | None = None,
    customer: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Newest update first."""
    found = uow.orders.find(OrderFilter(status=status, channel=channel, customer_id=customer, limit=limit))
    return [order_summary(record) for record in found]


def order_view(uow: UnitOfWork, order_id: str) -> dict[str, Any] | None:
    """One order as its channel and its operators need it; None when the hub has no state for it."""
    record = uow.orders.load(order_id)
    if record is None:
        return None
    state = order_state(record)
    exceptions = [
        exception_view(e)
        for e in uow.exceptions.find(ExceptionFilter(status=ExceptionStatus.OPEN, about_key=order_id, limit=1000))
        if e.about_kind == ORDER_KIND
    ]
    return {
        **order_summary(record),
        "revision": state.revision,
        "lines": [_line_view(line) for line in state.lines],
        "amounts": {
            "currency": state.currency,
            "total": _total(state),
            "invoiced": _dec(state.invoiced_amount),
            "paid": _dec(state.paid),
            "balance_due": _dec(state.balance_due),
            "credit": _dec(state.credit),
        },
        "shipments": [
            {
                "shipment": shipment.shipment_id,
                "lines": [
                    {"line_id": line.line_id, "shipped": _dec(line.shipped), "invoiced": _dec(line.invoiced)}
                    for line in shipment.lines
                ],
            }
            for shipment in state.shipments
        ],
        "rejection": [{"code": reason.code.value, "text": reason.text} for reason in state.rejection],
        "open_reasons": list(otc.open_reasons(state)),
        "held_facts": len(state.held),
        "exceptions": exceptions,
        # The stages whose SLA clock is running: each has a durable timer keyed like this.
        "sla_timers": [
            {"stage": stage.value, "timer": otc.timer_key(order_id, stage)}
            for stage in sorted(otc.active_stages(state))
        ],
        "history": history(uow.log.for_subject(order_id, limit=HISTORY_LIMIT)),
    }


def history(events: Iterable[StoredEvent]) -> list[dict[str, Any]]:
    """Events in log order, with what caused each."""
    return [
        {
            "position": stored.position,
            "time": stored.envelope.time.isoformat(),
            "type": stored.envelope.type,
            "id": stored.envelope.id,
            "source": stored.envelope.source,
            "causationid": stored.envelope.causationid,
        }
        for stored in sorted(events, key=lambda e: e.position)
    ]


def _line_view(line: otc.LineState) -> dict[str, Any]:
    return {
        "line_id": line.line_id,
        "sku": line.sku,
        "ordered": _dec(line.ordered),
        "cancelled": _dec(line.cancelled),
        "reserved": _dec(line.reserved),
        "backordered": _dec(line.backordered),
        "released": _dec(line.released),
        "shipped": _dec(line.shipped),
        "invoiced": _dec(line.invoiced),
        "unit_price": _dec(line.unit_price),
    }


def _total(state: otc.OrderState) -> str | None:
    # An order known only from facts that came before it has no currency, hence no total yet.
    return _dec(otc.order_total(state)) if state.currency is not None else None


# ---- availability ----------------------------------------------------------------------------------------------


def availability(
    uow: UnitOfWork,
    policy: OrderToCashPolicy,
    sku: str,
    *,
    location: str | None = None,
    channel: str | None = None,
) -> dict[str, Any]:
    """Network figures of one sku, its locations (or the one asked for), and what each channel may sell."""
    state = uow.inventory.load([sku])
    network = inventory.network_stock(state, sku)
    positions = sorted(state.positions(sku), key=lambda p: p.location)
    if location is not None:
        positions = [state.position(sku, location)]
    channels = [channel] if channel is not None else list(policy.channels)
    return {
        "sku": sku,
        "unit": policy.base_unit(sku),
        "network": {
            "on_hand": _dec(network.on_hand),
            "in_transit": _dec(network.in_transit),
            "reserved": _dec(network.reserved),
            "available": _dec(network.available),
        },
        "locations": [_position_view(p) for p in positions],
        "channels": [
            {
                "channel": name,
                "available": _dec(inventory.channel_availability(state, sku, name, policy.buffers)),
            }
            for name in channels
        ],
    }


def positions_page(
    uow: UnitOfWork, *, location: str | None = None, after: str | None = None, limit: int = 100
) -> dict[str, Any]:
    """A page of positions ordered by sku and location; `next` is the cursor of the following page, if any.
    Raises ValueError for a cursor this function did not give out."""
    start = decode_cursor(after) if after else None
    state = uow.inventory.positions(location=location, after=start, limit=limit)
    found = sorted(state.positions(), key=lambda p: (p.sku, p.location))
    if location is not None:
        found = [p for p in found if p.location == location]
    found = found[:limit]
    following = encode_cursor((found[-1].sku, found[-1].location)) if len(found) == limit else None
    return {"items": [_position_view(p) for p in found], "next": following}


def encode_cursor(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sku, location = json.loads(raw)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise ValueError(f"{cursor!r} is not a cursor this hub gave out") from exc
    if not isinstance(sku, str) or not isinstance(location, str):
        raise ValueError(f"{cursor!r} is not a cursor this hub gave out")
    return sku, location


def _position_view(position: inventory.StockPosition) -> dict[str, Any]:
    return {
        "sku": position.sku,
        "location": position.location,
        "on_hand": _dec(position.on_hand),
        "in_transit": _dec(position.in_transit),
        "reserved": _dec(position.reserved),
        "available": _dec(position.available),
    }


# ---- exceptions ------------------------------------------------------------------------------------------------


def exception_view(exception: BusinessException) -> dict[str, Any]:
    return {
        "id": exception.id,
        "owner": exception.owner,
        "reason_code": exception.reason_code,
        "about": {"kind": exception.about_kind, "key": exception.about_key},
        "message": exception.message,
        "status": exception.status.value,
        "opened_at": _iso(exception.opened_at),
        "resolved_at": _iso(exception.resolved_at),
        "actions": [
            {"action": a.action, "actor": a.actor, "at": _iso(a.at), "note": a.note} for a in exception.actions
        ],
    }


def list_exceptions(
    uow: UnitOfWork,
    *,
    status: ExceptionStatus | None = ExceptionStatus.OPEN,
    owner: str | None = None,
    about: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Oldest first; `status` None lists open and resolved alike."""
    found = uow.exceptions.find(ExceptionFilter(status=status, owner=owner, about_key=about, limit=limit))
    return [exception_view(e) for e in found]


def exception_detail(uow: UnitOfWork, exception_id: str) -> dict[str, Any] | None:
    found = uow.exceptions.get(exception_id)
    return exception_view(found) if found is not None else None


# ---- the journal -----------------------------------------------------------------------------------------------


def journal_page(uow: UnitOfWork, *, ledger: str, after: int = 0, limit: int = 100) -> dict[str, Any]:
    """Posted entries in sequence after `after`, with the page's debit and credit totals per currency."""
    entries = uow.journal.entries(ledger, after_sequence=after, limit=limit)
    return {
        "ledger": ledger,
        "items": [entry.model_dump(mode="json") for entry in entries],
        "totals": journal_totals(entries),
        "next": entries[-1].sequence if len(entries) == limit and entries else None,
    }


def journal_totals(entries: Sequence[JournalEntry]) -> dict[str, dict[str, str]]:
    sums: dict[str, tuple[Decimal, Decimal]] = {}
    for entry in entries:
        debit, credit = sums.get(entry.currency, (ZERO, ZERO))
        sums[entry.currency] = (
            debit + sum((line.debit for line in entry.lines), ZERO),
            credit + sum((line.credit for line in entry.lines), ZERO),
        )
    return {currency: {"debit": _dec(d), "credit": _dec(c)} for currency, (d, c) in sorted(sums.items())}


# ---- reconciliation --------------------------------------------------------------------------------------------


def reconciliation_view(uow: UnitOfWork, report: inventory.ReconciliationReport) -> dict[str, Any]:
    """What a reconciliation found and did: every drift with its cause and action, the adjustments it posts and
    the open exceptions its drifts stand behind (their ids, to be looked up and acted on)."""
    raised: list[str] = []
    for drift in report.exceptions:
        about = f"{drift.sku}@{drift.location}"
        found = uow.exceptions.find(
            ExceptionFilter(status=ExceptionStatus.OPEN, about_key=about, reason_code=DRIFT_REASON, limit=1000)
        )
        raised.extend(e.id for e in found if e.about_kind == STOCK_KIND)
    return {
        "reconciliation": report.reconciliation_id,
        "source": report.source,
        "as_of": report.as_of.isoformat(),
        "checked": report.checked,
        "matched": report.matched,
        "drifts": [
            {
                "sku": drift.sku,
                "location": drift.location,
                "ledger": _dec(drift.ledger_on_hand),
                "counted": _dec(drift.counted),
                "drift": _dec(drift.drift),
                "explained": _dec(drift.explained),
                "unexplained": _dec(drift.unexplained),
                "cause": drift.cause.value,
                "action": drift.action.value,
                "explanation": drift.explanation,
                "adjustment": drift.adjustment.id if drift.adjustment is not None else None,
            }
            for drift in report.drifts
        ],
        "adjustments": len(report.adjustments),
        "exceptions": raised,
    }


# ---- purchase orders -------------------------------------------------------------------------------------------

PURCHASE_ORDER_KIND = "purchase_order"  # what the procurement desk's exceptions are about


def purchase_order_link(po_id: str) -> str:
    return f"/v1/purchase-orders/{quote(po_id, safe='')}"


def purchase_order_state(record: PurchaseOrderRecord) -> p2p.POState:
    return p2p.POState.model_validate(record.state)


def purchase_order_summary(record: PurchaseOrderRecord) -> dict[str, Any]:
    state = purchase_order_state(record)
    known = state.currency is not None
    return {
        "purchase_order": record.po_id,
        "status": record.status,
        "supplier": record.supplier_id,
        "currency": state.currency,
        "ship_to": state.ship_to,
        # A PO known only from facts that came before it has no currency, hence no amounts yet.
        "ordered_value": _dec(_ordered_value(state)) if known else None,
        "received_value": _dec(p2p.received_value(state)) if known else None,
        "invoiced_value": _dec(_invoiced_value(state)) if known else None,
        "created_at": _iso(record.created_at),
        "updated_at": _iso(record.updated_at),
        "link": purchase_order_link(record.po_id),
    }


def list_purchase_orders(
    uow: UnitOfWork, *, status: str | None = None, supplier: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Newest update first."""
    found = uow.purchase_orders.find(PurchaseOrderFilter(status=status, supplier_id=supplier, limit=limit))
    return [purchase_order_summary(record) for record in found]


def purchase_order_view(uow: UnitOfWork, po_id: str, policy: p2p.Policy = p2p.DEFAULT_POLICY) -> dict[str, Any] | None:
    """One purchase order as procurement and finance need it: per line what was ordered, acknowledged, announced,
    received and invoiced, the variances, the match of every invoice, why it is still open, its exceptions, running
    timers and history. None when the hub has no state for it. `policy` dates the timers as the desk does."""
    record = uow.purchase_orders.load(po_id)
    if record is None:
        return None
    state = purchase_order_state(record)
    document = PurchaseOrder.model_validate(record.document) if record.document is not None else None
    exceptions = [
        exception_view(e)
        for e in uow.exceptions.find(ExceptionFilter(status=ExceptionStatus.OPEN, about_key=po_id, limit=1000))
        if e.about_kind == PURCHASE_ORDER_KIND
    ]
    return {
        **purchase_order_summary(record),
        "revision": state.revision,
        "sent_revision": state.sent_revision,
        "last_sent_at": _iso(state.last_sent_at),
        "acknowledgement": {
            "id": state.acknowledgement_id,
            "standing": state.standing.value if state.standing is not None else None,
            "proposals": [_proposal_view(proposal) for proposal in state.proposals],
        },
        "lines": [_po_line_view(state, line, document) for line in state.lines],
        "notices": [
            {
                "shipment": notice.shipment_id,
                "expected_on": notice.expected_on.isoformat(),
                "lines": [{"line_id": part.line_id, "quantity": _dec(part.quantity)} for part in notice.lines],
            }
            for notice in state.notices
        ],
        "receipts": [
            {
                "receipt": receipt.receipt_id,
                "shipment": receipt.shipment_id,
                "location": receipt.location,
                "lines": [
                    {
                        "line_id": part.line_id,
                        "received": _dec(part.quantity),
                        "damaged": _dec(part.damaged),
                        "accepted": _dec(part.accepted),
                    }
                    for part in receipt.lines
                ],
            }
            for receipt in state.receipts
        ],
        "invoices": [_invoice_view(state, invoice) for invoice in state.invoices],
        "open_reasons": list(p2p.open_reasons(state)),
        "held_facts": [p2p.fact_key(fact) for fact in state.held],
        "exceptions": exceptions,
        # The deadlines running now: each has a durable timer that opens an exception for its owner when it passes.
        "timers": [
            {"stage": stage.value, "reference": reference or None, "due_at": due.isoformat()}
            for (stage, reference), due in sorted(p2p.active_timers(state, policy).items())
        ],
        "history": history(uow.log.for_subject(po_id, limit=HISTORY_LIMIT)),
    }


def _po_line_view(state: p2p.POState, line: p2p.LineState, document: PurchaseOrder | None) -> dict[str, Any]:
    ordered = next((ln for ln in document.lines if str(ln.line) == line.line_id), None) if document else None
    acknowledged = state.standing is p2p.Standing.ACCEPTED
    return {
        "line_id": line.line_id,
        "sku": line.sku,
        "substituted_for": line.substituted_for,
        "unit": ordered.quantity.unit if ordered is not None else None,
        # As the buyer's current revision orders it, and as the supplier's accepted answer (and cancellations) left it.
        "ordered": _dec(ordered.quantity.value) if ordered is not None else _dec(line.ordered),
        "ordered_unit_price": _dec(ordered.unit_price) if ordered is not None else _dec(line.unit_price),
        "acknowledged": _dec(line.ordered) if acknowledged else None,
        "unit_price": _dec(line.unit_price),
        "delivery_on": line.delivery_on.isoformat() if line.delivery_on is not None else None,
        "cancelled": _dec(line.cancelled),
        "open": _dec(line.open),
        "noticed": _dec(line.noticed),
        "received": _dec(line.received),
        "damaged": _dec(line.damaged),
        "invoiced": _dec(line.invoiced),
        "awaited": _dec(line.awaited),
        "variances": {
            # Negative: fewer than still ordered arrived (so far); positive: more.
            "received": _dec(line.received - line.open),
            "noticed": _dec(line.noticed - line.open),
        },
    }


def _proposal_view(proposal: p2p.Proposal) -> dict[str, Any]:
    return {
        "line_id": proposal.line_id,
        "status": proposal.status.value,
        "quantity": _dec(proposal.quantity) if proposal.quantity is not None else None,
        "unit_price": _dec(proposal.unit_price) if proposal.unit_price is not None else None,
        "delivery_on": proposal.delivery_on.isoformat() if proposal.delivery_on is not None else None,
        "substitute_sku": proposal.substitute_sku,
        "beyond_policy": list(proposal.beyond_policy),
    }


def _invoice_view(state: p2p.POState, invoice: p2p.InvoiceRecord) -> dict[str, Any]:
    accrued = dict(invoice.accrued_prices)
    lines = []
    for part in invoice.lines:
        line = state.line(part.line_id)
        po_price = accrued.get(part.line_id, line.unit_price if line is not None else None)
        lines.append(
            {
                "line_id": part.line_id,
                "quantity": _dec(part.quantity),
                "unit_price": _dec(part.unit_price),
                "po_unit_price": _dec(po_price) if po_price is not None else None,
                "price_variance": _dec(part.unit_price - po_price) if po_price is not None else None,
            }
        )
    view: dict[str, Any] = {
        "invoice": invoice.invoice_id,
        "status": invoice.status.value,
        "currency": invoice.currency,
        "tax": _dec(invoice.tax),
        "total": _dec(invoice.total),
        "resolution": invoice.resolution,
        "note": invoice.note,
        "lines": lines,
        "reasons": [
            {"code": reason.code.value, "line_id": reason.line_id, "text": reason.text} for reason in invoice.reasons
        ],
    }
    if invoice.status not in p2p.FINAL_INVOICE and state.currency is not None:
        # How it matches against the PO as it stands now: per line, quantity against receipts and price against
        # the PO, within the supplier's tolerance.
        result = p2p.match_invoice_state(state, invoice)
        view["match"] = [
            {
                "line_id": verdict.line_id,
                "received": _dec(verdict.received),
                "invoiced_before": _dec(verdict.invoiced_before),
                "quantity_ok": verdict.quantity_ok,
                "price_ok": verdict.price_ok,
            }
            for verdict in result.lines
        ]
    return view


def _ordered_value(state: p2p.POState) -> Decimal:
    currency = state.currency or ""
    return sum((round_money(line.open * line.unit_price, currency) for line in state.lines), ZERO)


def _invoiced_value(state: p2p.POState) -> Decimal:
    return sum(
        (
            round_money(part.quantity * part.unit_price, invoice.currency)
            for invoice in state.invoices
            if invoice.status is p2p.InvoiceStatus.APPROVED
            for part in invoice.lines
        ),
        ZERO,
    )


# ---- inside ----------------------------------------------------------------------------------------------------


def _dec(value: Decimal) -> str:
    return str(value)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
