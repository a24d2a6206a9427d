"""The WMS's webhooks at the intake (POST /v1/inbound/{source}): identify() checks the signature and keys the message
on the WMS's own event id; to_events() maps it in a worker. Must not: act on stock or orders (the desks do)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from crossdock.connectors.wms import mapping
from crossdock.domain.events import Envelope, derive_id
from crossdock.hub.ports import Identity, StoredMessage


@dataclass(frozen=True)
class WmsInbound:
    source: str
    warehouses: mapping.Warehouses
    secret: str | None = None  # None: unsigned webhooks are taken (the intake's API key still applies)

    def identify(self, body: bytes, headers: Mapping[str, str]) -> Identity:
        # Checked here, so that a forged webhook is refused at once (kept as failed, answered 422), and again when
        # mapped, so that replaying such a message after the fact does not let it through.
        mapping.check_signature(self.secret, body, headers.get(mapping.SIGNATURE_HEADER.lower()))
        event = mapping.read_event(body)
        key = mapping.business_key(event)
        return Identity(key=f"wms:{event.event_id}", business_key=key, partition_key=key)

    def to_events(self, message: StoredMessage) -> list[Envelope]:
        mapping.check_signature(self.secret, message.body, message.headers.get(mapping.SIGNATURE_HEADER.lower()))
        event = mapping.read_event(message.body)
        return [
            Envelope(
                id=derive_id("wms", self.source, event.event_id, str(n)),
                source=f"crossdock/{self.source}",
                type=fact.type,
                subject=fact.subject,
                time=event.occurred_at,
                data=fact.data,
                partitionkey=fact.subject,
                causationid=event.event_id,
            )
            for n, fact in enumerate(mapping.facts(event, self.warehouses))
        ]
