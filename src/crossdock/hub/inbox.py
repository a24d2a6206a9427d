"""Intake and processing of inbound messages: keep the raw message first, dedupe on its key, then map it
to canonical events and hand them to handlers and the outbox, one unit of work per batch.

Owns: idempotency keys, the intake outcome, the processing step. Must not: parse wire formats itself
(connectors' InboundAdapters do) or call any network.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from crossdock.domain.events import Envelope, derive_id
from crossdock.hub.errors import MappingError, UnknownSource
from crossdock.hub.ports import (
    Identity,
    InboundAdapter,
    IntakeResult,
    MessageStatus,
    NewMessage,
    StoredEvent,
    StoredMessage,
    UnitOfWork,
)
from crossdock.hub.router import HandlerContext, Router, shard_of
from crossdock.observability import context

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "idempotency-key"
MAX_CASCADE_DEPTH = 16
# A sender's correlation id is kept when it fits the log's column and reads as an id; anything else is replaced.
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:/@+\-]{1,64}$")


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
            identity = _storable(adapter.identify(body, headers))
        except Exception as exc:  # noqa: BLE001 - any parse failure is kept, not raised to the sender
            # Kept and marked failed, so it is visible and can be replayed after a fix.
            unidentified_key = _key(headers, None, None, digest)
            return NewMessage(
                source=source,
                key=unidentified_key,
                payload_hash=digest,
                body=body,
                headers=_in_context(headers, source, unidentified_key),
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
            headers=_in_context(headers, source, key),
            received_at=now,
            partition_key=partition,
            shard=shard_of(partition, self.shards),
        )


def _in_context(headers: dict[str, str], source: str, key: str) -> dict[str, str]:
    """A message that came without a usable trace while its intake is traced (a request's span) is stored with
    that span's traceparent, so that its processing and deliveries join the intake's trace."""
    if context.valid_traceparent(headers.get(context.TRACEPARENT_HEADER)) is None:
        traceparent = context.current_traceparent()
        if traceparent is not None:
            headers[context.TRACEPARENT_HEADER] = traceparent
    return headers


def correlation_of(message: StoredMessage) -> str:
    """The sender's correlation id when it gave a usable one, else one derived from the message: the same message
    taken in again gets the same. Its events, and their deliveries however late, carry it."""
    given = message.headers.get(context.CORRELATION_HEADER, "")
    return given if _CORRELATION_ID.match(given) else derive_id("correlation", message.source, message.key)


def traceparent_of(message: StoredMessage) -> str:
    """The trace the message belongs to: the sender's (or its intake's), else one derived from the message."""
    given = context.valid_traceparent(message.headers.get(context.TRACEPARENT_HEADER))
    return given or context.derived_traceparent(message.source, message.key)


def _storable(identity: Identity) -> Identity:
    """Keys end up in database columns and derived ids: text UTF-8 cannot encode (a lone surrogate from a
    JSON escape) would fail the whole intake batch it travels in, so it makes the message unidentifiable."""
    for name in ("key", "business_key", "partition_key"):
        value = getattr(identity, name)
        if value is not None:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise MappingError(f"the {name.replace('_', ' ')} is not valid Unicode text: {exc.reason}") from None
    return identity


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


@dataclass(frozen=True)
class Processed:
    """Which messages of a batch were processed and which failed, with the reason."""

    processed: frozenset[int] = frozenset()
    failed: Mapping[int, str] = field(default_factory=dict)

    @property
    def counts(self) -> tuple[int, int]:
        return len(self.processed), len(self.failed)

    def status_of(self, message_id: int) -> tuple[MessageStatus, str | None] | None:
        if message_id in self.processed:
            return MessageStatus.PROCESSED, None
        if message_id in self.failed:
            return MessageStatus.FAILED, self.failed[message_id]
        return None


@dataclass
class _Pending:
    """Events and processed messages of a batch, written with one statement each at the end."""

    events: list[tuple[Envelope, int | None]] = field(default_factory=list)
    processed: list[int] = field(default_factory=list)


@dataclass
class Processor:
    """Maps pending messages to events, runs handlers, queues deliveries: one unit of work per batch.

    The batch is tried whole first, with its log, outbox and status writes done in bulk. If anything in it
    fails, it is rolled back and redone with a savepoint per message, so that one bad message fails alone
    and the others still commit together."""

    adapters: Mapping[str, InboundAdapter]
    router: Router
    enqueue_deliveries: Deliveries
    # Errors that mean the store failed (a deadlock, a lost connection), not the message: they abort the
    # round, which is redone, instead of marking messages failed. Storage-specific, so given by bootstrap.
    store_errors: tuple[type[BaseException], ...] = ()
    # Told how long each event's handlers took (event type, seconds): metrics, set by whoever serves them.
    on_handled: Callable[[str, float], None] | None = None

    def process(self, uow: UnitOfWork, messages: Sequence[StoredMessage], now: datetime) -> Processed:
        mapped: list[tuple[StoredMessage, list[Envelope]]] = []
        failures: list[tuple[StoredMessage, str]] = []
        for message in messages:
            try:
                mapped.append((message, self._map(message)))
            except self.store_errors:
                raise
            except Exception as exc:  # noqa: BLE001 - recorded on the message, never lost
                failures.append((message, _reason(exc)))
        try:
            with uow.savepoint():
                self._handle(uow, mapped, now)
        except self.store_errors:
            raise
        except Exception as exc:  # noqa: BLE001 - the batch is redone one message at a time
            log.info("batch of %d failed (%s); handling one message at a time", len(mapped), exc)
            failures.extend(self._handle_one_by_one(uow, mapped, now))
        for message, reason in failures:
            with context.correlated(correlation_of(message)):
                log.warning("message %s from %s failed: %s", message.id, message.source, reason)
            uow.inbox.mark([message.id], MessageStatus.FAILED, reason, now)
        failed = {message.id: reason for message, reason in failures}
        return Processed(frozenset(m.id for m in messages if m.id not in failed), failed)

    def _map(self, message: StoredMessage) -> list[Envelope]:
        adapter = self.adapters.get(message.source)
        if adapter is None:
            raise UnknownSource(f"source {message.source!r} is no longer configured")
        correlation, traceparent = correlation_of(message), traceparent_of(message)
        return [_in_message_context(event, correlation, traceparent) for event in adapter.to_events(message)]

    def _handle(self, uow: UnitOfWork, mapped: Sequence[tuple[StoredMessage, list[Envelope]]], now: datetime) -> None:
        pending = _Pending()
        for message, events in mapped:
            with context.working_on(
                f"process {message.source}",
                correlation=correlation_of(message),
                traceparent=traceparent_of(message),
                attributes={"crossdock.source": message.source, "crossdock.message_id": message.id},
            ):
                self._cascade(uow, events, message.id, now, pending)
            pending.processed.append(message.id)
        self._flush(uow, pending, now)

    def _handle_one_by_one(
        self, uow: UnitOfWork, mapped: Sequence[tuple[StoredMessage, list[Envelope]]], now: datetime
    ) -> list[tuple[StoredMessage, str]]:
        failures = []
        for message, events in mapped:
            try:
                with uow.savepoint():
                    self._handle(uow, [(message, events)], now)
            except self.store_errors:
                raise
            except Exception as exc:  # noqa: BLE001 - recorded on the message, never lost
                failures.append((message, _reason(exc)))
        return failures

    def publish(self, uow: UnitOfWork, events: Sequence[Envelope], message_id: int | None, now: datetime) -> None:
        """Append events, run their handlers (which may emit more), and queue their deliveries."""
        pending = _Pending()
        self._cascade(uow, events, message_id, now, pending)
        self._flush(uow, pending, now)

    def _cascade(
        self, uow: UnitOfWork, events: Sequence[Envelope], message_id: int | None, now: datetime, pending: _Pending
    ) -> None:
        """Run the handlers of each event in order; what they emit is handled right after, before the next
        message, so that one partition's events keep their order."""
        queue = list(events)
        for _depth in range(MAX_CASCADE_DEPTH):
            if not queue:
                return
            follow_ups: list[Envelope] = []
            for event in queue:
                pending.events.append((event, message_id))
                started = time.perf_counter()
                with context.working_on(
                    f"handle {event.type}",
                    correlation=event.correlationid or event.id,
                    traceparent=event.traceparent,
                    attributes={"crossdock.event_type": event.type, "crossdock.subject": event.subject},
                ):
                    for handler in self.router.handlers_for(event.type):
                        handled = HandlerContext(uow=uow, now=now, cause=event)
                        handler(event, handled)
                        follow_ups.extend(handled.emitted)
                if self.on_handled is not None:
                    self.on_handled(event.type, time.perf_counter() - started)
            queue = follow_ups
        raise RuntimeError(f"handlers kept emitting events past depth {MAX_CASCADE_DEPTH}: a loop?")

    def _flush(self, uow: UnitOfWork, pending: _Pending, now: datetime) -> None:
        positions = uow.log.append(pending.events)
        stored = [StoredEvent(p, e, m) for p, (e, m) in zip(positions, pending.events, strict=True)]
        self.enqueue_deliveries(uow, stored, now)
        if pending.processed:
            uow.inbox.mark(pending.processed, MessageStatus.PROCESSED, None, now)


def _in_message_context(event: Envelope, correlation: str, traceparent: str) -> Envelope:
    """An event keeps a correlation id or trace its sender gave it (in the CloudEvent, or a header its adapter
    read); one without, or with one unfit to store, gets its message's."""
    keeps_correlation = bool(event.correlationid and _CORRELATION_ID.match(event.correlationid))
    keeps_trace = context.valid_traceparent(event.traceparent) is not None
    if keeps_correlation and keeps_trace:
        return event
    return event.model_copy(
        update={
            "correlationid": event.correlationid if keeps_correlation else correlation,
            "traceparent": event.traceparent if keeps_trace else traceparent,
        }
    )


def _reason(exc: Exception) -> str:
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:2000]
