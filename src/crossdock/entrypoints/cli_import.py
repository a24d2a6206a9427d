"""`crossdock import items|customers|prices|stock FILE`: CSV batch files applied through the hub, good rows applied,
bad rows reported by line, column and reason (exit code 1), the whole file kept under data_dir/imports/.

Owns: the terminal side of a batch import and keeping the file. Must not: parse rows itself (connectors/batch_import
does) or reconcile stock its own way (the order-to-cash runtime does, as for `crossdock reconcile inventory`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from crossdock import bootstrap
from crossdock.connectors import batch_import
from crossdock.entrypoints import cli_governance, cli_orders
from crossdock.entrypoints.cli_common import ConfigOption, DataDirOption, opened
from crossdock.hub import operations, views
from crossdock.hub.ports import CUSTOMER_RECORD, ITEM_RECORD, PRICE_RECORD, price_key

import_app = typer.Typer(
    help="Import master data (items, customers, prices) and stock counts from CSV files.", no_args_is_help=True
)

console = Console()
errors = Console(stderr=True)

# The record kind each master-data file fills, and the key each record is stored under (the order desk reads them
# by these keys, before the reference data of configuration).
MASTER_KINDS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "items": (ITEM_RECORD, lambda item: item.sku),
    "customers": (CUSTOMER_RECORD, lambda customer: customer.number),
    "prices": (PRICE_RECORD, lambda entry: price_key(entry.price_list, entry.sku)),
}


def register(app: typer.Typer) -> None:
    """Add these commands to the main `crossdock` command."""
    app.add_typer(import_app, name="import")


def _help(kind: str) -> str:
    required, optional = batch_import.columns(kind)
    extra = f"; optional: {','.join(optional)}" if optional else ""
    return f"A CSV file with a header line: {','.join(required)}{extra}."


@import_app.command("items")
def import_items(
    file: Annotated[Path, typer.Argument(help=_help("items") + " conversions: CASE=12;PAL=480.")],
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Add or update items (skus, units, classes)."""
    _import("items", file, config_path, data_dir)


