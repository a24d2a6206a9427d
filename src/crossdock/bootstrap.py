"""The composition root: settings in, a wired Hub out. The only place that picks implementations.

Nothing here runs at import time; entrypoints call build() once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from crossdock.config import DestinationSettings, Settings
from crossdock.connectors.canonical.inbound import CanonicalInbound
from crossdock.connectors.edi import profiles as edi_profiles
from crossdock.connectors.edi.inbound import EdiInbound
from crossdock.connectors.edi.outbound import EdiSender
from crossdock.connectors.files.poller import FilePoller
from crossdock.connectors.generic.inbound import GenericInbound
from crossdock.connectors.generic.mapping import GenericMapping
from crossdock.connectors.generic.outbound import JsonLinesSender, WebhookSender
from crossdock.domain import catalog
from crossdock.domain.inventory import AuthorityRules
from crossdock.domain.workflows import procure_to_pay
from crossdock.domain.workflows.order_to_cash import DEFAULT_SLA, PriceList
from crossdock.hub import inbox, retry
from crossdock.hub.handlers import OrderToCash, OrderToCashPolicy, ProcureToPay, ProcureToPayPolicy
from crossdock.hub.outbox import Destination, Outbox, Subscription
from crossdock.hub.ports import Clock, ConcurrentUpdate, InboundAdapter, Sender
from crossdock.hub.router import Router
from crossdock.hub.runtime import Hub, Retention, WorkerSettings
from crossdock.hub.timers import Timers
from crossdock.storage.sql.engine import make_engine
from crossdock.storage.sql.uow import SqlUnitOfWorkFactory

ORDERS_API_SOURCE = "api"


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Runtime:
    """A built hub plus what must be closed with it."""

    hub: Hub
    settings: Settings
    engine: Engine
    order_to_cash: OrderToCash
    procure_to_pay: ProcureToPay | None = None
    pollers: list[FilePoller] = field(default_factory=list)  # partner inbound folders, read by the worker

    def close(self) -> None:
        for destination in self.hub.outbox.destinations.values():
            destination.sender.close()
        self.hub.outbox.pool.shutdown(wait=False)
        for poller in self.pollers:
            poller.transport.close()
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
        name: _inbound(name, source.model_dump(), settings) for name, source in settings.sources.items()
    }
    # The experience API (POST /v1/orders) takes canonical orders through the same durable intake.
    orders_api = CanonicalInbound(ORDERS_API_SOURCE, catalog.OrderReceived.event_type, document_field="order")
    adapters.setdefault(ORDERS_API_SOURCE, orders_api)
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
        # A concurrent update of the same order or ledger row redoes the whole round, never blames a message.
        store_errors=(sa_exc.OperationalError, sa_exc.InterfaceError, ConcurrentUpdate),
    )
    order_to_cash = OrderToCash.build(order_to_cash_policy(settings))
    timers = Timers()
    order_to_cash.register(router, timers, processor.publish)
    # Procure-to-pay stocks receipts and posts through order-to-cash's stock and posting desks: one ledger, one journal.
    procure_to_pay = ProcureToPay.build(
        procure_to_pay_policy(settings), stock=order_to_cash.stock, postings=order_to_cash.postings
    )
    procure_to_pay.register(router, timers, processor.publish)
    r = settings.retention
    hub = Hub(
        begin=SqlUnitOfWorkFactory(engine, clock.now),
        clock=clock,
        intake=inbox.Intake(adapters=adapters, shards=shards),
        processor=processor,
        outbox=outbox,
        timers=timers,
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
    return Runtime(
        hub=hub,
        settings=settings,
        engine=engine,
        order_to_cash=order_to_cash,
        procure_to_pay=procure_to_pay,
        pollers=_partner_pollers(settings, hub),
    )


def _partner_pollers(settings: Settings, hub: Hub) -> list[FilePoller]:
    """One poller per EDI source whose partner has a folder or SFTP account: its inbound files feed that source."""
    pollers = []
    for name, source in settings.sources.items():
        if source.kind != "edi" or source.partner is None:
            continue
        transport = edi_profiles.Profile(source.partner, settings.partners[source.partner]).transport(settings.data_dir)
        if transport is not None:
            pollers.append(FilePoller(transport, name, hub.receive))
    return pollers


def _inbound(name: str, source: dict[str, Any], settings: Settings) -> InboundAdapter:
    kind = source.pop("kind")
    partner = source.pop("partner")
    if kind == "edi":
        return EdiInbound(name, edi_profiles.Profile(partner, settings.partners[partner]))
    if kind == "canonical":
        return CanonicalInbound(source=name, event_type=source["event_type"], document_field=source["document_field"])
    source.pop("document_field")
    if source["event_type"] is None:
        source.pop("event_type")
    return GenericInbound(source=name, rules=GenericMapping(**source))


def order_to_cash_policy(settings: Settings) -> OrderToCashPolicy:
    """The order-to-cash rules and reference data, from the settings."""
    reference, orders, stock, books = settings.reference, settings.orders, settings.inventory, settings.accounting
    sla = dict(DEFAULT_SLA)
    sla.update({stage: timedelta(minutes=minutes) for stage, minutes in orders.sla_minutes.items()})
    return OrderToCashPolicy(
        customers={customer.number: customer for customer in reference.customers},
        items={item.sku: item for item in reference.items},
        price_lists={
            name: PriceList(currency=prices.currency, prices=prices.prices)
            for name, prices in reference.price_lists.items()
        },
        default_price_list=reference.default_price_list,
        price_tolerance_percent=orders.price_tolerance_percent,
        reservation_policy=orders.reservation_policy,
        locations=tuple(orders.locations),
        sla=sla,
        hub_invoices=orders.hub_invoices,
        tax_rate=orders.tax_rate,
        invoice_prefix=orders.invoice_prefix,
        channels=tuple(stock.channels),
        buffers=stock.buffers,
        authority=AuthorityRules(rules=tuple(stock.authority)),
        availability_window=timedelta(seconds=stock.availability_window_seconds),
        accounts=books.accounts,
        ledger=books.ledger,
        ledger_currency=books.currency,
        closed_period_policy=books.closed_period_policy,
        unit_costs=dict(books.unit_costs),
    )


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
    if dest.kind == "edi":
        assert dest.partner is not None  # checked by the settings model
        profile = edi_profiles.Profile(dest.partner, settings.partners[dest.partner])
        transport = profile.transport(settings.data_dir)
        if transport is None:
            raise ValueError(f"partner {dest.partner} has no transport for its edi destination to write to")
        return EdiSender(profile, transport)
    assert dest.path is not None
    path = Path(dest.path)
    return JsonLinesSender(path if path.is_absolute() else settings.data_dir / path)


def procure_to_pay_policy(settings: Settings) -> ProcureToPayPolicy:
    """The procure-to-pay rules and supplier master, from the settings."""
    buying = settings.procurement
    return ProcureToPayPolicy(
        suppliers={supplier.number: supplier for supplier in buying.suppliers},
        default_tolerance=buying.default_tolerance,
        workflow=procure_to_pay.Policy(
            changes=buying.changes,
            acknowledge_within=timedelta(hours=buying.acknowledge_within_hours),
            notice_lead=timedelta(hours=buying.notice_lead_hours),
            receipt_grace=timedelta(hours=buying.receipt_grace_hours),
        ),
        items={item.sku: item for item in settings.reference.items},
        await_transmission=buying.sent_on == "transmission",
    )
