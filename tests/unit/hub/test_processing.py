"""Processing pending messages on the in-memory store: bad messages fail alone, the store failing is not the
message's fault, and handlers' follow-up events keep their partition's order."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from crossdock.domain.events import Envelope
from crossdock.hub.inbox import Processor
from crossdock.hub.ports import (
    Identity,
    MessageStatus,
    NewMessage,
    StoredEvent,
    StoredMessage,
    Timer,
    UnitOfWork,
)
from crossdock.hub.router import HandlerContext, Router
from crossdock.storage.memory import MemoryUnitOfWorkFactory
from tests.unit.factories import T0, make_envelope


class StoreDown(Exception):
    """Stands for the database failing in the middle of a round."""


class ScriptedSource:
    """Maps each message to one event, or raises what the script says for its key."""

    def __init__(self, failures: Mapping[str, Exception] | None = None) -> None:
        self.failures = dict(failures or {})

    def identify(self, body: bytes, headers: Mapping[str, str]) -> Identity:
        return Identity(key=body.decode())

    def to_events(self, message: StoredMessage) -> list[Envelope]:
        if message.key in self.failures:
            raise self.failures[message.key]
        return [make_envelope(id=f"evt-{message.key}", subject=message.key, type="shop.order.received.v1")]


def store_with(keys: list[str]) -> MemoryUnitOfWorkFactory:
    begin = MemoryUnitOfWorkFactory(lambda: T0)
    with begin() as uow:
        uow.inbox.add([NewMessage("shop", k, k, k.encode(), {}, T0, k, 0) for k in keys])
        uow.commit()
    return begin


def process(begin: MemoryUnitOfWorkFactory, processor: Processor) -> tuple[int, int]:
    with begin() as uow:
        result = processor.process(uow, uow.inbox.pending([0], 100), T0)
        uow.commit()
    return result.counts


def statuses(begin: MemoryUnitOfWorkFactory) -> dict[str, MessageStatus]:
    with begin() as uow:
        return {m.key: m.status for m in uow.inbox.find(limit=100)}


def no_deliveries(_uow: UnitOfWork, _events: object, _now: object) -> None:
    return None


def test_a_message_that_cannot_be_mapped_fails_alone_and_the_rest_of_the_batch_commits() -> None:
    begin = store_with(["a", "b", "c"])
    processor = Processor({"shop": ScriptedSource({"b": ValueError("no order number")})}, Router(), no_deliveries)

    assert process(begin, processor) == (2, 1)
    assert statuses(begin) == {"a": MessageStatus.PROCESSED, "b": MessageStatus.FAILED, "c": MessageStatus.PROCESSED}
    with begin() as uow:
        assert [e.envelope.subject for e in uow.log.read(0, 10)] == ["a", "c"]
        assert "no order number" in (uow.inbox.find(status=MessageStatus.FAILED)[0].error or "")


def test_a_failing_store_aborts_the_round_and_marks_no_message_failed() -> None:
    begin = store_with(["a", "b"])
    processor = Processor(
        {"shop": ScriptedSource({"b": StoreDown("connection lost")})},
        Router(),
        no_deliveries,
        store_errors=(StoreDown,),
    )

    with pytest.raises(StoreDown):
        process(begin, processor)
    assert statuses(begin) == {"a": MessageStatus.PENDING, "b": MessageStatus.PENDING}


def test_a_handler_that_breaks_a_rule_fails_its_message_and_undoes_its_own_writes_only() -> None:
    begin = store_with(["a", "b"])
    router = Router()

    def refuse_b(event: Envelope, context: HandlerContext) -> None:
        context.uow.timers.schedule(Timer(key=f"sla:{event.subject}", kind="sla", due_at=T0))
        if event.subject == "b":
            raise ValueError("credit limit exceeded")

    router.register("shop.order.*", refuse_b)
    processor = Processor({"shop": ScriptedSource()}, router, no_deliveries)

    assert process(begin, processor) == (1, 1)
    assert statuses(begin) == {"a": MessageStatus.PROCESSED, "b": MessageStatus.FAILED}
    with begin() as uow:
        assert [e.envelope.subject for e in uow.log.read(0, 10)] == ["a"]
        assert [t.key for t in uow.timers.pending()] == ["sla:a"]


def test_follow_up_events_are_logged_right_after_their_cause_before_the_next_message() -> None:
    begin = store_with(["a", "b"])
    router = Router()
    router.register(
        "shop.order.received.v1",
        lambda event, context: context.emit("shop.order.accepted.v1", event.subject, {}) and None,
    )
    queued: list[StoredEvent] = []
    processor = Processor({"shop": ScriptedSource()}, router, lambda _uow, events, _now: queued.extend(events))

    process(begin, processor)
    with begin() as uow:
        logged = [(e.envelope.subject, e.envelope.type) for e in uow.log.read(0, 10)]
    assert logged == [
        ("a", "shop.order.received.v1"),
        ("a", "shop.order.accepted.v1"),
        ("b", "shop.order.received.v1"),
        ("b", "shop.order.accepted.v1"),
    ]
    assert [e.position for e in queued] == [1, 2, 3, 4]
