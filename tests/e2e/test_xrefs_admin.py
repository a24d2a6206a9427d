"""Cross-references made by a person, from the command line and the admin API, on SQLite and PostgreSQL: a Shopify
inventory level dead-lettered for a missing item link goes through once the link is made and the delivery replayed;
the link settles the exception that waited for it; a link that contradicts one already made is refused naming it; a
file of links applies its good rows and names the bad ones by line and column."""

from __future__ import annotations

import json
import textwrap
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner, Result

from crossdock.domain import catalog
from crossdock.entrypoints import cli, cli_governance
from crossdock.entrypoints.api import auth
from crossdock.entrypoints.api.app import create_app
from crossdock.hub import operations, xrefs
from crossdock.hub.ports import BusinessException, DeliveryFilter, DeliveryStatus, ExceptionFilter, ExceptionStatus
from tests.e2e.conftest import admin_key
from tests.e2e.order_to_cash_estate import ACCOUNTS, OrderToCashEstate, settings_for
from tests.fakes.shopify import FakeShopify

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

WIDE = {"COLUMNS": "250", "NO_COLOR": "1", "USER": "ana"}  # Rich tables must not wrap what we look for
SHOP = "northwind"
OUT = "northwind-out"
LOCATION_ID = 905684977
SKU = "IPOD2008GREEN"
ITEM = "gid://shopify/InventoryItem/808950810"


def crossdock(*args: str) -> Result:
    return CliRunner().invoke(cli.app, list(args), env=WIDE)


@dataclass
class Shop:
    """A hub with a Shopify shop as source and destination, its API client holding an admin key, and the same
    estate written as a configuration file for the command line (which builds its own hub on the same database)."""

    estate: OrderToCashEstate
    client: TestClient
    fake: FakeShopify
    config_file: Path
    actor: str  # how the audit trail names the client's key

    @property
    def hub(self) -> Any:
        return self.estate.hub

    def cli(self, *args: str) -> Result:
        return crossdock(*args, "--config", str(self.config_file))

    def link(self, via: str, kind: str, hub_id: str, external_id: str, system: str = OUT) -> tuple[int, str]:
        """Link through the command line or the API; (exit code or HTTP status, what it said)."""
        if via == "cli":
            result = self.cli("xrefs", "link", kind, system, hub_id, external_id)
            return result.exit_code, result.output + (result.stderr or "")
        body = {"kind": kind, "system": system, "hub_id": hub_id, "external_id": external_id}
        response: httpx.Response = self.client.post("/v1/xrefs", json=body)
        return response.status_code, response.text

    def link_actor(self, via: str) -> str:
        return f"cli:{WIDE['USER']}" if via == "cli" else self.actor

    def catch_up(self) -> None:
        """The command line's hub wrote with the wall clock: the estate's clock moves past it before working."""
        self.estate.clock.at = max(self.estate.clock.at, datetime.now(UTC)) + timedelta(seconds=1)
        self.estate.drain()

    def stock(self, quantity: int) -> None:
        self.estate.receipt(SKU, "WH-NORTH", quantity)
        self.estate.drain()
        self.estate.later(seconds=2)  # the availability window closes: the figure goes out to the shop

    def dead(self) -> list[Any]:
        return operations.dead_letters(self.hub, DeliveryFilter(status=DeliveryStatus.DEAD))

    def missing_links(self, status: ExceptionStatus | None = ExceptionStatus.OPEN) -> list[BusinessException]:
        with self.hub.begin() as uow:
            return uow.exceptions.find(ExceptionFilter(status=status, reason_code=xrefs.REASON))

    def audit(self, action: str) -> list[Any]:
        self.client.app.state.audit.flush()  # type: ignore[attr-defined]
        with self.hub.begin() as uow:
            return [r for r in uow.audit.read(limit=10_000) if r.action == action]


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    shop = FakeShopify()
    shop.start()
    yield shop
    shop.stop()


