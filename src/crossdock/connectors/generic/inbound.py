"""Generic intake (JSON, or any payload as raw text): identify cheaply at intake, map fully in a worker."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from crossdock.connectors.generic import mapping
from crossdock.domain.events import Envelope
from crossdock.hub.ports import Identity, StoredMessage


@dataclass
class GenericInbound:
    source: str
    rules: mapping.GenericMapping

    def identify(self, body: bytes, headers: Mapping[str, str]) -> Identity:
        if self.rules.format == "raw":
            return Identity(
                key=None,
                business_key=headers.get(mapping.BUSINESS_KEY_HEADER),
                partition_key=headers.get(mapping.PARTITION_KEY_HEADER),
            )
        payload = mapping.parse_json(body)
        if mapping.is_cloudevent(payload):
            subject = payload.get("subject") or payload["id"]
            return Identity(
                key=f"{payload.get('source', '')}:{payload['id']}",
                business_key=str(subject),
                partition_key=str(payload.get("partitionkey") or subject),
            )
        sender_id = mapping.field_value(payload, self.rules.id_field) if self.rules.id_field else None
        business_key = mapping.field_value(payload, self.rules.subject_field)
        partition = mapping.field_value(payload, self.rules.partition_field) if self.rules.partition_field else None
        return Identity(key=sender_id, business_key=business_key, partition_key=partition)

    def to_events(self, message: StoredMessage) -> list[Envelope]:
        if self.rules.format == "raw":
            return [
                mapping.raw_to_envelope(
                    message.body,
                    self.rules,
                    source=message.source,
                    message_key=message.key,
                    payload_hash=message.payload_hash,
                    received_at=message.received_at,
                    headers=message.headers,
                )
            ]
        payload = mapping.parse_json(message.body)
        return [
            mapping.to_envelope(
                payload,
                self.rules,
                source=message.source,
                message_key=message.key,
                received_at=message.received_at,
                headers=message.headers,
            )
        ]
