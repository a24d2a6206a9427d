"""The Tryton estate the integration tests share: a trytond per test over a copy of the template database
(tests/integration/tryton/erp.py), its clerk, hubs built from a configuration beside it (the poller the one bootstrap
built for the `kind: tryton` source), and the clerks' work in Tryton, done through the same JSON-RPC client as the
Tryton desktop client would do it.

A test module takes the fixtures by assigning them to the names pytest looks for (`tryton = estate.tryton`...). With
CROSSDOCK_TEST_TRYTON_POSTGRES_URL set, every Tryton runs on that PostgreSQL server instead of SQLite (postgres.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from crossdock import bootstrap, config
from crossdock.connectors.tryton.client import TrytonClient
from crossdock.connectors.tryton.inbound import PollReport, TrytonPoller
from crossdock.connectors.tryton.outbound import EVENT_TYPES
from crossdock.domain import catalog, documents
from crossdock.domain.workflows import order_to_cash as otc
from crossdock.hub.ports import DeliveryFilter, DeliveryStatus
from crossdock.storage.sql import migrate
from tests.integration.tryton import erp, postgres

ERP = "erp"  # the Tryton source (its poller) and the name the cross-references know Tryton by
SALES = "erp-sales"  # the Tryton destination
WMS = "wms"


@pytest.fixture(scope="session")
def tryton_template(tmp_path_factory: pytest.TempPathFactory) -> erp.Template | postgres.Template:
    """The template database: on SQLite (cached under var/tryton/), or built on the PostgreSQL server
    CROSSDOCK_TEST_TRYTON_POSTGRES_URL names, once per run."""
    server = postgres.server_url()
    built = postgres.template(server, tmp_path_factory.mktemp("tryton-postgres")) if server else erp.template()
    if built.build_seconds is not None:
        print(f"Tryton template built in {built.build_seconds:.1f}s")
    return built


@pytest.fixture
def tryton(tryton_template: erp.Template | postgres.Template, tmp_path: Path) -> Iterator[erp.Server]:
    """A trytond of its own per test: started in about 1.5 s, so no test sees another's sales."""
    if isinstance(tryton_template, postgres.Template):
        with postgres.running_server(tryton_template, tmp_path / "tryton") as server:
            yield server
    else:
        with erp.running_server(tryton_template.path, tmp_path / "tryton") as server:
            yield server


@pytest.fixture
def clerk(tryton: erp.Server) -> Iterator[TrytonClient]:
    """Tryton's users, working in Tryton."""
    client = TrytonClient(tryton.url, tryton.database, erp.ADMIN, erp.ADMIN_PASSWORD)
    yield client
    client.close()


@dataclass
class Estate:
    runtime: bootstrap.Runtime

    @property
    def poller(self) -> TrytonPoller:
        """The poller bootstrap built for the `kind: tryton` source."""
        (found,) = [p for p in self.runtime.pollers if p.source == ERP]
        assert isinstance(found, TrytonPoller)
        return found

    def send(self, source: str, body: bytes, key: str) -> None:
        result = self.runtime.hub.receive(source, body, {"idempotency-key": key})
        assert result.error is None, result.error

    def work(self) -> None:
        self.runtime.hub.drain("test-worker")

    def poll(self) -> PollReport:
        report = self.poller.poll_once()
        assert report.error is None, report.error
        self.work()
        return report

    def order(self, number: str) -> otc.OrderState:
        with self.runtime.hub.begin() as uow:
            record = uow.orders.load(number)
        assert record is not None, f"the hub has no order {number}"
        return otc.OrderState.model_validate(record.state)

    def events(self, subject: str, event_type: str) -> list[dict[str, Any]]:
        with self.runtime.hub.begin() as uow:
            found = uow.log.for_subject(subject)
        return [stored.envelope.data for stored in found if stored.envelope.type == event_type]

    def dead_letters(self) -> list[str]:
        with self.runtime.hub.begin() as uow:
            dead = uow.outbox.find(DeliveryFilter(status=DeliveryStatus.DEAD))
        return [f"{d.event_type}: {d.last_error}" for d in dead]

    def log_of(self, subject: str) -> list[Any]:
        with self.runtime.hub.begin() as uow:
            return list(uow.log.for_subject(subject))

    def xref(self, kind: str, hub_id: str) -> str | None:
        with self.runtime.hub.begin() as uow:
            return uow.xrefs.external_id(kind, ERP, hub_id)


