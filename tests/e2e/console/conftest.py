"""The console in a real browser: a hub on SQLite seeded with an order-to-cash flow (orders, a rejected order's
exception, dead letters to an ERP that refuses everything), served by uvicorn on 127.0.0.1, driven by Playwright
through Debian's headless Chromium. Screenshots go to var/test-artifacts/console/.

The browser is installed by scripts/install-system-deps.sh (Debian's chromium package); a missing browser fails the
tests, it never skips them.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from crossdock import bootstrap, config
from crossdock.entrypoints import cli_governance
from crossdock.entrypoints.api.app import create_app
from crossdock.hub import governance
from crossdock.hub.ports import ApiKey, DeliveryFilter, DeliveryStatus
from crossdock.storage.sql import migrate
from tests.e2e.conftest import SinkServer, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[3] / "var" / "test-artifacts" / "console"
ACCOUNTS = {
    "receivable": "1200",
    "revenue": "4000",
    "tax_payable": "2200",
    "cogs": "5000",
    "inventory": "1400",
    "cash": "1000",
    "customer_credit": "2300",
}
OWNER = "console-e2e"


@dataclass
class ConsoleHub:
    runtime: bootstrap.Runtime
    url: str  # the console's address: http://127.0.0.1:PORT/console
    admin: ApiKey
    admin_token: str
    reader_token: str  # a valid key without the admin scope
    sink: SinkServer

    def dead(self) -> list[str]:
        with self.runtime.hub.begin() as uow:
            return [d.id for d in uow.outbox.find(DeliveryFilter(status=DeliveryStatus.DEAD, limit=10_000))]

    def drain(self) -> None:
        self.runtime.hub.drain(OWNER)


def _settings(data_dir: Path, sink_url: str) -> config.Settings:
    return config.load(
        None,
        environ={},
        overrides={
            "data_dir": str(data_dir),
            "sources": {"wms": {"kind": "canonical"}},
            "accounting": {"accounts": ACCOUNTS, "unit_costs": {"A": "2.50"}},
            "reference": {"customers": [{"number": "C1", "currency": "EUR", "credit_limit": "100000"}]},
            "destinations": {
                "erp": {"kind": "webhook", "url": f"{sink_url}/erp", "retry": {"max_attempts": 2}},
            },
            "subscriptions": [{"destination": "erp", "events": ["crossdock.order.*"]}],
        },
    )


def _order(number: str, customer: str, quantity: int) -> bytes:
    return json.dumps(
        {
            "number": number,
            "customer": customer,
            "channel": "webshop",
            "currency": "EUR",
            "lines": [
                {"line": 1, "sku": "A", "quantity": {"value": str(quantity), "unit": "EA"}, "unit_price": "9.50"}
            ],
        }
    ).encode()


def _seed(runtime: bootstrap.Runtime, sink: SinkServer) -> None:
    """Stock, two orders that go through and one from a customer the hub does not know (rejected: an exception for
    customer service). The ERP takes the first order's events, then answers 400 to everything: the later orders'
    events are dead letters."""
    hub = runtime.hub
    receipt = {
        "specversion": "1.0",
        "id": "rcpt-1",
        "source": "wms",
        "type": "crossdock.inventory.adjusted.v1",
        "data": {"sku": "A", "location": "WH1", "change": {"value": "50", "unit": "EA"}, "reason": "receipt"},
    }
    hub.receive("wms", json.dumps(receipt).encode(), {})
    for number, customer, quantity in (("SO-1", "C1", 4), ("SO-2", "C1", 6), ("SO-3", "NOBODY", 1)):
        hub.receive(bootstrap.ORDERS_API_SOURCE, _order(number, customer, quantity), {"idempotency-key": number})
        hub.drain(OWNER)
        sink.program(always={"status": 400})


class _Server:
    """uvicorn on a thread of this process, so the test can read the same stores the pages show."""

    def __init__(self, app: Any, port: int) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, name="console-uvicorn", daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start serving the console")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture(scope="module")
def console_hub(sink_server: SinkServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleHub]:
    sink_server.reset()
    data_dir = tmp_path_factory.mktemp("console")
    runtime = bootstrap.build(_settings(data_dir, sink_server.url))
    try:
        migrate.upgrade(runtime.engine)
        now = runtime.hub.clock.now()
        admin, admin_token = cli_governance.create_key(
            runtime.hub.begin, now, name="ops-ana", scopes=[governance.ADMIN], created_by="e2e"
        )
        _, reader_token = cli_governance.create_key(
            runtime.hub.begin, now, name="portal", scopes=[governance.ORDERS_READ], created_by="e2e"
        )
        _seed(runtime, sink_server)
        port = free_port()
        with _Server(create_app(runtime), port):
            yield ConsoleHub(runtime, f"http://127.0.0.1:{port}/console", admin, admin_token, reader_token, sink_server)
    finally:
        runtime.close()
        sink_server.reset()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the console tests drive Debian's chromium package; "
            "run scripts/install-system-deps.sh (as root) to install it"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: install the dev extra (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context per test: no cookie carries over."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


def sign_in(page: Any, hub: ConsoleHub, token: str | None = None, path: str = "/") -> None:
    page.goto(f"{hub.url}{path}")
    page.fill("input[name=key]", token or hub.admin_token)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def console_get(hub: ConsoleHub, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(f"{hub.url}{path}", follow_redirects=False, timeout=10, **kwargs)
