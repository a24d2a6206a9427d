"""The `crossdock` command against a configuration file: validation, migrations, status, dead letters,
message replay and trace, as an operator types them."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from crossdock import bootstrap, config
from crossdock.entrypoints import cli
from crossdock.storage.sql import migrate
from tests.e2e.conftest import OWNER, SinkServer, order

WIDE = {"COLUMNS": "250", "NO_COLOR": "1"}  # Rich tables must not wrap the ids we look for


def crossdock(*args: str) -> Result:
    return CliRunner().invoke(cli.app, list(args), env=WIDE)


def write_config(path: Path, database_url: str, sink_url: str, extra: str = "") -> Path:
    path.write_text(
        textwrap.dedent(
            f"""\
            data_dir: {path.parent}
            storage:
              url: {database_url}
            sources:
              shop:
                event_type: crossdock.order.placed.v1
                subject_field: number
            destinations:
              erp:
                kind: webhook
                url: {sink_url}/erp
            subscriptions:
              - destination: erp
                events: ["crossdock.*"]
            """
        )
        + extra,
        encoding="utf-8",
    )
    return path


@pytest.fixture
def config_file(tmp_path: Path, sqlite_url: str, sink: SinkServer) -> Path:
    return write_config(tmp_path / "crossdock.yaml", sqlite_url, sink.url)


@pytest.fixture
def hub(config_file: Path) -> Iterator[bootstrap.Runtime]:
    """The hub the commands look at, running in this process on the same database (real time)."""
    runtime = bootstrap.build(config.load(config_file))
    migrate.upgrade(runtime.engine)
    yield runtime
    runtime.close()


def test_config_check_accepts_a_valid_file_and_shows_what_it_wires(config_file: Path, sink: SinkServer) -> None:
    result = crossdock("config", "check", "--config", str(config_file))

    assert result.exit_code == 0, result.output
    assert "is valid" in result.output
    assert "shop" in result.output
    assert f"webhook -> {sink.url}/erp" in result.output


BAD_TOP_LEVEL = """\
storage:
  url: sqlite:///crossdock.db
retention_days: 30
"""

BAD_NESTED = """\
storage:
  url: sqlite:///crossdock.db
destinations:
  erp:
    kind: webhook
    url: http://erp.example/hook
    retries: 3
subscriptions:
  - destination: erp
    events: ["*"]
"""


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (BAD_TOP_LEVEL, "retention_days"),  # a typo at the top level
        (BAD_NESTED, "destinations.erp.retries"),  # a typo inside a destination
    ],
)
def test_a_config_with_an_unknown_key_is_refused_with_the_key_and_its_line(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "crossdock.yaml"
    path.write_text(text, encoding="utf-8")
    line = 1 + next(i for i, row in enumerate(text.splitlines()) if row.strip().startswith(key.rsplit(".", 1)[-1]))

    result = crossdock("config", "check", "--config", str(path))

    assert result.exit_code == 2
    assert f"line {line}: {key}: unknown key" in " ".join(result.output.split())


def http_connector_config(folder: Path, module: str, source_mapping: str, destination_mapping: str) -> Path:
    """A configuration whose http source and destination name their mapping functions in `module`, a file in
    `folder` holding an `order_in` and an `order_out`; the database is a SQLite file in the folder."""
    (folder / f"{module}.py").write_text(
        "def order_in(request):\n    return []\n\n\ndef order_out(event):\n    return None\n", encoding="utf-8"
    )
    path = folder / "crossdock.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            data_dir: {folder}
            storage:
              url: sqlite:///{folder / "hub.db"}
            sources:
              erp:
                kind: http
                options: {{path: {folder}, mapping: "{source_mapping}"}}
            destinations:
              erp-out:
                kind: http
                options: {{path: {folder}, mapping: "{destination_mapping}", base_url: "http://erp.invalid/api"}}
            subscriptions:
              - destination: erp-out
                events: ["crossdock.order.*"]
            """
        ),
        encoding="utf-8",
    )
    return path


def test_config_check_builds_the_connectors_and_names_every_mapping_that_cannot_be_loaded(tmp_path: Path) -> None:
    path = http_connector_config(
        tmp_path, "check_refused_mapping", "no_such_module:order_in", "check_refused_mapping:put"
    )

    result = crossdock("config", "check", "--config", str(path))

    said = " ".join(result.output.split())
    assert result.exit_code == 2, said
    assert "sources.erp.options.mapping: cannot import module 'no_such_module'" in said
    assert "destinations.erp-out.options.mapping: module 'check_refused_mapping' has no 'put'" in said
    assert "is valid" not in said
    assert not (tmp_path / "hub.db").exists(), "checking a configuration never opens its database"


def test_config_check_passes_connectors_that_build_without_opening_the_database(tmp_path: Path) -> None:
    path = http_connector_config(
        tmp_path, "check_loaded_mapping", "check_loaded_mapping:order_in", "check_loaded_mapping:order_out"
    )

    result = crossdock("config", "check", "--config", str(path))

    assert result.exit_code == 0, result.output
    assert "is valid" in result.output
    assert not (tmp_path / "hub.db").exists(), "checking a configuration never opens its database"


