"""The operator's governance commands: API keys (create, list, revoke) and the audit trail (list, verify).

Owns: presenting keys and audit records in the terminal, and recording each key change in the audit trail in the
same transaction. Must not: hash or check anything itself (hub/governance.py does), nor ever print a stored secret
(there is none: only the token `keys create` prints once).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from crossdock.entrypoints.cli_common import ConfigOption, DataDirOption, JsonOption, opened
from crossdock.hub import governance
from crossdock.hub.ports import ApiKey, AuditEntry, AuditRecord, UnitOfWorkFactory

keys_app = typer.Typer(help="API keys: who may call the HTTP API, with which scopes.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail: every admin action and API call, hash-chained.", no_args_is_help=True)

console = Console()
errors = Console(stderr=True)

VERIFY_PAGE = 5000


def register(app: typer.Typer) -> None:
    """Add these commands to the main `crossdock` command."""
    app.add_typer(keys_app, name="keys")
    app.add_typer(audit_app, name="audit")


def actor() -> str:
    """Who runs the command, as the audit trail names them."""
    return f"cli:{os.environ.get('USER') or 'unknown'}"


def _print_json(value: Any) -> None:
    console.print_json(json.dumps(value, default=str))


# ---- keys ------------------------------------------------------------------------------------------------------


def key_view(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "scopes": list(key.scopes),
        "channel": key.channel,
        "rate_per_minute": key.rate_per_minute,
        "created_at": key.created_at.isoformat(timespec="seconds"),
        "created_by": key.created_by,
        "revoked_at": key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else None,
    }


def create_key(
    begin: UnitOfWorkFactory,
    now: Any,
    *,
    name: str,
    scopes: list[str],
    channel: str | None = None,
    rate_per_minute: int | None = None,
    created_by: str,
) -> tuple[ApiKey, str]:
    """Store a new key and its audit record together; returns the key and its token (shown once)."""
    key, token = governance.new_key(
        name=name, scopes=scopes, at=now, channel=channel, rate_per_minute=rate_per_minute, created_by=created_by
    )
    with begin() as uow:
        uow.keys.add(key)
        view = key_view(key)
        uow.audit.append(
            [
                AuditEntry(
                    created_by,
                    "key.create",
                    key.id,
                    now,
                    {k: view[k] for k in ("name", "scopes", "channel", "rate_per_minute")},
                )
            ]
        )
        uow.commit()
    return key, token


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what uses the key, e.g. webshop or alice.")],
    scopes: Annotated[
        str, typer.Option(help="Comma-separated: orders:write, orders:read, inventory:read, admin, webhook:<source>.")
    ],
    channel: Annotated[str | None, typer.Option(help="Only this channel's orders (list, read, place).")] = None,
    rate_per_minute: Annotated[
        int | None, typer.Option(help="At most this many requests a minute (default: no limit).", min=1)
    ] = None,
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a key and print it once: only a salted hash of it is kept, it cannot be shown again."""
    # Creates the schema of a new database: the first key is usually made before the hub ever ran.
    with opened(config_path, data_dir, upgrade=True) as runtime:
        hub = runtime.hub
        try:
            key, token = create_key(
                hub.begin,
                hub.clock.now(),
                name=name,
                scopes=scopes.split(","),
                channel=channel,
                rate_per_minute=rate_per_minute,
                created_by=actor(),
            )
        except ValueError as exc:
            errors.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
    errors.print(
        f"Key {key.id} ({key.name}) created with scopes {', '.join(key.scopes)}"
        f"{f', channel {key.channel}' if key.channel else ''}. It is shown once; keep it safe:"
    )
    # The token alone on stdout, so that `KEY=$(crossdock keys create ...)` captures it.
    typer.echo(token)


@keys_app.command("list")
def keys_list(
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every key with its scopes, channel, rate limit and whether it is revoked; never a secret."""
    with opened(config_path, data_dir) as runtime, runtime.hub.begin() as uow:
        found = [key_view(k) for k in uow.keys.all()]
    if as_json:
        _print_json({"items": found})
        return
    table = Table(title=f"{len(found)} API keys")
    for column in ("id", "name", "scopes", "channel", "per minute", "created", "by", "revoked"):
        table.add_column(column)
    for k in found:
        table.add_row(
            k["id"],
            k["name"],
            ", ".join(k["scopes"]),
            k["channel"] or "",
            str(k["rate_per_minute"] or ""),
            k["created_at"],
            k["created_by"],
            k["revoked_at"] or "",
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (the part after cdk_).")],
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Revoke a key: every call with it is refused from then on (in running hubs within api.key_cache_seconds)."""
    with opened(config_path, data_dir) as runtime:
        hub = runtime.hub
        with hub.begin() as uow:
            before = uow.keys.get(key_id)
            if before is None:
                errors.print(f"[red]No key {key_id}[/red]")
                raise typer.Exit(1)
            now = hub.clock.now()
            key = uow.keys.revoke(key_id, now)
            assert key is not None and key.revoked_at is not None
            if before.revoked_at is None:
                uow.audit.append([AuditEntry(actor(), "key.revoke", key_id, now, {"name": key.name})])
            uow.commit()
    console.print(f"Key {key_id} ({key.name}) is revoked since {key.revoked_at.isoformat(timespec='seconds')}")


# ---- audit -----------------------------------------------------------------------------------------------------


def record_view(record: AuditRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "at": record.at.isoformat(),
        "actor": record.actor,
        "action": record.action,
        "target": record.target,
        "details": dict(record.details),
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    }


@audit_app.command("list")
def audit_list(
    after: Annotated[int | None, typer.Option(help="Records after this seq (default: the last --limit).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.", min=1)] = 50,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. key.create or api.call.")] = None,
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """The trail in order: who did what to what, and when."""
    with opened(config_path, data_dir) as runtime, runtime.hub.begin() as uow:
        if after is None:
            last = uow.audit.last()
            after = max(0, (last.seq if last else 0) - limit) if action is None else 0
        found: list[AuditRecord] = []
        while len(found) < limit:
            page = uow.audit.read(after, VERIFY_PAGE if action else limit)
            if not page:
                break
            found.extend(r for r in page if action is None or r.action == action)
            after = page[-1].seq
        found = found[:limit]
    if as_json:
        _print_json({"items": [record_view(r) for r in found]})
        return
    table = Table(title=f"{len(found)} audit records")
    for column in ("seq", "at", "actor", "action", "target", "details"):
        table.add_column(column, justify="right" if column == "seq" else "left")
    for r in found:
        table.add_row(
            str(r.seq),
            r.at.isoformat(timespec="seconds"),
            r.actor,
            r.action,
            r.target,
            json.dumps(dict(r.details), separators=(",", ":"))[:80],
        )
    console.print(table)


@audit_app.command("verify")
def audit_verify(config_path: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Recompute the chain: exit 0 when every record holds, 1 naming the first that was edited, removed or moved."""
    with opened(config_path, data_dir) as runtime, runtime.hub.begin() as uow:
        verdict = governance.verify(_all_records(uow.audit.read))
    if not verdict.intact:
        errors.print(f"[red]Audit trail broken at record {verdict.broken_at}: {verdict.reason}[/red]")
        errors.print(f"{verdict.records} records read; the trail before record {verdict.broken_at} holds.")
        raise typer.Exit(1)
    console.print(f"{verdict.records} records, chain intact (last hash {verdict.last_hash})")


def _all_records(read: Any) -> Iterator[AuditRecord]:
    after = 0
    while True:
        page: list[AuditRecord] = read(after, VERIFY_PAGE)
        if not page:
            return
        yield from page
        after = page[-1].seq