@pytest.fixture
def shop(tmp_path: Path, fake: FakeShopify, database_url: str) -> Iterator[Shop]:
    """Once on SQLite and once on PostgreSQL (database_url)."""
    options = {
        "shop": "northwind.myshopify.com",
        "secret": fake.secret,
        "token": fake.token,
        "base_url": fake.url,
        "location": "WH-NORTH",
        "inventory_location": "WH-NORTH",
    }
    sections: dict[str, Any] = {
        "storage": {"url": database_url},
        "sources": {SHOP: {"kind": "shopify", "options": options}, "wms": {"kind": "canonical"}},
        "destinations": {OUT: {"kind": "shopify", "options": options}},
        "subscriptions": [{"destination": OUT, "events": [catalog.AvailabilityChanged.event_type]}],
        "inventory": {"channels": ["shopify"], "availability_window_seconds": 1},
        # The shop takes the money at checkout: it is held on a customer deposit account until invoiced.
        "accounting": {"accounts": ACCOUNTS | {"customer_deposit": "2350"}},
    }
    config_file = tmp_path / "crossdock.yaml"
    config_file.write_text(yaml.safe_dump({"data_dir": str(tmp_path), **sections}), encoding="utf-8")
    estate = OrderToCashEstate(tmp_path, settings_for(tmp_path, **sections))
    estate.clock.at = datetime.now(UTC)  # the command line's hub runs on the wall clock: the two stay in step
    assert estate.runtime is not None
    key, token = admin_key(estate.runtime)
    client = TestClient(create_app(estate.runtime), headers={"Authorization": f"Bearer {token}"})
    client.__enter__()
    yield Shop(estate, client, fake, config_file, auth.actor_of(key))
    client.__exit__(None, None, None)
    estate.stop()


# ---- the Shopify dead letter ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["cli", "api"])
def test_an_inventory_level_dead_lettered_for_a_missing_item_link_goes_through_after_linking_and_replaying(
    shop: Shop, via: str
) -> None:
    assert shop.link(via, "location", "WH-NORTH", str(LOCATION_ID))[0] in (0, 201)
    shop.stock(12)
    (dead,) = shop.dead()
    (waiting,) = shop.missing_links()
    assert (waiting.about_kind, waiting.about_key) == ("item", SKU)
    assert shop.fake.levels == {}

    outcome, said = shop.link(via, "item", SKU, ITEM)

    assert outcome == (0 if via == "cli" else 201), said
    assert waiting.id in said, "the answer names the exception the link settled"
    (settled,) = shop.missing_links(status=ExceptionStatus.RESOLVED)
    assert settled.id == waiting.id and shop.missing_links() == []
    assert [(a.action, a.actor) for a in settled.actions] == [("accept", shop.link_actor(via))]
    resolved = [
        catalog.ExceptionResolved.model_validate(data)
        for data in shop.estate.events(catalog.ExceptionResolved.event_type)
    ]
    assert [(r.exception, r.resolved_by) for r in resolved] == [(waiting.id, shop.link_actor(via))]

    if via == "cli":
        shown = shop.cli("dlq", "show", dead.id, "--json")
        assert shown.exit_code == 0, shown.output
        delivery = json.loads(shown.stdout)  # only JSON on stdout: it can be redirected to a file as it is
        assert (delivery["id"], delivery["status"]) == (dead.id, "dead")
        assert delivery["payload"]["data"]["sku"] == SKU, "the payload is part of it"
        assert shop.cli("dlq", "replay", dead.id, "--note", "item linked").exit_code == 0
    else:
        assert shop.client.post(f"/v1/deliveries/{dead.id}/replay").status_code == 200
    shop.catch_up()

    assert shop.fake.levels == {(LOCATION_ID, 808950810): 12}
    assert shop.dead() == []
    (linked,) = [r for r in shop.audit(xrefs.LINK_ACTION) if r.target == f"item:{OUT}:{SKU}"]
    assert (linked.actor, linked.details["external_id"], linked.details["resolved"]) == (
        shop.link_actor(via),
        ITEM,
        [waiting.id],
    )


