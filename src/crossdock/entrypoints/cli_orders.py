"""The operator's order-to-cash commands: orders, exceptions, availability and inventory reconciliation.

Owns: reading count files, presenting hub.views in the terminal, and recording the operator's decisions (exception
actions, reconciliations, period changes) in the audit trail. Must not: compute business answers itself (hub.views and
the order-to-cash runtime do) or load settings its own way (the main command's `opened` does).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from crossdock.domain import catalog
from crossdock.entrypoints import cli_governance
from crossdock.entrypoints.cli_common import ConfigOption, DataDirOption, JsonOption, opened
from crossdock.hub import operations, views
from crossdock.hub.handlers import ReconciliationConflict
from crossdock.hub.handlers.exceptions import AlreadyResolved, UnknownException
from crossdock.hub.ports import ExceptionStatus

orders_app = typer.Typer(help="Orders: their state, lines, amounts and history.", no_args_is_help=True)
exceptions_app = typer.Typer(
    help="Business exceptions: what people must decide, and the decisions taken.", no_args_is_help=True
)
reconcile_app = typer.Typer(help="Compare an authoritative count with the hub's ledgers.", no_args_is_help=True)
journal_app = typer.Typer(
    help="The journal: posted entries, and which periods are closed to posting.", no_args_is_help=True
)

console = Console()
errors = Console(stderr=True)

Limit = Annotated[int, typer.Option(help="At most this many.", min=1)]
COUNT_COLUMNS = ("sku", "location", "on_hand")
EXCEPTION_STATUSES = {"open": ExceptionStatus.OPEN, "resolved": ExceptionStatus.RESOLVED, "all": None}


def register(app: typer.Typer) -> None:
    """Add these commands to the main `crossdock` command."""
    app.add_typer(orders_app, name="orders")
    app.add_typer(exceptions_app, name="exceptions")
    app.add_typer(reconcile_app, name="reconcile")
    app.add_typer(journal_app, name="journal")
    app.command("availability")(availability)


def _print_json(value: Any) -> None:
    console.print_json(json.dumps(value, default=str))


# ---- journal ---------------------------------------------------------------------------------------------------

PERIOD_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
LedgerOption = Annotated[str | None, typer.Option("--ledger", help="Default: accounting.ledger of the configuration.")]


@journal_app.command("list")
def journal_list(
    after: Annotated[int, typer.Option(help="Entries after this sequence number.", min=0)] = 0,
    limit: Limit = 50,
    ledger: LedgerOption = None,
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Posted entries in sequence, with their lines and the page's debit and credit totals."""
    with opened(config_path, data_dir) as runtime, runtime.hub.begin() as uow:
        page = views.journal_page(uow, ledger=ledger or runtime.settings.accounting.ledger, after=after, limit=limit)
    if as_json:
        _print_json(page)
        return
    table = Table(title=f"Journal {page['ledger']}")
    for column in ("seq", "date", "period", "source", "account", "debit", "credit"):
        table.add_column(column, justify="right" if column in ("seq", "debit", "credit") else "left")
    for entry in page["items"]:
        source = f"{entry['source']['document_type']} {entry['source']['document_number']}"
        for index, line in enumerate(entry["lines"]):
            first = index == 0
            table.add_row(
                str(entry["sequence"]) if first else "",
                entry["date"] if first else "",
                entry["period"] if first else "",
                source if first else "",
                line["account"],
                line["debit"] if Decimal(line["debit"]) else "",
                line["credit"] if Decimal(line["credit"]) else "",
            )
    console.print(table)
    for currency, totals in page["totals"].items():
        console.print(f"{currency}: debit {totals['debit']}, credit {totals['credit']}")


