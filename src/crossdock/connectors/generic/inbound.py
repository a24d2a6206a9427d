"""Generic JSON intake: identify a message cheaply at intake, map it fully in a worker."""

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
