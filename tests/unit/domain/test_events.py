"""The canonical envelope: what a valid event looks like, how ids are derived, how follow-ups inherit."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from crossdock.domain import events
from tests.unit.factories import PROPERTY, T0, make_envelope

# Encodable text that never contains the separator derive_id joins parts with.
id_text = st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x1f"), max_size=20)
id_parts = st.lists(id_text, min_size=1, max_size=4)


@pytest.mark.parametrize(
    "event_type",
    [
        "crossdock.order.accepted.v1",  # the catalogue's usual shape
        "crossdock.stock_level.changed.v12",  # underscores and a multi-digit version
        "shop.paid.v2",  # the shortest legal name: two words, then the version
    ],
)
def test_versioned_lower_case_type_names_are_accepted(event_type: str) -> None:
    assert make_envelope(type=event_type).type == event_type


@pytest.mark.parametrize(
    "event_type",
    [
        "crossdock.order.accepted",  # no version
        "crossdock.order.accepted.v0",  # versions start at 1
        "Crossdock.Order.Accepted.v1",  # upper case
        "v1",  # a version alone
        "shop.v1",  # a single word has no namespace
        "crossdock..order.v1",  # an empty word
        "crossdock.order-accepted.v1",  # a dash is not a word character here
        "crossdock.order.accepted.v1 ",  # trailing whitespace
    ],
)
def test_unversioned_or_malformed_type_names_are_rejected(event_type: str) -> None:
    with pytest.raises(ValidationError, match="must be dotted lower-case words ending in a version"):
        make_envelope(type=event_type)


def test_event_time_without_a_timezone_is_rejected() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        make_envelope(time=datetime(2024, 5, 6, 7, 8, 9))


def test_event_time_in_any_timezone_is_kept_as_given() -> None:
    local = datetime(2024, 5, 6, 9, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    assert make_envelope(time=local).time == T0


def test_unknown_envelope_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="orderid"):
        make_envelope(orderid="SO-1")


@pytest.mark.parametrize("field", ["id", "source", "subject"])  # one row per required non-empty text field
def test_empty_identifying_fields_are_rejected(field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        make_envelope(**{field: ""})


def test_an_envelope_is_immutable() -> None:
    envelope = make_envelope()
    with pytest.raises(ValidationError):
        envelope.subject = "SO-2"  # type: ignore[misc]


def test_partition_falls_back_to_the_subject() -> None:
    assert make_envelope(subject="SO-7").partition == "SO-7"
    assert make_envelope(subject="SO-7", partitionkey="customer-9").partition == "customer-9"


@PROPERTY
@given(parts=id_parts)
def test_derive_id_gives_the_same_id_for_the_same_parts(parts: list[str]) -> None:
    assert events.derive_id(*parts) == events.derive_id(*list(parts))


@PROPERTY
@given(first=id_parts, second=id_parts)
def test_derive_id_gives_different_ids_for_different_parts(first: list[str], second: list[str]) -> None:
    if first != second:
        assert events.derive_id(*first) != events.derive_id(*second)


def test_derive_id_depends_on_the_order_of_its_parts() -> None:
    assert events.derive_id("a", "b") != events.derive_id("b", "a")


def test_derive_id_is_stable_across_releases() -> None:
    # Targets dedupe on these ids: changing the namespace or the joining would resend everything.
    import uuid

    expected = str(uuid.uuid5(events.CROSSDOCK_NAMESPACE, "message\x1fshop\x1fkey\x1f0"))
    assert events.derive_id("message", "shop", "key", "0") == expected


def test_a_follow_up_keeps_correlation_and_trace_and_points_back_to_its_cause() -> None:
    cause = make_envelope(id="evt-cause", correlationid="corr-1", traceparent="00-abc-def-01", partitionkey="p-1")
    later = T0 + timedelta(minutes=5)

    follow = events.follow_up(cause, type="crossdock.stock.reserved.v1", subject="SKU-1", data={"qty": 2}, time=later)

    assert follow.correlationid == "corr-1"
    assert follow.causationid == "evt-cause"
    assert follow.traceparent == "00-abc-def-01"
    assert follow.partitionkey == "p-1"
    assert follow.source == cause.source
    assert (follow.type, follow.subject, follow.data, follow.time) == (
        "crossdock.stock.reserved.v1",
        "SKU-1",
        {"qty": 2},
        later,
    )


def test_a_follow_up_of_an_uncorrelated_event_is_correlated_to_that_event() -> None:
    cause = make_envelope(id="evt-root", correlationid=None)
    follow = events.follow_up(cause, type="crossdock.order.shipped.v1", subject="SO-1001", data={}, time=T0)
    assert follow.correlationid == "evt-root"


def test_a_follow_up_may_choose_its_own_partition() -> None:
    cause = make_envelope(partitionkey="SO-1001")
    follow = events.follow_up(
        cause, type="crossdock.stock.reserved.v1", subject="SKU-1", data={}, time=T0, partitionkey="SKU-1@main"
    )
    assert follow.partition == "SKU-1@main"


def test_follow_up_ids_are_stable_and_distinct_per_index() -> None:
    cause = make_envelope()

    def emit(index: int) -> str:
        return events.follow_up(
            cause, type="crossdock.stock.reserved.v1", subject="SKU-1", data={}, time=T0, index=index
        ).id

    assert emit(0) == emit(0)
    assert emit(0) != emit(1)


@pytest.mark.parametrize(
    ("pattern", "event_type", "expected"),
    [
        ("*", "crossdock.order.accepted.v1", True),  # the catch-all
        ("crossdock.order.accepted.v1", "crossdock.order.accepted.v1", True),  # exact type
        ("crossdock.order.accepted.v1", "crossdock.order.accepted.v2", False),  # exact means the version too
        ("crossdock.order.*", "crossdock.order.accepted.v1", True),  # a prefix
        ("crossdock.order.*", "crossdock.orders.accepted.v1", False),  # the prefix ends at the dot
        ("crossdock.order.*", "crossdock.invoice.posted.v1", False),  # another family
        ("crossdock.order.accepted", "crossdock.order.accepted.v1", False),  # no implicit prefix without '*'
    ],
)
def test_type_matches_exact_types_and_star_prefixes(pattern: str, event_type: str, expected: bool) -> None:
    assert events.type_matches(pattern, event_type) is expected
