"""A real Tryton ERP for the integration tests: a template database built once (cached under var/tryton/ by the
installed trytond versions) and a trytond server on a loopback port over a copy of it.

Owns: building the template and running servers. The setup half (`python -m tests.integration.tryton.erp build`)
imports trytond and proteus, in its own process: the hub never does, it only speaks Tryton's JSON-RPC.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[3]
CACHE = ROOT / "var" / "tryton"
DATABASE = "erp"
ADMIN = "admin"
ADMIN_PASSWORD = "crossdock-admin"  # a throwaway database on loopback
MODULES = ("sale", "purchase", "account_invoice_stock", "account_stock_continental")
BIN = Path(sys.executable).parent
START_TIMEOUT = 60.0

# What the template holds, for the tests to refer to.
COMPANY_CURRENCY = "EUR"
WAREHOUSE_CODE = "WH"  # Tryton's own default warehouse
KNOWN_CUSTOMER = ("C-100", "Harbour Foods")  # (party code, name)
PRODUCTS = (
    # (template code, name, list price, units in storage)
    ("A-100", "Widget", "12.50", 8),
    ("B-200", "Gadget", "4.00", 50),
)
SUPPLIER = ("V-300", "Northern Supply")
ACCOUNT_CATEGORY = "Goods"


def versions_key() -> str:
    """A hash of every installed trytond distribution and proteus: a new version builds a new template."""
    found = sorted(
        f"{dist.metadata['Name']}=={dist.version}"
        for dist in importlib.metadata.distributions()
        if (dist.metadata["Name"] or "").lower().replace("_", "-").startswith(("trytond", "proteus"))
    )
    return hashlib.sha256("\n".join([*found, json.dumps(PRODUCTS), *MODULES]).encode()).hexdigest()[:16]


def installed() -> bool:
    return (BIN / "trytond").exists() and (BIN / "trytond-admin").exists()


def write_config(folder: Path, port: int | None = None) -> Path:
    lines = ["[database]", "uri = sqlite://", f"path = {folder}", "language = en"]
    if port is not None:
        lines += ["[web]", f"listen = 127.0.0.1:{port}"]
    # Passwords are hashed with a cheap setting: logins are part of every test's cost.
    lines += ["[password]", "length = 8"]
    path = folder / "trytond.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass(frozen=True)
class Template:
    path: Path  # the cleanly closed SQLite file
    build_seconds: float | None  # None: taken from the cache


def template() -> Template:
    """The cached template database, built first when this set of versions has none (one builder at a time)."""
    folder = CACHE / versions_key()
    folder.mkdir(parents=True, exist_ok=True)
    done = folder / f"{DATABASE}.sqlite.ready"
    with (folder / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return Template(folder / f"{DATABASE}.sqlite", None)
        started = time.perf_counter()
        _build(folder)
        done.write_text(json.dumps({"seconds": round(time.perf_counter() - started, 1)}))
        return Template(folder / f"{DATABASE}.sqlite", time.perf_counter() - started)


def _build(folder: Path) -> None:
    for stale in folder.glob(f"{DATABASE}.sqlite*"):
        stale.unlink()
    conf = write_config(folder)
    (folder / f"{DATABASE}.sqlite").touch()  # trytond's SQLite backend opens, never creates, the file
    passfile = folder / "admin.pass"
    passfile.write_text(ADMIN_PASSWORD)
    env = {**os.environ, "TRYTONPASSFILE": str(passfile)}
    admin = [str(BIN / "trytond-admin"), "-c", str(conf), "-d", DATABASE]
    _run([*admin, "--all", "--email", "admin@example.com"], env, folder / "admin-init.log")
    _run([*admin, "-u", *MODULES, "--activate-dependencies"], env, folder / "admin-modules.log")
    _run([sys.executable, "-m", "tests.integration.tryton.erp", "setup", str(conf)], env, folder / "setup.log")


def _run(args: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("wb") as out:
        done = subprocess.run(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"building the Tryton template failed at {' '.join(args[:3])}...; see {log}")


def copy_database(source: Path, target: Path) -> None:
    """sqlite3's backup API: a consistent copy, never a torn -wal/-shm set."""
    with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str  # http://127.0.0.1:PORT/
    database: str
    folder: Path
    process: subprocess.Popen[bytes]
    started_in: float

    def log(self) -> str:
        return (self.folder / "trytond.log").read_text(errors="replace")