# ---- what is refused -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["cli", "api"])
def test_a_link_that_contradicts_one_already_made_is_refused_naming_the_existing_pair(shop: Shop, via: str) -> None:
    shop.link(via, "item", SKU, ITEM)

    outcome, said = shop.link(via, "item", SKU, "gid://shopify/InventoryItem/1")
    other_sku, said_too = shop.link(via, "item", "IPOD2008RED", ITEM)

    assert (outcome, other_sku) == ((1, 1) if via == "cli" else (409, 409))
    for answer in (said, said_too):
        assert f"{SKU} is linked to {OUT} id {ITEM}" in " ".join(answer.split()), answer
    if via == "api":
        problem = shop.client.post(
            "/v1/xrefs", json={"kind": "item", "system": OUT, "hub_id": "IPOD2008RED", "external_id": ITEM}
        ).json()
        assert problem["code"] == "cross-reference-conflict"
        assert problem["existing"] == {"kind": "item", "system": OUT, "hub_id": SKU, "external_id": ITEM}
    with shop.hub.begin() as uow:
        assert [(r.hub_id, r.external_id) for r in uow.xrefs.find(kind="item")] == [(SKU, ITEM)]


@pytest.mark.parametrize("via", ["cli", "api"])
def test_a_link_to_a_system_the_configuration_does_not_name_is_refused_naming_the_known_ones(
    shop: Shop, via: str
) -> None:
    outcome, said = shop.link(via, "item", SKU, ITEM, system="shopify")

    assert outcome == (2 if via == "cli" else 422)
    assert "no source, destination or partner is named 'shopify'" in said and OUT in said
    if via == "api":
        assert json.loads(said)["code"] == "invalid-cross-reference"
        assert json.loads(said)["errors"][0]["where"] == "body.system"
    with shop.hub.begin() as uow:
        assert uow.xrefs.find() == []


@pytest.mark.parametrize("via", ["cli", "api"])
def test_the_same_link_again_changes_nothing(shop: Shop, via: str) -> None:
    first = shop.link(via, "item", SKU, ITEM)
    again = shop.link(via, "item", SKU, ITEM)

    if via == "cli":
        assert (first[0], again[0]) == (0, 0) and "Already linked" in again[1]
    else:
        assert (first[0], again[0]) == (201, 200)
        assert (json.loads(first[1])["created"], json.loads(again[1])["created"]) == (True, False)
    with shop.hub.begin() as uow:
        assert len(uow.xrefs.find()) == 1


def test_a_key_without_the_admin_scope_may_neither_list_nor_link(shop: Shop) -> None:
    hub = shop.hub
    _, token = cli_governance.create_key(
        hub.begin, hub.clock.now(), name="reader", scopes=["orders:read"], created_by="e2e"
    )
    headers = {"Authorization": f"Bearer {token}"}
    body = {"kind": "item", "system": OUT, "hub_id": SKU, "external_id": ITEM}

    listed = shop.client.get("/v1/xrefs", headers=headers)
    linked = shop.client.post("/v1/xrefs", json=body, headers=headers)

    assert (listed.status_code, linked.status_code) == (403, 403)
    with shop.hub.begin() as uow:
        assert uow.xrefs.find() == []


# ---- listing ---------------------------------------------------------------------------------------------------


def test_the_links_are_listed_with_filters_from_the_command_line_and_the_api(shop: Shop) -> None:
    shop.link("api", "location", "WH-NORTH", str(LOCATION_ID))
    shop.link("api", "item", SKU, ITEM)
    shop.link("api", "item", "IPOD2008RED", "gid://shopify/InventoryItem/808950811", system="wms")

    by_cli = shop.cli("xrefs", "list", "--kind", "item", "--system", OUT, "--json")
    by_api = shop.client.get("/v1/xrefs", params={"kind": "item", "system": OUT})
    of_sku = shop.client.get("/v1/xrefs", params={"hub_id": "IPOD2008RED"})
    table = shop.cli("xrefs", "list")

    assert by_cli.exit_code == 0, by_cli.output
    for answer in (json.loads(by_cli.stdout), by_api.json()):
        assert [(i["kind"], i["system"], i["hub_id"], i["external_id"]) for i in answer["items"]] == [
            ("item", OUT, SKU, ITEM)
        ]
    assert [i["system"] for i in of_sku.json()["items"]] == ["wms"]
    assert "3 cross-references" in table.output and str(LOCATION_ID) in table.output


