"""The composition root: settings in, a wired Hub out. The only place that picks implementations.

Nothing here runs at import time; entrypoints call build() once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from crossdock.config import DestinationSettings, Settings
from crossdock.connectors.generic.inbound import GenericInbound
from crossdock.connectors.generic.mapping import GenericMapping
from crossdock.connectors.generic.outbound import JsonLinesSender, WebhookSender
from crossdock.hub import inbox, retry
from crossdock.hub.outbox import Destination, Outbox, Subscription
from crossdock.hub.ports import Clock, InboundAdapter, Sender
from crossdock.hub.router import Router
from crossdock.hub.runtime import Hub, Retention, WorkerSettings
from crossdock.hub.timers import Timers
from crossdock.storage.sql.engine import make_engine
from crossdock.storage.sql.uow import SqlUnitOfWorkFactory


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Runtime:
    """A built hub plus what must be closed with it."""

    hub: Hub
    settings: Settings
    engine: Engine

    def close(self) -> None:
        for destination in self.hub.outbox.destinations.values():
            destination.sender.close()
        self.hub.outbox.pool.shutdown(wait=False)
        self.engine.dispose()


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    engine: Engine | None = None,
    senders: dict[str, Sender] | None = None,
    router: Router | None = None,
) -> Runtime:
    clock = clock or SystemClock()
    engine = engine or make_engine(
        settings.database_url,
        sqlite_synchronous=settings.storage.sqlite_synchronous,
        pool_size=settings.storage.pool_size,
    )
    shards = settings.worker.shards
    adapters: dict[str, InboundAdapter] = {
        name: _inbound(name, source.model_dump()) for name, source in settings.sources.items()
    }
    destinations = {
        name: _destination(name, dest, settings, (senders or {}).get(name))
        for name, dest in settings.destinations.items()
    }
    outbox = Outbox(
        destinations=destinations,
        subscriptions=[Subscription(s.destination, tuple(s.events)) for s in settings.subscriptions],
        shards=shards,
        batch_size=settings.worker.batch_size,
    )
    router = router or Router()
    processor = inbox.Processor(
        adapters=adapters,
        router=router,
        enqueue_deliveries=outbox.enqueue,
        store_errors=(sa_exc.OperationalError, sa_exc.InterfaceError),
    )
    r = settings.retention
    hub = Hub(
        begin=SqlUnitOfWorkFactory(engine, clock.now),
        clock=clock,
        intake=inbox.Intake(adapters=adapters, shards=shards),
        processor=processor,
        outbox=outbox,
        timers=Timers(),
        worker=WorkerSettings(
            shards=shards, batch_size=settings.worker.batch_size, lease_seconds=settings.worker.lease_seconds
        ),
        retention=Retention(
            messages=timedelta(days=r.messages_days),
            events=timedelta(days=r.events_days),
            deliveries=timedelta(days=r.deliveries_days),
            timers=timedelta(days=r.timers_days),
            every=timedelta(minutes=r.every_minutes),
        ),
    )
    return Runtime(hub=hub, settings=settings, engine=engine)


def _inbound(name: str, source: dict[str, Any]) -> InboundAdapter:
    source.pop("kind")
    return GenericInbound(source=name, rules=GenericMapping(**source))


def _destination(name: str, dest: DestinationSettings, settings: Settings, sender: Sender | None) -> Destination:
    if sender is None:
        sender = _sender(dest, settings)
    policy = retry.RetryPolicy(
        base_seconds=dest.retry.base_seconds,
        max_delay_seconds=dest.retry.max_delay_seconds,
        max_attempts=dest.retry.max_attempts,
        max_age_seconds=dest.retry.max_age_hours * 3600,
    )
    breaker = retry.BreakerPolicy(
        failure_threshold=dest.breaker.failure_threshold, reset_seconds=dest.breaker.reset_seconds
    )
    rate = retry.RateLimit(dest.rate_limit.per_second, dest.rate_limit.burst) if dest.rate_limit else None
    return Destination(name=name, sender=sender, retry_policy=policy, breaker_policy=breaker, rate_limit=rate)


def _sender(dest: DestinationSettings, settings: Settings) -> Sender:
    if dest.kind == "webhook":
        assert dest.url is not None  # checked by the settings model
        return WebhookSender(
            dest.url,
            timeout_seconds=dest.timeout_seconds,
            secret=dest.secret.get_secret_value() if dest.secret else None,
            headers={name: value.get_secret_value() for name, value in dest.headers.items()},
            max_connections=settings.worker.send_concurrency,
        )
    assert dest.path is not None
    path = Path(dest.path)
    return JsonLinesSender(path if path.is_absolute() else settings.data_dir / path)
