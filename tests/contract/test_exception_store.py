"""The business exception store contract: opened once per id, actions kept in the order taken, resolution recorded
with its time, found by status, owner, business object and reason, and counted per owner while open."""

from __future__ import annotations

from datetime import datetime

import pytest

from crossdock.hub.ports import BusinessException, ExceptionFilter, ExceptionStatus, UnitOfWorkFactory
from tests.contract.builders import at, business_exception, exception_action


def open_all(uow_factory: UnitOfWorkFactory, *exceptions: BusinessException) -> None:
    with uow_factory() as uow:
        for exception in exceptions:
            uow.exceptions.open(exception)
        uow.commit()


def test_an_opened_exception_reads_back_as_given(uow_factory: UnitOfWorkFactory) -> None:
    open_all(uow_factory, business_exception())

    with uow_factory() as uow:
        assert uow.exceptions.get("exc-1") == business_exception()
        assert uow.exceptions.get("exc-404") is None


def test_opening_again_changes_nothing_and_says_so(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        assert uow.exceptions.open(business_exception()) is True
        uow.commit()

    with uow_factory() as uow:
        assert uow.exceptions.open(business_exception(message="another text", owner="finance")) is False
        uow.commit()

    with uow_factory() as uow:
        assert uow.exceptions.get("exc-1") == business_exception()


def test_actions_are_kept_in_the_order_taken_and_resolving_closes_it_at_that_time(
    uow_factory: UnitOfWorkFactory,
) -> None:
    open_all(uow_factory, business_exception())
    retry = exception_action(action="retry", at=at(minutes=10), note="")
    accept = exception_action(action="accept", at=at(minutes=20))

    with uow_factory() as uow:
        after_retry = uow.exceptions.act("exc-1", retry, resolve=False)
        after_accept = uow.exceptions.act("exc-1", accept, resolve=True)
        uow.commit()

    assert after_retry is not None and after_retry.status is ExceptionStatus.OPEN
    assert after_accept == business_exception(
        status=ExceptionStatus.RESOLVED, resolved_at=at(minutes=20), actions=(retry, accept)
    )
    with uow_factory() as uow:
        assert uow.exceptions.get("exc-1") == after_accept


def test_acting_on_an_unknown_exception_returns_none(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        assert uow.exceptions.act("exc-404", exception_action(), resolve=True) is None


def test_find_filters_and_returns_the_oldest_first(uow_factory: UnitOfWorkFactory) -> None:
    open_all(
        uow_factory,
        business_exception(id="e-3", opened_at=at(minutes=3), owner="warehouse", about_key="SO-2"),
        business_exception(id="e-1", opened_at=at(minutes=1), reason_code="price_out_of_tolerance"),
        business_exception(id="e-2", opened_at=at(minutes=2), owner="finance", about_key="INV-7"),
    )
    with uow_factory() as uow:
        uow.exceptions.act("e-2", exception_action(), resolve=True)
        uow.commit()

    def ids(flt: ExceptionFilter) -> list[str]:
        with uow_factory() as uow:
            return [e.id for e in uow.exceptions.find(flt)]

    assert ids(ExceptionFilter()) == ["e-1", "e-3"]
    assert ids(ExceptionFilter(status=None)) == ["e-1", "e-2", "e-3"]
    assert ids(ExceptionFilter(status=ExceptionStatus.RESOLVED)) == ["e-2"]
    assert ids(ExceptionFilter(owner="warehouse")) == ["e-3"]
    assert ids(ExceptionFilter(status=None, about_key="INV-7")) == ["e-2"]
    assert ids(ExceptionFilter(reason_code="price_out_of_tolerance")) == ["e-1"]
    assert ids(ExceptionFilter(status=None, limit=2)) == ["e-1", "e-2"]


def test_counts_the_open_exceptions_per_owner(uow_factory: UnitOfWorkFactory) -> None:
    open_all(
        uow_factory,
        business_exception(id="e-1"),
        business_exception(id="e-2"),
        business_exception(id="e-3", owner="finance"),
        business_exception(id="e-4", owner="warehouse"),
    )
    with uow_factory() as uow:
        uow.exceptions.act("e-4", exception_action(), resolve=True)
        uow.commit()

    with uow_factory() as uow:
        assert uow.exceptions.counts() == {"customer_service": 2, "finance": 1}


def test_an_exception_opened_in_a_unit_of_work_left_without_commit_is_not_stored(
    uow_factory: UnitOfWorkFactory,
) -> None:
    with uow_factory() as uow:
        uow.exceptions.open(business_exception())

    with uow_factory() as uow:
        assert uow.exceptions.get("exc-1") is None


def test_an_action_without_a_timezone_is_refused(uow_factory: UnitOfWorkFactory) -> None:
    open_all(uow_factory, business_exception())

    with uow_factory() as uow, pytest.raises(ValueError, match="naive"):
        uow.exceptions.act("exc-1", exception_action(at=datetime(2024, 5, 6, 8, 0)), resolve=False)
