"""An http source at the intake (POST /v1/inbound/{source}): identify() checks the signature and keys the request by
the configured rules or the integrator's identify function; to_events() hands the stored request to the integrator's
mapping function in a worker and checks what it returns against the catalogue.

Must not: act on what the events say (the desks do). Whatever the integrator's functions raise fails the message with
the function named; it is kept and can be replayed once the function is fixed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import SecretStr

from crossdock.connectors.http import mapping
from crossdock.connectors.http.loading import Loaded
from crossdock.domain.events import Envelope
from crossdock.hub.ports import Identity, StoredMessage


@dataclass(frozen=True)
class Signature:
    secret: SecretStr
    header: str = mapping.DEFAULT_SIGNATURE_HEADER
    format: mapping.SignatureFormat = "sha256=hex"

    def check(self, body: bytes, headers: Mapping[str, str]) -> None:
        given = headers.get(self.header.lower())
        mapping.check_signature(self.secret.get_secret_value(), body, given, self.header, self.format)


@dataclass(frozen=True)
class HttpInbound:
    source: str
    to_canonical: Loaded
    identify_with: Loaded | None = None
    rules: mapping.IdentityRules = field(default_factory=mapping.IdentityRules)
    signature: Signature | None = None  # None: unsigned requests are taken (the intake's API key still applies)

    def identify(self, body: bytes, headers: Mapping[str, str]) -> Identity:
        # Checked here, so that a forged request is refused at once (kept as failed, answered 422), and again when
        # mapped, so that replaying such a message after the fact does not let it through.
        if self.signature is not None:
            self.signature.check(body, headers)
        if self.identify_with is None:
            return self.rules.identity(body, headers)
        received = mapping.Received(self.source, body, headers, None)  # not stored yet
        returned = self.identify_with(received)
        return mapping.identity_of(returned, self.identify_with.reference)

    def to_events(self, message: StoredMessage) -> list[Envelope]:
        if self.signature is not None:
            self.signature.check(message.body, message.headers)
        received = mapping.Received(message.source, message.body, message.headers, message.received_at)
        returned = self.to_canonical(received)
        return mapping.events_of(returned, self.to_canonical.reference, received, message.key, message.partition_key)
