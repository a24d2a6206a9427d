"""The operator's commands say what applies and take the options every command takes: `config check` describes each
source by what its kind uses (never a value that may be a secret), and `partners list|check` read the data dir given
with `--data-dir`, under which a partner's relative folders are."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from typer.testing import CliRunner, Result

from crossdock.entrypoints import cli

WIDE = {"COLUMNS": "250", "NO_COLOR": "1"}  # Rich tables must not wrap what we look for
FOLDERS = ("inbound", "outbound", "archive", "error")

ESTATE = textwrap.dedent(
    """\
    storage:
      url: sqlite:///crossdock.db
    sources:
      intake:
        kind: generic
      orders:
        kind: canonical
        document_field: order
      acme-edi:
        kind: edi
        partner: acme
      shop:
        kind: shopify
        options: {shop: example.myshopify.com, secret: shhh-not-for-printing, channel: web}
    partners:
      acme:
        role: supplier
        id: ACMESUPPLY
        our_id: NORTHWIND
        supplier: V-100
        currency: EUR
        item_ids: [{qualifier: BP}]
        transport: {path: partners/acme}
    """
)


def crossdock(*args: str) -> Result:
    return CliRunner().invoke(cli.app, list(args), env=WIDE)


def estate_file(tmp_path: Path) -> Path:
    path = tmp_path / "crossdock.yaml"
    path.write_text(ESTATE, encoding="utf-8")
    return path


def row(output: str, name: str) -> str:
    """The details cell of one source in the `config check` table."""
    (found,) = [line for line in output.splitlines() if f"│ {name} " in line and "│ source " in line]
    return found.split("│")[3].strip()


def test_config_check_describes_each_source_by_what_its_kind_uses(tmp_path: Path) -> None:
    result = crossdock("config", "check", "--config", str(estate_file(tmp_path)), "--data-dir", str(tmp_path))

    assert result.exit_code == 0, result.output
    assert "None" not in result.output, "nothing is shown that does not apply"
    assert row(result.output, "intake") == "generic, event type crossdock.message.received.v1 (default)"
    assert row(result.output, "orders") == "canonical, document field order"
    assert row(result.output, "acme-edi") == "edi, partner acme"
    assert row(result.output, "shop") == "shopify, options channel, secret, shop"
    assert "shhh-not-for-printing" not in result.output, "an option's value may be a secret"


def test_partners_check_finds_relative_folders_under_the_data_dir_it_is_given(tmp_path: Path) -> None:
    config_file = estate_file(tmp_path)
    data_dir = tmp_path / "data"
    for folder in FOLDERS:
        (data_dir / "partners" / "acme" / folder).mkdir(parents=True)

    elsewhere = crossdock("partners", "check", "--config", str(config_file), "--data-dir", str(tmp_path / "empty"))
    here = crossdock("partners", "check", "--config", str(config_file), "--data-dir", str(data_dir))

    assert elsewhere.exit_code == 1 and "does not exist" in elsewhere.output
    assert here.exit_code == 0, here.output
    assert "acme: ok" in here.output


def test_partners_list_takes_the_data_dir_option_as_every_command_does(tmp_path: Path) -> None:
    result = crossdock(
        "partners", "list", "--json", "--config", str(estate_file(tmp_path)), "--data-dir", str(tmp_path)
    )

    assert result.exit_code == 0, result.output
    assert [p["partner"] for p in json.loads(result.stdout)["items"]] == ["acme"]
