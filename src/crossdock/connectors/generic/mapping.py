"""Pure mapping between generic JSON payloads and canonical envelopes. No I/O.

A payload that already is a CloudEvent keeps its type, subject and id; any other JSON object is wrapped
in an envelope of the source's configured event type, with the subject taken from a configured field.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic_core import PydanticSerializationError

from crossdock.domain.events import Envelope, derive_id
from crossdock.hub.errors import MappingError

BUSINESS_KEY_HEADER = "x-business-key"
PARTITION_KEY_HEADER = "x-partition-key"


@dataclass(frozen=True)
class GenericMapping:
    format: Literal["json", "raw"] = "json"
    event_type: str = "crossdock.message.received.v1"
    subject_field: str = "id"
    partition_field: str | None = None
    id_field: str | None = None


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MappingError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise MappingError(f"body must be a JSON object, got {type(payload).__name__}")
    return payload


def is_cloudevent(payload: Mapping[str, Any]) -> bool:
    return "specversion" in payload and "type" in payload and "id" in payload


def field_value(payload: Mapping[str, Any], path: str) -> str | None:
    """A dotted path into nested objects ('order.number'); None when any step is missing."""
    value: Any = payload
    for step in path.split("."):
        if not isinstance(value, Mapping) or step not in value:
            return None
        value = value[step]
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def to_envelope(
    payload: Mapping[str, Any],
    mapping: GenericMapping,
    *,
    source: str,
    message_key: str,
    received_at: datetime,
    headers: Mapping[str, str],
) -> Envelope:
    if is_cloudevent(payload):
        fields = {k: v for k, v in payload.items() if k in Envelope.model_fields}
        fields.setdefault("time", received_at)
        fields.setdefault("subject", str(payload["id"]))
        fields["id"] = derive_id("message", source, message_key, "0")
        fields["source"] = f"crossdock/{source}"
        fields.setdefault("causationid", str(payload["id"]))
        for name, value in _trace(headers).items():
            if not fields.get(name):
                fields[name] = value
        return _validated(fields)
    subject = field_value(payload, mapping.subject_field)
    if subject is None:
        raise MappingError(f"field {mapping.subject_field!r} (the business key) is missing from the payload")
    partition = field_value(payload, mapping.partition_field) if mapping.partition_field else None
    return _wrapped(mapping, source, message_key, subject, received_at, dict(payload), partition, headers)


def raw_to_envelope(
    body: bytes,
    mapping: GenericMapping,
    *,
    source: str,
    message_key: str,
    payload_hash: str,
    received_at: datetime,
    headers: Mapping[str, str],
) -> Envelope:
    """Any payload at all (XML, CSV, a flat file): carried as text, or base64 when it is not UTF-8."""
    try:
        content: dict[str, Any] = {"text": body.decode("utf-8")}
    except UnicodeDecodeError:
        content = {"base64": base64.b64encode(body).decode("ascii")}
    subject = headers.get(BUSINESS_KEY_HEADER) or f"sha256:{payload_hash[:16]}"
    data = {"content_type": headers.get("content-type"), **content}
    return _wrapped(
        mapping, source, message_key, subject, received_at, data, headers.get(PARTITION_KEY_HEADER), headers
    )


def _wrapped(
    mapping: GenericMapping,
    source: str,
    message_key: str,
    subject: str,
    received_at: datetime,
    data: dict[str, Any],
    partition: str | None,
    headers: Mapping[str, str],
) -> Envelope:
    """A payload that is not a CloudEvent, in an envelope of the source's event type."""
    return _validated(
        {
            "id": derive_id("message", source, message_key, "0"),
            "source": f"crossdock/{source}",
            "type": mapping.event_type,
            "subject": subject,
            "time": received_at,
            "data": data,
            "partitionkey": partition,
            **_trace(headers),
        }
    )


def _trace(headers: Mapping[str, str]) -> dict[str, str]:
    found = {"traceparent": headers.get("traceparent"), "correlationid": headers.get("x-correlation-id")}
    return {name: value for name, value in found.items() if value}


def _validated(fields: dict[str, Any]) -> Envelope:
    try:
        envelope = Envelope.model_validate(fields)
    except ValueError as exc:
        raise MappingError(f"not a valid canonical event: {exc}") from exc
    try:
        # JSON's \ud800-style escapes can smuggle in text that UTF-8 (and so every store) refuses.
        envelope.model_dump_json()
    except (UnicodeEncodeError, PydanticSerializationError) as exc:
        raise MappingError(f"the payload holds text that is not valid Unicode: {exc}") from None
    return envelope
