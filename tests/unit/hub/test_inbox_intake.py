"""Intake decides a message's idempotency key and partition before anything else happens to it; a message
it cannot identify is still kept, marked failed, never bounced back as an exception."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from crossdock.connectors.generic.inbound import GenericInbound
from crossdock.connectors.generic.mapping import GenericMapping
from crossdock.domain.events import Envelope
from crossdock.hub.errors import MappingError, UnknownSource
from crossdock.hub.inbox import Intake
from crossdock.hub.ports import Identity, MessageStatus, StoredMessage
from crossdock.hub.router import shard_of
from tests.unit.factories import T0

BODY = b'{"order": "SO-1001", "total": "12.50"}'
DIGEST = hashlib.sha256(BODY).hexdigest()


@dataclass
class FixedIdentity:
    """An adapter that identifies every message the same way, or fails to."""

    identity: Identity | None = None
    failure: Exception | None = None

    def identify(self, body: bytes, headers: Mapping[str, str]) -> Identity:
        if self.failure is not None:
            raise self.failure
        assert self.identity is not None
        return self.identity

    def to_events(self, message: StoredMessage) -> list[Envelope]:
        raise NotImplementedError


def intake(identity: Identity | None = None, failure: Exception | None = None, shards: int = 8) -> Intake:
    return Intake(adapters={"shop": FixedIdentity(identity, failure)}, shards=shards)


@pytest.mark.parametrize(
    ("headers", "identity", "expected_key"),
    [
        # The sender's Idempotency-Key header wins over everything, whatever its case.
        ({"Idempotency-Key": "abc-1"}, Identity("msg-5", "SO-1001"), "idem:abc-1"),
        # Without it, the sender's own message id.
        ({}, Identity("msg-5", "SO-1001"), "id:msg-5"),
        # Without either, the business key plus the content hash.
        ({}, Identity(None, "SO-1001"), f"biz:SO-1001:{DIGEST}"),
        # With nothing at all, the content hash alone.
        ({}, Identity(None, None), f"hash:{DIGEST}"),
        # An empty header counts as absent.
        ({"Idempotency-Key": ""}, Identity("msg-5", None), "id:msg-5"),
    ],
)
def test_the_idempotency_key_is_the_most_specific_id_the_sender_gave(
    headers: dict[str, str], identity: Identity, expected_key: str
) -> None:
    message = intake(identity).prepare("shop", BODY, headers, T0)
    assert message.key == expected_key
    assert message.status is MessageStatus.PENDING


def test_a_message_keeps_its_raw_body_hash_lowered_headers_and_receipt_time() -> None:
    message = intake(Identity("msg-5")).prepare("shop", BODY, {"X-Shop-Topic": "orders/create"}, T0)
    assert (message.source, message.body, message.payload_hash, message.received_at) == ("shop", BODY, DIGEST, T0)
    assert message.headers == {"x-shop-topic": "orders/create"}


@pytest.mark.parametrize(
    ("identity", "expected_partition"),
    [
        (Identity("msg-5", "SO-1001", "C-42"), "C-42"),  # an explicit partition key
        (Identity("msg-5", "SO-1001"), "SO-1001"),  # else the business key
        (Identity("msg-5"), "id:msg-5"),  # else the message's own key
    ],
)
def test_the_partition_is_explicit_or_the_business_key_or_the_message_key(
    identity: Identity, expected_partition: str
) -> None:
    message = intake(identity, shards=8).prepare("shop", BODY, {}, T0)
    assert message.partition_key == expected_partition
    assert message.shard == shard_of(expected_partition, 8)


def test_the_same_business_key_with_a_different_body_is_a_different_message() -> None:
    shop = intake(Identity(None, "SO-1001"))
    assert shop.prepare("shop", BODY, {}, T0).key != shop.prepare("shop", BODY + b" ", {}, T0).key


def test_a_message_that_cannot_be_identified_is_kept_as_failed_with_the_reason() -> None:
    message = intake(failure=MappingError("body is not valid JSON")).prepare("shop", BODY, {}, T0)
    assert message.status is MessageStatus.FAILED
    assert message.error is not None and "body is not valid JSON" in message.error
    assert (message.body, message.key) == (BODY, f"hash:{DIGEST}")


def test_a_failed_message_still_honours_the_idempotency_key_header() -> None:
    message = intake(failure=ValueError("boom")).prepare("shop", BODY, {"Idempotency-Key": "abc-1"}, T0)
    assert (message.status, message.key) == (MessageStatus.FAILED, "idem:abc-1")


def test_an_unparsable_json_body_at_a_generic_source_is_a_failed_message_not_an_exception() -> None:
    shop = Intake(adapters={"shop": GenericInbound("shop", GenericMapping())}, shards=4)
    message = shop.prepare("shop", b"<order/>", {"Content-Type": "application/xml"}, T0)
    assert message.status is MessageStatus.FAILED
    assert message.error is not None and "not valid JSON" in message.error


def test_an_unknown_source_is_refused() -> None:
    with pytest.raises(UnknownSource, match="'warehouse'"):
        intake(Identity("msg-5")).prepare("warehouse", BODY, {}, T0)