def test_a_filter_holding_a_control_character_is_an_invalid_request_not_an_error(shop: Shop) -> None:
    response = shop.client.get("/v1/xrefs", params={"hub_id": "SKU\x00"})

    assert response.status_code == 422
    assert response.json()["code"] == "invalid-request"


# ---- a file of links ---------------------------------------------------------------------------------------------

LINKS = textwrap.dedent(
    f"""\
    kind,system,hub_id,external_id
    location,{OUT},WH-NORTH,{LOCATION_ID}
    item,{OUT},{SKU},{ITEM}
    item,shopify,IPOD2008RED,808950811
    item,{OUT},IPOD2008BLACK,
    item,{OUT},IPOD2008BLACK,{ITEM}
    item,{OUT},IPOD2008SILVER,808950899

    Items,{OUT},IPOD2008GOLD,808950898
    item,{OUT},{SKU},{ITEM}
    """
)


def test_a_file_of_links_applies_its_good_rows_and_names_the_bad_ones_by_line_and_column(
    shop: Shop, tmp_path: Path
) -> None:
    shop.link("api", "item", "IPOD2008SILVER", "808950800")  # made before: line 7 contradicts it
    with shop.hub.begin() as uow:
        xrefs.require_external_id(uow, "item", OUT, SKU, at=shop.hub.clock.now(), publish=shop.hub.processor.publish)
        uow.commit()
    (waiting,) = shop.missing_links()
    path = tmp_path / "incoming" / "links.csv"
    path.parent.mkdir()
    path.write_text(LINKS, encoding="utf-8")

    result = shop.cli("xrefs", "import", str(path), "--note", "onboarding sheet")

    assert result.exit_code == 1, result.output
    rows = {
        int(cells[0]): (cells[1], cells[2])
        for line in result.stdout.splitlines()
        if len(cells := [c.strip() for c in line.split("│") if c.strip()]) == 3 and cells[0].isdigit()
    }
    assert set(rows) == {4, 5, 6, 7, 9, 10}, "every bad row and only those, by the line it is on in the file"
    assert rows[4][0] == "system" and "'shopify'" in rows[4][1]  # no such system configured
    assert rows[5] == ("external_id", "missing")
    assert rows[6][0] == "external_id" and "line 3" in rows[6][1]  # the item id is IPOD2008GREEN's, line 3
    assert rows[7][0] == "hub_id" and "808950800" in rows[7][1]  # the sku is linked to another id already
    assert rows[9][0] == "kind"  # not a kind of link: a capital and a plural
    assert rows[10] == ("(row)", f"item {SKU} = {ITEM} appears again (first on line 3)")
    assert f"Settled exception {waiting.id}" in result.stdout
    with shop.hub.begin() as uow:
        linked = {(r.kind, r.hub_id): r.external_id for r in uow.xrefs.find()}
    assert linked == {
        ("location", "WH-NORTH"): str(LOCATION_ID),
        ("item", SKU): ITEM,
        ("item", "IPOD2008SILVER"): "808950800",
    }
    assert shop.missing_links() == []
    (kept,) = (tmp_path / "imports").iterdir()
    assert kept.read_text(encoding="utf-8") == LINKS, "the whole file is kept as it came"
    (record,) = shop.audit("xref.import")
    assert (record.actor, record.target) == ("cli:ana", kept.name)
    assert {k: record.details[k] for k in ("added", "unchanged", "rejected", "resolved")} == {
        "added": 2,
        "unchanged": 0,
        "rejected": 6,
        "resolved": [waiting.id],
    }


def test_a_file_without_the_columns_of_a_link_is_refused_as_a_whole(shop: Shop, tmp_path: Path) -> None:
    path = tmp_path / "links.csv"
    path.write_text("kind,system,hub_id\nitem,northwind-out,SKU-1\n", encoding="utf-8")

    result = shop.cli("xrefs", "import", str(path))

    assert result.exit_code == 2
    assert "line 1: the header lacks column external_id" in " ".join(result.output.split())
    with shop.hub.begin() as uow:
        assert uow.xrefs.find() == []
