"""Intake and processing of inbound messages: keep the raw message first, dedupe on its key, then map it
to canonical events and hand them to handlers and the outbox, one unit of work per batch.

Owns: idempotency keys, the intake outcome, the processing step. Must not: parse wire formats itself
(connectors' InboundAdapters do) or call any network.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from crossdock.domain.events import Envelope
from crossdock.hub.errors import UnknownSource
from crossdock.hub.ports import (
    InboundAdapter,
    IntakeResult,
    MessageStatus,
    NewMessage,
    StoredEvent,
    StoredMessage,
    UnitOfWork,
)
from crossdock.hub.router import HandlerContext, Router, shard_of

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "idempotency-key"
MAX_CASCADE_DEPTH = 16


def content_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


@dataclass
class Intake:
    """Turns raw requests into NewMessages: idempotency key, partition and shard decided here."""

    adapters: Mapping[str, InboundAdapter]
    shards: int

    def prepare(self, source: str, body: bytes, headers: Mapping[str, str], now: datetime) -> NewMessage:
        adapter = self.adapters.get(source)
        if adapter is None:
            raise UnknownSource(f"no source named {source!r} is configured")
        headers = lower_headers(headers)
        digest = content_hash(body)
        try:
            identity = adapter.identify(body, headers)
        except Exception as exc:  # noqa: BLE001 - any parse failure is kept, not raised to the sender
            # Kept and marked failed, so it is visible and can be replayed after a fix.
            return NewMessage(
                source=source,
                key=_key(headers, None, None, digest),
                payload_hash=digest,
                body=body,
                headers=headers,
                received_at=now,
                partition_key=f"{source}:unidentified",
                shard=0,
                status=MessageStatus.FAILED,
                error=f"cannot identify message: {exc}",
            )
        key = _key(headers, identity.key, identity.business_key, digest)
        partition = identity.partition_key or identity.business_key or key
        return NewMessage(
            source=source,
            key=key,
            payload_hash=digest,
            body=body,
            headers=headers,
            received_at=now,
            partition_key=partition,
            shard=shard_of(partition, self.shards),
        )


def _key(headers: Mapping[str, str], sender_id: str | None, business_key: str | None, digest: str) -> str:
    """The sender's own id where it has one, else the business key plus the content hash."""
    if headers.get(IDEMPOTENCY_HEADER):
        return f"idem:{headers[IDEMPOTENCY_HEADER]}"
    if sender_id:
        return f"id:{sender_id}"
    if business_key:
        return f"biz:{business_key}:{digest}"
    return f"hash:{digest}"


def accept(uow: UnitOfWork, messages: Sequence[NewMessage]) -> list[IntakeResult]:
    """Store a batch durably in one commit; a repeat gets the first outcome, a changed payload a conflict."""
    with uow:
        results = uow.inbox.add(messages)
        uow.commit()
    return results


Deliveries = Callable[[UnitOfWork, Sequence[StoredEvent], datetime], None]


@dataclass
class Processor:
    """Maps pending messages to events, runs handlers, queues deliveries: one unit of work per batch,
    a savepoint per message so that one bad message fails alone."""

    adapters: Mapping[str, InboundAdapter]
    router: Router
    enqueue_deliveries: Deliveries

    def process(self, uow: UnitOfWork, messages: Sequence[StoredMessage], now: datetime) -> tuple[int, int]:
        done = failed = 0
        for message in messages:
            try:
                with uow.savepoint():
                    self._process_one(uow, message, now)
                done += 1
            except Exception as exc:  # noqa: BLE001 - recorded on the message, never lost
                log.warning("message %s from %s failed: %s", message.id, message.source, exc)
                uow.inbox.mark(message.id, MessageStatus.FAILED, _reason(exc), now)
                failed += 1
        return done, failed

    def _process_one(self, uow: UnitOfWork, message: StoredMessage, now: datetime) -> None:
        adapter = self.adapters.get(message.source)
        if adapter is None:
            raise UnknownSource(f"source {message.source!r} is no longer configured")
        self.publish(uow, adapter.to_events(message), message.id, now)
        uow.inbox.mark(message.id, MessageStatus.PROCESSED, None, now)

    def publish(self, uow: UnitOfWork, events: Sequence[Envelope], message_id: int | None, now: datetime) -> None:
        """Append events, run their handlers (which may emit more), and queue their deliveries."""
        pending = list(events)
        for _depth in range(MAX_CASCADE_DEPTH):
            if not pending:
                return
            positions = uow.log.append(pending, message_id)
            stored = [StoredEvent(p, e, message_id) for p, e in zip(positions, pending, strict=True)]
            follow_ups: list[Envelope] = []
            for event in pending:
                for handler in self.router.handlers_for(event.type):
                    context = HandlerContext(uow=uow, now=now, cause=event)
                    handler(event, context)
                    follow_ups.extend(context.emitted)
            self.enqueue_deliveries(uow, stored, now)
            pending = follow_ups
        raise RuntimeError(f"handlers kept emitting events past depth {MAX_CASCADE_DEPTH}: a loop?")


def _reason(exc: Exception) -> str:
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:2000]
