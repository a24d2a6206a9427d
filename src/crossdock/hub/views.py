"""Read views of order-to-cash for portals and operators: orders, shipments, invoices, availability, exceptions, the
journal and reconciliation reports and runs, and of procure-to-pay: purchase orders with their receipts, invoices and
match results; answered once as JSON-ready dicts for the API and the CLI alike (decimals as strings).

Owns: the shape of these answers and the availability cursor. Must not: write anything, or format for a terminal.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote

from crossdock.domain import catalog, documents, inventory
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
    ReconciliationRun,
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
    events = uow.log.for_subject(order_id, limit=HISTORY_LIMIT)
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
        "prepayments": _prepayments_view(uow, state, events),
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
        "history": history(events),
        "releases": warehouse_stages(events),
    }


def _prepayments_view(uow: UnitOfWork, state: otc.OrderState, events: Sequence[StoredEvent]) -> list[dict[str, Any]]:
    """Each prepayment held on the order, oldest first: what was taken, what went to which invoice, what was
    released as the customer's credit when the order ended, and what it still holds."""
    found = []
    for prepayment in state.prepayments:
        by_invoice: dict[str, Decimal] = {}
        for application in state.prepayment_applications:
            if application.payment_id == prepayment.payment_id:
                by_invoice[application.invoice_id] = by_invoice.get(application.invoice_id, ZERO) + application.amount
        payment = _payment_document(uow, prepayment.payment_id, events)
        found.append(
            {
                "payment": prepayment.payment_id,
                "received_on": payment.received_on.isoformat() if payment is not None else None,
                "amount": _dec(prepayment.amount),
                "applied": _dec(prepayment.applied),
                "released": _dec(prepayment.released),
                "held": _dec(prepayment.held),
                "applications": [
                    {"invoice": invoice, "amount": _dec(amount), "link": invoice_link(invoice)}
                    for invoice, amount in by_invoice.items()
                ],
            }
        )
    return found


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


# How far a release has gone through its warehouse, in order; a shipment names no release, so shipping shows on the
# order's lines and shipments.
RELEASE_STAGES = ("released", "picked", "packed")
_StageFact = catalog.ShipmentReleased | catalog.ShipmentPicked | catalog.ShipmentPacked
_STAGE_FACTS: dict[str, tuple[str, type[_StageFact]]] = {
    catalog.ShipmentReleased.event_type: ("released", catalog.ShipmentReleased),
    catalog.ShipmentPicked.event_type: ("picked", catalog.ShipmentPicked),
    catalog.ShipmentPacked.event_type: ("packed", catalog.ShipmentPacked),
}


