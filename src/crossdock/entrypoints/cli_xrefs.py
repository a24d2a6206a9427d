"""`crossdock xrefs list|link|import`: the cross-references an operator reads and makes (a Shopify location or
inventory item, a customer's id in the ERP), a file of them applied row by row, bad rows named by line and column.

Owns: the terminal side of linking and reading a file of links. Must not: link or settle exceptions its own way
(hub/xrefs.py does, for the API too) or read settings its own way (the main command's opened does).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Collection
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from crossdock import config
from crossdock.connectors import batch_import
from crossdock.entrypoints.cli_common import ConfigOption, DataDirOption, opened
from crossdock.hub import operations, xrefs
from crossdock.hub.ports import CrossReference

xrefs_app = typer.Typer(
    help="Cross-references: the hub's ids and other systems' ids for the same thing.", no_args_is_help=True
)

console = Console()
errors = Console(stderr=True)

COLUMNS = ("kind", "system", "hub_id", "external_id")
IMPORT_ACTION = "xref.import"  # the audit trail's name for a file of links


def register(app: typer.Typer) -> None:
    """Add these commands to the main `crossdock` command."""
    app.add_typer(xrefs_app, name="xrefs")


def _actor() -> str:
    from crossdock.entrypoints import cli_governance

    return cli_governance.actor()


def systems(settings: config.Settings) -> set[str]:
    """What a link may name as its system: the configured sources, destinations and trading partners."""
    return {*settings.sources, *settings.destinations, *settings.partners}


def _view(ref: CrossReference) -> dict[str, Any]:
    created = ref.created_at.isoformat() if ref.created_at is not None else None
    return {
        "kind": ref.kind,
        "system": ref.system,
        "hub_id": ref.hub_id,
        "external_id": ref.external_id,
        "created_at": created,
    }


@xrefs_app.command("list")
def xrefs_list(
    kind: Annotated[str | None, typer.Option(help="Only this kind (item, location, customer, order...).")] = None,
    system: Annotated[str | None, typer.Option(help="Only this system (a source, destination or partner).")] = None,
    hub_id: Annotated[str | None, typer.Option("--hub-id", help="Only the links of this hub id.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """The links, oldest first."""
    with opened(config_path, data_dir) as runtime, runtime.hub.begin() as uow:
        if hub_id is not None:
            found = [r for r in uow.xrefs.of(hub_id) if kind in (None, r.kind) and system in (None, r.system)]
            found = found[:limit]
        else:
            found = uow.xrefs.find(kind=kind, system=system, limit=limit)
    if as_json:
        sys.stdout.write(json.dumps({"items": [_view(r) for r in found]}) + "\n")
        return
    table = Table(title=f"{len(found)} cross-references")
    for column in ("kind", "system", "hub id", "their id", "linked at"):
        table.add_column(column)
    for ref in found:
        table.add_row(*(str(v or "") for v in _view(ref).values()))
    console.print(table)


@xrefs_app.command("link")
def xrefs_link(
    kind: Annotated[str, typer.Argument(help="What is linked: item, location, customer, order...")],
    system: Annotated[str, typer.Argument(help="The other system: a source, destination or partner name.")],
    hub_id: Annotated[str, typer.Argument(help="The hub's id (a sku, a location code, a customer number...).")],
    external_id: Annotated[str, typer.Argument(help="The other system's id for it.")],
    note: Annotated[str, typer.Option(help="Why: kept in the audit trail and on the exceptions it settles.")] = "",
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Link the hub's id to the other system's, and settle the missing-cross-reference exceptions waiting for it
    (then replay what was dead-lettered for it). A link that contradicts one already made is refused (exit 1)."""
    ref = CrossReference(kind, system, hub_id, external_id)
    with opened(config_path, data_dir) as runtime:
        problems = xrefs.check(ref, systems(runtime.settings))
        if problems:
            for field, reason in problems:
                errors.print(f"{field}: {reason}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2)
        hub = runtime.hub
        with hub.begin() as uow:
            try:
                linked = xrefs.link(
                    uow, ref, actor=_actor(), at=hub.clock.now(), publish=hub.processor.publish, note=note
                )
            except xrefs.LinkConflict as exc:
                errors.print(f"Refused: {exc}", markup=False, highlight=False, soft_wrap=True)
                raise typer.Exit(1) from None
            uow.commit()
    said = "Linked" if linked.created else "Already linked:"
    console.print(f"{said} {kind} {hub_id} to {system} id {external_id}", markup=False, highlight=False)
    for settled in linked.resolved:
        console.print(f"Settled exception {settled}", markup=False, highlight=False)


@xrefs_app.command("import")
def xrefs_import(
    file: Annotated[Path, typer.Argument(help=f"A CSV file with a header line: {','.join(COLUMNS)}.")],
    note: Annotated[str, typer.Option(help="Why: kept in the audit trail and on the exceptions it settles.")] = "",
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Link every good row of a file (as `xrefs link` does), report the others by line, column and reason (exit 1),
    and keep the whole file under data_dir/imports/."""
    try:
        content = file.read_bytes()
    except OSError as exc:
        errors.print(f"[red]Cannot read {file}: {exc.strerror}[/red]")
        raise typer.Exit(2) from None
    with opened(config_path, data_dir) as runtime:
        with Progress(console=errors, transient=True) as bar:
            task = bar.add_task(f"checking {file.name}", total=batch_import.count_rows(content))
            try:
                parsed = read_links(file.name, content, systems(runtime.settings), lambda: bar.advance(task))
            except batch_import.ImportFileError as exc:
                errors.print(f"[red]{exc}[/red]")
                raise typer.Exit(2) from None
        hub = runtime.hub
        now = hub.clock.now()
        kept = _keep(runtime.settings.data_dir, file.name, content, now)
        added, unchanged = 0, 0
        settled: list[str] = []
        refused: list[batch_import.RowError] = []
        with hub.begin() as uow, Progress(console=errors, transient=True) as bar:
            task = bar.add_task(f"linking {file.name}", total=len(parsed.records))
            for line, ref in parsed.records:
                try:
                    linked = xrefs.link(
                        uow, ref, actor=_actor(), at=now, publish=hub.processor.publish, note=note, audit=False
                    )
                except xrefs.LinkConflict as exc:
                    column = "hub_id" if exc.existing.hub_id == ref.hub_id else "external_id"
                    refused.append(batch_import.RowError(line, column, str(exc)))
                else:
                    added += linked.created
                    unchanged += not linked.created
                    settled.extend(linked.resolved)
                bar.advance(task)
            rejected = sorted([*parsed.errors, *refused], key=lambda error: error.line)
            operations.audit(
                uow,
                now,
                _actor(),
                IMPORT_ACTION,
                kept.name,
                file=file.name,
                added=added,
                unchanged=unchanged,
                rejected=len(rejected),
                resolved=settled,
                note=note,
            )
            uow.commit()
    _report(file.name, parsed.rows, added, unchanged, rejected, settled, kept)
    if rejected:
        raise typer.Exit(1)


def read_links(
    name: str, content: bytes, known: Collection[str], on_row: Callable[[], None] | None = None
) -> batch_import.Parsed:
    """Every row of a file of links checked as `crossdock import` checks its files: the header on line 1, each bad row
    by line, column and reason (a field the hub refuses, a pair that contradicts an earlier row), the good ones kept
    in file order. Raises batch_import.ImportFileError only for what spoils the whole file."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise batch_import.ImportFileError(f"{name}: not UTF-8 text (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = _header(name, next(reader, None))
    parsed = batch_import.Parsed(kind="xrefs")
    # Each id is linked once per kind and system, in both directions: where each was first seen, and to what.
    first: dict[tuple[str, str, str, str], tuple[int, str]] = {}
    rows = 0
    for values in reader:
        line = reader.line_num
        if not any(value.strip() for value in values):
            continue  # a blank line
        rows += 1
        cells = {column: values[i].strip() if i < len(values) else "" for i, column in enumerate(header)}
        problem = _row_problem(values, header, cells, known, first, line)
        if problem is not None:
            parsed.errors.append(batch_import.RowError(line, problem[0], problem[1], cells))
        else:
            parsed.records.append((line, _ref(cells)))
        if on_row is not None:
            on_row()
    return batch_import.Parsed(kind="xrefs", records=parsed.records, errors=parsed.errors, rows=rows)


def _ref(cells: dict[str, str]) -> CrossReference:
    return CrossReference(cells["kind"], cells["system"], cells["hub_id"], cells["external_id"])


def _header(name: str, values: list[str] | None) -> list[str]:
    if values is None:
        raise batch_import.ImportFileError(f"{name}: the file is empty (a header line is needed: {','.join(COLUMNS)})")
    header = [value.strip() for value in values]
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        raise batch_import.ImportFileError(
            f"{name} line 1: the header lacks column {', '.join(missing)} (needs {','.join(COLUMNS)})"
        )
    unknown = [column for column in header if column not in COLUMNS]
    if unknown:
        raise batch_import.ImportFileError(
            f"{name} line 1: unknown column {', '.join(unknown)} (known: {', '.join(COLUMNS)})"
        )
    repeated = sorted({column for column in header if header.count(column) > 1})
    if repeated:
        raise batch_import.ImportFileError(f"{name} line 1: column {', '.join(repeated)} appears twice")
    return header


def _row_problem(
    values: list[str],
    header: list[str],
    cells: dict[str, str],
    known: Collection[str],
    first: dict[tuple[str, str, str, str], tuple[int, str]],
    line: int,
) -> tuple[str | None, str] | None:
    if len(values) > len(header):
        return None, f"{len(values)} values, but the header has {len(header)} columns"
    ref = _ref(cells)
    found = xrefs.check(ref, known)
    if found:
        return found[0]
    ends = (("hub_id", ref.hub_id, ref.external_id), ("external_id", ref.external_id, ref.hub_id))
    for column, value, other in ends:
        seen = first.get((ref.kind, ref.system, column, value))
        if seen is None:
            continue
        earlier, paired = seen
        if paired == other:
            return None, f"{ref.kind} {ref.hub_id} = {ref.external_id} appears again (first on line {earlier})"
        return column, f"{value} is linked to {paired} on line {earlier}: a {ref.kind} has one {ref.system} id"
    first[(ref.kind, ref.system, "hub_id", ref.hub_id)] = (line, ref.external_id)
    first[(ref.kind, ref.system, "external_id", ref.external_id)] = (line, ref.hub_id)
    return None


def _keep(data_dir: Path, name: str, content: bytes, now: datetime) -> Path:
    """The whole file as it came, stamped with when it was imported, beside `crossdock import`'s files."""
    folder = data_dir / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    kept = folder / f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-xrefs-{Path(name).name}"
    with kept.open("xb") as out:
        out.write(content)
    return kept


def _report(
    name: str,
    rows: int,
    added: int,
    unchanged: int,
    rejected: list[batch_import.RowError],
    settled: list[str],
    kept: Path,
) -> None:
    summary = Table(title=f"Import of cross-references from {name}")
    summary.add_column("rows")
    summary.add_column("count", justify="right")
    summary.add_row("read", str(rows))
    summary.add_row("linked", str(added))
    summary.add_row("already linked", str(unchanged))
    summary.add_row("rejected", str(len(rejected)), style="red" if rejected else None)
    summary.add_row("exceptions settled", str(len(settled)))
    console.print(summary)
    console.print(f"The file is kept as {kept}", markup=False, highlight=False)
    for ident in settled:
        console.print(f"Settled exception {ident}", markup=False, highlight=False)
    if rejected:
        table = Table(title=f"Rows of {name} not imported")
        table.add_column("line", justify="right")
        table.add_column("column")
        table.add_column("reason")
        for error in rejected:
            table.add_row(str(error.line), error.column or "(row)", error.reason)
        console.print(table)
