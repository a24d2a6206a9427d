"""Shopify intake for one shop: identify at intake (the topic, the order version as dedupe key, the order as
partition), map in a worker. Must not: check signatures (the webhook route does, before intake) or call Shopify."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from crossdock.connectors.shopify import mapping
from crossdock.connectors.shopify.options import ShopOptions
from crossdock.domain.events import Envelope
from crossdock.hub.ports import Identity, StoredMessage

TOPIC_HEADER = "x-shopify-topic"
HMAC_HEADER = "x-shopify-hmac-sha256"
WEBHOOK_ID_HEADER = "x-shopify-webhook-id"
SHOP_HEADER = "x-shopify-shop-domain"


def signature(secret: str, body: bytes) -> str:
    """What Shopify puts in X-Shopify-Hmac-Sha256: base64 of HMAC-SHA256 over the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode("ascii")


@dataclass
class ShopifyInbound:
    source: str
    rules: ShopOptions

    def verify(self, body: bytes, given: str | None) -> bool:
        """True when the body was signed with this shop's secret; compared in constant time. A shop without a
        secret verifies nothing: its webhooks are refused."""
        if self.rules.secret is None or not given:
            return False
        expected = signature(self.rules.secret.get_secret_value(), body)
        return hmac.compare_digest(expected.encode("ascii"), given.strip().encode("ascii", "replace"))

    def identify(self, body: bytes, headers: Mapping[str, str]) -> Identity:
        topic = mapping.check_topic(headers.get(TOPIC_HEADER))
        key, order = mapping.identity(topic, mapping.parse_json(body), self.rules)
        return Identity(key=key, business_key=order, partition_key=order)

    def to_events(self, message: StoredMessage) -> list[Envelope]:
        topic = mapping.check_topic(message.headers.get(TOPIC_HEADER))
        payload = mapping.parse_json(message.body)
        _, order = mapping.identity(topic, payload, self.rules)
        return mapping.envelopes(
            mapping.to_events(topic, payload, self.rules),
            source=message.source,
            message_key=message.key,
            subject=order,
            received_at=message.received_at,
            headers=message.headers,
        )
