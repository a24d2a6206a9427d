"""Generic JSON intake: CloudEvents pass through, any other JSON object is wrapped by configured rules, and
anything else is refused with a reason an operator can read."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossdock.connectors.generic import mapping
from crossdock.connectors.generic.inbound import GenericInbound
from crossdock.hub.errors import MappingError
from crossdock.hub.ports import Identity
from tests.unit.factories import PROPERTY, T0, make_stored_message

ORDER_RULES = mapping.GenericMapping(
    event_type="crossdock.order.received.v1",
    subject_field="order.number",
    partition_field="customer.id",
    id_field="message_id",
)


def cloudevent(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": "ce-77",
        "source": "partner/edi",
        "type": "crossdock.shipment.dispatched.v1",
        "subject": "SHP-9",
        "time": "2024-05-06T07:00:00+00:00",
        "data": {"carrier": "DHL"},
    }
    event.update(overrides)
    return event


def order(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "message_id": "msg-5",
        "order": {"number": "SO-1001", "lines": [{"sku": "A", "qty": 2}]},
        "customer": {"id": "C-42"},
    }
    payload.update(overrides)
    return payload


def envelope_of(payload: dict[str, Any], rules: mapping.GenericMapping = ORDER_RULES, **kwargs: Any) -> Any:
    arguments: dict[str, Any] = {"source": "shop", "message_key": "id:msg-5", "received_at": T0, "headers": {}}
    arguments.update(kwargs)
    return mapping.to_envelope(payload, rules, **arguments)


# ---- CloudEvents ---------------------------------------------------------------------------------------------


def test_a_cloudevent_keeps_its_type_subject_time_and_data() -> None:
    event = envelope_of(cloudevent(), source="partners", message_key="id:partner/edi:ce-77")
    assert (event.type, event.subject, event.data) == ("crossdock.shipment.dispatched.v1", "SHP-9", {"carrier": "DHL"})
    assert event.time.isoformat() == "2024-05-06T07:00:00+00:00"
    assert event.source == "crossdock/partners"


def test_a_cloudevent_gets_an_id_derived_from_the_message_key_and_points_back_to_its_own() -> None:
    first = envelope_of(cloudevent(), source="partners", message_key="id:partner/edi:ce-77")
    again = envelope_of(cloudevent(), source="partners", message_key="id:partner/edi:ce-77")
    other = envelope_of(cloudevent(), source="partners", message_key="id:partner/edi:ce-78")

    assert first.id == again.id, "re-processing the same message must yield the same event"
    assert first.id != other.id
    assert first.id != "ce-77"
    assert first.causationid == "ce-77"


def test_a_cloudevent_without_subject_or_time_uses_its_id_and_the_receipt_time() -> None:
    bare = {k: v for k, v in cloudevent().items() if k not in ("subject", "time")}
    event = envelope_of(bare)
    assert (event.subject, event.time) == ("ce-77", T0)


def test_a_cloudevent_with_an_unversioned_type_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="not a valid canonical event"):
        envelope_of(cloudevent(type="com.partner.shipment.dispatched"))


def test_trace_headers_are_carried_into_the_event() -> None:
    headers = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "x-correlation-id": "c-1"}
    for payload in (cloudevent(), order()):
        event = envelope_of(payload, headers=headers)
        assert (event.traceparent, event.correlationid) == (headers["traceparent"], "c-1")


# ---- plain JSON ----------------------------------------------------------------------------------------------


def test_plain_json_is_wrapped_with_the_configured_type_subject_and_partition() -> None:
    event = envelope_of(order())
    assert (event.type, event.subject, event.partitionkey) == ("crossdock.order.received.v1", "SO-1001", "C-42")
    assert event.data == order()
    assert (event.time, event.source) == (T0, "crossdock/shop")


def test_plain_json_without_the_partition_field_is_partitioned_by_its_business_key() -> None:
    event = envelope_of(order(customer=None))
    assert event.partitionkey is None
    assert event.partition == "SO-1001"


def test_plain_json_event_ids_are_derived_from_the_message_key() -> None:
    assert envelope_of(order()).id == envelope_of(order()).id
    assert envelope_of(order()).id != envelope_of(order(), message_key="id:msg-6").id


@pytest.mark.parametrize(
    "payload",
    [
        {"customer": {"id": "C-42"}},  # the business key's parent is missing
        {"order": {"lines": []}},  # the business key itself is missing
        {"order": {"number": None}},  # present but null
        {"order": {"number": {"value": "SO-1"}}},  # an object is not a key
        {"order": "SO-1001"},  # the path runs into a string
    ],
)
def test_a_missing_business_key_is_a_mapping_error_naming_the_field(payload: dict[str, Any]) -> None:
    with pytest.raises(MappingError, match=r"'order\.number' \(the business key\) is missing"):
        envelope_of(payload)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<order>SO-1</order>", "not valid JSON"),  # XML sent to a JSON source
        (b"", "not valid JSON"),  # an empty body
        (b'{"order": ', "not valid JSON"),  # truncated
        (b"\xff\xfe\x00junk", "not valid JSON"),  # not text at all
        (b'[{"order": 1}]', "must be a JSON object, got list"),  # an array
        (b'"SO-1001"', "must be a JSON object, got str"),  # a bare string
        (b"null", "must be a JSON object, got NoneType"),  # null
    ],
)
def test_bodies_that_are_not_json_objects_are_mapping_errors(body: bytes, reason: str) -> None:
    with pytest.raises(MappingError, match=reason):
        mapping.parse_json(body)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("message_id", "msg-5"),  # top level
        ("order.number", "SO-1001"),  # nested
        ("order.lines", None),  # a list is not a value
        ("order.missing", None),  # absent
        ("count", "0"),  # falsy numbers are still values
        ("paid", "False"),  # and so are booleans
    ],
)
def test_field_value_follows_dotted_paths_to_scalar_values(path: str, expected: str | None) -> None:
    assert mapping.field_value(order(count=0, paid=False), path) == expected


@PROPERTY
@given(number=st.text(min_size=1, max_size=30))
def test_any_business_key_text_becomes_the_subject(number: str) -> None:
    assert envelope_of(order(order={"number": number})).subject == number


# ---- identify: the cheap look at intake ----------------------------------------------------------------------


def identify(payload: Any, rules: mapping.GenericMapping = ORDER_RULES) -> Identity:
    return GenericInbound("shop", rules).identify(json.dumps(payload).encode(), {})


def test_plain_json_is_identified_by_sender_id_business_key_and_partition() -> None:
    assert identify(order()) == Identity(key="msg-5", business_key="SO-1001", partition_key="C-42")


def test_plain_json_without_an_id_rule_has_no_sender_id() -> None:
    rules = mapping.GenericMapping(subject_field="order.number")
    assert identify(order(), rules) == Identity(key=None, business_key="SO-1001", partition_key=None)


def test_a_cloudevent_is_identified_by_its_source_and_id() -> None:
    assert identify(cloudevent()) == Identity(key="partner/edi:ce-77", business_key="SHP-9", partition_key="SHP-9")
    assert identify(cloudevent(partitionkey="DOCK-1")).partition_key == "DOCK-1"


def test_identify_refuses_a_body_that_is_not_a_json_object() -> None:
    with pytest.raises(MappingError):
        GenericInbound("shop", ORDER_RULES).identify(b"not json", {})


def test_to_events_maps_a_stored_message_with_its_key_and_headers() -> None:
    message = make_stored_message(
        source="shop", key="id:msg-5", body=json.dumps(order()).encode(), headers={"x-correlation-id": "c-9"}
    )
    [event] = GenericInbound("shop", ORDER_RULES).to_events(message)
    assert event == envelope_of(order(), headers={"x-correlation-id": "c-9"})


# ---- raw payloads --------------------------------------------------------------------------------------------

RAW_RULES = mapping.GenericMapping(format="raw", event_type="crossdock.file.received.v1")


def test_a_raw_text_payload_is_carried_as_text_with_the_business_key_header_as_subject() -> None:
    message = make_stored_message(
        body=b"ISA*00*...~", headers={"x-business-key": "PO-7", "content-type": "application/edi-x12"}
    )
    [event] = GenericInbound("files", RAW_RULES).to_events(message)
    assert (event.type, event.subject) == ("crossdock.file.received.v1", "PO-7")
    assert event.data == {"content_type": "application/edi-x12", "text": "ISA*00*...~"}


def test_a_raw_binary_payload_is_carried_as_base64_under_a_content_hash_subject() -> None:
    message = make_stored_message(body=b"\x89PNG\xff", payload_hash="ab" * 32, headers={})
    [event] = GenericInbound("files", RAW_RULES).to_events(message)
    assert event.data["base64"] == "iVBOR/8="
    assert event.subject == "sha256:" + "ab" * 8


def test_a_raw_payload_is_identified_by_its_headers_only() -> None:
    identity = GenericInbound("files", RAW_RULES).identify(b"<<not json>>", {"x-business-key": "PO-7"})
    assert identity == Identity(key=None, business_key="PO-7", partition_key=None)
