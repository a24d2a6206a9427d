"""The composition root: settings in, a wired Hub out. The only place that picks implementations.

Nothing here runs at import time; entrypoints call build() once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from crossdock.config import ConfigError, DestinationSettings, PartnerSettings, Settings, SourceSettings
from crossdock.connectors import registry as connectors
from crossdock.connectors.canonical.inbound import CanonicalInbound
from crossdock.connectors.shopify import wiring as shopify
from crossdock.connectors.threepl import wiring as warehouses
from crossdock.domain import catalog
from crossdock.domain.inventory import AuthorityRules, ReconciliationReport
from crossdock.domain.workflows import procure_to_pay
from crossdock.domain.workflows.order_to_cash import DEFAULT_SLA, PriceList
from crossdock.hub import inbox, retry
from crossdock.hub.handlers import OrderToCash, OrderToCashPolicy, ProcureToPay, ProcureToPayPolicy
from crossdock.hub.handlers.edi import AnsweringProcessor, EdiDesk, PartnerTerms
from crossdock.hub.outbox import Destination, Outbox, Subscription
from crossdock.hub.ports import (
    Clock,
    ConcurrentUpdate,
    InboundAdapter,
    InterchangePlanner,
    Poller,
    RefusalAnswerer,
    Sender,
)
from crossdock.hub.router import Router
from crossdock.hub.runtime import Hub, Retention, WorkerSettings
from crossdock.hub.silence import FailingRule, SourceWatch, Watch
from crossdock.hub.timers import Timers
from crossdock.observability import tracing
from crossdock.observability.activity import SqlFigures
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
    pollers: list[Poller] = field(default_factory=list)  # sources whose systems the worker reads (hub.ports.Poller)

    def close(self) -> None:
        for destination in self.hub.outbox.destinations.values():
            destination.sender.close()
        self.hub.outbox.pool.shutdown(wait=False)
        for poller in self.pollers:
            poller.close()
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
        name: _inbound(name, source, settings) for name, source in settings.sources.items()
    }
    # The experience API (POST /v1/orders) takes canonical orders through the same durable intake.
    orders_api = CanonicalInbound(ORDERS_API_SOURCE, catalog.OrderReceived.event_type, document_field="order")
    adapters.setdefault(ORDERS_API_SOURCE, orders_api)
    # A disabled destination is not built at all: nothing is queued for a system that is not there.
    destinations = {
        name: _destination(name, dest, settings, (senders or {}).get(name))
        for name, dest in settings.destinations.items()
        if dest.enabled
    }
    outbox = Outbox(
        destinations=destinations,
        subscriptions=[
            Subscription(s.destination, tuple(s.events))
            for s in settings.subscriptions
            if s.destination in destinations
        ],
        shards=shards,
        batch_size=settings.worker.batch_size,
        clock=clock.now,
    )
    router = router or Router()
    # Deliveries that become files for trading partners are numbered from the partners' sequences as they are queued,
    # whether a new event or a resend (`replay events --destination`) queues them.
    edi = EdiDesk(
        planners={n: d.sender for n, d in destinations.items() if isinstance(d.sender, InterchangePlanner)},
        partners={name: partner_terms(partner) for name, partner in settings.partners.items()},
    )
    outbox.numbering = edi.numbering()
    processor = AnsweringProcessor(
        adapters=adapters,
        router=router,
        enqueue_deliveries=outbox.enqueue,
        # A concurrent update of the same order or ledger row redoes the whole round, never blames a message.
        store_errors=(sa_exc.OperationalError, sa_exc.InterfaceError, ConcurrentUpdate),
        answerers={n: a for n, a in adapters.items() if isinstance(a, RefusalAnswerer)},
    )
    order_to_cash = OrderToCash.build(order_to_cash_policy(settings))
    timers = Timers()
    order_to_cash.register(router, timers, processor.publish)
    # Procure-to-pay stocks receipts and posts through order-to-cash's stock and posting desks: one ledger, one journal.
    procure_to_pay = ProcureToPay.build(
        procure_to_pay_policy(settings), stock=order_to_cash.stock, postings=order_to_cash.postings
    )
    procure_to_pay.register(router, timers, processor.publish)
    edi.register(router, timers, processor.publish)
    source_watch(settings, sorted(adapters), clock, engine).register(timers, processor.publish)
    o = settings.observability
    tracing.configure(o.exporter, endpoint=o.endpoint, service_name=o.service_name)
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
    _shop_wiring(hub)
    return Runtime(
        hub=hub,
        settings=settings,
        engine=engine,
        order_to_cash=order_to_cash,
        procure_to_pay=procure_to_pay,
        pollers=_warehouse_wiring(settings, hub, order_to_cash, _pollers(settings, hub)),
    )


# A database of the process's own, never written: what `check` builds the hub against.
THROWAWAY_DATABASE = "sqlite://"


def check(settings: Settings) -> list[ConfigError]:
    """What `build` would refuse in these settings, each error naming its configuration path. Every source's inbound
    side and every enabled destination's sender is built on its own and closed again, so that all of them are named
    at once; when they all build, the whole hub is built (pollers, wiring, timers) against a throwaway in-memory
    database and closed. Nothing is started, and neither the configured database nor any system is called."""
    problems: list[ConfigError] = []
    for name, source in settings.sources.items():
        try:
            _inbound(name, source, settings)
        except ConfigError as exc:
            problems.append(exc)
    for name, dest in settings.destinations.items():
        if not dest.enabled:
            continue
        try:
            _destination(name, dest, settings, None).sender.close()
        except ConfigError as exc:
            problems.append(exc)
    if problems:
        return problems
    try:
        build(settings, engine=make_engine(THROWAWAY_DATABASE)).close()
    except ConfigError as exc:
        return [exc]
    return []


def _pollers(settings: Settings, hub: Hub) -> list[Poller]:
    """A poller per source whose connector declares one (an ERP read since a watermark, a partner's folder)."""
    feed = connectors.Feed(begin=hub.begin, prepare=hub.intake.prepare, receive=hub.receive, now=hub.clock.now)
    pollers = []
    for name, source in settings.sources.items():
        connector = _connector(source.kind, f"sources.{name}", "inbound")
        if connector.poller is None:
            continue
        try:
            poller = connector.poller(_setup(name, source.model_dump(), settings, connector.limits), feed)
        except ValueError as exc:
            raise _refused(f"sources.{name}", exc) from None
        if poller is not None:
            pollers.append(poller)
    return pollers


def _warehouse_wiring(settings: Settings, hub: Hub, order_to_cash: OrderToCash, pollers: list[Poller]) -> list[Poller]:
    """WMS and 3PL senders read who an order ships to through the hub; 3PL folders reconcile their stock snapshots
    through the stock desk."""

    def reconcile(counts: dict[tuple[str, str], Decimal], source: str, ident: str) -> ReconciliationReport:
        now = hub.clock.now()
        return order_to_cash.reconcile_inventory(hub.begin, now, counts, source=source, reconciliation_id=ident)

    senders = {name: destination.sender for name, destination in hub.outbox.destinations.items()}
    customers = {customer.number: customer for customer in settings.reference.customers}
    warehouses.wire(hub.begin, hub.clock.now, reconcile, customers, senders, pollers)
    return pollers


def _shop_wiring(hub: Hub) -> None:
    """Shopify senders read cross-references through the hub (the shops' order polls are the connector's pollers)."""
    senders = {name: destination.sender for name, destination in hub.outbox.destinations.items()}
    shopify.wire(hub.begin, hub.clock.now, senders, hub.processor.publish)


def source_watch(settings: Settings, sources: list[str], clock: Clock, engine: Engine) -> SourceWatch:
    """Every source is watched for failing its records; those with an expected interval, and partners whose inbound
    files are expected that often, for silence too."""
    o = settings.observability
    watches = []
    for name in sources:
        expected = settings.sources[name].expect_every_minutes if name in settings.sources else None
        watches.append(Watch(name, "source", (name,), timedelta(minutes=expected) if expected else None))
    for name, partner in settings.partners.items():
        expected = partner.transport.expect_every_minutes if partner.transport else None
        if expected is None:
            continue
        fed = tuple(source for source, given in settings.sources.items() if given.partner == name)
        if not fed:
            raise ConfigError(
                f"partners.{name}.transport.expect_every_minutes: no source reads this partner's files "
                "(add a source with kind: edi and partner: " + name + ")"
            )
        watches.append(Watch(name, "partner", fed, timedelta(minutes=expected)))
    return SourceWatch(
        watches,
        SqlFigures(engine),
        watching_since=clock.now(),
        rule=FailingRule(
            share=o.failing_share, at_least=o.failing_at_least, window=timedelta(minutes=o.failing_window_minutes)
        ),
        every=timedelta(minutes=o.watch_every_minutes),
    )


def _connector(kind: str, where: str, side: str) -> connectors.Connector:
    """The installed connector of this kind, with the side (inbound or sender) the section needs."""
    try:
        connector = connectors.load(kind)
    except connectors.ConnectorError as exc:
        raise ConfigError(f"{where}.kind: {exc}") from None
    if getattr(connector, side) is None:
        needs = "a source needs an inbound side" if side == "inbound" else "a destination needs a sender"
        raise ConfigError(f"{where}.kind: connector {kind!r} cannot be used here: {needs}")
    return connector


def _refused(where: str, exc: ValueError) -> ConfigError:
    """A factory's refusal of its settings, as a configuration error that names the section once."""
    message = str(exc)
    named = message.startswith((f"{where}:", f"{where}."))
    return ConfigError(message if named else f"{where}: {message}")


def _inbound(name: str, source: SourceSettings, settings: Settings) -> InboundAdapter:
    connector = _connector(source.kind, f"sources.{name}", "inbound")
    assert connector.inbound is not None
    try:
        return connector.inbound(_setup(name, source.model_dump(), settings, connector.limits))
    except ValueError as exc:
        raise _refused(f"sources.{name}", exc) from None


def _setup(name: str, section: dict[str, Any], settings: Settings, limits: connectors.Limits) -> connectors.Setup:
    return connectors.Setup(
        name=name, settings=section, data_dir=settings.data_dir, partners=dict(settings.partners), limits=limits
    )


def _tighter(configured: float | None, declared: float | None) -> float | None:
    given = [value for value in (configured, declared) if value is not None]
    return min(given) if given else None


def _limits_in_force(dest: DestinationSettings, settings: Settings, declared: connectors.Limits) -> connectors.Limits:
    """A destination stays within what its connector declares its system takes; the configuration may only tighten."""
    configured = dest.rate_limit
    per_second = _tighter(configured.per_second if configured else None, declared.rate_per_second)
    burst = _tighter(configured.burst if configured else None, declared.burst)
    concurrency = _tighter(settings.worker.send_concurrency, declared.concurrency)
    return connectors.Limits(
        rate_per_second=per_second,
        burst=burst if burst is not None or per_second is None else max(1.0, per_second),
        concurrency=int(concurrency) if concurrency is not None else None,
        batch_size=declared.batch_size,
    )


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
    connector = _connector(dest.kind, f"destinations.{name}", "sender")
    limits = _limits_in_force(dest, settings, connector.limits)
    if sender is None:
        sender = _sender(name, dest, settings, connector, limits)
    policy = retry.RetryPolicy(
        base_seconds=dest.retry.base_seconds,
        max_delay_seconds=dest.retry.max_delay_seconds,
        max_attempts=dest.retry.max_attempts,
        max_age_seconds=dest.retry.max_age_hours * 3600,
    )
    breaker = retry.BreakerPolicy(
        failure_threshold=dest.breaker.failure_threshold, reset_seconds=dest.breaker.reset_seconds
    )
    rate = None
    if limits.rate_per_second is not None and limits.burst is not None:
        rate = retry.RateLimit(limits.rate_per_second, limits.burst)
    return Destination(name=name, sender=sender, retry_policy=policy, breaker_policy=breaker, rate_limit=rate)


def _sender(
    name: str, dest: DestinationSettings, settings: Settings, connector: connectors.Connector, limits: connectors.Limits
) -> Sender:
    assert connector.sender is not None  # checked by _connector
    try:
        sender = connector.sender(_setup(name, dest.model_dump(), settings, limits))
    except ValueError as exc:
        raise _refused(f"destinations.{name}", exc) from None
    return connectors.in_batches(sender, limits.batch_size)


def partner_terms(partner: PartnerSettings) -> PartnerTerms:
    """A trading partner's control-number range and acknowledgement window, from its profile."""
    minutes = partner.acknowledge_within_minutes
    return PartnerTerms(
        role=partner.role,
        first=partner.control_number_start,
        last=partner.control_number_wrap,
        acknowledge_within=timedelta(minutes=minutes) if minutes is not None else None,
    )


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
