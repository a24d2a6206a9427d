"""The operator's EDI commands: `crossdock edi parse|render` and `crossdock partners list|check`.

Owns: presenting the EDI connectors' reading and writing in the terminal. Must not: map or validate documents itself
(connectors/edi, x12 and edifact do) or read settings its own way (the main command's load_settings does).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table

from crossdock import config
from crossdock.connectors import x12
from crossdock.connectors.edi.inbound import EdiInbound
from crossdock.connectors.edi.profiles import Profile, ProfileError
from crossdock.connectors.x12 import mapping as x12_mapping
from crossdock.domain import catalog, documents, procurement
from crossdock.hub.errors import MappingError

edi_app = typer.Typer(help="Read and write EDI files (X12, EDIFACT) as canonical documents.", no_args_is_help=True)
partners_app = typer.Typer(help="Trading partner profiles: list them, check them.", no_args_is_help=True)

console = Console()
errors = Console(stderr=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML configuration file.", envvar="CROSSDOCK_CONFIG")
]
DataDirOption = Annotated[Path | None, typer.Option("--data-dir", help="Where the SQLite file and outputs live.")]
PartnerOption = Annotated[str | None, typer.Option("--partner", "-p", help="A partner of the configuration.")]

# What `edi render` takes: the canonical document, and the X12 set it becomes.
RENDERABLE: dict[str, tuple[type[BaseModel], str]] = {
    "purchase-order": (procurement.PurchaseOrder, "850"),
    "shipment": (documents.Shipment, "856"),
    "invoice": (documents.Invoice, "810"),
    "sales-order-ack": (documents.SalesOrder, "855"),
}


def register(app: typer.Typer) -> None:
    """Add these commands to the main `crossdock` command."""
    app.add_typer(edi_app, name="edi")
    app.add_typer(partners_app, name="partners")


def _settings(config_path: Path | None, data_dir: Path | None = None) -> config.Settings:
    from crossdock.entrypoints import cli  # the main command imports this module to register it

    try:
        return cli.load_settings(config_path, data_dir)
    except config.ConfigError as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _profile(settings: config.Settings, partner: str) -> Profile:
    if partner not in settings.partners:
        errors.print(f"[red]no partner named {partner!r} (known: {', '.join(sorted(settings.partners)) or 'none'})")
        raise typer.Exit(2)
    return Profile(partner, settings.partners[partner])


def _adhoc(body: bytes, role: str, lenient: bool) -> Profile:
    """A profile for a file from no configured partner: ids from the file, every item id qualifier as the sku."""
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:3]
    standard = "edifact" if head in (b"UNA", b"UNB") else "x12"
    qualifiers = (
        ["VP", "VN", "BP", "IN", "UP", "UA", "UK", "EN", "SK", "CB", "PI", "N4", "VC"] if standard == "x12" else []
    )
    settings = config.PartnerSettings.model_validate(
        {
            "standard": standard,
            "role": role,
            "id": "PARTNER",
            "our_id": "CROSSDOCK",
            "item_ids": [{"qualifier": q} for q in qualifiers],
            "leniency": "lenient" if lenient else "default",
            "transit_days": 0,
        }
    )
    return Profile("file", settings)


@edi_app.command("parse")
def edi_parse(
    file: Annotated[Path, typer.Argument(help="An X12 or EDIFACT file.", exists=True, dir_okay=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    partner: PartnerOption = None,
    lenient: Annotated[bool, typer.Option("--lenient", help="Accept every quirk the engine can read.")] = False,
    role: Annotated[str, typer.Option(help="Without --partner: customer, supplier or 3pl.")] = "customer",
    config_path: ConfigOption = None,
) -> None:
    """Print the canonical documents of a file, or exit 1 with the rule broken and its place."""
    body = file.read_bytes()
    if partner is not None:
        settings = _settings(config_path)
        profile = _profile(settings, partner)
        if lenient:
            profile = Profile(partner, settings.partners[partner].model_copy(update={"leniency": "lenient"}))
    else:
        profile = _adhoc(body, role, lenient)
    try:
        reading = EdiInbound(f"edi-{profile.name}", profile).read(body)
    except (MappingError, ProfileError) as exc:
        errors.print(f"{file.name}: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    found = [{"type": catalog.type_of(d.payload), "data": catalog.data_of(d.payload)} for d in reading.documents]
    acks = [catalog.data_of(r) for r in reading.interchanges]
    if as_json:
        print(json.dumps({"documents": found, "interchanges": acks, "warnings": list(reading.warnings)}, default=str))
        return
    for warning in reading.warnings:
        errors.print(warning, markup=False, highlight=False, soft_wrap=True)
    table = Table(title=f"{file.name}: {len(found)} documents")
    for column in ("type", "key"):
        table.add_column(column)
    for document in reading.documents:
        table.add_row(catalog.type_of(document.payload), document.subject)
    console.print(table)
    for received in reading.interchanges:
        console.print(f"interchange {received.interchange} from {received.sender}: {received.status.value}")


@edi_app.command("render")
def edi_render(
    kind: Annotated[str, typer.Argument(help=f"One of: {', '.join(RENDERABLE)}.")],
    file: Annotated[Path, typer.Argument(help="The canonical document as JSON.", exists=True, dir_okay=False)],
    partner: Annotated[str, typer.Option("--partner", "-p", help="The partner it is for.")],
    config_path: ConfigOption = None,
    control_number: Annotated[int | None, typer.Option(help="ISA13/GS06; default: the profile's start.")] = None,
) -> None:
    """Write a canonical document as the partner's X12 (850, 856, 810 or 855) on stdout."""
    if kind not in RENDERABLE:
        errors.print(f"[red]unknown document kind {kind!r} (known: {', '.join(RENDERABLE)})")
        raise typer.Exit(2)
    profile = _profile(_settings(config_path), partner)
    if profile.standard != "x12":
        errors.print("[red]rendering EDIFACT from the command line is not supported yet")
        raise typer.Exit(2)
    model, _ = RENDERABLE[kind]
    try:
        document: BaseModel = model.model_validate_json(file.read_bytes())
        rules = profile.x12_rules()
        tx = _transaction(kind, document, rules)
        number = control_number or profile.settings.control_number_start
        interchange = x12_mapping.build_interchange(
            rules, [tx], x12_mapping.ControlNumbers(interchange=number, group=number), datetime.now(UTC)
        )
        data = x12.write([interchange], newline=True)
    except (ValidationError, MappingError, ProfileError, ValueError) as exc:
        errors.print(f"{file.name}: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    os.write(1, data)


def _transaction(kind: str, document: Any, rules: x12_mapping.PartnerRules) -> x12.Transaction:
    if kind == "purchase-order":
        return x12_mapping.purchase_order_to_850(document, rules)
    if kind == "shipment":
        return x12_mapping.shipment_to_856(document, rules)
    if kind == "invoice":
        return x12_mapping.invoice_to_810(document, rules)
    return x12_mapping.sales_order_to_855(document, rules, acknowledged_on=date.today())


@partners_app.command("list")
def partners_list(
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The configured trading partners."""
    settings = _settings(config_path, data_dir)
    rows = []
    for name, p in sorted(settings.partners.items()):
        where = "-"
        if p.transport is not None:
            where = p.transport.path or f"sftp://{p.transport.sftp.username}@{p.transport.sftp.host}"  # type: ignore[union-attr]
        rows.append(
            {
                "partner": name,
                "standard": p.standard,
                "role": p.role,
                "id": f"{p.qualifier}/{p.id}",
                "version": p.version,
                "transport": where,
            }
        )
    if as_json:
        print(json.dumps({"items": rows}))
        return
    table = Table(title=f"{len(rows)} partners")
    for column in ("partner", "standard", "role", "id", "version", "transport"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c]) for c in ("partner", "standard", "role", "id", "version", "transport")))
    console.print(table)


@partners_app.command("check")
def partners_check(
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    connect: Annotated[bool, typer.Option("--connect", help="Also log in to SFTP servers and list inbound.")] = False,
) -> None:
    """Check every profile, and that its transport is reachable (folders exist and are writable); exit 1 if not.
    Relative folders are under the data dir."""
    settings = _settings(config_path, data_dir)
    failed = 0
    for name, p in sorted(settings.partners.items()):
        profile = Profile(name, p)
        problems = profile.check()
        if p.transport is not None and p.transport.path is not None:
            root = Path(p.transport.path)
            root = root if root.is_absolute() else settings.data_dir / root
            for folder in (
                p.transport.folders.inbound,
                p.transport.folders.outbound,
                p.transport.folders.archive,
                p.transport.folders.error,
            ):
                path = root / folder
                if not path.is_dir():
                    problems.append(f"folder {path} does not exist")
                elif not os.access(path, os.W_OK):
                    problems.append(f"folder {path} is not writable")
        elif p.transport is not None and connect:
            transport = profile.transport(settings.data_dir)
            assert transport is not None
            try:
                transport.list_inbound()
            except OSError as exc:
                problems.append(f"sftp: {exc}")
            finally:
                transport.close()
        failed += bool(problems)
        for problem in problems:
            errors.print(f"{name}: {problem}", markup=False, highlight=False, soft_wrap=True)
        if not problems:
            console.print(f"{name}: ok", markup=False, highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)
