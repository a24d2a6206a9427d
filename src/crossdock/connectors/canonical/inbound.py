"""Canonical intake: systems that already speak the catalogue (portals, sales tools, a WMS, an ERP bridge) post its
documents, bare or as CloudEvents. Identified cheaply at intake, checked fully in a worker."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from crossdock.connectors.canonical import mapping
from crossdock.domain.events import Envelope
from crossdock.hub.ports import Identity, StoredMessage


@dataclass
class CanonicalInbound:
    source: str
    event_type: str | None = None  # the type of bare payloads when the sender does not say it
    document_field: str | None = None  # bare payloads are this field of the event's data

    def identify(self, body: bytes, headers: Mapping[str, str]) -> Identity:
        payload = mapping.parse_json(body)
        event_type = mapping.event_type_of(payload, headers, self.event_type)
        subject, partition = mapping.keys_of(event_type, mapping.data_of(payload, self.document_field))
        sender_id = f"{payload.get('source', '')}:{payload['id']}" if mapping.is_cloudevent(payload) else None
        return Identity(key=sender_id, business_key=subject, partition_key=partition)

    def to_events(self, message: StoredMessage) -> list[Envelope]:
        return [
            mapping.to_envelope(
                message.body,
                message.headers,
                source=message.source,
                message_key=message.key,
                received_at=message.received_at,
                default_type=self.event_type,
                document_field=self.document_field,
            )
        ]
