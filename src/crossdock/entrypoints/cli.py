"""The `crossdock` command: run the hub, its workers, migrations, and the operator's tools."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from crossdock import bootstrap, config
from crossdock.entrypoints import (
    cli_demo,
    cli_edi,
    cli_governance,
    cli_import,
    cli_orders,
    cli_procurement,
    cli_trace,
    cli_xrefs,
)
from crossdock.entrypoints.cli_common import ConfigOption, DataDirOption
from crossdock.hub import operations
from crossdock.hub.ports import DeliveryFilter, DeliveryStatus
from crossdock.storage.sql import migrate

app = typer.Typer(
    help="Crossdock: keep orders, inventory and financial data in step across systems.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
config_app = typer.Typer(help="Configuration.", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead letters: deliveries that will not be retried by themselves.", no_args_is_help=True)
replay_app = typer.Typer(help="Replay failed inbound messages, or send a range of the log again.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(dlq_app, name="dlq")
app.add_typer(replay_app, name="replay")
cli_orders.register(app)
cli_procurement.register(app)
cli_governance.register(app)
cli_edi.register(app)
cli_trace.register(app)
cli_import.register(app)
cli_xrefs.register(app)
cli_demo.register(app)

console = Console()
errors = Console(stderr=True)


def default_config() -> Path:
    """crossdock.yaml here; else, in a clone of the repository, the Northwind estate `make run` serves (so that every
    command reads the estate the hub runs); else the small estate packaged with Crossdock."""
    for local in (Path("crossdock.yaml"), Path("examples/northwind/crossdock.yaml")):
        if local.exists():
            return local
    return Path(str(resources.files("crossdock") / "examples" / "estate.yaml"))


def load_settings(config_path: Path | None, data_dir: Path | None = None, **overrides: Any) -> config.Settings:
    extra = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        extra["data_dir"] = str(data_dir)
    try:
        return config.load(config_path or default_config(), overrides=extra)
    except config.ConfigError as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


@contextmanager
def opened(
    config_path: Path | None, data_dir: Path | None = None, *, upgrade: bool = False
) -> Iterator[bootstrap.Runtime]:
    settings = load_settings(config_path, data_dir)
    runtime = bootstrap.build(settings)
    try:
        if upgrade:
            migrate.upgrade(runtime.engine)
        elif not migrate.is_current(runtime.engine):
            errors.print("[red]The database schema is not current: run `crossdock db upgrade` first.[/red]")
            raise typer.Exit(2)
        yield runtime
    finally:
        runtime.close()


@app.command()
def run(
    config_path: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
    data_dir: DataDirOption = None,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "INFO",
    workers: Annotated[
        bool, typer.Option("--workers/--no-workers", help="Also process and deliver here (else API only).")
    ] = True,
) -> None:
    """Run the API, the workers and the timers in one process (migrates the database first)."""
    import uvicorn

    from crossdock.entrypoints.api.app import create_app
    from crossdock.entrypoints.api.intake_writer import IntakeWriter
    from crossdock.entrypoints.worker import Worker
    from crossdock.observability import logs
    from crossdock.observability.metrics import Metrics

    logs.configure(log_level)
    settings = load_settings(config_path, data_dir, **{"http.host": host, "http.port": port})
    runtime = bootstrap.build(settings)
    migrate.upgrade(runtime.engine)
    _first_key_hint(runtime)
    metrics = Metrics()
    # With workers here, intake is stored by the worker's own unit of work: one writer for the database.
    intake = IntakeWriter(
        runtime.hub.accept,
        window_ms=settings.http.intake_batch_ms,
        max_batch=settings.http.intake_batch_size,
        own_thread=False,
    )
    worker = Worker(
        runtime.hub,
        metrics,
        idle_sleep=settings.worker.idle_sleep_ms / 1000,
        intake=intake,
        pollers=runtime.pollers,
    )
    api = create_app(runtime, metrics=metrics, intake=intake if workers else None)
    if workers:
        worker.start()
    errors.print(
        f"Crossdock listening on http://{settings.http.host}:{settings.http.port} "
        f"(database: {_safe_url(settings.database_url)})"
    )
    # uvicorn stops serving on SIGTERM, then raises the signal again: with the default handler that would end
    # the process before the worker settles its last round and hands its shards back.
    signal.signal(signal.SIGTERM, _exit_on_terminate)
    try:
        uvicorn.run(
            api, host=settings.http.host, port=settings.http.port, log_level=log_level.lower(), access_log=False
        )
    finally:
        if workers:
            worker.stop()
            intake.close()
        runtime.close()


@app.command()
def worker(
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "INFO",
) -> None:
    """Run workers only (no API): process the inbox, deliver the outbox, fire timers."""
    from crossdock.entrypoints.worker import Worker
    from crossdock.observability import logs
    from crossdock.observability.metrics import Metrics

    logs.configure(log_level)
    with opened(config_path, data_dir) as runtime:
        settings = runtime.settings
        process = Worker(
            runtime.hub, Metrics(), idle_sleep=settings.worker.idle_sleep_ms / 1000, pollers=runtime.pollers
        )
        signal.signal(signal.SIGTERM, lambda *_: process.stop_event.set())
        signal.signal(signal.SIGINT, lambda *_: process.stop_event.set())
        process.start()
        process.wait()
        process.stop()


@db_app.command("upgrade")
def db_upgrade(config_path: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Create or migrate the database schema to the current version."""
    with opened(config_path, data_dir, upgrade=True) as runtime:
        console.print(
            f"Database at revision {migrate.current_revision(runtime.engine)} "
            f"({_safe_url(runtime.settings.database_url)})"
        )


