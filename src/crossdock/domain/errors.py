"""Rule violations raised by the domain. No I/O concerns live here.

Exception tree::

    CrossdockError
    ├── InvalidEvent          an envelope or payload breaks the canonical contract
    └── UnknownEventType      a type name that is not in the catalogue
"""


class CrossdockError(Exception):
    """A business rule was broken."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class InvalidEvent(CrossdockError):
    """The event breaks the canonical envelope contract."""


class UnknownEventType(CrossdockError):
    """The event type is not in the canonical catalogue."""
