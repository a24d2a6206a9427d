"""Fuzzing intake and mapping: whatever bytes and headers arrive, intake keeps the message (pending or
failed with a reason) and mapping either gives canonical events or a MappingError, nothing else.

`make test` runs a few hundred cases; `make fuzz` (CROSSDOCK_LONG=1) runs 100,000."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossdock.connectors.generic.inbound import GenericInbound
from crossdock.connectors.generic.mapping import GenericMapping
from crossdock.domain.events import Envelope
from crossdock.hub.errors import MappingError
from crossdock.hub.inbox import Intake
from crossdock.hub.ports import MessageStatus, NewMessage, StoredMessage
from crossdock.storage.sql.engine import make_engine
from crossdock.storage.sql.migrate import upgrade
from crossdock.storage.sql.uow import SqlUnitOfWorkFactory

LONG = os.environ.get("CROSSDOCK_LONG") == "1"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SOURCES = {
    "shop": GenericInbound(
        "shop", GenericMapping(subject_field="order.number", partition_field="customer", id_field="id")
    ),
    "files": GenericInbound("files", GenericMapping(format="raw", event_type="crossdock.file.received.v1")),
    "partners": GenericInbound("partners", GenericMapping()),
}
INTAKE = Intake(adapters=SOURCES, shards=16)

# Lone surrogates too (JSON escapes allow them; UTF-8 and databases do not), and the usual troublemakers.
text = st.text(st.characters(exclude_categories=()), max_size=20) | st.sampled_from(["\ud800", "a\udfff", "\x00", ""])
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4), max_leaves=12
)
orders = st.fixed_dictionaries(
    {},
    optional={
        "id": scalars,
        "order": st.fixed_dictionaries({}, optional={"number": scalars}) | json_values,
        "customer": scalars,
        "specversion": st.just("1.0"),
        "type": text | st.just("crossdock.order.received.v1"),
        "subject": scalars,
        "source": text,
        "time": text | st.just("2026-11-01T12:00:00Z"),
        "data": json_values,
    },
)
bodies = (
    st.binary(max_size=300)
    | orders.map(lambda d: json.dumps(d).encode("utf-8", "surrogatepass"))
    | json_values.map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass"))
)
header_values = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=40)
headers = st.dictionaries(
    st.sampled_from(["Idempotency-Key", "X-Business-Key", "X-Partition-Key", "traceparent", "Content-Type"]),
    header_values,
    max_size=3,
)
PURE = settings(max_examples=100_000 if LONG else 300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STORED = settings(max_examples=3_000 if LONG else 60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def stored(message: NewMessage, message_id: int = 1) -> StoredMessage:
    return StoredMessage(
        message_id,
        message.source,
        message.key,
        message.payload_hash,
        message.body,
        message.headers,
        message.received_at,
        message.partition_key,
        message.shard,
        message.status,
        message.error,
        0,
        None,
    )


def assert_storable(value: str) -> None:
    value.encode("utf-8")  # a database refuses what UTF-8 cannot encode; intake must never hand it one


@pytest.mark.fuzz
@PURE
@given(source=st.sampled_from(sorted(SOURCES)), body=bodies, sent_headers=headers)
def test_any_message_is_kept_and_maps_to_events_or_to_a_mapping_error(
    source: str, body: bytes, sent_headers: dict[str, str]
) -> None:
    message = INTAKE.prepare(source, body, sent_headers, NOW)

    for value in (message.key, message.partition_key, message.error or ""):
        assert_storable(value)
    assert 0 <= message.shard < 16
    if message.status is MessageStatus.FAILED:
        assert message.error, "a message kept as failed must say why"
        return
    try:
        events: list[Any] = SOURCES[source].to_events(stored(message))
    except MappingError:
        return
    assert events and all(isinstance(e, Envelope) for e in events)
    for event in events:
        assert_storable(json.dumps(event.model_dump(mode="json")))


@pytest.fixture(scope="module")
def sqlite_begin(tmp_path_factory: pytest.TempPathFactory) -> Any:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}", sqlite_synchronous="OFF")
    upgrade(engine)
    yield SqlUnitOfWorkFactory(engine, lambda: NOW)
    engine.dispose()


@pytest.mark.fuzz
@STORED
@given(batch=st.lists(st.tuples(st.sampled_from(sorted(SOURCES)), bodies, headers), min_size=1, max_size=5))
def test_no_message_can_make_a_group_commit_fail_for_the_others(
    sqlite_begin: Any, batch: list[tuple[str, bytes, dict[str, str]]]
) -> None:
    messages = [INTAKE.prepare(source, body, sent, NOW) for source, body, sent in batch]

    with sqlite_begin() as uow:
        results = uow.inbox.add(messages)
        uow.commit()

    assert len(results) == len(messages)
