"""Errors of the pipeline itself (not business rules: those live in crossdock.domain.errors).

Exception tree::

    HubError
    ├── IntakeError
    │   └── UnknownSource           no source of that name is configured
    ├── MappingError                an inbound message could not be parsed or mapped
    └── DeliveryError
        ├── RetryableDeliveryError  timeout, 5xx, 429: try again later
        └── PermanentDeliveryError  4xx, mapping failure: dead-letter at once
"""

from __future__ import annotations


class HubError(Exception):
    """The hub could not do what was asked."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class IntakeError(HubError):
    """The message was not accepted."""


class UnknownSource(IntakeError):
    """No source of that name is configured."""


class MappingError(HubError):
    """The message could not be parsed or mapped to canonical events."""


class DeliveryError(HubError):
    """The target did not take the delivery."""


class RetryableDeliveryError(DeliveryError):
    """The target failed in a way that may pass: a timeout, a 5xx or a 429."""

    def __init__(
        self, message: str | None = None, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """The target refused the delivery for good: a 4xx, or the payload could not be mapped."""

    def __init__(self, message: str | None = None, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
