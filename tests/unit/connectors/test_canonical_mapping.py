"""Canonical intake: catalogue documents, bare or as CloudEvents, become envelopes keyed by their business object;
anything that does not fit the published schema is a MappingError that names the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from crossdock.connectors.canonical import mapping
from crossdock.connectors.canonical.inbound import CanonicalInbound
from crossdock.domain import catalog
from crossdock.hub.errors import MappingError

RECEIVED = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
ORDER = {
    "number": "SO-7",
    "customer": "C1",
    "channel": "webshop",
    "currency": "EUR",
    "lines": [{"line": 1, "sku": "A", "quantity": {"value": "2", "unit": "EA"}, "unit_price": "3.50"}],
}
SHIPMENT = {
    "shipment": {
        "number": "SH-1",
        "order": "SO-7",
        "from_location": "WH1",
        "lines": [{"line": 1, "sku": "A", "quantity": {"value": "2", "unit": "EA"}}],
    }
}


def cloudevent(event_type: str, data: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps(
        {"specversion": "1.0", "id": "e-1", "source": "wms", "type": event_type, "data": data} | extra
    ).encode()


def envelope(body: bytes, headers: dict[str, str] | None = None, **options: Any) -> Any:
    return mapping.to_envelope(
        body, headers or {}, source="wms", message_key="k-1", received_at=RECEIVED, default_type=None, **options
    )


def test_a_bare_sales_order_posted_to_the_orders_api_becomes_order_received_keyed_by_its_number() -> None:
    adapter = CanonicalInbound("api", catalog.OrderReceived.event_type, document_field="order")
    body = json.dumps(ORDER).encode()
    identity = adapter.identify(body, {})
    assert (identity.business_key, identity.partition_key, identity.key) == ("SO-7", "SO-7", None)
    made = mapping.to_envelope(
        body,
        {},
        source="api",
        message_key="k",
        received_at=RECEIVED,
        default_type=catalog.OrderReceived.event_type,
        document_field="order",
    )
    assert (made.type, made.subject, made.partitionkey) == (catalog.OrderReceived.event_type, "SO-7", "SO-7")
    assert made.data["order"]["number"] == "SO-7"


def test_a_shipment_is_handled_in_its_orders_partition_so_the_order_sees_it_in_order() -> None:
    made = envelope(cloudevent(catalog.ShipmentConfirmed.event_type, SHIPMENT, time="2025-03-02T08:00:00Z"))
    assert (made.subject, made.partitionkey, made.causationid) == ("SO-7", "SO-7", "e-1")
    assert made.time == datetime(2025, 3, 2, 8, 0, tzinfo=UTC), "the sender's own time is kept"
    assert made.source == "crossdock/wms"


def test_the_sender_names_the_type_of_a_bare_payload_in_the_ce_type_header() -> None:
    made = envelope(json.dumps(SHIPMENT).encode(), {"ce-type": catalog.ShipmentConfirmed.event_type})
    assert made.type == catalog.ShipmentConfirmed.event_type


def test_a_bare_payload_without_a_type_is_refused_with_what_to_do() -> None:
    with pytest.raises(MappingError, match="ce-type"):
        envelope(json.dumps(SHIPMENT).encode())


@pytest.mark.parametrize(
    ("data", "named"),
    [
        # the quantity is negative: the published schema wants a positive one
        (
            {
                "shipment": {
                    **SHIPMENT["shipment"],
                    "lines": [{"line": 1, "sku": "A", "quantity": {"value": "-2", "unit": "EA"}}],
                }
            },
            "quantity",
        ),
        # the order number is missing: there is no business key to file it under
        ({"shipment": {k: v for k, v in SHIPMENT["shipment"].items() if k != "order"}}, "shipment.order"),
    ],
)
def test_a_document_that_breaks_its_schema_is_refused_naming_the_field(data: dict[str, Any], named: str) -> None:
    with pytest.raises(MappingError, match=named):
        envelope(cloudevent(catalog.ShipmentConfirmed.event_type, data))


def test_a_cloudevent_of_a_type_outside_the_catalogue_is_refused() -> None:
    with pytest.raises(MappingError, match=r"crossdock\.parcel\.teleported\.v1"):
        envelope(cloudevent("crossdock.parcel.teleported.v1", {"id": "x"}))


def test_a_cloudevent_is_known_by_its_senders_source_and_id_so_a_resend_is_a_repeat() -> None:
    adapter = CanonicalInbound("wms")
    first = adapter.identify(cloudevent(catalog.ShipmentConfirmed.event_type, SHIPMENT), {})
    again = adapter.identify(cloudevent(catalog.ShipmentConfirmed.event_type, SHIPMENT), {})
    assert first.key == again.key == "wms:e-1"
