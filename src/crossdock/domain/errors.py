"""Rule violations raised by the domain. No I/O concerns live here.

Exception tree::

    CrossdockError
    ├── InvalidEvent          an envelope or payload breaks the canonical contract
    │   └── InvalidPayload    an event's data does not fit the payload model of its type
    ├── UnknownEventType      a type name that is not in the catalogue
    ├── IllegalTransition     a workflow given a fact its current state cannot take
    ├── UnknownUnit           a unit of measure an item has no conversion for
    ├── CurrencyMismatch      amounts in different currencies combined
    ├── UnknownCurrency       a code that is not ISO 4217, or has no minor unit to round to (also a ValueError)
    ├── UnbalancedEntry       a journal entry whose debits and credits differ
    ├── MissingAccount        a posting needs an account role the account map does not configure
    ├── Oversell              a reservation would take more than is available to promise
    ├── MovementConflict      a stock movement id reused for a different movement
    └── ReservationClosed     a cancelled reservation asked to reserve again
"""

from __future__ import annotations

from decimal import Decimal


class CrossdockError(Exception):
    """A business rule was broken."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class InvalidEvent(CrossdockError):
    """The event breaks the canonical envelope contract."""


class UnknownEventType(CrossdockError):
    """The event type is not in the canonical catalogue."""


class InvalidPayload(InvalidEvent):
    """The event's data does not match the payload model of its type."""


class UnknownUnit(CrossdockError):
    """The item has no conversion for this unit of measure."""


class CurrencyMismatch(CrossdockError):
    """Amounts in different currencies cannot be combined."""


class UnknownCurrency(CrossdockError, ValueError):
    """The currency is not an ISO 4217 code with known minor units."""

    # Also a ValueError so that a model field holding such a code fails as a normal validation error.


class UnbalancedEntry(CrossdockError):
    """A journal entry's debits do not equal its credits."""

    def __init__(self, entry_id: str, debits: Decimal, credits: Decimal, currency: str) -> None:
        self.entry_id = entry_id
        self.debits = debits
        self.credits = credits
        super().__init__(
            f"journal entry {entry_id} is unbalanced: debits {debits} {currency} != credits {credits} {currency}"
        )


class MissingAccount(CrossdockError):
    """No account is configured for a posting role this entry needs."""

    def __init__(self, role: str) -> None:
        self.role = role
        super().__init__(f"no account is configured for the role {role!r}: the account map needs it to post this entry")


class Oversell(CrossdockError):
    """The request would reserve more stock than is available to promise."""


class MovementConflict(CrossdockError):
    """A stock movement with this id was already applied with different content."""


class ReservationClosed(CrossdockError):
    """The reservation was cancelled; the line cannot reserve stock again."""


class IllegalTransition(CrossdockError):
    """The workflow cannot take this fact in its current state."""

    def __init__(self, message: str | None = None, *, subject: str = "", state: str = "", fact: str = "") -> None:
        self.subject = subject
        self.state = state
        self.fact = fact
        super().__init__(message)
