"""What operators ask of the hub, answered once for the CLI and the API alike: status, trace, dead letters.

Owns: read models over the stores and the replay commands (each recorded in the audit trail in its own transaction).
Must not: format output (entrypoints do).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crossdock.hub import trace as tracing
from crossdock.hub.ports import (
    Attempt,
    AuditEntry,
    Delivery,
    DeliveryFilter,
    MessageStatus,
    ReplayRecord,
    StoredEvent,
    StoredMessage,
    UnitOfWork,
)
from crossdock.hub.runtime import Hub


def audit(uow: UnitOfWork, at: datetime, actor: str, action: str, target: str, /, **details: Any) -> None:
    """Add one record to the audit trail in the caller's unit of work: it commits with the action or not at all."""
    uow.audit.append([AuditEntry(actor=actor, action=action, target=target, at=at, details=details)])


@dataclass(frozen=True)
class Status:
    messages: dict[str, int]
    deliveries: dict[str, int]
    log_head: int
    endpoints: list[dict[str, Any]]
    workers: dict[str, dict[str, int]]
    timers_pending: int


def status(hub: Hub) -> Status:
    with hub.begin() as uow:
        now = hub.clock.now()
        return Status(
            messages=uow.inbox.counts(),
            deliveries=uow.outbox.counts(),
            log_head=uow.log.head(),
            endpoints=[
                {"endpoint": s.endpoint, "breaker": s.breaker.value, "failures": s.failures, "open_until": s.open_until}
                for s in uow.endpoints.all()
            ],
            workers=uow.leases.owners(now),
            timers_pending=len(uow.timers.pending(limit=10_000)),
        )


def trace(hub: Hub, key: str, scope: tracing.Scope | None = None) -> tracing.Timeline:
    """The timeline of one business transaction (hub/trace.py), read in one unit of work."""
    with hub.begin() as uow:
        return tracing.trace(uow, key, scope or tracing.Scope())


def dead_letters(hub: Hub, flt: DeliveryFilter) -> list[Delivery]:
    with hub.begin() as uow:
        return uow.outbox.find(flt)


def delivery(hub: Hub, delivery_id: str) -> tuple[Delivery, list[Attempt]] | None:
    with hub.begin() as uow:
        found = uow.outbox.get(delivery_id)
        return (found, uow.outbox.attempts(delivery_id)) if found else None


def replay_dead_letters(
    hub: Hub,
    flt: DeliveryFilter,
    *,
    actor: str,
    dry_run: bool = False,
    payload: Mapping[str, Any] | None = None,
    note: str = "",
) -> list[Delivery]:
    with hub.begin() as uow:
        chosen = hub.outbox.replay(uow, flt, hub.clock.now(), actor, dry_run=dry_run, payload=payload, note=note)
        if chosen and not dry_run:
            audit(
                uow,
                hub.clock.now(),
                actor,
                "deliveries.replay",
                f"{len(chosen)} dead letters",
                ids=[d.id for d in chosen],
                filter=_filter_view(flt),
                edited=payload is not None,
                note=note,
            )
        uow.commit()
    return chosen


def replay_delivery(
    hub: Hub, delivery_id: str, *, actor: str, payload: Mapping[str, Any] | None = None, note: str = ""
) -> bool:
    """Replay one dead letter, optionally with an edited payload; False if it is not dead-lettered."""
    with hub.begin() as uow:
        revived = uow.outbox.revive(delivery_id, hub.clock.now(), payload)
        if revived:
            uow.replays.add(ReplayRecord("delivery", delivery_id, hub.clock.now(), actor, note))
            audit(uow, hub.clock.now(), actor, "delivery.replay", delivery_id, edited=payload is not None, note=note)
        uow.commit()
    return revived


def replay_messages(
    hub: Hub,
    *,
    actor: str,
    source: str | None = None,
    message_ids: list[int] | None = None,
    dry_run: bool = False,
    limit: int = 1000,
) -> list[StoredMessage]:
    with hub.begin() as uow:
        if message_ids:
            candidates = [m for i in message_ids if (m := uow.inbox.get(i)) is not None]
        else:
            candidates = uow.inbox.find(source=source, status=MessageStatus.FAILED, limit=limit)
        chosen = hub.replay_messages(uow, candidates, actor, dry_run=dry_run)
        if chosen and not dry_run:
            audit(
                uow,
                hub.clock.now(),
                actor,
                "messages.replay",
                ",".join(str(m.id) for m in chosen)[:600],
                ids=[m.id for m in chosen],
                source=source,
            )
        uow.commit()
    return chosen


def resend_events(
    hub: Hub, *, destination: str, after: int, upto: int, actor: str, dry_run: bool = False, batch: int = 500
) -> int:
    """Send a range of the log to one destination again, under new delivery ids (a resync). Only the events the
    destination subscribes to are queued; a dry run counts those, and queues nothing."""
    if destination not in hub.outbox.destinations:
        raise LookupError(f"no destination named {destination!r} is configured")
    subscribed = [sub for sub in hub.outbox.subscriptions if sub.destination == destination]
    total = 0
    with hub.begin() as uow:
        generation = 1 + sum(1 for r in uow.replays.recent(10_000) if r.kind == "resend")
        position = after
        while position < upto:
            events = [e for e in uow.log.read(position, batch) if e.position <= upto]
            if not events:
                break
            if not dry_run:
                total += hub.outbox.resend_events(uow, events, destination, hub.clock.now(), actor, generation)
            else:
                total += sum(1 for e in events if any(sub.wants(e.envelope.type) for sub in subscribed))
            position = events[-1].position
        if not dry_run:
            audit(
                uow,
                hub.clock.now(),
                actor,
                "events.resend",
                destination,
                after=after,
                upto=upto,
                deliveries=total,
                generation=generation,
            )
        uow.commit()
    return total


def message_view(message: StoredMessage, events: list[StoredEvent] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": message.id,
        "source": message.source,
        "key": message.key,
        "status": message.status.value,
        "error": message.error,
        "received_at": _iso(message.received_at),
        "processed_at": _iso(message.processed_at),
        "partition_key": message.partition_key,
        "replays": message.replays,
    }
    if events is not None:
        view["events"] = [
            {"position": e.position, "id": e.envelope.id, "type": e.envelope.type, "subject": e.envelope.subject}
            for e in events
        ]
    return view


def delivery_view(found: Delivery, attempts: list[Attempt] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": found.id,
        "event_id": found.event_id,
        "event_type": found.event_type,
        "subject": found.subject,
        "destination": found.destination,
        "status": found.status.value,
        "attempts": found.attempts,
        "replays": found.replays,
        "last_error": found.last_error,
        "created_at": _iso(found.created_at),
        "next_attempt_at": _iso(found.next_attempt_at),
        "delivered_at": _iso(found.delivered_at),
    }
    if attempts is not None:
        view["history"] = [
            {
                "number": a.number,
                "round": a.round,
                "at": _iso(a.at),
                "outcome": a.outcome.value,
                "status_code": a.status_code,
                "error": a.error,
                "duration_ms": round(a.duration_ms, 2),
            }
            for a in attempts
        ]
        view["payload"] = dict(found.payload)
    return view


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _filter_view(flt: DeliveryFilter) -> dict[str, Any]:
    return {
        "destination": flt.destination,
        "event_type": flt.event_type,
        "error_contains": flt.error_contains,
        "since": _iso(flt.since),
        "until": _iso(flt.until),
        "limit": flt.limit,
    }
