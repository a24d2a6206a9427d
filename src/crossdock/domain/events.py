"""The canonical envelope every business fact travels in (CloudEvents 1.0) and how ids are derived.

Owns: the Envelope model, deterministic ids, partition-key rules. Must not: touch storage, clock or network;
the caller passes the time in.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

SPEC_VERSION = "1.0"
EVENT_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\.v[1-9][0-9]*$")
# A fixed namespace makes every derived id reproducible: re-processing a message after a crash yields the
# same event and delivery ids, which is what lets the log and the targets deduplicate.
CROSSDOCK_NAMESPACE = uuid.UUID("6f1d3c2e-8a47-4f0b-9a51-0c3b2d8e7f10")


class Envelope(BaseModel):
    """A CloudEvents 1.0 envelope around one immutable business fact."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str
    subject: str = Field(min_length=1, description="The business key, e.g. an order number.")
    time: datetime
    data: dict[str, Any] = Field(default_factory=dict)
    specversion: str = SPEC_VERSION
    datacontenttype: str = "application/json"
    correlationid: str | None = None
    causationid: str | None = None
    partitionkey: str | None = None
    traceparent: str | None = None

    @field_validator("type")
    @classmethod
    def _type_is_versioned(cls, value: str) -> str:
        if not EVENT_TYPE_PATTERN.match(value):
            raise ValueError(
                f"event type {value!r} must be dotted lower-case words ending in a version, "
                "e.g. 'crossdock.order.accepted.v1'"
            )
        return value

    @field_validator("time")
    @classmethod
    def _time_is_aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("event time must carry a timezone")
        return value

    @property
    def partition(self) -> str:
        """Events sharing this key are handled in order; the business key when none is given."""
        return self.partitionkey or self.subject


def derive_id(*parts: str) -> str:
    """A stable id from its parts: the same inputs always give the same id."""
    return str(uuid.uuid5(CROSSDOCK_NAMESPACE, "\x1f".join(parts)))


def follow_up(
    cause: Envelope,
    *,
    type: str,
    subject: str,
    data: dict[str, Any],
    time: datetime,
    partitionkey: str | None = None,
    index: int = 0,
) -> Envelope:
    """An event caused by another one: same correlation and trace, causation pointing back, stable id."""
    return Envelope(
        id=derive_id(cause.id, type, subject, str(index)),
        source=cause.source,
        type=type,
        subject=subject,
        time=time,
        data=data,
        correlationid=cause.correlationid or cause.id,
        causationid=cause.id,
        partitionkey=partitionkey if partitionkey is not None else cause.partitionkey,
        traceparent=cause.traceparent,
    )


def type_matches(pattern: str, event_type: str) -> bool:
    """Subscription patterns: an exact type, or a prefix ending in '*' ('crossdock.order.*')."""
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type
