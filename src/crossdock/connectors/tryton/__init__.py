"""Tryton ERP over Tryton's JSON-RPC: sales, receipts of its purchases, supplier invoices and journal entries out;
shipments, invoices, stock moves and confirmed purchases back, polled by the worker."""

from __future__ import annotations

from datetime import date
from typing import Any

from crossdock.connectors.registry import Connector, Feed, Limits, Reach, Setup
from crossdock.connectors.tryton.client import TrytonClient
from crossdock.connectors.tryton.inbound import TrytonInbound, TrytonPoller
from crossdock.connectors.tryton.outbound import BooksPolicy, SalePolicy, TrytonSender
from crossdock.hub.ports import InboundAdapter, Poller, Sender

_POLICY = ("customers", "items", "warehouse", "account_category", "invoice_method")
_BOOKS = ("prefix", "post_journal", "accounts", "journal", "journal_party")
POLL_SECONDS = 5.0


def client(options: dict[str, Any] | Any, *, serialise_writes: bool = True) -> TrytonClient:
    """A client from a section's options: url, database, username, password, timeout_seconds."""
    missing = [name for name in ("url", "database", "username", "password") if not options.get(name)]
    if missing:
        raise ValueError(f"a tryton connector needs options {', '.join(missing)}")
    password = options["password"]
    return TrytonClient(
        str(options["url"]),
        str(options["database"]),
        str(options["username"]),
        password.get_secret_value() if hasattr(password, "get_secret_value") else str(password),
        timeout_seconds=float(options.get("timeout_seconds", 30.0)),
        serialise_writes=bool(options.get("serialise_writes", serialise_writes)),
    )


def _inbound(setup: Setup) -> InboundAdapter:
    return TrytonInbound(source=setup.name, prefix=str(setup.options.get("prefix", "")))


def _sender(setup: Setup) -> Sender:
    options = setup.options
    policy = SalePolicy(**{name: options[name] for name in _POLICY if options.get(name) is not None})
    books = BooksPolicy(**{name: options[name] for name in _BOOKS if options.get(name) is not None})
    if books.post_journal and not books.accounts:
        raise ValueError(f"{setup.name}: post_journal needs options.accounts (hub account -> Tryton account code)")
    return TrytonSender(client(dict(options)), policy, books)


def _poller(setup: Setup, feed: Feed) -> Poller:
    """Every tryton source is polled: shipments, adjustments, confirmed purchases and the journal's confirmations
    always; customer invoices with `invoices: true` (when Tryton bills, not the hub)."""
    options = setup.options
    since = options.get("purchases_from")
    return TrytonPoller(
        client(dict(options)),
        setup.name,
        feed.begin,
        feed.prepare,
        now=feed.now,
        invoices=bool(options.get("invoices", False)),
        adjustments=bool(options.get("adjustments", True)),
        purchases=bool(options.get("purchases", True)),
        purchases_from=date.fromisoformat(str(since)) if since is not None else None,
        journal=bool(options.get("journal", True)),
        prefix=str(options.get("prefix", "")),
        overlap_seconds=float(options.get("overlap_seconds", 60.0)),
        page_size=setup.limits.batch_size or 100,
        every=setup.poll_every(POLL_SECONDS),
    )


CONNECTOR = Connector(
    kind="tryton",
    reaches=(Reach.POLL, Reach.API),
    inbound=_inbound,
    sender=_sender,
    poller=_poller,
    # One write at a time: a Tryton on SQLite races on its number sequences under concurrent writes.
    limits=Limits(concurrency=1, batch_size=50),
    summary="Tryton ERP: hub orders become sales, confirmed purchases hub POs; shipments, invoices, stock "
    "adjustments and purchases are polled back; receipts, supplier invoices and the journal go to its books",
)
