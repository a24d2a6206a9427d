"""A local Tryton ERP for trying the hub on one machine and for the integration tests: a database built once
(company, chart of accounts, the calendar year's fiscal year, payment term, an accounting category, optionally products
and parties) and a trytond server on loopback.

Owns: building such databases and running servers over them. Only `setup()` imports trytond and proteus, and it
runs in a process of its own (`python -m crossdock.devtools.tryton setup ...`); the hub never imports this module
and speaks to Tryton over its JSON-RPC only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

MODULES = ("sale", "purchase", "account_invoice_stock", "account_stock_continental")
ADMIN = "admin"
CURRENCY = "EUR"
WAREHOUSE_CODE = "WH"  # Tryton's own default warehouse
ACCOUNT_CATEGORY = "Goods"
START_TIMEOUT = 60.0
INSTALL_HINT = "pip install -e '.[tryton]'"


@dataclass(frozen=True)
class Product:
    code: str  # the template code: the hub's sku
    name: str
    list_price: str
    stock: int  # units in storage after the build


@dataclass(frozen=True)
class Party:
    code: str  # the hub's customer or supplier number
    name: str


@dataclass(frozen=True)
class Recipe:
    """What a database holds beyond the company and its books."""

    database: str
    admin_password: str
    products: tuple[Product, ...] = ()
    parties: tuple[Party, ...] = ()

    def as_json(self) -> str:
        return json.dumps(
            {
                "database": self.database,
                "products": [vars(p) for p in self.products],
                "parties": [vars(p) for p in self.parties],
            }
        )


def bin_dir() -> Path:
    return Path(sys.executable).parent


def installed() -> bool:
    """True when trytond and trytond-admin sit beside this interpreter (the `tryton` extra)."""
    return (bin_dir() / "trytond").exists() and (bin_dir() / "trytond-admin").exists()


def installed_versions() -> list[str]:
    """Every installed trytond distribution and proteus, as name==version, sorted."""
    return sorted(
        f"{dist.metadata['Name']}=={dist.version}"
        for dist in importlib.metadata.distributions()
        if (dist.metadata["Name"] or "").lower().replace("_", "-").startswith(("trytond", "proteus"))
    )


def fiscal_year(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """A database's fiscal year: the calendar year it is built in. Tryton refuses moves (invoices, stock valuation)
    dated outside an open fiscal year, so a database is only good within its year."""
    year = (today or dt.date.today()).year
    return dt.date(year, 1, 1), dt.date(year, 12, 31)


def cache_key(contents: str, today: dt.date | None = None) -> str:
    """A hash of the installed versions, of what a database holds (`contents`) and of its fiscal year: a new version,
    other contents or a new year build anew, rather than reuse a database whose fiscal year has ended."""
    year = [day.isoformat() for day in fiscal_year(today)]
    return hashlib.sha256("\n".join([*installed_versions(), contents, *MODULES, *year]).encode()).hexdigest()[:16]


def versions_key(recipe: Recipe, today: dt.date | None = None) -> str:
    """The cache key of a recipe's database (cache_key of its JSON)."""
    return cache_key(recipe.as_json(), today)


def write_config(folder: Path, port: int | None = None) -> Path:
    lines = ["[database]", "uri = sqlite://", f"path = {folder.resolve()}", "language = en"]
    if port is not None:
        lines += ["[web]", f"listen = 127.0.0.1:{port}"]
    # Passwords are hashed with a cheap setting: a local sandbox logs in often.
    lines += ["[password]", "length = 8"]
    path = folder / "trytond.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


def database_file(folder: Path, recipe: Recipe) -> Path:
    return folder / f"{recipe.database}.sqlite"


