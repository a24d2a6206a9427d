"""`crossdock trace ID`: the timeline of one business transaction in the terminal, or as JSON.

Owns: presenting hub.trace's timeline. Must not: find or order anything itself (hub/trace.py does) or load settings
its own way (the main command's `opened` does).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from crossdock import bootstrap
from crossdock.entrypoints.cli_common import ConfigOption, DataDirOption, opened
from crossdock.hub import operations
from crossdock.hub import trace as tracing

console = Console()
errors = Console(stderr=True)

# What the last column shows of each kind of entry, first found wins: the rest is in --json.
SUMMARY_FIELDS = ("error", "last_error", "note", "actor", "message", "took_ms", "partition_key", "causationid")


def register(app: typer.Typer) -> None:
    """Add `trace` to the main `crossdock` command."""
    app.command("trace")(trace)


def scope_of(runtime: bootstrap.Runtime) -> tracing.Scope:
    settings = runtime.settings
    return tracing.Scope.configured(settings.sources, settings.destinations, settings.partners)


def trace(
    key: Annotated[
        str,
        typer.Argument(
            help="A correlation id, order, PO, invoice, shipment or payment number, another system's id, an EDI "
            "control number (ISA13, GS06, ST02 or UNB reference), a message id or an event id."
        ),
    ],
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the timeline as JSON.")] = False,
) -> None:
    """Follow one business transaction across systems: every message in with its raw payload, event, decision,
    state, delivery attempt and answer, posting, exception and action, in time order with durations."""
    with opened(config_path, data_dir) as runtime:
        found = operations.trace(runtime.hub, key, scope_of(runtime))
    if not found.found:
        errors.print(
            f"[yellow]Nothing matches {key!r}: no message, event, order, purchase order, document, "
            "cross-reference or EDI control number is known by it.[/yellow]"
        )
        raise typer.Exit(1)
    if as_json:
        sys.stdout.write(json.dumps(found.as_dict(), indent=2, default=str) + "\n")
        return
    print_timeline(found)


def print_timeline(found: tracing.Timeline) -> None:
    matched = "; ".join(f"{m.found_as} {m.target}" + (f" ({m.note})" if m.note else "") for m in found.matches)
    console.print(f"[bold]{found.key}[/bold] found as {matched or 'nothing directly'}")
    for obj in found.objects:
        console.print(f"  {obj.kind.replace('_', ' ')} {obj.key}: {obj.status}  {obj.link}")
    table = Table(title=f"{len(found.entries)} entries over {_duration(found.duration_ms)}")
    table.add_column("at", no_wrap=True)
    table.add_column("+", justify="right", no_wrap=True)
    table.add_column("total", justify="right", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("what", overflow="fold")
    table.add_column("details", overflow="fold", max_width=60)
    for entry in found.entries:
        table.add_row(
            entry.at.isoformat(timespec="milliseconds"),
            _duration(entry.duration_ms) if entry.duration_ms is not None else "",
            _duration(entry.elapsed_ms),
            entry.kind,
            entry.title,
            _summary(entry.kind, entry.detail),
        )
    console.print(table)
    if found.cut:
        console.print("[yellow]More objects are linked than one trace follows: trace them one by one.[/yellow]")


def _summary(kind: str, detail: Mapping[str, Any]) -> str:
    if kind == "message":
        size = f"{detail['payload_bytes']} bytes" + (", cut" if detail["payload_truncated"] else "")
        return f"{detail['error'] + '; ' if detail['error'] else ''}{size}"
    for name in SUMMARY_FIELDS:
        value = detail.get(name)
        if value not in (None, ""):
            return f"{name}: {value}"
    return ""


def _duration(ms: float) -> str:
    if ms < 1000:
        return f"{ms:.0f}ms"
    seconds = ms / 1000
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}min"
    return f"{seconds / 3600:.1f}h"
