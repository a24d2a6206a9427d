"""The journal store contract: posted entries are kept with gap-free sequences per ledger, what is already posted is
known so posting again posts nothing, and closed periods are remembered per ledger."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy.exc import IntegrityError

from crossdock.domain import accounting
from crossdock.domain.accounting import JournalEntry
from crossdock.hub.ports import UnitOfWorkFactory
from crossdock.storage.memory import UniqueViolation
from tests.contract.builders import at, journal_entry

NEXT_OPEN = accounting.ClosedPeriodPolicy.NEXT_OPEN_PERIOD


def post(
    uow_factory: UnitOfWorkFactory, *entries: JournalEntry, ledger: str = "main", commit: bool = True
) -> accounting.PostingResult:
    """What the posting handler does: read the ledger, post with the domain, store what was posted."""
    with uow_factory() as uow:
        state = uow.journal.ledger(ledger, [e.id for e in entries])
        result = accounting.post(state, entries, closed_period_policy=NEXT_OPEN)
        uow.journal.add(ledger, result.posted, result.state.last_sequence, at())
        if commit:
            uow.commit()
    return result


def stored(uow_factory: UnitOfWorkFactory, ledger: str = "main") -> list[tuple[int | None, str]]:
    with uow_factory() as uow:
        return [(e.sequence, e.id) for e in uow.journal.entries(ledger)]


def test_a_new_ledger_starts_at_sequence_zero_with_nothing_posted_or_closed(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        assert uow.journal.ledger("main", ["je-INV-1"]) == accounting.LedgerState(ledger="main")


def test_posted_entries_read_back_whole_in_sequence_order(uow_factory: UnitOfWorkFactory) -> None:
    result = post(uow_factory, journal_entry(document_number="INV-1"), journal_entry(document_number="INV-2"))

    with uow_factory() as uow:
        assert uow.journal.entries("main") == list(result.posted)
    assert stored(uow_factory) == [(1, "je-INV-1"), (2, "je-INV-2")]


def test_sequences_continue_without_gaps_across_rounds_and_a_rolled_back_round_gives_its_numbers_back(
    uow_factory: UnitOfWorkFactory,
) -> None:
    post(uow_factory, journal_entry(document_number="INV-1"))
    post(uow_factory, journal_entry(document_number="INV-2"), commit=False)
    post(uow_factory, journal_entry(document_number="INV-3"), journal_entry(document_number="INV-4"))

    assert stored(uow_factory) == [(1, "je-INV-1"), (2, "je-INV-3"), (3, "je-INV-4")]
    with uow_factory() as uow:
        assert uow.journal.ledger("main", []).last_sequence == 3


def test_the_ledger_names_which_of_the_asked_entries_are_already_posted(uow_factory: UnitOfWorkFactory) -> None:
    post(uow_factory, journal_entry(document_number="INV-1"), journal_entry(document_number="INV-2"))

    with uow_factory() as uow:
        state = uow.journal.ledger("main", ["je-INV-2", "je-INV-9"])

    assert state.posted_ids == frozenset({"je-INV-2"})
    assert state.last_sequence == 2


def test_posting_an_entry_again_posts_nothing(uow_factory: UnitOfWorkFactory) -> None:
    post(uow_factory, journal_entry(document_number="INV-1"))

    again = post(uow_factory, journal_entry(document_number="INV-1"), journal_entry(document_number="INV-2"))

    assert again.repeated == ("je-INV-1",)
    assert stored(uow_factory) == [(1, "je-INV-1"), (2, "je-INV-2")]


def test_each_ledger_has_its_own_sequence(uow_factory: UnitOfWorkFactory) -> None:
    post(uow_factory, journal_entry(document_number="INV-1"), ledger="main")
    post(uow_factory, journal_entry(document_number="INV-2"), ledger="subsidiary")

    assert stored(uow_factory, "main") == [(1, "je-INV-1")]
    assert stored(uow_factory, "subsidiary") == [(1, "je-INV-2")]


def test_a_second_entry_with_a_sequence_already_used_in_the_ledger_is_refused(uow_factory: UnitOfWorkFactory) -> None:
    first = post(uow_factory, journal_entry(document_number="INV-1")).posted[0]
    clash = journal_entry(document_number="INV-2").model_copy(update={"sequence": first.sequence})

    with uow_factory() as uow, pytest.raises((IntegrityError, UniqueViolation)):
        uow.journal.add("main", [clash], 1, at())


def test_entries_reads_after_a_sequence_up_to_a_limit(uow_factory: UnitOfWorkFactory) -> None:
    post(uow_factory, *(journal_entry(document_number=f"INV-{n}") for n in range(1, 6)))

    with uow_factory() as uow:
        assert [e.sequence for e in uow.journal.entries("main", after_sequence=2, limit=2)] == [3, 4]
        assert uow.journal.entries("elsewhere") == []


def test_for_source_finds_the_entries_of_one_document(uow_factory: UnitOfWorkFactory) -> None:
    post(uow_factory, journal_entry(document_number="INV-1"), journal_entry(document_number="INV-2"))
    reversal = journal_entry(id="je-INV-2-reversal", document_number="INV-2", rule=accounting.PostingRule.CREDIT_MEMO)
    post(uow_factory, reversal)

    with uow_factory() as uow:
        assert [(e.sequence, e.id) for e in uow.journal.for_source("INV-2")] == [
            (2, "je-INV-2"),
            (3, "je-INV-2-reversal"),
        ]
        assert uow.journal.for_source("INV-404") == []


def test_closed_periods_are_kept_per_ledger_until_reopened(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.journal.close_period("main", "2024-05")
        uow.journal.close_period("main", "2024-05")
        uow.journal.close_period("main", "2024-06")
        uow.commit()

    with uow_factory() as uow:
        assert uow.journal.ledger("main", []).closed_periods == frozenset({"2024-05", "2024-06"})
        assert uow.journal.ledger("subsidiary", []).closed_periods == frozenset()
        uow.journal.reopen_period("main", "2024-05")
        uow.journal.reopen_period("main", "2023-01")
        uow.commit()

    with uow_factory() as uow:
        assert uow.journal.ledger("main", []).closed_periods == frozenset({"2024-06"})


def test_an_entry_dated_in_a_closed_period_is_stored_in_the_next_open_one(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        uow.journal.close_period("main", "2024-05")
        uow.commit()

    post(uow_factory, journal_entry(document_number="INV-1"))

    with uow_factory() as uow:
        [entry] = uow.journal.entries("main")
    assert (entry.period, entry.moved_from_period) == ("2024-06", "2024-05")


def test_concurrent_posting_to_one_ledger_hands_out_each_sequence_once(uow_factory: UnitOfWorkFactory) -> None:
    post(uow_factory, journal_entry(document_number="INV-0"))
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def post_one(number: str) -> None:
        try:
            start.wait(timeout=10)
            entry = journal_entry(document_number=number)
            with uow_factory() as uow:
                state = uow.journal.ledger("main", [entry.id])
                # Both would read sequence 1 here and both take 2, were the first not holding the other back.
                time.sleep(0.3)
                result = accounting.post(state, [entry], closed_period_policy=NEXT_OPEN)
                uow.journal.add("main", result.posted, result.state.last_sequence, at())
                uow.commit()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread, which raises it
            errors.append(exc)

    threads = [threading.Thread(target=post_one, args=(number,)) for number in ("INV-1", "INV-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert [sequence for sequence, _ in stored(uow_factory)] == [1, 2, 3]
