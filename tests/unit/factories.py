"""Small builders for the records the unit tests need: sensible defaults, any field overridable."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from hypothesis import settings

from crossdock.domain.events import Envelope
from crossdock.hub.ports import Delivery, DeliveryStatus, MessageStatus, StoredMessage

T0 = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)

# Property tests share busy machines: an example that runs slowly under load is not a failure.
PROPERTY = settings(deadline=None)


def make_envelope(**overrides: Any) -> Envelope:
    fields: dict[str, Any] = {
        "id": "evt-1",
        "source": "crossdock/shop",
        "type": "crossdock.order.accepted.v1",
        "subject": "SO-1001",
        "time": T0,
        "data": {"lines": 2},
    }
    fields.update(overrides)
    return Envelope(**fields)


def make_delivery(**overrides: Any) -> Delivery:
    delivery = Delivery(
        id="dlv-1",
        event_id="evt-1",
        event_type="crossdock.order.accepted.v1",
        subject="SO-1001",
        destination="erp",
        partition_key="SO-1001",
        shard=3,
        payload={"id": "evt-1", "type": "crossdock.order.accepted.v1", "subject": "SO-1001"},
        status=DeliveryStatus.PENDING,
        attempts=0,
        created_at=T0,
        next_attempt_at=T0,
        last_error=None,
        delivered_at=None,
        queued_at=T0,
    )
    return replace(delivery, **overrides)


def make_stored_message(**overrides: Any) -> StoredMessage:
    message = StoredMessage(
        id=1,
        source="shop",
        key="biz:SO-1001:abc",
        payload_hash="abc",
        body=b'{"id": "SO-1001"}',
        headers={},
        received_at=T0,
        partition_key="SO-1001",
        shard=0,
        status=MessageStatus.PENDING,
        error=None,
        replays=0,
        processed_at=None,
    )
    return replace(message, **overrides)
