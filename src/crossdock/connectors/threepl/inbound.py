"""A 3PL's files at the intake: X12 (945 shipping advices, 997 acknowledgements) read as the EDI connector reads any
trading partner's, or CSV shipment confirmations. Must not: move files (the poller does) or take stock snapshots,
which never pass through intake (snapshots.py reconciles them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from crossdock.connectors.edi.inbound import EdiInbound
from crossdock.connectors.threepl import mapping
from crossdock.domain import catalog
from crossdock.domain.events import Envelope, derive_id
from crossdock.hub.ports import Identity, StoredMessage

Format = Literal["x12", "csv"]


@dataclass(frozen=True)
class ThreePlInbound:
    source: str
    format: Format
    location: str
    edi: EdiInbound | None = None  # the partner's X12 reading, for format x12

    def identify(self, body: bytes, headers: Mapping[str, str]) -> Identity:
        if self.edi is not None:
            return self.edi.identify(body, headers)
        # No id of its own in a CSV: the hub keys it on the first shipment and the content.
        shipments = mapping.shipments_from_csv(body, self.location)
        return Identity(key=None, business_key=shipments[0].order, partition_key=shipments[0].order)

    def to_events(self, message: StoredMessage) -> list[Envelope]:
        if self.edi is not None:
            return self.edi.to_events(message)
        return [
            Envelope(
                id=derive_id("3pl", self.source, message.key, shipment.number),
                source=f"crossdock/{self.source}",
                type=catalog.ShipmentConfirmed.event_type,
                subject=shipment.order,
                time=message.received_at,
                data=catalog.data_of(catalog.ShipmentConfirmed(shipment=shipment)),
                partitionkey=shipment.order,
            )
            for shipment in mapping.shipments_from_csv(message.body, self.location)
        ]

    def answer_refusal(self, message: StoredMessage, reason: str) -> list[Envelope]:
        """A refused X12 file still owes the 3PL its 997; a CSV has no acknowledgement."""
        return self.edi.answer_refusal(message, reason) if self.edi is not None else []
