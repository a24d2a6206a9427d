"""Durable timer keys: every process must compute the same next slot, so the unique key fires it once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossdock.hub.timers import periodic_key, slot_after
from tests.unit.factories import PROPERTY

# Periodic jobs run every second to every day, in whole seconds (configured in whole minutes or seconds).
periods = st.integers(min_value=1, max_value=24 * 3600).map(lambda s: timedelta(seconds=s))
instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


@PROPERTY
@given(now=instants, every=periods)
def test_the_next_slot_is_strictly_after_now_and_at_most_one_period_away(now: datetime, every: timedelta) -> None:
    slot = slot_after(now, every)
    assert now < slot <= now + every


@PROPERTY
@given(now=instants, every=periods, fraction=st.floats(min_value=0, max_value=1, exclude_max=True))
def test_every_caller_within_one_slot_computes_the_same_next_slot(
    now: datetime, every: timedelta, fraction: float
) -> None:
    start = slot_after(now, every) - every  # the slot that contains now
    other = start + timedelta(microseconds=int(fraction * (every // timedelta(microseconds=1))))
    assert slot_after(other, every) == slot_after(now, every)


def test_a_caller_on_the_boundary_of_a_fractional_period_gets_the_next_boundary() -> None:
    every = timedelta(milliseconds=4788)
    boundary = slot_after(datetime(2000, 1, 1, tzinfo=UTC), every) - every
    assert slot_after(boundary, every) == boundary + every


def test_the_slot_boundary_itself_belongs_to_the_next_slot() -> None:
    boundary = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)
    assert slot_after(boundary, timedelta(hours=1)) == datetime(2024, 5, 6, 8, 0, tzinfo=UTC)
    assert slot_after(boundary - timedelta(microseconds=1), timedelta(hours=1)) == boundary


def test_slots_do_not_depend_on_the_callers_timezone() -> None:
    utc = datetime(2024, 5, 6, 7, 30, tzinfo=UTC)
    berlin = utc.astimezone(timezone(timedelta(hours=2)))
    assert slot_after(utc, timedelta(minutes=15)) == slot_after(berlin, timedelta(minutes=15))


@pytest.mark.parametrize(
    "due",
    [
        datetime(2024, 5, 6, 8, 0, tzinfo=UTC),  # given in UTC
        datetime(2024, 5, 6, 10, 0, tzinfo=timezone(timedelta(hours=2))),  # the same instant, east of UTC
        datetime(2024, 5, 6, 3, 0, tzinfo=timezone(timedelta(hours=-5))),  # the same instant, west of UTC
    ],
)
def test_a_periodic_key_names_the_kind_and_the_instant_whatever_the_timezone(due: datetime) -> None:
    assert periodic_key("retention", due) == "periodic:retention:2024-05-06T08:00:00+00:00"


def test_periodic_keys_differ_between_kinds_and_between_slots() -> None:
    due = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)
    keys = {periodic_key("retention", due), periodic_key("report", due), periodic_key("retention", due + timedelta(1))}
    assert len(keys) == 3