def test_commands_refuse_a_database_that_was_never_upgraded_and_db_upgrade_fixes_it(config_file: Path) -> None:
    refused = crossdock("status", "--json", "--config", str(config_file))
    assert refused.exit_code == 2
    assert "crossdock db upgrade" in refused.output

    upgraded = crossdock("db", "upgrade", "--config", str(config_file))
    assert upgraded.exit_code == 0, upgraded.output
    assert "Database at revision" in upgraded.output

    status = crossdock("status", "--json", "--config", str(config_file))
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout) | {"timers_pending": 0} == {
        "messages": {},
        "deliveries": {},
        "log_head": 0,
        "workers": {},
        "timers_pending": 0,
        "endpoints": [],
    }


def test_a_dead_letter_is_listed_shown_dry_run_replayed_and_delivered_from_the_command_line(
    config_file: Path, hub: bootstrap.Runtime, sink: SinkServer
) -> None:
    sink.program(fail_next=[{"status": 400}])
    hub.hub.receive("shop", json.dumps(order("SO-1")).encode(), {})
    hub.hub.drain(OWNER)
    with hub.hub.begin() as uow:
        [message] = uow.inbox.find()
        [event] = uow.log.for_message(message.id)
        [dead] = uow.outbox.for_event(event.envelope.id)
    cfg = ("--config", str(config_file))

    status = crossdock("status", "--json", *cfg)
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["deliveries"] == {"dead": 1}

    listed = crossdock("dlq", "list", *cfg)
    assert listed.exit_code == 0, listed.output
    assert "1 dead letters" in listed.output and dead.id in listed.output

    narrowed = crossdock("dlq", "list", "--destination", "nowhere", *cfg)
    assert "0 dead letters" in narrowed.output and dead.id not in narrowed.output

    shown = crossdock("dlq", "show", dead.id, *cfg)
    assert shown.exit_code == 0, shown.output
    assert "permanent" in shown.output and "400" in shown.output and "HTTP 400" in shown.output
    assert '"subject": "SO-1"' in shown.output, "show prints the payload"

    dry = crossdock("dlq", "replay", "--dry-run", *cfg)
    assert dry.exit_code == 0, dry.output
    assert "Would replay 1 dead letters" in dry.output and dead.id in dry.output
    with hub.hub.begin() as uow:
        assert uow.outbox.get(dead.id).status.value == "dead", "a dry run changes nothing"  # type: ignore[union-attr]

    replayed = crossdock("dlq", "replay", "--note", "ERP back", *cfg)
    assert replayed.exit_code == 0, replayed.output
    assert "Replayed 1 dead letters" in replayed.output
    hub.hub.drain(OWNER)

    assert [item["delivery_id"] for item in sink.accepted()] == [dead.id]
    assert "0 dead letters" in crossdock("dlq", "list", *cfg).output
    with hub.hub.begin() as uow:
        [record] = uow.replays.recent()
    assert (record.kind, record.target, record.note) == ("delivery", dead.id, "ERP back")


def test_replay_messages_dry_run_lists_failed_messages_and_leaves_them_failed(
    config_file: Path, hub: bootstrap.Runtime
) -> None:
    hub.hub.receive("shop", json.dumps({"no_number": True}).encode(), {})
    hub.hub.drain(OWNER)
    with hub.hub.begin() as uow:
        [failed] = uow.inbox.find(status=None)
    assert failed.status.value == "failed"

    result = crossdock("replay", "messages", "--dry-run", "--config", str(config_file))

    assert result.exit_code == 0, result.output
    assert "Would replay 1 failed messages" in result.output
    assert f"#{failed.id}" in result.output and "number" in result.output
    with hub.hub.begin() as uow:
        after = uow.inbox.get(failed.id)
        assert after is not None and (after.status.value, after.replays) == ("failed", 0)
        assert uow.replays.recent() == []


def test_trace_follows_a_business_key_from_message_to_event_to_delivery(
    config_file: Path, hub: bootstrap.Runtime, sink: SinkServer
) -> None:
    sink.program(fail_next=[{"status": 409}])
    hub.hub.receive("shop", json.dumps(order("SO-77")).encode(), {})
    hub.hub.drain(OWNER)
    with hub.hub.begin() as uow:
        [message] = uow.inbox.find()
        [event] = uow.log.for_message(message.id)
        [delivery] = uow.outbox.for_event(event.envelope.id)

    result = crossdock("trace", "SO-77", "--config", str(config_file))

    assert result.exit_code == 0, result.output
    assert f"message #{message.id} from shop" in result.output
    assert f"event @{event.position} crossdock.order.placed.v1 subject SO-77" in result.output
    assert f"delivery {delivery.id} to erp: dead" in result.output
    assert "attempt 1" in result.output and "409" in result.output
    unknown = crossdock("trace", "SO-404", "--config", str(config_file))
    assert unknown.exit_code == 1 and "Nothing matches" in unknown.output


def _command_paths(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and group under the root, found by walking the tree (so a new command is covered)."""
    yield prefix
    for name, child in sorted(getattr(command, "commands", {}).items()):
        yield from _command_paths(child, (*prefix, name))


COMMANDS = list(_command_paths(typer.main.get_command(cli.app)))


def test_the_command_tree_covers_every_operator_tool() -> None:
    expected = {("dlq", "list"), ("dlq", "show"), ("dlq", "replay"), ("replay", "messages"), ("trace",)}
    assert expected <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(path) or "crossdock")
def test_every_command_and_sub_command_explains_itself_with_help(path: tuple[str, ...]) -> None:
    result = crossdock(*path, "--help")

    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert " ".join(path) in " ".join(result.output.split()), "the help must be that of the command asked about"