def tryton_options(tryton: erp.Server) -> dict[str, Any]:
    return {"url": tryton.url, "database": tryton.database, "username": erp.ADMIN, "password": erp.ADMIN_PASSWORD}


def hub_config(tryton: erp.Server, data_dir: Path, **sections: Any) -> dict[str, Any]:
    """The hub's configuration with Tryton as source and destination (the sales flow); `sections` replace whole
    sections, and `erp_options` / `sales_options` add to the Tryton source's and destination's options."""
    options = tryton_options(tryton)
    erp_options = {**options, **sections.pop("erp_options", {})}
    sales_options = {**options, "customers": "create", "items": "link", "warehouse": erp.WAREHOUSE_CODE}
    sales_options.update(sections.pop("sales_options", {}))
    return {
        "data_dir": str(data_dir),
        "sources": {ERP: {"kind": "tryton", "options": erp_options}, WMS: {"kind": "canonical"}},
        "destinations": {
            SALES: {
                "kind": "tryton",
                "options": sales_options,
                "retry": {"base_seconds": 0.01, "max_delay_seconds": 0.05},
            }
        },
        "subscriptions": [{"destination": SALES, "events": list(EVENT_TYPES)}],
        **sections,
    }


@pytest.fixture
def make_estate(tryton: erp.Server, tmp_path: Path) -> Iterator[Callable[..., Estate]]:
    """Hubs built from a configuration (hub_config's sections), closed after the test."""
    built: list[bootstrap.Runtime] = []

    def make(**sections: Any) -> Estate:
        runtime = bootstrap.build(
            config.load(None, environ={}, overrides=hub_config(tryton, tmp_path / "hub", **sections))
        )
        built.append(runtime)
        migrate.upgrade(runtime.engine)
        return Estate(runtime)

    yield make
    for runtime in built:
        runtime.close()


@pytest.fixture
def hub_settings() -> dict[str, Any]:
    """More hub settings for one test (parametrize it)."""
    return {}


@pytest.fixture
def estate(make_estate: Callable[..., Estate], hub_settings: dict[str, Any]) -> Estate:
    return make_estate(**hub_settings)


def stock_in_hub(estate: Estate) -> None:
    """The hub's ledger holds what Tryton's warehouse holds, so it reserves and releases the order."""
    for code, _name, _price, units in erp.PRODUCTS:
        adjusted = catalog.InventoryAdjusted(
            sku=code,
            location=erp.WAREHOUSE_CODE,
            change=documents.Quantity(value=Decimal(units), unit="EA"),
            reason=catalog.AdjustmentReason.RECEIPT,
            reference="opening stock",
        )
        body = {"specversion": "1.0", "id": f"open-{code}", "source": WMS, "type": catalog.type_of(adjusted)}
        estate.send(WMS, json.dumps({**body, "data": catalog.data_of(adjusted)}).encode(), f"open-{code}")
    estate.work()


SALE_FIELDS = ["state", "party", "party.code", "lines", "shipments", "invoices", "untaxed_amount", "description"]
SALE_FIELDS += ["shipment_address"]


def the_sale(clerk: TrytonClient, number: str) -> dict[str, Any]:
    (sale,) = clerk.search_read(
        "sale.sale",
        [("reference", "=", number)],
        SALE_FIELDS,
    )
    return sale


def ship(clerk: TrytonClient, shipment_id: int, units: dict[str, float]) -> None:
    """A clerk picks only `units` (per product code) of a customer shipment, packs and ships it."""
    (shipment,) = clerk.read("stock.shipment.out", [shipment_id], ["inventory_moves"])
    moves = clerk.read("stock.move", shipment["inventory_moves"], ["product.code", "quantity"])
    for move in moves:
        picked = units.get(move["product."]["code"], move["quantity"])
        if picked != move["quantity"]:
            clerk.write("stock.move", [move["id"]], {"quantity": picked})
    for step in ("assign_try", "pick", "pack", "do"):
        clerk.button("stock.shipment.out", step, [shipment_id])


# The hub's chart of accounts in the estates that keep books.
HUB_ACCOUNTS = {
    "receivable": "1200",
    "revenue": "4000",
    "tax_payable": "2200",
    "cogs": "5000",
    "inventory": "1400",
    "cash": "1000",
    "customer_credit": "2300",
    "payables": "2000",
    "gr_ir": "2150",
}
