"""The control-number store contract: each partner's sequences (ISA13, GS06...) hand out every number once and
leave no gap, also when two senders take at the same moment; a send that rolls back gives its number back."""

from __future__ import annotations

import threading

import pytest

from crossdock.hub.ports import UnitOfWorkFactory


def take(uow_factory: UnitOfWorkFactory, partner: str = "ACME", kind: str = "ISA13", **bounds: int) -> int:
    with uow_factory() as uow:
        number = uow.control_numbers.take(partner, kind, **bounds)
        uow.commit()
    return number


def test_a_sequence_starts_at_its_first_number_and_counts_up(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        assert uow.control_numbers.current("ACME", "ISA13") is None

    assert [take(uow_factory) for _ in range(3)] == [1, 2, 3]
    with uow_factory() as uow:
        assert uow.control_numbers.current("ACME", "ISA13") == 3


def test_numbers_taken_in_one_transaction_follow_one_another(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        taken = [uow.control_numbers.take("ACME", "ST02") for _ in range(4)]
        uow.commit()

    assert taken == [1, 2, 3, 4]


def test_each_partner_and_kind_has_a_sequence_of_its_own(uow_factory: UnitOfWorkFactory) -> None:
    take(uow_factory, "ACME", "ISA13")
    take(uow_factory, "ACME", "ISA13")

    assert take(uow_factory, "ACME", "GS06") == 1
    assert take(uow_factory, "GLOBEX", "ISA13") == 1
    assert take(uow_factory, "ACME", "ISA13") == 3


def test_after_the_last_number_the_sequence_starts_again_at_the_first(uow_factory: UnitOfWorkFactory) -> None:
    taken = [take(uow_factory, "ACME", "UNB05", first=7, last=9) for _ in range(5)]

    assert taken == [7, 8, 9, 7, 8]


def test_a_sequence_outside_a_narrowed_range_comes_back_into_it(uow_factory: UnitOfWorkFactory) -> None:
    take(uow_factory)

    assert take(uow_factory, first=100, last=200) == 100


def test_a_range_whose_first_number_is_above_its_last_is_refused(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow, pytest.raises(ValueError, match=r"ACME.*first \(9\) is above the last \(3\)"):
        uow.control_numbers.take("ACME", "ISA13", first=9, last=3)


def test_a_rolled_back_take_gives_its_number_back(uow_factory: UnitOfWorkFactory) -> None:
    take(uow_factory)
    with uow_factory() as uow:
        assert uow.control_numbers.take("ACME", "ISA13") == 2  # the send fails; nothing is committed

    assert take(uow_factory) == 2


def test_a_rolled_back_first_take_leaves_no_sequence_behind(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.control_numbers.take("ACME", "ISA13")

    with uow_factory() as uow:
        assert uow.control_numbers.current("ACME", "ISA13") is None
    assert take(uow_factory) == 1


def test_a_take_inside_a_savepoint_that_fails_gives_its_number_back(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        assert uow.control_numbers.take("ACME", "ISA13") == 1
        with pytest.raises(RuntimeError), uow.savepoint():
            uow.control_numbers.take("ACME", "ISA13")
            raise RuntimeError("the interchange could not be written")
        assert uow.control_numbers.take("ACME", "ISA13") == 2
        uow.commit()


@pytest.mark.parametrize("kind", ["ISA13", "NEW"])  # a sequence taken before / one both senders start together
def test_two_senders_taking_at_once_get_every_number_once_and_no_gap(uow_factory: UnitOfWorkFactory, kind: str) -> None:
    if kind == "ISA13":
        take(uow_factory, "ACME", kind)
    per_sender = 25
    start = threading.Barrier(2)
    taken: list[list[int]] = [[], []]
    failures: list[BaseException] = []

    def sender(mine: list[int]) -> None:
        try:
            start.wait(timeout=10)
            for _ in range(per_sender):
                mine.append(take(uow_factory, "ACME", kind))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below, never swallowed
            failures.append(exc)

    threads = [threading.Thread(target=sender, args=(mine,)) for mine in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not failures, failures
    already = 1 if kind == "ISA13" else 0
    assert sorted(taken[0] + taken[1]) == list(range(already + 1, already + 2 * per_sender + 1))
    assert all(mine == sorted(mine) for mine in taken)


@pytest.mark.parametrize("outcome", ["rollback", "commit"])
def test_a_second_sender_waits_for_the_first_and_then_takes_what_it_left(
    uow_factory: UnitOfWorkFactory, outcome: str
) -> None:
    take(uow_factory)
    first_took = threading.Event()
    second_took: list[int] = []
    failures: list[BaseException] = []

    def second_sender() -> None:
        try:
            assert first_took.wait(timeout=10)
            second_took.append(take(uow_factory))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below, never swallowed
            failures.append(exc)

    thread = threading.Thread(target=second_sender)
    with uow_factory() as uow:
        assert uow.control_numbers.take("ACME", "ISA13") == 2
        thread.start()
        first_took.set()
        thread.join(timeout=0.5)
        assert thread.is_alive(), "the second sender took a number while the first one's was not settled"
        if outcome == "commit":
            uow.commit()
    thread.join(timeout=30)

    assert not failures, failures
    assert second_took == ([2] if outcome == "rollback" else [3])
