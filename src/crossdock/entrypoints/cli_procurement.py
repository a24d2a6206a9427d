"""The operator's procure-to-pay commands: purchase orders, their lines, receipts, invoices and history.

Owns: presenting hub.views' purchase orders in the terminal. Must not: compute business answers itself (hub.views and
the procure-to-pay runtime do) or load settings its own way (the main command's `opened` does). Decisions on a PO's
exceptions go through `crossdock exceptions act`, as for orders.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from crossdock.domain.workflows.procure_to_pay import DEFAULT_POLICY
from crossdock.entrypoints.cli_common import ConfigOption, DataDirOption, JsonOption, opened
from crossdock.hub import views

purchase_orders_app = typer.Typer(
    help="Purchase orders: what was ordered, acknowledged, received and invoiced, and why one is still open.",
    no_args_is_help=True,
)

console = Console()
errors = Console(stderr=True)

LINE_QUANTITIES = ("ordered", "acknowledged", "cancelled", "noticed", "received", "damaged", "invoiced", "awaited")


def register(app: typer.Typer) -> None:
    """Add these commands to the main `crossdock` command."""
    app.add_typer(purchase_orders_app, name="purchase-orders")


def _print_json(value: Any) -> None:
    console.print_json(json.dumps(value, default=str))


@purchase_orders_app.command("list")
def purchase_orders_list(
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    status: Annotated[str | None, typer.Option(help="Only this status (sent, acknowledged, received...).")] = None,
    supplier: Annotated[str | None, typer.Option(help="Only this supplier.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.", min=1)] = 100,
    as_json: JsonOption = False,
) -> None:
    """List purchase orders, most recently changed first."""
    with opened(config_path, data_dir) as runtime, runtime.hub.begin() as uow:
        found = views.list_purchase_orders(uow, status=status, supplier=supplier, limit=limit)
    if as_json:
        _print_json({"items": found})
        return
    table = Table(title=f"{len(found)} purchase orders")
    for column in ("purchase order", "status", "supplier", "ordered", "received", "invoiced", "updated"):
        table.add_column(column, justify="right" if column in ("ordered", "received", "invoiced") else "left")
    for po in found:
        currency = po["currency"] or ""
        table.add_row(
            po["purchase_order"],
            po["status"],
            po["supplier"] or "",
            *(f"{po[k]} {currency}" if po[k] is not None else "" for k in ("ordered_value", "received_value")),
            f"{po['invoiced_value']} {currency}" if po["invoiced_value"] is not None else "",
            po["updated_at"] or "",
        )
    console.print(table)


@purchase_orders_app.command("show")
def purchase_orders_show(
    po_id: Annotated[str, typer.Argument(help="The purchase order number.")],
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one purchase order: lines, receipts, invoices with their match, why it is open, exceptions, history."""
    with opened(config_path, data_dir) as runtime, runtime.hub.begin() as uow:
        workflow = runtime.procure_to_pay.policy.workflow if runtime.procure_to_pay is not None else DEFAULT_POLICY
        found = views.purchase_order_view(uow, po_id, workflow)
    if found is None:
        errors.print(f"[red]No purchase order {po_id}[/red]")
        raise typer.Exit(1)
    if as_json:
        _print_json(found)
        return
    console.print(
        f"[bold]Purchase order {found['purchase_order']}[/bold]: {found['status']} (revision {found['revision']}), "
        f"supplier {found['supplier']}, ship to {found['ship_to']}"
    )
    console.print(
        f"ordered {found['ordered_value'] or '-'} · received {found['received_value'] or '-'} · invoiced "
        f"{found['invoiced_value'] or '-'} {found['currency'] or ''}"
    )
    lines = Table(title="Lines")
    for column in ("line", "sku", *LINE_QUANTITIES, "unit price"):
        lines.add_column(column, justify="left" if column in ("line", "sku") else "right")
    for line in found["lines"]:
        lines.add_row(line["line_id"], line["sku"], *(line[q] or "" for q in LINE_QUANTITIES), line["unit_price"])
    console.print(lines)
    for receipt in found["receipts"]:
        parts = ", ".join(f"line {p['line_id']}: {p['accepted']} (+{p['damaged']} damaged)" for p in receipt["lines"])
        console.print(f"  receipt {receipt['receipt']} at {receipt['location']}: {parts}")
    for invoice in found["invoices"]:
        console.print(f"  invoice {invoice['invoice']}: {invoice['status']}, total {invoice['total']}")
        for reason in invoice["reasons"]:
            console.print(f"    {reason['code']}: {reason['text']}")
    for reason in found["open_reasons"]:
        console.print(f"  open: {reason}")
    for timer in found["timers"]:
        console.print(f"  deadline: {timer['stage']} at {timer['due_at']}")
    for exception in found["exceptions"]:
        console.print(
            f"  exception {exception['id']} ({exception['owner']}, {exception['reason_code']}): {exception['message']}"
        )
    history = Table(title="History")
    for column in ("@", "time", "type", "source"):
        history.add_column(column)
    for event in found["history"]:
        history.add_row(str(event["position"]), event["time"], event["type"], event["source"])
    console.print(history)