def _set_period(period: str, ledger: str | None, config_path: Path | None, data_dir: Path | None, close: bool) -> None:
    if not re.match(PERIOD_PATTERN, period):
        errors.print(f"[red]{period!r} is not a period: write it as YYYY-MM, e.g. 2025-03[/red]")
        raise typer.Exit(2)
    with opened(config_path, data_dir) as runtime, runtime.hub.begin() as uow:
        name = ledger or runtime.settings.accounting.ledger
        if close:
            uow.journal.close_period(name, period)
        else:
            uow.journal.reopen_period(name, period)
        operations.audit(
            uow,
            runtime.hub.clock.now(),
            cli_governance.actor(),
            "period.close" if close else "period.reopen",
            f"{name}:{period}",
            ledger=name,
            period=period,
        )
        uow.commit()
    console.print(f"{period} of ledger {name} is {'closed to posting' if close else 'open again'}")


@journal_app.command("close-period")
def journal_close_period(
    period: Annotated[str, typer.Argument(help="YYYY-MM")],
    ledger: LedgerOption = None,
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Close a month: entries dated in it go to the next open month or to finance, per closed_period_policy."""
    _set_period(period, ledger, config_path, data_dir, close=True)


@journal_app.command("reopen-period")
def journal_reopen_period(
    period: Annotated[str, typer.Argument(help="YYYY-MM")],
    ledger: LedgerOption = None,
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Open a closed month to posting again."""
    _set_period(period, ledger, config_path, data_dir, close=False)


# ---- orders ----------------------------------------------------------------------------------------------------


@orders_app.command("list")
def orders_list(
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    status: Annotated[str | None, typer.Option(help="Only this status (accepted, reserved, rejected...).")] = None,
    channel: Annotated[str | None, typer.Option(help="Only this channel.")] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer.")] = None,
    limit: Limit = 100,
    as_json: JsonOption = False,
) -> None:
    """List orders, most recently changed first."""
    with opened(config_path, data_dir) as runtime, runtime.hub.begin() as uow:
        found = views.list_orders(uow, status=status, channel=channel, customer=customer, limit=limit)
    if as_json:
        _print_json({"items": found})
        return
    table = Table(title=f"{len(found)} orders")
    for column in ("order", "status", "channel", "customer", "total", "balance due", "updated"):
        table.add_column(column, justify="right" if column in ("total", "balance due") else "left")
    for o in found:
        table.add_row(
            o["order"],
            o["status"],
            o["channel"] or "",
            o["customer"] or "",
            f"{o['total']} {o['currency']}" if o["total"] is not None else "",
            o["balance_due"],
            o["updated_at"] or "",
        )
    console.print(table)


@orders_app.command("show")
def orders_show(
    order_id: Annotated[str, typer.Argument(help="The order number.")],
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one order: lines with their quantities, amounts, why it is still open, exceptions and history."""
    with opened(config_path, data_dir) as runtime, runtime.hub.begin() as uow:
        found = views.order_view(uow, order_id)
    if found is None:
        errors.print(f"[red]No order {order_id}[/red]")
        raise typer.Exit(1)
    if as_json:
        _print_json(found)
        return
    amounts = found["amounts"]
    console.print(
        f"[bold]Order {found['order']}[/bold]: {found['status']} (revision {found['revision']}), "
        f"customer {found['customer']}, channel {found['channel']}"
    )
    console.print(
        f"total {amounts['total'] or '-'} {amounts['currency'] or ''} · invoiced {amounts['invoiced']} "
        f"· paid {amounts['paid']} · balance due {amounts['balance_due']} · credit {amounts['credit']}"
    )
    lines = Table(title="Lines")
    quantities = ("ordered", "cancelled", "reserved", "backordered", "released", "shipped", "invoiced")
    for column in ("line", "sku", *quantities, "unit price"):
        lines.add_column(column, justify="left" if column in ("line", "sku") else "right")
    for line in found["lines"]:
        lines.add_row(line["line_id"], line["sku"], *(line[q] for q in quantities), line["unit_price"])
    console.print(lines)
    for reason in found["open_reasons"]:
        console.print(f"  open: {reason}")
    for rejection in found["rejection"]:
        console.print(f"  rejected: {rejection['code']}: {rejection['text']}")
    for timer in found["sla_timers"]:
        console.print(f"  SLA running: {timer['stage']}")
    if found["exceptions"]:
        console.print(_exceptions_table(found["exceptions"], title="Open exceptions"))
    history = Table(title="History")
    for column in ("@", "time", "type", "source", "caused by"):
        history.add_column(column)
    for event in found["history"]:
        history.add_row(
            str(event["position"]), event["time"], event["type"], event["source"], event["causationid"] or ""
        )
    console.print(history)


# ---- exceptions ------------------------------------------------------------------------------------------------


@exceptions_app.command("list")
def exceptions_list(
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    status: Annotated[str, typer.Option(help="open, resolved or all.")] = "open",
    owner: Annotated[str | None, typer.Option(help="customer_service, warehouse, finance or procurement.")] = None,
    order: Annotated[str | None, typer.Option(help="Only those about this order (or other business key).")] = None,
    limit: Limit = 100,
    as_json: JsonOption = False,
) -> None:
    """List business exceptions, oldest first."""
    if status not in EXCEPTION_STATUSES:
        errors.print(f"[red]--status is one of {', '.join(EXCEPTION_STATUSES)}[/red]")
        raise typer.Exit(2)
    with opened(config_path, data_dir) as runtime, runtime.hub.begin() as uow:
        found = views.list_exceptions(uow, status=EXCEPTION_STATUSES[status], owner=owner, about=order, limit=limit)
    if as_json:
        _print_json({"items": found})
        return
    console.print(_exceptions_table(found, title=f"{len(found)} exceptions ({status})"))


@exceptions_app.command("show")
def exceptions_show(
    exception_id: Annotated[str, typer.Argument(help="The exception id (EX-...).")],
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one exception with every action taken on it."""
    with opened(config_path, data_dir) as runtime, runtime.hub.begin() as uow:
        found = views.exception_detail(uow, exception_id)
    if found is None:
        errors.print(f"[red]No exception {exception_id}[/red]")
        raise typer.Exit(1)
    if as_json:
        _print_json(found)
        return
    _print_exception(found)


@exceptions_app.command("act")
def exceptions_act(
    exception_id: Annotated[str, typer.Argument(help="The exception id (EX-...).")],
    action: Annotated[catalog.ExceptionAction, typer.Argument(help="What to do.", case_sensitive=False)],
    actor: Annotated[str | None, typer.Option(help="Who decides (default: the login name).")] = None,
    note: Annotated[str, typer.Option(help="Why: kept with the exception.")] = "",
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Decide an exception: retry, override (accept a rejected order), cancel (the order) or accept (as it is)."""
    who = actor or os.environ.get("USER") or "cli"
    with opened(config_path, data_dir) as runtime:
        hub = runtime.hub
        try:
            runtime.order_to_cash.act_on_exception(
                hub.begin, hub.clock.now(), exception_id, action, actor=who, note=note
            )
        except UnknownException:
            errors.print(f"[red]No exception {exception_id}[/red]")
            raise typer.Exit(1) from None
        except AlreadyResolved as exc:
            errors.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
        with hub.begin() as uow:
            found = views.exception_detail(uow, exception_id)
            operations.audit(
                uow,
                hub.clock.now(),
                cli_governance.actor(),
                "exception.act",
                exception_id,
                action=action.value,
                decided_by=who,
                note=note,
            )
            uow.commit()
    assert found is not None
    if as_json:
        _print_json(found)
        return
    console.print(f"{action.value} recorded on {exception_id} by {who}")
    _print_exception(found)


def _exceptions_table(found: list[dict[str, Any]], *, title: str) -> Table:
    table = Table(title=title)
    for column in ("id", "owner", "reason", "about", "status", "opened", "message"):
        table.add_column(column)
    for e in found:
        table.add_row(
            e["id"],
            e["owner"],
            e["reason_code"],
            f"{e['about']['kind']} {e['about']['key']}",
            e["status"],
            e["opened_at"] or "",
            e["message"],
        )
    return table


def _print_exception(found: dict[str, Any]) -> None:
    console.print(
        f"[bold]{found['id']}[/bold] ({found['status']}): {found['reason_code']} about "
        f"{found['about']['kind']} {found['about']['key']}, owner {found['owner']}"
    )
    console.print(f"  {found['message']}")
    if found["actions"]:
        table = Table(title="Actions")
        for column in ("at", "action", "actor", "note"):
            table.add_column(column)
        for a in found["actions"]:
            table.add_row(a["at"] or "", a["action"], a["actor"], a["note"])
        console.print(table)


# ---- availability ----------------------------------------------------------------------------------------------


def availability(
    sku: Annotated[str, typer.Argument(help="The item.")],
    location: Annotated[str | None, typer.Option(help="Only this location.")] = None,
    channel: Annotated[str | None, typer.Option(help="Only this channel.")] = None,
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """On-hand, in transit, reserved and available to promise of one item: network-wide, per location and per
    channel (after its buffer)."""
    with opened(config_path, data_dir) as runtime, runtime.hub.begin() as uow:
        found = views.availability(uow, runtime.order_to_cash.policy, sku, location=location, channel=channel)
    if as_json:
        _print_json(found)
        return
    table = Table(title=f"Availability of {sku} ({found['unit']})")
    for column in ("where", "on hand", "in transit", "reserved", "available"):
        table.add_column(column, justify="left" if column == "where" else "right")
    network = found["network"]
    figures = ("on_hand", "in_transit", "reserved", "available")
    table.add_row("[bold]network[/bold]", *(network[f] for f in figures))
    for position in found["locations"]:
        table.add_row(position["location"], *(position[f] for f in figures))
    for figure in found["channels"]:
        table.add_row(f"channel {figure['channel']}", "", "", "", figure["available"])
    console.print(table)


# ---- reconciliation --------------------------------------------------------------------------------------------


class CountFileError(ValueError):
    """The count file cannot be read; the message names the line and the column."""


@reconcile_app.command("inventory")
def reconcile_inventory(
    file: Annotated[
        Path, typer.Argument(help="The count: CSV (sku,location,on_hand) or JSON ([{sku, location, on_hand}]).")
    ],
    source: Annotated[str, typer.Option(help="The system that counted (authority rules are about it), e.g. wms.")],
    reconciliation_id: Annotated[
        str | None,
        typer.Option("--id", help="Names this reconciliation (default: from the file's content: a rerun is a no-op)."),
    ] = None,
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare an authoritative stock count with the ledger, post the explained corrections, raise the rest."""
    try:
        content = file.read_bytes()
    except OSError as exc:
        errors.print(f"[red]Cannot read {file}: {exc.strerror}[/red]")
        raise typer.Exit(2) from None
    try:
        snapshot = read_count(file.name, content, progress=not as_json)
    except CountFileError as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    ident = reconciliation_id or default_reconciliation_id(source, content)
    with opened(config_path, data_dir) as runtime:
        hub = runtime.hub
        try:
            # Kept as a reconciliation run and recorded in the audit trail with the run, as the API does.
            done = runtime.order_to_cash.reconcile(
                hub.begin,
                hub.clock.now(),
                snapshot,
                source=source,
                reconciliation_id=ident,
                actor=cli_governance.actor(),
                details={"file": file.name},
            )
        except ReconciliationConflict as exc:
            errors.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        with hub.begin() as uow:
            found = {**views.reconciliation_view(uow, done.report), "repeated": done.repeated}
    if as_json:
        _print_json(found)
        return
    if done.repeated:
        console.print(
            f"Reconciliation {ident} was run before ({done.run.at.isoformat()} by {done.run.actor}): "
            "checked again, nothing new posted."
        )
    summary = Table(title=f"Reconciliation {ident} of {file.name} from {source}")
    summary.add_column("what")
    summary.add_column("count", justify="right")
    summary.add_row("positions checked", str(found["checked"]))
    summary.add_row("matched", str(found["matched"]))
    summary.add_row("drifted", str(len(found["drifts"])))
    summary.add_row("adjustments posted", str(found["adjustments"]))
    summary.add_row("exceptions open", str(len(found["exceptions"])))
    console.print(summary)
    if found["drifts"]:
        drifts = Table(title="Drift")
        columns = ("sku", "location", "ledger", "counted", "drift", "cause", "action", "explanation")
        for column in columns:
            drifts.add_column(column, justify="right" if column in ("ledger", "counted", "drift") else "left")
        for d in found["drifts"]:
            drifts.add_row(*(d[column] for column in columns))
        console.print(drifts)
    for exception_id in found["exceptions"]:
        console.print(f"  exception {exception_id}: see `crossdock exceptions show {exception_id}`")


def default_reconciliation_id(source: str, content: bytes) -> str:
    """Derived from the count itself: the same file from the same system is the same reconciliation."""
    return f"{source}-{hashlib.sha256(content).hexdigest()[:16]}"


def read_count(name: str, content: bytes, *, progress: bool = True) -> dict[tuple[str, str], Decimal]:
    """{(sku, location): on-hand} from a CSV or JSON count; raises CountFileError naming the line and column."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CountFileError(f"{name}: not UTF-8 text (byte {exc.start})") from None
    rows = _json_rows(name, text) if text.lstrip().startswith("[") else _csv_rows(name, text)
    snapshot: dict[tuple[str, str], Decimal] = {}
    first_seen: dict[tuple[str, str], str] = {}
    with Progress(console=errors, transient=True, disable=not progress) as bar:
        task = bar.add_task(f"reading {name}", total=len(rows))
        for where, row in rows:
            sku = _text(row, "sku", where)
            location = _text(row, "location", where)
            on_hand = _count(row, where)
            key = (sku, location)
            if key in first_seen:
                raise CountFileError(f"{where}: {sku} at {location} is counted again (first on {first_seen[key]})")
            first_seen[key] = where
            snapshot[key] = on_hand
            bar.advance(task)
    return snapshot


def _csv_rows(name: str, text: str) -> list[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [column.strip() for column in (reader.fieldnames or [])]
    missing = [column for column in COUNT_COLUMNS if column not in header]
    if missing:
        raise CountFileError(
            f"{name} line 1: the header lacks column {', '.join(missing)} (needs sku,location,on_hand)"
        )
    reader.fieldnames = header
    rows = []
    for row in reader:
        if None in row:
            raise CountFileError(f"{name} line {reader.line_num}: more values than the header has columns")
        if not any((value or "").strip() for value in row.values()):
            continue  # a blank line
        rows.append((f"{name} line {reader.line_num}", dict(row)))
    return rows


def _json_rows(name: str, text: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CountFileError(f"{name} line {exc.lineno}, column {exc.colno}: not valid JSON: {exc.msg}") from None
    if not isinstance(items, list):
        raise CountFileError(f"{name}: a JSON count is a list of {{sku, location, on_hand}} objects")
    rows = []
    for index, item in enumerate(items, start=1):
        where = f"{name} entry {index}"
        if not isinstance(item, dict):
            raise CountFileError(f"{where}: not an object with sku, location and on_hand")
        rows.append((where, item))
    return rows


def _text(row: dict[str, Any], column: str, where: str) -> str:
    value = row.get(column)
    if not isinstance(value, str) or not value.strip():
        raise CountFileError(f"{where}, column {column}: missing")
    return value.strip()


def _count(row: dict[str, Any], where: str) -> Decimal:
    value = row.get("on_hand")
    if isinstance(value, bool) or not isinstance(value, str | int | float) or not str(value).strip():
        raise CountFileError(f"{where}, column on_hand: missing")
    try:
        counted = Decimal(str(value).strip())
    except InvalidOperation:
        raise CountFileError(f"{where}, column on_hand: {value!r} is not a number") from None
    if not counted.is_finite() or counted < 0:
        raise CountFileError(f"{where}, column on_hand: {value!r} is not a count (a number of zero or more)")
    return counted
