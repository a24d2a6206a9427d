"""Read views of order-to-cash for portals and operators: orders, availability, exceptions, the journal and
reconciliation reports, answered once as JSON-ready dicts for the API and the CLI alike (decimals as strings).

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
from crossdock.domain.workflows import order_to_cash as otc
from crossdock.hub.handlers.policy import OrderToCashPolicy
from crossdock.hub.ports import (
    BusinessException,
    ExceptionFilter,
    ExceptionStatus,
    OrderFilter,
    OrderRecord,
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


# ---- inside ----------------------------------------------------------------------------------------------------


def _dec(value: Decimal) -> str:
    return str(value)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
