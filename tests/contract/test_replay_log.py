"""The replay-log contract: every operator replay is recorded and listed newest first."""

from __future__ import annotations

from crossdock.hub.ports import UnitOfWorkFactory
from tests.contract.builders import at, replay


def test_replay_records_are_listed_newest_first_up_to_the_limit(uow_factory: UnitOfWorkFactory) -> None:
    records = [
        replay(kind="delivery", target="dlv-1", at=at(minutes=1)),
        replay(kind="message", target="42", at=at(minutes=2), note=""),
        replay(kind="resend", target="erp:3 events:generation 1", at=at(minutes=3), actor="cli"),
    ]
    with uow_factory() as uow:
        for record in records:
            uow.replays.add(record)
        uow.commit()

    with uow_factory() as uow:
        assert uow.replays.recent() == records[::-1]
        assert uow.replays.recent(limit=2) == records[:0:-1]


def test_an_empty_replay_log_lists_nothing(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        assert uow.replays.recent() == []