@config_app.command("check")
def config_check(config_path: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Validate the configuration, build its connectors as `run` would (without starting them or opening the
    database), and show what it wires, secrets masked."""
    settings = load_settings(config_path, data_dir)
    problems = bootstrap.check(settings)
    for problem in problems:
        errors.print(f"[red]{escape(str(problem))}[/red]", highlight=False)
    if problems:
        errors.print(f"[red]Configuration {config_path or default_config()} is not valid.[/red]")
        raise typer.Exit(2)
    table = Table(title=f"Configuration {config_path or default_config()} is valid")
    table.add_column("kind")
    table.add_column("name")
    table.add_column("details")
    table.add_row("storage", "database", _safe_url(settings.database_url))
    table.add_row("http", "listen", f"{settings.http.host}:{settings.http.port}")
    for name, source in settings.sources.items():
        table.add_row("source", name, _source_details(source))
    for name, dest in settings.destinations.items():
        target = dest.url or dest.path or ""
        secret = ", secret set" if dest.secret else ""
        off = " (disabled)" if not dest.enabled else ""
        table.add_row("destination", name, f"{dest.kind} -> {target}{secret}{off}")
    for sub in settings.subscriptions:
        table.add_row("subscription", sub.destination, ", ".join(sub.events))
    console.print(table)


def _source_details(source: config.SourceSettings) -> str:
    """What applies to a source of its kind (an event type only to generic and canonical ones); option names only,
    since their values may be secrets."""
    if source.kind == "generic":
        return f"generic, event type {source.event_type or 'crossdock.message.received.v1 (default)'}"
    if source.kind == "canonical":
        bare = f", bare payloads as {source.event_type}" if source.event_type else ""
        field = f", document field {source.document_field}" if source.document_field else ""
        return f"canonical{bare}{field}"
    parts = [source.kind]
    if source.partner:
        parts.append(f"partner {source.partner}")
    if source.options:
        parts.append(f"options {', '.join(sorted(source.options))}")
    if source.poll_seconds is not None:
        parts.append(f"polled every {source.poll_seconds:g} s")
    return ", ".join(parts)


@app.command()
def status(
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Counts of messages and deliveries, the log head, breakers and live workers."""
    with opened(config_path, data_dir) as runtime:
        s = operations.status(runtime.hub)
    if as_json:
        console.print_json(
            json.dumps(
                {
                    "messages": s.messages,
                    "deliveries": s.deliveries,
                    "log_head": s.log_head,
                    "workers": s.workers,
                    "timers_pending": s.timers_pending,
                    "endpoints": s.endpoints,
                },
                default=str,
            )
        )
        return
    table = Table(title="Crossdock status")
    table.add_column("what")
    table.add_column("value", justify="right")
    for name, count in sorted(s.messages.items()):
        table.add_row(f"messages {name}", str(count))
    for name, count in sorted(s.deliveries.items()):
        table.add_row(f"deliveries {name}", str(count))
    table.add_row("log head position", str(s.log_head))
    table.add_row("timers pending", str(s.timers_pending))
    for pool, owners in s.workers.items():
        for owner, shards in owners.items():
            table.add_row(f"worker {owner} ({pool})", f"{shards} shards")
    for endpoint in s.endpoints:
        table.add_row(f"breaker {endpoint['endpoint']}", f"{endpoint['breaker']} ({endpoint['failures']} failures)")
    console.print(table)


def _filter(
    destination: str | None,
    event_type: str | None,
    error: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> DeliveryFilter:
    return DeliveryFilter(
        destination=destination,
        event_type=event_type,
        error_contains=error,
        since=_aware(since),
        until=_aware(until),
        status=DeliveryStatus.DEAD,
        limit=limit,
    )


def _aware(value: datetime | None) -> datetime | None:
    return value.astimezone() if value is not None and value.tzinfo is None else value


Destination = Annotated[str | None, typer.Option(help="Only this destination.")]
EventType = Annotated[str | None, typer.Option(help="Only this event type ('crossdock.order.*' allowed).")]
ErrorText = Annotated[str | None, typer.Option("--error", help="Only those whose last error contains this.")]
Since = Annotated[datetime | None, typer.Option(help="Created at or after (ISO time).")]
Until = Annotated[datetime | None, typer.Option(help="Created before (ISO time).")]
Limit = Annotated[int, typer.Option(help="At most this many.")]


@dlq_app.command("list")
def dlq_list(
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    destination: Destination = None,
    event_type: EventType = None,
    error: ErrorText = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 100,
) -> None:
    """List dead letters, filtered."""
    with opened(config_path, data_dir) as runtime:
        found = operations.dead_letters(runtime.hub, _filter(destination, event_type, error, since, until, limit))
    table = Table(title=f"{len(found)} dead letters")
    for column in ("delivery id", "destination", "event type", "subject", "attempts", "last error", "created"):
        table.add_column(column)
    for d in found:
        table.add_row(
            d.id,
            d.destination,
            d.event_type,
            d.subject,
            str(d.attempts),
            (d.last_error or "")[:60],
            d.created_at.isoformat(timespec="seconds"),
        )
    console.print(table)


@dlq_app.command("show")
def dlq_show(
    delivery_id: str,
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only the delivery as JSON (attempts and payload included).")
    ] = False,
) -> None:
    """Show one delivery with every attempt and its error, and its payload."""
    with opened(config_path, data_dir) as runtime:
        found = operations.delivery(runtime.hub, delivery_id)
    if found is None:
        errors.print(f"[red]No delivery {delivery_id}[/red]")
        raise typer.Exit(1)
    view = operations.delivery_view(*found)
    if as_json:
        # Plain JSON and nothing else on stdout, so that it can be redirected to a file and edited.
        sys.stdout.write(json.dumps(view, indent=2, default=str) + "\n")
        return
    table = Table(title=f"Delivery {delivery_id} to {view['destination']}: {view['status']}")
    for column in ("#", "at", "outcome", "status", "error", "ms"):
        table.add_column(column)
    for a in view["history"]:
        table.add_row(
            f"{a['number']}" + (f" (replay {a['round']})" if a["round"] else ""),
            a["at"],
            a["outcome"],
            str(a["status_code"] or ""),
            a["error"] or "",
            str(a["duration_ms"]),
        )
    console.print(table)
    console.print_json(json.dumps(view["payload"]))


@dlq_app.command("replay")
def dlq_replay(
    delivery_id: Annotated[str | None, typer.Argument(help="One delivery; omit to use filters.")] = None,
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    destination: Destination = None,
    event_type: EventType = None,
    error: ErrorText = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 10_000,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would be replayed.")] = False,
    payload_file: Annotated[
        Path | None, typer.Option("--payload", help="Edited payload (JSON file) for a single delivery.")
    ] = None,
    note: Annotated[str, typer.Option(help="Why: kept with the replay record.")] = "",
) -> None:
    """Replay dead letters: one (optionally with an edited payload) or all matching filters."""
    actor = cli_governance.actor()
    with opened(config_path, data_dir) as runtime:
        if delivery_id:
            payload = json.loads(payload_file.read_text()) if payload_file else None
            if dry_run:
                found = operations.delivery(runtime.hub, delivery_id)
                ok = found is not None and found[0].status is DeliveryStatus.DEAD
                console.print(f"Would replay {delivery_id}" if ok else f"{delivery_id} is not dead-lettered")
                return
            if not operations.replay_delivery(runtime.hub, delivery_id, actor=actor, payload=payload, note=note):
                errors.print(f"[red]{delivery_id} does not exist or is not dead-lettered[/red]")
                raise typer.Exit(1)
            console.print(f"Replayed {delivery_id}")
            return
        if payload_file:
            errors.print("[red]--payload edits one delivery: give its id[/red]")
            raise typer.Exit(2)
        flt = _filter(destination, event_type, error, since, until, limit)
        with Progress(console=errors, transient=True) as progress:
            progress.add_task("replaying dead letters", total=None)
            chosen = operations.replay_dead_letters(runtime.hub, flt, actor=actor, dry_run=dry_run, note=note)
    verb = "Would replay" if dry_run else "Replayed"
    console.print(f"{verb} {len(chosen)} dead letters")
    for d in chosen[:50]:
        console.print(f"  {d.id}  {d.destination}  {d.event_type}  {d.subject}")


@replay_app.command("messages")
def replay_messages(
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    message_id: Annotated[list[int] | None, typer.Option("--id", help="These messages.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
    limit: Limit = 10_000,
) -> None:
    """Put failed inbound messages back in the queue, to be mapped again (after a fix)."""
    with opened(config_path, data_dir) as runtime:
        chosen = operations.replay_messages(
            runtime.hub,
            actor=cli_governance.actor(),
            source=source,
            message_ids=message_id,
            dry_run=dry_run,
            limit=limit,
        )
    console.print(f"{'Would replay' if dry_run else 'Replayed'} {len(chosen)} failed messages")
    for m in chosen[:50]:
        console.print(f"  #{m.id}  {m.source}  {m.error or ''}")


@replay_app.command("events")
def replay_events(
    destination: Annotated[str, typer.Option(help="Send to this destination.")],
    after: Annotated[int, typer.Option("--after", help="Log position to start after.")] = 0,
    upto: Annotated[int | None, typer.Option("--upto", help="Last log position (default: head).")] = None,
    config_path: ConfigOption = None,
    data_dir: DataDirOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
) -> None:
    """Send a range of the event log to one destination again, under new delivery ids (a resync)."""
    with opened(config_path, data_dir) as runtime:
        with runtime.hub.begin() as uow:
            head = uow.log.head()
        with Progress(console=errors, transient=True) as progress:
            progress.add_task("queueing events", total=None)
            try:
                count = operations.resend_events(
                    runtime.hub,
                    destination=destination,
                    after=after,
                    upto=upto or head,
                    actor=cli_governance.actor(),
                    dry_run=dry_run,
                )
            except LookupError as exc:
                errors.print(f"[red]{exc}[/red]")
                raise typer.Exit(2) from None
    console.print(f"{'Would queue' if dry_run else 'Queued'} {count} events for {destination}")


@app.command()
def bench(
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    events: Annotated[int, typer.Option(help="Events per throughput run.")] = 20_000,
    postgres_url: Annotated[
        str | None, typer.Option(envvar="CROSSDOCK_BENCH_POSTGRES_URL", help="PostgreSQL to measure too.")
    ] = None,
    quick: Annotated[bool, typer.Option(help="A short run (used by the test suite).")] = False,
) -> None:
    """Measure intake -> handler -> delivery to a local HTTP sink, against the raw ceiling and a peer queue."""
    from crossdock.entrypoints import bench as bench_module

    figures = bench_module.run_all(
        events=events, postgres_url=postgres_url, quick=quick, progress=None if as_json else errors
    )
    if as_json:
        sys.stdout.write(json.dumps(figures, indent=2) + "\n")
    else:
        bench_module.print_table(console, figures)


def _first_key_hint(runtime: bootstrap.Runtime) -> None:
    """A new estate has no key yet: say how to make one rather than leave the first caller with a 401."""
    if runtime.settings.api.auth == "off":
        errors.print("[yellow]api.auth is off: the HTTP API serves anyone who can reach it.[/yellow]")
        return
    with runtime.hub.begin() as uow:
        if any(key.active for key in uow.keys.all()):
            return
    errors.print(
        "No API key yet: every /v1 call needs one. Create an admin key with\n"
        "  crossdock keys create --name me --scopes admin\n"
        'and send it as `-H "Authorization: Bearer $KEY"`.'
    )


def _exit_on_terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _safe_url(url: str) -> str:
    """Hide the password of a database URL."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url


if __name__ == "__main__":
    app()
