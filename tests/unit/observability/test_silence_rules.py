"""The source watch's rules (hub/silence.py), with the time given by the test: when a source counts as silent or as
failing its records, and how the periodic job opens one exception per cause and closes it when the cause is gone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from crossdock.hub import silence
from crossdock.hub.ports import ExceptionFilter, ExceptionStatus, Timer, UnitOfWork
from crossdock.hub.silence import Activity, FailingRule, SourceWatch, Watch
from crossdock.storage.memory import MemoryUnitOfWorkFactory
from tests.unit.factories import T0

EVERY_30 = timedelta(minutes=30)
SHOP = Watch("shop", "source", ("shop",), EVERY_30)
RULE = FailingRule(share=0.5, at_least=4, window=timedelta(hours=1))


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


@pytest.mark.parametrize(
    ("last_sent", "now", "silent"),
    [
        (minutes(0), minutes(30), False),  # exactly the expected interval: still on time
        (minutes(0), minutes(31), True),  # one minute past it
        (minutes(50), minutes(60), False),  # sent recently
        (None, minutes(29), False),  # never sent, but watched for less than the interval
        (None, minutes(31), True),  # never sent, watched longer than the interval
    ],
)
def test_a_source_is_silent_only_once_it_has_been_quiet_longer_than_expected(
    last_sent: datetime | None, now: datetime, silent: bool
) -> None:
    why = silence.silence(SHOP, Activity(last_received=last_sent), now, watching_since=T0)
    assert (why is not None) is silent


def test_the_silence_names_the_source_and_when_it_last_sent() -> None:
    why = silence.silence(SHOP, Activity(last_received=minutes(10)), minutes(100), watching_since=T0)
    assert why is not None
    assert "source shop" in why and minutes(10).isoformat() in why and "90 minutes ago" in why


def test_a_source_without_an_expected_interval_is_never_silent() -> None:
    quiet = Watch("archive", "source", ("archive",))
    assert silence.silence(quiet, Activity(), T0 + timedelta(days=400), watching_since=T0) is None


@pytest.mark.parametrize(
    ("received", "failing", "raised"),
    [
        (3, 3, False),  # every one failed, but too few to judge
        (4, 2, True),  # half failed: the threshold
        (4, 1, False),  # a quarter failed
        (100, 99, True),  # reported as taken in, nearly all failed
        (0, 0, False),  # nothing came
    ],
)
def test_a_source_is_failing_when_enough_of_its_messages_fail_or_dead_letter(
    received: int, failing: int, raised: bool
) -> None:
    why = silence.failing(SHOP, Activity(minutes(0), received, failing), RULE)
    assert (why is not None) is raised


def test_a_partner_is_heard_from_through_any_of_the_sources_its_files_feed() -> None:
    partner = Watch("acme", "partner", ("acme-x12", "acme-edifact"), timedelta(hours=24))
    activity = {"acme-x12": Activity(minutes(0)), "acme-edifact": Activity(minutes(60 * 20))}
    found = silence.verdicts([partner], activity, RULE, minutes(60 * 30), watching_since=T0)
    assert found == {(partner, silence.SILENT): None}, "the EDIFACT file 10 hours ago counts; partners never fail"


def test_an_expected_interval_must_be_positive_and_the_failing_share_a_fraction() -> None:
    with pytest.raises(ValueError, match="source shop: the expected interval"):
        Watch("shop", "source", ("shop",), timedelta(0))
    with pytest.raises(ValueError, match="failing share"):
        FailingRule(share=1.5)


# ---- the periodic job ----------------------------------------------------------------------------------------


@dataclass
class FakeActivity:
    """What the sources did, as the test says."""

    now: dict[str, Activity] = field(default_factory=dict)

    def activity(self, uow: UnitOfWork, sources: Sequence[str], since: datetime) -> Mapping[str, Activity]:
        return {source: self.now[source] for source in sources if source in self.now}


@dataclass
class Watched:
    begin: MemoryUnitOfWorkFactory
    reader: FakeActivity
    job: SourceWatch

    def check(self, at: datetime) -> None:
        with self.begin() as uow:
            self.job.check(Timer("periodic:source-watch", silence.TIMER_KIND, at), uow, at)
            uow.commit()

    def exceptions(self, status: ExceptionStatus | None = ExceptionStatus.OPEN) -> list[tuple[str, str, str]]:
        with self.begin() as uow:
            found = uow.exceptions.find(ExceptionFilter(status=status, owner=silence.OWNER, limit=100))
        return [(e.about_key, e.reason_code, e.status.value) for e in found]


@pytest.fixture
def watched() -> Watched:
    reader = FakeActivity()
    job = SourceWatch([SHOP], reader, watching_since=T0, rule=RULE)
    return Watched(MemoryUnitOfWorkFactory(lambda: T0), reader, job)


def test_a_silent_source_opens_one_exception_for_integration_however_often_it_is_checked(watched: Watched) -> None:
    watched.reader.now["shop"] = Activity(last_received=minutes(0))
    for at in (minutes(31), minutes(32), minutes(90)):
        watched.check(at)
    assert watched.exceptions() == [("shop", "source-silent", "open")]


def test_the_silence_exception_resolves_itself_when_the_source_sends_again(watched: Watched) -> None:
    watched.reader.now["shop"] = Activity(last_received=minutes(0))
    watched.check(minutes(40))
    watched.reader.now["shop"] = Activity(last_received=minutes(41), received=1)
    watched.check(minutes(42))
    assert watched.exceptions() == []
    assert watched.exceptions(status=ExceptionStatus.RESOLVED) == [("shop", "source-silent", "resolved")]
    watched.reader.now["shop"] = Activity(last_received=minutes(41), received=1)
    watched.check(minutes(80))
    assert sorted(watched.exceptions(status=None)) == [
        ("shop", "source-silent", "open"),
        ("shop", "source-silent", "resolved"),
    ], "silent again later: a new exception beside the resolved one"


def test_a_source_failing_its_records_opens_source_failing_and_closes_when_healthy(watched: Watched) -> None:
    watched.reader.now["shop"] = Activity(last_received=minutes(5), received=10, failing=9)
    watched.check(minutes(6))
    assert watched.exceptions() == [("shop", "source-failing", "open")]
    watched.reader.now["shop"] = Activity(last_received=minutes(7), received=30, failing=9)
    watched.check(minutes(8))
    assert watched.exceptions() == []