def build(folder: Path, recipe: Recipe) -> float | None:
    """The recipe's database in `folder`, built when it is not there yet (one builder at a time). Returns the
    seconds the build took, or None when the database was already built."""
    folder.mkdir(parents=True, exist_ok=True)
    done = folder / f"{recipe.database}.sqlite.ready"
    with (folder / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return None
        started = time.perf_counter()
        _build(folder, recipe)
        seconds = round(time.perf_counter() - started, 1)
        done.write_text(json.dumps({"seconds": seconds}))
        return seconds


def _build(folder: Path, recipe: Recipe) -> None:
    for stale in folder.glob(f"{recipe.database}.sqlite*"):
        stale.unlink()
    conf = write_config(folder)
    database_file(folder, recipe).touch()  # trytond's SQLite backend opens, never creates, the file
    passfile = folder / "admin.pass"
    passfile.write_text(recipe.admin_password)
    env = {**os.environ, "TRYTONPASSFILE": str(passfile)}
    admin = [str(bin_dir() / "trytond-admin"), "-c", str(conf), "-d", recipe.database]
    _run([*admin, "--all", "--email", "admin@example.com"], env, folder / "admin-init.log")
    _run([*admin, "-u", *MODULES, "--activate-dependencies"], env, folder / "admin-modules.log")
    setup_command = [sys.executable, "-m", "crossdock.devtools.tryton", "setup", str(conf), recipe.as_json()]
    _run(setup_command, env, folder / "setup.log")
    passfile.unlink()


def _run(args: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("wb") as out:
        done = subprocess.run(args, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"building the Tryton database failed at {' '.join(args[:3])}...; see {log}")


def copy_database(source: Path, target: Path) -> None:
    """sqlite3's backup API: a consistent copy, never a torn -wal/-shm set."""
    with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


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
def running_server(folder: Path, database: str, password: str, port: int | None = None) -> Iterator[Server]:
    """A trytond on a loopback port over `folder/<database>.sqlite`; stopped (and waited for) after."""
    port = port or free_port()
    conf = write_config(folder, port)
    started = time.perf_counter()
    with (folder / "trytond.log").open("wb") as log:
        process = subprocess.Popen(
            [str(bin_dir() / "trytond"), "-c", str(conf), "-d", database],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}/", database, folder, process, 0.0)
    try:
        wait_for(server.url, database, password, process=process, log=folder / "trytond.log")
        server.started_in = time.perf_counter() - started
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def answers(url: str, database: str, password: str) -> bool:
    """True when a Tryton at `url` lets the admin log in to `database`."""
    body = {"id": 0, "method": "common.db.login", "params": [ADMIN, {"password": password}, "en"]}
    try:
        answer = httpx.post(f"{url.rstrip('/')}/{database}/rpc/", json=body, timeout=5)
        return answer.status_code == 200 and bool(answer.json().get("result"))
    except (httpx.HTTPError, ValueError):
        return False


def wait_for(
    url: str, database: str, password: str, *, process: subprocess.Popen[bytes] | None = None, log: Path | None = None
) -> None:
    """Until a login answers: the server listens before its pool is loaded."""
    deadline = time.monotonic() + START_TIMEOUT
    tail = ""
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            raise RuntimeError(f"trytond exited with {process.returncode}:\n{tail}")
        if answers(url, database, password):
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log else ""
    raise RuntimeError(f"trytond did not answer within {START_TIMEOUT:.0f}s:\n{tail}")


# ---- the setup, run in its own process by _build -------------------------------------------------------------


def setup(config_file: str, recipe_json: str) -> None:  # pragma: no cover - runs in the builder's subprocess
    from decimal import Decimal

    from proteus import Model
    from proteus import config as proteus_config
    from trytond.modules.account.tests.tools import create_chart, create_fiscalyear, get_accounts
    from trytond.modules.account_invoice.tests.tools import create_payment_term, set_fiscalyear_invoice_sequences
    from trytond.modules.account_stock_continental.tests.tools import add_stock_accounts
    from trytond.modules.company.tests.tools import create_company

    recipe = json.loads(recipe_json)
    proteus_config.set_trytond(database=recipe["database"], config_file=config_file)
    create_company(currency=CURRENCY)
    create_chart()
    # The whole calendar year, as the cache key says: Tryton's helper would otherwise end it a few months after the
    # build day, and a database kept past that would fail every posting.
    fiscalyear = set_fiscalyear_invoice_sequences(create_fiscalyear(today=fiscal_year()))
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
    if recipe["products"]:
        storage = Model.get("stock.location").find([("code", "=", "STO")])[0]
        inventory = Model.get("stock.inventory")(location=storage)
        for product in recipe["products"]:
            template = template_model(
                name=product["name"],
                code=product["code"],
                type="goods",
                default_uom=unit,
                salable=True,
                purchasable=True,
            )
            template.list_price = Decimal(product["list_price"])
            template.account_category = category
            template.cost_price_method = "fixed"
            (variant,) = template.products
            variant.cost_price = Decimal(product["list_price"]) / 2
            template.save()
            if product["stock"]:
                line = inventory.lines.new(product=template.products[0])
                line.quantity = float(product["stock"])
                line.expected_quantity = 0.0
        if inventory.lines:
            inventory.click("confirm")

    party_model = Model.get("party.party")
    for given in recipe["parties"]:
        party = party_model(code=given["code"], name=given["name"])
        party.addresses[0].street = "1 Quay Street"
        party.addresses[0].city = "Harbourtown"
        party.save()


def main(argv: Sequence[str]) -> None:  # pragma: no cover - the builder's subprocess
    if list(argv[:1]) == ["setup"] and len(argv) == 3:
        setup(argv[1], argv[2])
    else:
        raise SystemExit("usage: python -m crossdock.devtools.tryton setup CONF RECIPE_JSON")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