def warehouse_stages(events: Iterable[StoredEvent]) -> list[dict[str, Any]]:
    """Each release of the order with the furthest stage its warehouse reported (released, picked, packed), when,
    and how much of each line was picked and packed (summed over the warehouse's confirmations). A pick or pack of a
    release the hub did not record is shown too: the warehouse's word is what there is."""
    releases: dict[str, dict[str, Any]] = {}
    lines: dict[str, dict[int, dict[str, Any]]] = {}
    for stored in sorted(events, key=lambda e: e.position):
        found = _STAGE_FACTS.get(stored.envelope.type)
        if found is None:
            continue
        stage, model = found
        fact = catalog.payload_as(stored.envelope, model)
        entry = releases.setdefault(
            fact.release,
            {"release": fact.release, "location": fact.from_location, "stage": stage, "packages": []},
        )
        if RELEASE_STAGES.index(stage) >= RELEASE_STAGES.index(entry["stage"]):
            entry["stage"] = stage
        entry[f"{stage}_at"] = stored.envelope.time.isoformat()
        if isinstance(fact, catalog.ShipmentPacked):
            entry["packages"].extend(
                {"package": parcel.package, "tracking_number": parcel.tracking_number} for parcel in fact.packages
            )
        by_line = lines.setdefault(fact.release, {})
        for line in fact.lines:
            figures = by_line.setdefault(
                line.line, {"line": line.line, "sku": line.sku, "released": ZERO, "picked": ZERO, "packed": ZERO}
            )
            figures[stage] += line.quantity.value
    return [
        {
            **entry,
            "lines": [
                {**figures, **{name: _dec(figures[name]) for name in RELEASE_STAGES}}
                for _number, figures in sorted(lines[release].items())
            ],
        }
        for release, entry in releases.items()
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


# ---- shipments and invoices ----------------------------------------------------------------------------------

INVOICE_LINK = "invoice"  # the order desk links each invoice number to its order under this kind
SHIPMENT_LINK = "shipment"  # ... each shipment number to its order, as it records the shipment
CREDIT_MEMOS_LINK = "credit_memos"  # ... and "<invoice>#<n>" to the number of that invoice's n-th credit memo
_P = TypeVar("_P", bound=catalog.Payload)
SHIPMENT_DOCUMENT = "shipment"  # the posting desk's journal entries name a shipment by this document type


def shipment_link(shipment_id: str) -> str:
    return f"/v1/shipments/{quote(shipment_id, safe='')}"


def invoice_link(invoice_id: str) -> str:
    return f"/v1/invoices/{quote(invoice_id, safe='')}"


def order_shipments(uow: UnitOfWork, order_id: str) -> dict[str, Any] | None:
    """What left the warehouses for one order, read from the order's log and state: each confirmed shipment with its
    location, carrier, tracking numbers, lines (as shipped, and how much of each is invoiced) and status; each release
    to a warehouse; and per line what was released but has not shipped yet. None when the hub has no such order."""
    record = uow.orders.load(order_id)
    if record is None:
        return None
    state = order_state(record)
    events = sorted(uow.log.for_subject(order_id, limit=HISTORY_LIMIT), key=lambda e: e.position)
    invoices: dict[str, list[str]] = {}
    for stored in events:
        if (invoice := _payload(stored, catalog.InvoicePosted)) is not None:
            invoices.setdefault(invoice.invoice.shipment, []).append(invoice.invoice.number)
    shipments: dict[str, dict[str, Any]] = {}
    releases = []
    for stored in events:
        if (confirmed := _payload(stored, catalog.ShipmentConfirmed)) is not None:
            shipment = confirmed.shipment
            if shipment.order == order_id and shipment.number not in shipments:
                shipments[shipment.number] = _shipment_view(record, state, stored, shipment, invoices)
        elif (released := _payload(stored, catalog.ShipmentReleased)) is not None:
            releases.append(
                {
                    "release": released.release,
                    "location": released.from_location,
                    "released_at": stored.envelope.time.isoformat(),
                    "lines": [_document_line(line) for line in released.lines],
                }
            )
    return {
        "order": order_id,
        "status": record.status,
        "channel": record.channel,
        "shipments": list(shipments.values()),
        "releases": releases,
        "awaiting_shipment": [
            {
                "line_id": line.line_id,
                "sku": line.sku,
                "released": _dec(line.released),
                "shipped": _dec(line.shipped),
                "awaiting": _dec(line.released - line.shipped),
            }
            for line in state.lines
            if line.released > line.shipped
        ],
        "link": order_link(order_id),
    }


def shipment_order(uow: UnitOfWork, shipment_id: str, *, invoice_prefix: str) -> str | None:
    """The order a shipment belongs to, found through what the hub keeps about it: the link the order desk made when
    it recorded the shipment; for a shipment recorded before such links were made, the invoice the hub billed for it
    (numbered invoice_prefix + shipment), else the journal entry that moved its goods out at cost."""
    order = uow.links.target(SHIPMENT_LINK, shipment_id) or uow.links.target(
        INVOICE_LINK, f"{invoice_prefix}{shipment_id}"
    )
    if order is not None:
        return order
    for entry in uow.journal.for_source(shipment_id):
        if entry.source.document_type != SHIPMENT_DOCUMENT:
            continue
        stored = uow.log.get(entry.source.event_id)
        if stored is not None:
            return stored.envelope.subject
    return None


def shipment_view(uow: UnitOfWork, shipment_id: str, *, invoice_prefix: str) -> dict[str, Any] | None:
    """One shipment with its order's channel; None when the hub cannot tell which order it belongs to."""
    order = shipment_order(uow, shipment_id, invoice_prefix=invoice_prefix)
    found = order_shipments(uow, order) if order is not None else None
    if found is None:
        return None
    return next((s for s in found["shipments"] if s["shipment"] == shipment_id), None)


def _shipment_view(
    record: OrderRecord,
    state: otc.OrderState,
    stored: StoredEvent,
    shipment: documents.Shipment,
    invoices: dict[str, list[str]],
) -> dict[str, Any]:
    kept = next((s for s in state.shipments if s.shipment_id == shipment.number), None)
    progress = {line.line_id: line for line in kept.lines} if kept is not None else {}
    lines = []
    for line in shipment.lines:
        line_id = documents.line_id(line.line)
        done = progress.get(line_id)
        lines.append(
            {
                **_document_line(line),
                "shipped": _dec(done.shipped) if done is not None else None,
                "invoiced": _dec(done.invoiced) if done is not None else None,
            }
        )
    return {
        "shipment": shipment.number,
        "order": shipment.order,
        "channel": record.channel,
        "location": shipment.from_location,
        "carrier": shipment.carrier,
        "tracking_numbers": list(shipment.tracking_numbers),
        "status": _shipment_status(kept),
        "shipped_at": (shipment.shipped_at or stored.envelope.time).isoformat(),
        "confirmed_at": stored.envelope.time.isoformat(),
        "lines": lines,
        "invoices": [{"invoice": number, "link": invoice_link(number)} for number in invoices.get(shipment.number, [])],
        "link": shipment_link(shipment.number),
    }


def _shipment_status(kept: otc.ShipmentRecord | None) -> str:
    """held: confirmed but not applied to the order yet (it waits for its order or release); shipped: nothing of it
    billed; partially_invoiced; invoiced."""
    if kept is None:
        return "held"
    shipped = sum((line.shipped for line in kept.lines), ZERO)
    invoiced = sum((line.invoiced for line in kept.lines), ZERO)
    if invoiced <= 0:
        return "shipped"
    return "invoiced" if invoiced >= shipped else "partially_invoiced"


def _document_line(line: documents.ShipmentLine) -> dict[str, Any]:
    return {
        "line_id": documents.line_id(line.line),
        "sku": line.sku,
        "quantity": {"value": _dec(line.quantity.value), "unit": line.quantity.unit},
    }


def invoice_view(uow: UnitOfWork, invoice_id: str) -> dict[str, Any] | None:
    """One customer invoice as its order's log and state know it: what it bills, what was paid against it (each
    payment applied, prepayments applied from the order included, with its amount and date), the credit memos that
    credit it, and what is still open. None when no order claims the invoice."""
    order_id = uow.links.target(INVOICE_LINK, invoice_id)
    record = uow.orders.load(order_id) if order_id is not None else None
    if order_id is None or record is None:
        return None
    state = order_state(record)
    events = uow.log.for_subject(order_id, limit=HISTORY_LIMIT)
    posted = next(
        (
            (stored, found.invoice)
            for stored in sorted(events, key=lambda e: e.position)
            if (found := _payload(stored, catalog.InvoicePosted)) is not None and found.invoice.number == invoice_id
        ),
        None,
    )
    invoice = posted[1] if posted is not None else None
    payments = _payments_applied(uow, state, invoice_id) + _prepayments_applied(uow, state, events, invoice_id)
    currency = invoice.currency if invoice is not None else state.currency
    memos = _credit_memos(uow, events, invoice_id)
    total = invoice.total().amount if invoice is not None else None
    paid = sum((Decimal(p["amount"]) for p in payments if p["amount"] is not None), ZERO)
    # A memo in another currency than the invoice's is listed but cannot reduce what is open.
    credited = sum((Decimal(m["total"]) for m in memos if m["total"] is not None and m["currency"] == currency), ZERO)
    open_amount = max(ZERO, total - paid - credited) if total is not None else None
    if currency is not None:
        # Money in the currency's minor units, as the invoice's own amounts are.
        paid = round_money(paid, currency)
        credited = round_money(credited, currency)
        open_amount = round_money(open_amount, currency) if open_amount is not None else None
    return {
        "invoice": invoice_id,
        "order": order_id,
        "channel": record.channel,
        "customer": invoice.customer if invoice is not None else record.customer_id,
        "shipment": invoice.shipment if invoice is not None else None,
        "issued_on": invoice.issued_on.isoformat() if invoice is not None else None,
        "due_on": invoice.due_on.isoformat() if invoice is not None and invoice.due_on is not None else None,
        "posted_at": posted[0].envelope.time.isoformat() if posted is not None else None,
        "status": _invoice_status(total, paid, credited),
        "amounts": {
            "currency": currency,
            "net": _dec(invoice.net().amount) if invoice is not None else None,
            "tax": _dec(invoice.tax().amount) if invoice is not None else None,
            "total": _dec(total) if total is not None else None,
            "paid": _dec(paid),
            "credited": _dec(credited),
            "open": _dec(open_amount) if open_amount is not None else None,
        },
        "lines": [
            {
                "line_id": documents.line_id(line.line),
                "sku": line.sku,
                "quantity": {"value": _dec(line.quantity.value), "unit": line.quantity.unit},
                "unit_price": _dec(line.unit_price),
                "tax_rate": _dec(line.tax_rate),
            }
            for line in (invoice.lines if invoice is not None else ())
        ],
        "payments": payments,
        "credit_memos": memos,
        "links": {"order": order_link(order_id), "shipment": shipment_link(invoice.shipment) if invoice else None},
    }


def _payments_applied(uow: UnitOfWork, state: otc.OrderState, invoice_id: str) -> list[dict[str, Any]]:
    """The payments the order took against this invoice (the order remembers each as payment:<reference>:<invoice>),
    with the amount each applied to it as the payment's own event says."""
    prefix, suffix = "payment:", f":{invoice_id}"
    references = sorted(
        k[len(prefix) : -len(suffix)] for k in state.seen if k.startswith(prefix) and k.endswith(suffix)
    )
    found = []
    for reference in references:
        payment = next(
            (
                paid.payment
                for stored in uow.log.for_subject(reference, limit=HISTORY_LIMIT)
                if (paid := _payload(stored, catalog.PaymentApplied)) is not None
                and paid.payment.reference == reference
            ),
            None,
        )
        applied = sum((a.amount for a in payment.applications if a.invoice == invoice_id), ZERO) if payment else None
        found.append(
            {
                "payment": reference,
                "amount": _dec(applied) if applied is not None else None,
                "currency": payment.currency if payment is not None else None,
                "received_on": payment.received_on.isoformat() if payment is not None else None,
                "prepayment": False,
            }
        )
    return found


def _prepayments_applied(
    uow: UnitOfWork, state: otc.OrderState, order_events: Sequence[StoredEvent], invoice_id: str
) -> list[dict[str, Any]]:
    """The prepayments held on the order that settled part of this invoice, with what each applied to it (one
    prepayment may apply to one invoice more than once; the amounts are the order's own)."""
    applied: dict[str, Decimal] = {}
    for application in state.prepayment_applications:
        if application.invoice_id == invoice_id:
            applied[application.payment_id] = applied.get(application.payment_id, ZERO) + application.amount
    found = []
    for reference, amount in applied.items():
        payment = _payment_document(uow, reference, order_events)
        found.append(
            {
                "payment": reference,
                "amount": _dec(amount),
                "currency": state.currency,
                "received_on": payment.received_on.isoformat() if payment is not None else None,
                "prepayment": True,
            }
        )
    return found


def _payment_document(uow: UnitOfWork, reference: str, order_events: Sequence[StoredEvent]) -> documents.Payment | None:
    """A payment as its event says, published under its reference or under its order's number."""
    for stored in [*uow.log.for_subject(reference, limit=HISTORY_LIMIT), *order_events]:
        if (paid := _payload(stored, catalog.PaymentApplied)) is not None and paid.payment.reference == reference:
            return paid.payment
    return None


def credit_memo_numbers(uow: UnitOfWork, invoice_id: str) -> list[str]:
    """The credit memos that credit this invoice, in the order the hub saw them (the order desk numbers them under
    the invoice as they come)."""
    numbers: list[str] = []
    while (number := uow.links.target(CREDIT_MEMOS_LINK, f"{invoice_id}#{len(numbers) + 1}")) is not None:
        numbers.append(number)
    return numbers


def _credit_memos(uow: UnitOfWork, order_events: Sequence[StoredEvent], invoice_id: str) -> list[dict[str, Any]]:
    """Each credit memo of the invoice with its amounts, read from its event (published under its own number or
    under its order's); amounts are null when that event was pruned."""
    found = []
    for number in credit_memo_numbers(uow, invoice_id):
        memo = next(
            (
                posted.credit_memo
                for stored in [*uow.log.for_subject(number, limit=HISTORY_LIMIT), *order_events]
                if (posted := _payload(stored, catalog.CreditMemoPosted)) is not None
                and posted.credit_memo.number == number
            ),
            None,
        )
        found.append(
            {
                "credit_memo": number,
                "issued_on": memo.issued_on.isoformat() if memo is not None else None,
                "reason": memo.reason if memo is not None else None,
                "currency": memo.currency if memo is not None else None,
                "net": _dec(memo.net().amount) if memo is not None else None,
                "tax": _dec(memo.tax().amount) if memo is not None else None,
                "total": _dec(memo.total().amount) if memo is not None else None,
            }
        )
    return found


def _invoice_status(total: Decimal | None, paid: Decimal, credited: Decimal) -> str:
    """paid: nothing left open and something paid (or nothing to pay); credited: nothing left open, all of it by
    credit memos; partially_paid: some paid, some open; open: nothing paid yet (credit memos may have reduced it)."""
    if total is not None and paid + credited >= total:
        return "credited" if paid <= 0 < credited else "paid"
    return "partially_paid" if paid > 0 else "open"


def _payload(stored: StoredEvent, model: type[_P]) -> _P | None:
    """The event's payload as `model`, or None for an event of another type."""
    if stored.envelope.type != model.event_type:
        return None
    return catalog.payload_as(stored.envelope, model)


# ---- reconciliation runs ---------------------------------------------------------------------------------------


def reconciliation_link(run_id: str) -> str:
    return f"/v1/reconciliations/{quote(run_id, safe='')}"


def reconciliation_summary(run: ReconciliationRun) -> dict[str, Any]:
    return {
        "reconciliation": run.id,
        "source": run.source,
        "actor": run.actor,
        "at": run.at.isoformat(),
        "checked": run.checked,
        "matched": run.matched,
        "drifted": len(run.drifts),
        "adjusted": run.adjusted,
        "exceptions_raised": len(run.exceptions),
        "link": reconciliation_link(run.id),
    }


def reconciliation_runs(uow: UnitOfWork, *, source: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Newest first."""
    return [reconciliation_summary(run) for run in uow.reconciliations.recent(source=source, limit=limit)]


def reconciliation_run_view(uow: UnitOfWork, run: ReconciliationRun) -> dict[str, Any]:
    """A kept run: every drift per sku and location with its cause, the part explained and what was done; the same
    per location; and each exception it raised as it stands now (open, or decided since)."""
    by_location: dict[str, dict[str, Any]] = {}
    for drift in run.drifts:
        place = by_location.setdefault(
            str(drift["location"]),
            {
                "location": drift["location"],
                "drifted": 0,
                "adjusted": 0,
                "waiting": 0,
                "ignored": 0,
                "raised": 0,
                "drift": ZERO,
                "unexplained": ZERO,
            },
        )
        place["drifted"] += 1
        place[_ACTION_TALLY.get(str(drift["action"]), "raised")] += 1
        place["drift"] += Decimal(str(drift["drift"]))
        place["unexplained"] += Decimal(str(drift["unexplained"]))
    exceptions = []
    for exception_id in run.exceptions:
        found = uow.exceptions.get(exception_id)
        exceptions.append(
            {
                "id": exception_id,
                "status": found.status.value if found is not None else None,
                "about": found.about_key if found is not None else None,
            }
        )
    return {
        **reconciliation_summary(run),
        "drifts": [dict(drift) for drift in run.drifts],
        "by_location": [
            {**place, "drift": _dec(place["drift"]), "unexplained": _dec(place["unexplained"])}
            for _, place in sorted(by_location.items())
        ],
        "exceptions": exceptions,
    }


def reconciliation_detail(uow: UnitOfWork, run_id: str) -> dict[str, Any] | None:
    run = uow.reconciliations.get(run_id)
    return reconciliation_run_view(uow, run) if run is not None else None


_ACTION_TALLY = {
    inventory.DriftAction.ADJUST.value: "adjusted",
    inventory.DriftAction.WAIT.value: "waiting",
    inventory.DriftAction.IGNORE.value: "ignored",
    inventory.DriftAction.EXCEPTION.value: "raised",
}


# ---- trading partners -----------------------------------------------------------------------------------------

INTERCHANGE_KIND = "edi_interchange"  # what the EDI desk's exceptions are about: "<partner>:<interchange number>"
SCAN_LIMIT = 5000  # open exceptions read at most when looking for one partner's


def partner_activity(uow: UnitOfWork, partner: str, sources: Sequence[str]) -> dict[str, Any]:
    """The interchange traffic of one trading partner: the last message received from its sources, the last
    interchange written to it with what its acknowledgement said, and its open acknowledgement exceptions
    (`capped`: more open exceptions exist than were read, so the list may be short)."""
    received = [m for source in sources for m in uow.inbox.find(source=source, limit=1)]
    last_in = max(received, key=lambda m: m.received_at, default=None)
    sent = uow.interchanges.find(partner=partner, limit=1)
    last_out = sent[0] if sent else None
    open_now = uow.exceptions.find(ExceptionFilter(status=ExceptionStatus.OPEN, limit=SCAN_LIMIT))
    prefix = f"{partner}:"
    return {
        "last_received": None
        if last_in is None
        else {
            "source": last_in.source,
            "message_id": last_in.id,
            "status": last_in.status.value,
            "received_at": last_in.received_at.isoformat(),
        },
        "last_sent": None
        if last_out is None
        else {
            "interchange": last_out.interchange,
            "document": last_out.document,
            "business_key": last_out.business_key,
            "status": last_out.status,
            "queued_at": last_out.queued_at.isoformat(),
            "sent_at": _iso(last_out.sent_at),
            "acknowledged_at": _iso(last_out.acknowledged_at),
            "due_by": _iso(last_out.due_by),
        },
        "open_exceptions": [
            exception_view(e) for e in open_now if e.about_kind == INTERCHANGE_KIND and e.about_key.startswith(prefix)
        ],
        "capped": len(open_now) >= SCAN_LIMIT,
    }


# ---- inside ----------------------------------------------------------------------------------------------------


def _dec(value: Decimal) -> str:
    return str(value)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
