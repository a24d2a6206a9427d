"""The endpoint-state contract: breaker and bucket state per endpoint, shared by every worker via storage."""

from __future__ import annotations

from crossdock.hub.ports import BreakerState, EndpointState, UnitOfWorkFactory
from tests.contract.builders import at


def test_an_endpoint_never_seen_loads_closed_with_a_bucket_never_used(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        assert uow.endpoints.load("erp") == EndpointState("erp")


def test_saved_state_round_trips(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        state = uow.endpoints.load("erp")
        state.breaker = BreakerState.OPEN
        state.failures = 5
        state.open_until = at(seconds=30)
        state.tokens = 2.5
        state.tokens_at = at(seconds=1)
        uow.endpoints.save(state)
        uow.commit()

    with uow_factory() as uow:
        assert uow.endpoints.load("erp") == EndpointState(
            "erp", BreakerState.OPEN, 5, at(seconds=30), 2.5, at(seconds=1)
        )


def test_changing_a_loaded_state_changes_nothing_until_it_is_saved(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        state = uow.endpoints.load("erp")
        state.failures = 3
        assert uow.endpoints.load("erp").failures == 0
        uow.commit()


def test_a_save_rolled_back_is_not_kept(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.endpoints.load("erp")
        uow.commit()
    with uow_factory() as uow:
        state = uow.endpoints.load("erp")
        state.breaker = BreakerState.HALF_OPEN
        uow.endpoints.save(state)

    with uow_factory() as uow:
        assert uow.endpoints.load("erp").breaker is BreakerState.CLOSED


def test_all_lists_every_endpoint_that_was_loaded_with_its_state(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.endpoints.load("wms")
        erp = uow.endpoints.load("erp")
        erp.failures = 2
        uow.endpoints.save(erp)
        uow.commit()

    with uow_factory() as uow:
        listed = sorted(uow.endpoints.all(), key=lambda s: s.endpoint)
    assert [(s.endpoint, s.failures) for s in listed] == [("erp", 2), ("wms", 0)]