@contextlib.contextmanager
def running_server(template_path: Path, folder: Path) -> Iterator[Server]:
    """A trytond on a free loopback port over a fresh copy of the template; stopped (and waited for) after."""
    folder.mkdir(parents=True, exist_ok=True)
    copy_database(template_path, folder / f"{DATABASE}.sqlite")
    port = free_port()
    conf = write_config(folder, port)
    started = time.perf_counter()
    with (folder / "trytond.log").open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "trytond"), "-c", str(conf), "-d", DATABASE],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}/", DATABASE, folder, process, 0.0)
    try:
        _wait_for(server)
        server.started_in = time.perf_counter() - started
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for(server: Server) -> None:
    """Until a login answers: the server listens before its pool is loaded."""
    deadline = time.monotonic() + START_TIMEOUT
    body = {"id": 0, "method": "common.db.login", "params": [ADMIN, {"password": ADMIN_PASSWORD}, "en"]}
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"trytond exited with {server.process.returncode}:\n{server.log()[-3000:]}")
        try:
            answer = httpx.post(f"{server.url}{server.database}/rpc/", json=body, timeout=5)
            if answer.status_code == 200 and answer.json().get("result"):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"trytond did not answer within {START_TIMEOUT:.0f}s:\n{server.log()[-3000:]}")


# ---- the setup, run in its own process by _build -------------------------------------------------------------


def setup(config_file: str) -> None:  # pragma: no cover - runs in the builder's subprocess
    import datetime as dt
    from decimal import Decimal

    from proteus import Model
    from proteus import config as proteus_config
    from trytond.modules.account.tests.tools import create_chart, create_fiscalyear, get_accounts
    from trytond.modules.account_invoice.tests.tools import create_payment_term, set_fiscalyear_invoice_sequences
    from trytond.modules.account_stock_continental.tests.tools import add_stock_accounts
    from trytond.modules.company.tests.tools import create_company

    proteus_config.set_trytond(database=DATABASE, config_file=config_file)
    create_company(currency=COMPANY_CURRENCY)
    create_chart()
    today = dt.date.today()
    fiscalyear = set_fiscalyear_invoice_sequences(create_fiscalyear(today=(today.replace(month=1, day=1), today)))
    fiscalyear.account_stock_method = "continental"
    fiscalyear.click("create_period")
    accounts = add_stock_accounts(get_accounts())

    payment_term = create_payment_term()
    payment_term.save()
    configuration = Model.get("account.configuration")(1)
    configuration.default_customer_payment_term = payment_term
    configuration.save()

    category = Model.get("product.category")(name=ACCOUNT_CATEGORY, accounting=True)
    category.account_expense = accounts["expense"]
    category.account_revenue = accounts["revenue"]
    category.account_stock = accounts["stock"]
    category.account_stock_in = accounts["stock_expense"]
    category.account_stock_out = accounts["stock_expense"]
    category.save()

    unit = Model.get("product.uom").find([("symbol", "=", "u")])[0]
    template_model = Model.get("product.template")
    storage = Model.get("stock.location").find([("code", "=", "STO")])[0]
    inventory = Model.get("stock.inventory")(location=storage)
    for code, name, price, stock in PRODUCTS:
        template = template_model(name=name, code=code, type="goods", default_uom=unit, salable=True, purchasable=True)
        template.list_price = Decimal(price)
        template.account_category = category
        template.cost_price_method = "fixed"
        (product,) = template.products
        product.cost_price = Decimal(price) / 2
        template.save()
        line = inventory.lines.new(product=template.products[0])
        line.quantity = float(stock)
        line.expected_quantity = 0.0
    inventory.click("confirm")

    party_model = Model.get("party.party")
    for code, name in (KNOWN_CUSTOMER, SUPPLIER):
        party = party_model(code=code, name=name)
        party.addresses[0].street = "1 Quay Street"
        party.addresses[0].city = "Harbourtown"
        party.save()


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:2] == ["setup"]:
        setup(sys.argv[2])
    elif sys.argv[1:2] == ["build"]:
        built = template()
        print(built.path, "built in" if built.build_seconds else "cached", built.build_seconds or "")
    else:
        raise SystemExit("usage: python -m tests.integration.tryton.erp build | setup CONF")