@import_app.command("customers")
def import_customers(
    file: Annotated[Path, typer.Argument(help=_help("customers"))],
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Add or update customers (currency, credit limit, price list)."""
    _import("customers", file, config_path, data_dir)


@import_app.command("prices")
def import_prices(
    file: Annotated[Path, typer.Argument(help=_help("prices") + " One price list is in one currency.")],
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Add or update price-list entries, one sku's price per row."""
    _import("prices", file, config_path, data_dir)


@import_app.command("stock")
def import_stock(
    file: Annotated[Path, typer.Argument(help=_help("stock"))],
    source: Annotated[str, typer.Option(help="The system that counted (authority rules are about it), e.g. wms.")],
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Reconcile a stock snapshot with the ledger (as `crossdock reconcile inventory` does), row by row."""
    _import("stock", file, config_path, data_dir, source=source)


def _import(kind: str, file: Path, config_path: Path | None, data_dir: Path | None, *, source: str = "") -> None:
    try:
        content = file.read_bytes()
    except OSError as exc:
        errors.print(f"[red]Cannot read {file}: {exc.strerror}[/red]")
        raise typer.Exit(2) from None
    with Progress(console=errors, transient=True) as bar:
        task = bar.add_task(f"checking {file.name}", total=batch_import.count_rows(content))
        try:
            parsed = batch_import.parse(kind, file.name, content, on_row=lambda: bar.advance(task))
        except batch_import.ImportFileError as exc:
            errors.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
    if kind == "stock":
        parsed = _without_unsure_locations(parsed)
    with opened(config_path, data_dir) as runtime:
        now = runtime.hub.clock.now()
        kept = _keep(runtime.settings.data_dir, kind, file.name, content, now)
        if kind == "stock":
            applied = _reconcile(runtime, parsed, content, source, file.name, kept)
        else:
            applied = _apply_master(runtime, parsed, file.name, kept)
    _report(kind, file.name, parsed, applied, kept)
    if parsed.errors:
        raise typer.Exit(1)


def _without_unsure_locations(parsed: batch_import.Parsed) -> batch_import.Parsed:
    snapshot, held = batch_import.stock_snapshot(parsed)
    return batch_import.Parsed(
        kind=parsed.kind,
        records=[(line, count) for line, count in parsed.records if (count.sku, count.location) in snapshot],
        errors=sorted([*parsed.errors, *held], key=lambda error: error.line),
        rows=parsed.rows,
    )


def _keep(data_dir: Path, kind: str, name: str, content: bytes, now: datetime) -> Path:
    """The whole file as it came, stamped with when it was imported: what was applied can always be looked at."""
    folder = data_dir / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    kept = folder / f"{stamp}-{kind}-{Path(name).name}"
    with kept.open("xb") as out:
        out.write(content)
    return kept


def _apply_master(runtime: bootstrap.Runtime, parsed: batch_import.Parsed, name: str, kept: Path) -> Counter[str]:
    record_kind, key_of = MASTER_KINDS[parsed.kind]
    hub = runtime.hub
    outcomes: Counter[str] = Counter()
    with hub.begin() as uow, Progress(console=errors, transient=True) as bar:
        task = bar.add_task(f"applying {name}", total=len(parsed.records))
        now = hub.clock.now()
        for _line, record in parsed.records:
            document = record.model_dump(mode="json") if hasattr(record, "model_dump") else _plain(record)
            outcomes[uow.master_records.put(record_kind, key_of(record), document, kept.name, now)] += 1
            bar.advance(task)
        operations.audit(
            uow,
            now,
            cli_governance.actor(),
            f"import.{parsed.kind}",
            kept.name,
            file=name,
            added=outcomes["added"],
            changed=outcomes["changed"],
            unchanged=outcomes["unchanged"],
            rejected=len(parsed.errors),
        )
        uow.commit()
    return outcomes


def _plain(record: batch_import.PriceEntry) -> dict[str, str]:
    return {"price_list": record.price_list, "currency": record.currency, "sku": record.sku, "price": str(record.price)}


def _reconcile(
    runtime: bootstrap.Runtime, parsed: batch_import.Parsed, content: bytes, source: str, name: str, kept: Path
) -> Counter[str]:
    snapshot = {(count.sku, count.location): count.on_hand for _line, count in parsed.records}
    # Named by the file's content, as `reconcile inventory` names it: the same snapshot again posts nothing new.
    ident = cli_orders.default_reconciliation_id(source, content)
    hub = runtime.hub
    with Progress(console=errors, transient=True) as bar:
        bar.add_task(f"reconciling {len(snapshot)} positions", total=None)
        # The person who imports is who reconciles: the run is kept (and audited) under them, not the counting system.
        report = runtime.order_to_cash.reconcile_inventory(
            hub.begin,
            hub.clock.now(),
            snapshot,
            source=source,
            reconciliation_id=ident,
            actor=cli_governance.actor(),
            details={"file": name, "kept": kept.name},
        )
    with hub.begin() as uow:
        found = views.reconciliation_view(uow, report)
        operations.audit(
            uow,
            hub.clock.now(),
            cli_governance.actor(),
            "import.stock",
            ident,
            file=name,
            kept=kept.name,
            source=source,
            checked=found["checked"],
            drifts=len(found["drifts"]),
            adjustments=found["adjustments"],
            exceptions=list(found["exceptions"]),
            rejected=len(parsed.errors),
        )
        uow.commit()
    return Counter(
        {
            "matched": found["matched"],
            "drifted": len(found["drifts"]),
            "adjustments posted": found["adjustments"],
            "exceptions open": len(found["exceptions"]),
        }
    )


def _report(kind: str, name: str, parsed: batch_import.Parsed, applied: Counter[str], kept: Path) -> None:
    summary = Table(title=f"Import of {kind} from {name}")
    summary.add_column("rows")
    summary.add_column("count", justify="right")
    summary.add_row("read", str(parsed.rows))
    summary.add_row("good", str(len(parsed.records)))
    shown = ("added", "changed", "unchanged") if kind != "stock" else tuple(applied)
    for what in shown:
        summary.add_row(f"  {what}", str(applied[what]))
    summary.add_row("rejected", str(len(parsed.errors)), style="red" if parsed.errors else None)
    console.print(summary)
    console.print(f"The file is kept as {kept}")
    if parsed.errors:
        rejected = Table(title=f"Rows of {name} not imported")
        rejected.add_column("line", justify="right")
        rejected.add_column("column")
        rejected.add_column("reason")
        for error in parsed.errors:
            rejected.add_row(str(error.line), error.column or "(row)", error.reason)
        console.print(rejected)
