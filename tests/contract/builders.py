"""Builders for what the storage ports take in, and a clock the tests move by hand.

Every builder has sensible defaults and takes any field as an override.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from crossdock.domain import accounting, inventory
from crossdock.domain.events import Envelope
from crossdock.domain.workflows.order_to_cash import OrderState
from crossdock.hub.ports import (
    Attempt,
    AttemptOutcome,
    BusinessException,
    DeliveryStatus,
    DeliveryUpdate,
    ExceptionAction,
    NewDelivery,
    NewMessage,
    OrderRecord,
    ReplayRecord,
    Timer,
)

T0 = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


@dataclass
class ManualClock:
    """Stands still until a test moves it."""

    current: datetime = T0

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


def at(**delta: float) -> datetime:
    """A time relative to T0: at(minutes=5)."""
    return T0 + timedelta(**delta)


def new_message(**overrides: Any) -> NewMessage:
    fields: dict[str, Any] = {
        "source": "shop",
        "key": "id:wh-1001",
        "payload_hash": "hash-a",
        "body": b'{"order": "SO-1001"}',
        "headers": {"content-type": "application/json", "x-shop-webhook-id": "wh-1001"},
        "received_at": T0,
        "partition_key": "SO-1001",
        "shard": 0,
    }
    fields.update(overrides)
    return NewMessage(**fields)


def envelope(**overrides: Any) -> Envelope:
    fields: dict[str, Any] = {
        "id": "evt-1",
        "source": "crossdock/shop",
        "type": "crossdock.order.accepted.v1",
        "subject": "SO-1001",
        "time": T0,
        "data": {"lines": [{"sku": "BOLT-M8", "qty": "12.000"}], "channel": "shop"},
    }
    fields.update(overrides)
    return Envelope(**fields)


def new_delivery(**overrides: Any) -> NewDelivery:
    fields: dict[str, Any] = {
        "id": "dlv-1",
        "event_id": "evt-1",
        "event_type": "crossdock.order.accepted.v1",
        "subject": "SO-1001",
        "destination": "erp",
        "partition_key": "SO-1001",
        "shard": 0,
        "payload": {"id": "evt-1", "data": {"lines": [{"sku": "BOLT-M8", "qty": "12.000"}]}, "position": 1},
        "created_at": T0,
        "next_attempt_at": T0,
    }
    fields.update(overrides)
    return NewDelivery(**fields)


def attempt(**overrides: Any) -> Attempt:
    fields: dict[str, Any] = {
        "delivery_id": "dlv-1",
        "number": 1,
        "at": T0,
        "outcome": AttemptOutcome.RETRYABLE,
        "status_code": 503,
        "error": "HTTP 503 Service Unavailable",
        "duration_ms": 12.5,
    }
    fields.update(overrides)
    return Attempt(**fields)


def update(**overrides: Any) -> DeliveryUpdate:
    """A failed send that will be retried in a minute, with its attempt row."""
    fields: dict[str, Any] = {
        "delivery_id": "dlv-1",
        "status": DeliveryStatus.PENDING,
        "attempts": 1,
        "next_attempt_at": at(minutes=1),
        "last_error": "HTTP 503 Service Unavailable",
        "delivered_at": None,
        "attempt": attempt(),
    }
    fields.update(overrides)
    return DeliveryUpdate(**fields)


def dead(delivery_id: str = "dlv-1", error: str = "HTTP 422 unknown customer", attempts: int = 1) -> DeliveryUpdate:
    return update(
        delivery_id=delivery_id,
        status=DeliveryStatus.DEAD,
        attempts=attempts,
        last_error=error,
        attempt=attempt(delivery_id=delivery_id, number=attempts, outcome=AttemptOutcome.PERMANENT, error=error),
    )


def delivered(delivery_id: str = "dlv-1", when: datetime = T0) -> DeliveryUpdate:
    return update(
        delivery_id=delivery_id,
        status=DeliveryStatus.DELIVERED,
        last_error=None,
        delivered_at=when,
        attempt=attempt(
            delivery_id=delivery_id, at=when, outcome=AttemptOutcome.DELIVERED, status_code=200, error=None
        ),
    )


def timer(**overrides: Any) -> Timer:
    fields: dict[str, Any] = {
        "key": "sla:SO-1001:ship-by",
        "kind": "sla.ship_by",
        "due_at": at(hours=1),
        "payload": {"order": "SO-1001", "limits": {"hours": 24}},
    }
    fields.update(overrides)
    return Timer(**fields)


def replay(**overrides: Any) -> ReplayRecord:
    fields: dict[str, Any] = {
        "kind": "delivery",
        "target": "dlv-1",
        "at": T0,
        "actor": "ops@example.com",
        "note": "customer fixed in ERP",
    }
    fields.update(overrides)
    return ReplayRecord(**fields)


def order_record(**overrides: Any) -> OrderRecord:
    """An order not stored yet (version 0), its state the real JSON form of the workflow's OrderState."""
    order_id = overrides.get("order_id", "SO-1001")
    fields: dict[str, Any] = {
        "order_id": order_id,
        "status": "not_received",
        "state": OrderState.new(order_id).model_dump(mode="json"),
        "channel": "shop",
        "customer_id": "C-100",
    }
    fields.update(overrides)
    return OrderRecord(**fields)


def movement(**overrides: Any) -> inventory.Movement:
    """A receipt of 10 BOLT-M8 at WH-A."""
    fields: dict[str, Any] = {
        "id": "mv-1",
        "kind": inventory.MovementKind.RECEIPT,
        "sku": "BOLT-M8",
        "location": "WH-A",
        "quantity": Decimal("10"),
        "occurred_at": T0,
    }
    fields.update(overrides)
    return inventory.Movement(**fields)


def journal_entry(**overrides: Any) -> accounting.JournalEntry:
    """An unposted invoice entry (no sequence yet): Dr receivable 119.00 / Cr revenue 100.00 / Cr tax 19.00."""
    number = overrides.pop("document_number", "INV-1")
    fields: dict[str, Any] = {
        "id": f"je-{number}",
        "period": "2024-05",
        "date": date(2024, 5, 6),
        "currency": "EUR",
        "rule": accounting.PostingRule.INVOICE,
        "source": accounting.SourceRef(event_id=f"evt-{number}", document_type="invoice", document_number=number),
        "lines": (
            accounting.JournalLine(account="1200", debit=Decimal("119.00")),
            accounting.JournalLine(account="8000", credit=Decimal("100.00")),
            accounting.JournalLine(account="1776", credit=Decimal("19.00")),
        ),
        "memo": f"invoice {number}",
    }
    fields.update(overrides)
    return accounting.JournalEntry(**fields)


def business_exception(**overrides: Any) -> BusinessException:
    fields: dict[str, Any] = {
        "id": "exc-1",
        "owner": "customer_service",
        "reason_code": "credit_limit_exceeded",
        "about_kind": "order",
        "about_key": "SO-1001",
        "message": "order total 12,400.00 EUR exceeds the credit limit of 10,000.00 EUR",
        "opened_at": T0,
    }
    fields.update(overrides)
    return BusinessException(**fields)


def exception_action(**overrides: Any) -> ExceptionAction:
    fields: dict[str, Any] = {
        "action": "override",
        "actor": "cs@example.com",
        "at": at(minutes=30),
        "note": "limit raised for the season",
    }
    fields.update(overrides)
    return ExceptionAction(**fields)
