"""Which handlers see which event, and which shard a partition key falls in.

Owns: the handler registry and the partition-to-shard rule. Must not: know storage or wire formats.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crossdock.domain.events import Envelope, follow_up, type_matches
from crossdock.hub.ports import UnitOfWork


def shard_of(partition_key: str, shards: int) -> int:
    """Every message and delivery of one partition lands in one shard, so one worker at a time owns it."""
    return zlib.crc32(partition_key.encode("utf-8")) % shards


@dataclass
class HandlerContext:
    """What a handler may touch: the open unit of work, the time, and a way to emit follow-up events."""

    uow: UnitOfWork
    now: datetime
    cause: Envelope
    emitted: list[Envelope] = field(default_factory=list)

    def emit(self, type: str, subject: str, data: dict[str, Any], partitionkey: str | None = None) -> Envelope:
        event = follow_up(
            self.cause,
            type=type,
            subject=subject,
            data=data,
            time=self.now,
            partitionkey=partitionkey,
            index=len(self.emitted),
        )
        self.emitted.append(event)
        return event


Handler = Callable[[Envelope, HandlerContext], None]


@dataclass
class Router:
    routes: list[tuple[str, Handler]] = field(default_factory=list)

    def register(self, pattern: str, handler: Handler) -> None:
        self.routes.append((pattern, handler))

    def handlers_for(self, event_type: str) -> list[Handler]:
        return [handler for pattern, handler in self.routes if type_matches(pattern, event_type)]
