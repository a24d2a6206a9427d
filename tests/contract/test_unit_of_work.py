"""The unit of work is one transaction: nothing is seen before commit, nothing survives a rollback, and a
savepoint undoes only what happened inside it."""

from __future__ import annotations

import pytest

from crossdock.hub.ports import UnitOfWorkFactory
from tests.contract.builders import envelope, replay


class Boom(Exception):
    """Raised by a test to make a block fail."""


def targets(uow_factory: UnitOfWorkFactory) -> list[str]:
    with uow_factory() as uow:
        return [r.target for r in uow.replays.recent()]


def test_a_unit_of_work_sees_its_own_uncommitted_writes(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.replays.add(replay(target="dlv-1"))
        assert [r.target for r in uow.replays.recent()] == ["dlv-1"]


def test_work_becomes_visible_to_the_next_unit_of_work_only_once_committed(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.replays.add(replay(target="dlv-1"))
        uow.commit()

    assert targets(uow_factory) == ["dlv-1"]


def test_leaving_the_block_without_commit_rolls_everything_back(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.replays.add(replay(target="dlv-1"))
        uow.log.append([(envelope(), None)])

    assert targets(uow_factory) == []
    with uow_factory() as uow:
        assert uow.log.head() == 0


def test_an_exception_leaving_the_block_rolls_everything_back(uow_factory: UnitOfWorkFactory) -> None:
    with pytest.raises(Boom), uow_factory() as uow:
        uow.replays.add(replay(target="dlv-1"))
        raise Boom

    assert targets(uow_factory) == []


def test_work_done_after_commit_is_dropped_when_the_block_ends(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.replays.add(replay(target="committed"))
        uow.commit()
        uow.replays.add(replay(target="after-commit"))

    assert targets(uow_factory) == ["committed"]


def test_savepoint_rollback_undoes_only_the_work_inside_it(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.replays.add(replay(target="before"))
        with pytest.raises(Boom), uow.savepoint():
            uow.replays.add(replay(target="inside"))
            uow.log.append([(envelope(), None)])
            raise Boom
        uow.replays.add(replay(target="after"))
        assert uow.log.head() == 0
        uow.commit()

    assert targets(uow_factory) == ["after", "before"]


def test_a_savepoint_that_completes_keeps_its_work_for_the_outer_commit(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        with uow.savepoint():
            uow.replays.add(replay(target="inside"))
        uow.commit()

    assert targets(uow_factory) == ["inside"]


def test_a_failed_inner_savepoint_keeps_the_work_of_the_outer_one(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        with uow.savepoint():
            uow.replays.add(replay(target="outer"))
            with pytest.raises(Boom), uow.savepoint():
                uow.replays.add(replay(target="inner"))
                raise Boom
        uow.commit()

    assert targets(uow_factory) == ["outer"]


def test_work_kept_by_a_savepoint_is_still_rolled_back_without_commit(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow, uow.savepoint():
        uow.replays.add(replay(target="inside"))

    assert targets(uow_factory) == []
