"""Durable delivery: queue a delivery per subscribed destination in the event's unit of work, then send
what is due, honouring breaker, rate limit and per-partition order, and record every attempt.

Owns: subscriptions, the delivery id rule, retry decisions, dead-lettering and replay. Must not: speak any
wire format (Senders do) or hold a transaction open while sending.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from crossdock.domain.events import derive_id, type_matches
from crossdock.hub import retry
from crossdock.hub.ports import (
    OUTBOX_POOL,
    Attempt,
    AttemptOutcome,
    BreakerState,
    Delivery,
    DeliveryFilter,
    DeliveryStatus,
    DeliveryUpdate,
    NewDelivery,
    ReplayRecord,
    Sender,
    SendResult,
    StoredEvent,
    UnitOfWork,
)
from crossdock.hub.router import shard_of
from crossdock.observability import context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Subscription:
    """Events whose type matches one of the patterns go to the destination."""

    destination: str
    event_types: tuple[str, ...]

    def wants(self, event_type: str) -> bool:
        return any(type_matches(pattern, event_type) for pattern in self.event_types)


@dataclass
class Destination:
    name: str
    sender: Sender
    retry_policy: retry.RetryPolicy = field(default_factory=retry.RetryPolicy)
    breaker_policy: retry.BreakerPolicy = field(default_factory=retry.BreakerPolicy)
    rate_limit: retry.RateLimit | None = None


# What a destination does to each delivery before it is queued, in the queueing transaction: an EDI destination
# numbers it from its partner's sequences. Returns the delivery to queue, or None to queue nothing for it (it was
# numbered and queued before, or the document belongs to another partner, e.g. another customer's order).
Numbering = Callable[[UnitOfWork, StoredEvent, NewDelivery, datetime], NewDelivery | None]


def delivery_id(event_id: str, destination: str, generation: int = 0) -> str:
    """Deterministic: re-processing an event after a crash queues the same id, which targets dedupe on."""
    parts = (event_id, destination) if generation == 0 else (event_id, destination, f"resend-{generation}")
    return derive_id("delivery", *parts)


@dataclass
class Outbox:
    destinations: Mapping[str, Destination]
    subscriptions: Sequence[Subscription]
    shards: int
    batch_size: int = 200
    pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=8, thread_name_prefix="send")
    )
    # Told of every recorded attempt (destination, outcome, whether it dead-lettered): metrics, set by whoever
    # serves them.
    on_attempt: Callable[[str, AttemptOutcome, bool], None] | None = None
    # Per destination name; set by bootstrap. Every way into the queue (new events, resends) goes through it.
    numbering: Mapping[str, Numbering] = field(default_factory=dict)
    # The time rate buckets are filled by, read once the endpoint row is held; None uses the round's time.
    clock: Callable[[], datetime] | None = None

    # ---- queueing (inside the event's unit of work) ----------------------------------------------------
    def enqueue(self, uow: UnitOfWork, events: Sequence[StoredEvent], now: datetime) -> None:
        """A delivery per subscribed destination of each event (the processor's way into the queue)."""
        wanted = [
            (stored, sub.destination)
            for stored in events
            for sub in self.subscriptions
            if sub.wants(stored.envelope.type)
        ]
        self._queue(uow, wanted, now)

    def _queue(
        self, uow: UnitOfWork, wanted: Sequence[tuple[StoredEvent, str]], now: datetime, generation: int = 0
    ) -> int:
        rows = []
        for stored, destination in wanted:
            row = self.new_delivery(stored, destination, now, generation)
            hook = self.numbering.get(destination)
            numbered = hook(uow, stored, row, now) if hook is not None else row
            if numbered is not None:
                rows.append(numbered)
        return uow.outbox.enqueue(rows) if rows else 0

    def new_delivery(self, stored: StoredEvent, destination: str, now: datetime, generation: int = 0) -> NewDelivery:
        """The delivery of an event to a destination as it is queued: its deterministic id (a resend's generation
        gives a new one), shard, and the event with its log position as payload."""
        event = stored.envelope
        return NewDelivery(
            id=delivery_id(event.id, destination, generation),
            event_id=event.id,
            event_type=event.type,
            subject=event.subject,
            destination=destination,
            partition_key=event.partition,
            shard=shard_of(event.partition, self.shards),
            payload={**event.model_dump(mode="json", exclude_none=True), "position": stored.position},
            created_at=now,
            next_attempt_at=now,
        )

    # ---- sending (outside any transaction) -------------------------------------------------------------
    def deliver_due(
        self,
        begin: Callable[[], UnitOfWork],
        owner: str,
        shards: Sequence[int],
        now: Callable[[], datetime],
    ) -> int:
        """One round: claim due deliveries, send them, record results. Returns how many were sent."""
        with begin() as uow:
            chosen = self.plan(uow, owner, shards, now())
            uow.commit()
        if not chosen:
            return 0
        results = self.send(chosen)
        with begin() as uow:
            self.record(uow, chosen, results, now())
            uow.commit()
        return len(results)

    def plan(
        self,
        uow: UnitOfWork,
        owner: str,
        shards: Sequence[int],
        now: datetime,
        busy: Collection[tuple[str, str]] = frozenset(),
    ) -> list[Delivery]:
        """Choose what to send now, inside the caller's unit of work. `busy` names (destination, partition)
        pairs with a send still in flight: nothing more of theirs goes until it is recorded."""
        held = uow.leases.hold(OUTBOX_POOL, owner, shards)
        due = uow.outbox.due(held, now, self.batch_size) if held else []
        by_destination: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in due:
            if (delivery.destination, delivery.partition_key) not in busy:
                by_destination[delivery.destination].append(delivery)
        chosen: list[Delivery] = []
        for name in sorted(by_destination):  # endpoint rows are locked in name order by every worker
            chosen.extend(self._admit(uow, name, by_destination[name], now))
        return chosen

    def _admit(self, uow: UnitOfWork, name: str, deliveries: list[Delivery], now: datetime) -> list[Delivery]:
        """Let through what breaker and bucket allow; postpone the rest without charging an attempt."""
        destination = self.destinations.get(name)
        if destination is None:
            self._dead_letter_unroutable(uow, deliveries, now)
            return []
        state = uow.endpoints.load(name)
        if self.clock is not None:
            # A round's time is read before it processes and waits for locks; the bucket must count from when
            # this round holds the endpoint row, or a slow round refills tokens another worker already spent.
            now = max(now, self.clock())
        before = replace(state)
        allowed, look_again = retry.breaker_allows(state, now)
        if not allowed:
            uow.outbox.postpone([d.id for d in deliveries], look_again or now + timedelta(seconds=1))
            uow.endpoints.save(state)
            return []
        wanted = _heads_first(deliveries)
        budget = retry.probe_budget(state)
        if budget is not None:
            wanted = wanted[:budget]
            retry.breaker_on_probe_sent(state, now, destination.breaker_policy)
        granted, wait = retry.take_tokens(state, destination.rate_limit, len(wanted), now)
        admitted = wanted[:granted]
        admitted_ids = {d.id for d in admitted}
        held_back = [d.id for d in deliveries if d.id not in admitted_ids]
        if held_back and budget is None:
            uow.outbox.postpone(held_back, now + timedelta(seconds=max(wait, 0.001)))
        elif held_back:
            uow.outbox.postpone(held_back, state.open_until or now)
        if state != before:
            uow.endpoints.save(state)
        return admitted

    def _dead_letter_unroutable(self, uow: UnitOfWork, deliveries: list[Delivery], now: datetime) -> None:
        reason = "destination is no longer configured"
        uow.outbox.record(
            [
                DeliveryUpdate(
                    d.id,
                    DeliveryStatus.DEAD,
                    d.attempts,
                    d.next_attempt_at,
                    reason,
                    None,
                    Attempt(d.id, d.attempts + 1, now, AttemptOutcome.PERMANENT, None, reason, 0.0),
                )
                for d in deliveries
            ]
        )

    def send(self, plan: Sequence[Delivery]) -> dict[str, SendResult]:
        """Per destination and partition, in order: the next delivery goes only once the one before it
        was delivered. Different partitions and destinations go concurrently."""
        queues: dict[tuple[str, str], list[Delivery]] = defaultdict(list)
        for delivery in plan:
            queues[(delivery.destination, delivery.partition_key)].append(delivery)
        results: dict[str, SendResult] = {}
        while queues:
            wave: dict[str, list[Delivery]] = defaultdict(list)
            for queue in queues.values():
                wave[queue[0].destination].append(queue[0])
            futures = {
                name: self.pool.submit(self.destinations[name].sender.send, batch) for name, batch in wave.items()
            }
            for name, future in futures.items():
                for result in _safe_results(future.result, wave[name]):
                    results[result.delivery_id] = result
            queues = {
                group: queue[1:]
                for group, queue in queues.items()
                if len(queue) > 1 and results[queue[0].id].outcome is AttemptOutcome.DELIVERED
            }
        return results

    def record(
        self, uow: UnitOfWork, plan: Sequence[Delivery], results: Mapping[str, SendResult], now: datetime
    ) -> None:
        """Record each send's outcome, its attempt and the breaker's verdict, in the caller's unit of work."""
        updates: list[DeliveryUpdate] = []
        by_destination: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in plan:
            if delivery.id in results:
                by_destination[delivery.destination].append(delivery)
        for name in sorted(by_destination):  # endpoint rows are locked in name order by every worker
            deliveries = by_destination[name]
            destination = self.destinations[name]
            state = uow.endpoints.load(name)
            was_probe = state.breaker is BreakerState.HALF_OPEN
            probe_deadline = state.open_until
            for delivery in deliveries:
                result = results[delivery.id]
                update = _decide(delivery, result, destination.retry_policy, now)
                updates.append(update)
                dead = update.status is DeliveryStatus.DEAD
                if dead:
                    with context.correlated(_correlation(delivery)):
                        log.warning(
                            "delivery %s of %s to %s dead-lettered after %d attempts: %s",
                            delivery.id,
                            delivery.event_type,
                            name,
                            update.attempts,
                            (result.error or "")[:300],
                        )
                if self.on_attempt is not None:
                    self.on_attempt(name, result.outcome, dead)
                if result.outcome is AttemptOutcome.DELIVERED:
                    retry.breaker_on_success(state)
                elif result.outcome is AttemptOutcome.RETRYABLE and result.status_code != 429:
                    retry.breaker_on_failure(state, now, destination.breaker_policy, was_probe)
                elif was_probe:
                    # A 4xx or 429 answer still proves the endpoint is up.
                    retry.breaker_on_success(state)
            if was_probe and state.breaker is BreakerState.CLOSED and probe_deadline is not None:
                # The backlog held back behind the probe need not wait out the probe's deadline.
                uow.outbox.resume(name, probe_deadline, now)
            uow.endpoints.save(state)
        uow.outbox.record(updates)

    # ---- dead letters and replay -----------------------------------------------------------------------
    def replay(
        self,
        uow: UnitOfWork,
        flt: DeliveryFilter,
        now: datetime,
        actor: str,
        dry_run: bool = False,
        payload: Mapping[str, Any] | None = None,
        note: str = "",
    ) -> list[Delivery]:
        """Put matching dead letters back in the queue with their original delivery id (targets dedupe),
        recording each replay. A dry run only says what would go."""
        chosen = uow.outbox.find(replace(flt, status=DeliveryStatus.DEAD))
        if dry_run:
            return chosen
        revived = [d for d in chosen if uow.outbox.revive(d.id, now, payload)]
        for delivery in revived:
            uow.replays.add(ReplayRecord("delivery", delivery.id, now, actor, note))
        return revived

    def resend_events(
        self,
        uow: UnitOfWork,
        events: Sequence[StoredEvent],
        destination: str,
        now: datetime,
        actor: str,
        generation: int,
    ) -> int:
        """Queue the events of the range that the destination subscribes to again, under new delivery ids (a
        resync), numbered as new deliveries are (an EDI partner gets new interchanges, awaiting their
        acknowledgements). Events it never took are not forced on it."""
        subscribed = [sub for sub in self.subscriptions if sub.destination == destination]
        wanted = [(s, destination) for s in events if any(sub.wants(s.envelope.type) for sub in subscribed)]
        count = self._queue(uow, wanted, now, generation)
        uow.replays.add(
            ReplayRecord("resend", f"{destination}:{len(wanted)} events:generation {generation}", now, actor)
        )
        return count


def _correlation(delivery: Delivery) -> str | None:
    value = delivery.payload.get("correlationid")
    return value if isinstance(value, str) else None


def _heads_first(deliveries: list[Delivery]) -> list[Delivery]:
    """Order the batch so a rate or probe budget spends on the oldest delivery of each partition first."""
    seen: set[str] = set()
    heads: list[Delivery] = []
    rest: list[Delivery] = []
    for delivery in deliveries:
        (rest if delivery.partition_key in seen else heads).append(delivery)
        seen.add(delivery.partition_key)
    return heads + rest


def _safe_results(call: Callable[[], list[SendResult]], batch: list[Delivery]) -> list[SendResult]:
    """A sender that raises instead of reporting counts as a retryable failure of its whole batch."""
    try:
        results = call()
    except Exception as exc:  # noqa: BLE001 - turned into recorded attempts, never lost
        return [SendResult(d.id, AttemptOutcome.RETRYABLE, None, f"sender failed: {exc!r}") for d in batch]
    missing = {d.id for d in batch} - {r.delivery_id for r in results}
    return results + [SendResult(i, AttemptOutcome.RETRYABLE, None, "sender returned no result") for i in missing]


def _decide(delivery: Delivery, result: SendResult, policy: retry.RetryPolicy, now: datetime) -> DeliveryUpdate:
    attempts = delivery.attempts + 1
    attempt = Attempt(
        delivery.id,
        attempts,
        now,
        result.outcome,
        result.status_code,
        result.error,
        result.duration_ms,
        round=delivery.replays,
    )
    if result.outcome is AttemptOutcome.DELIVERED:
        return DeliveryUpdate(
            delivery.id, DeliveryStatus.DELIVERED, attempts, delivery.next_attempt_at, None, now, attempt
        )
    if result.outcome is AttemptOutcome.PERMANENT or policy.exhausted(attempts, delivery.queued_at, now):
        return DeliveryUpdate(
            delivery.id, DeliveryStatus.DEAD, attempts, delivery.next_attempt_at, result.error, None, attempt
        )
    wait = policy.delay(attempts, result.retry_after_seconds)
    return DeliveryUpdate(
        delivery.id, DeliveryStatus.PENDING, attempts, now + timedelta(seconds=wait), result.error, None, attempt
    )
