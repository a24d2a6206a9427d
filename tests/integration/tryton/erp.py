"""A real Tryton ERP for the integration tests: a template database built once (cached under var/tryton/ by the
installed trytond versions, its contents and the fiscal year it holds) and a trytond server on a loopback port over a
copy of it.

Owns: what the template holds (the recipe below, for the tests to refer to). Building it and running servers is
crossdock.devtools.tryton's, which `make run` uses too; its setup imports trytond and proteus in a process of its own:
the hub never does, it only speaks Tryton's JSON-RPC. `python -m tests.integration.tryton.erp build` builds it ahead.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from crossdock.devtools import tryton

ROOT = Path(__file__).resolve().parents[3]
CACHE = ROOT / "var" / "tryton"
DATABASE = "erp"
ADMIN = tryton.ADMIN
ADMIN_PASSWORD = "crossdock-admin"  # a throwaway database on loopback

# What the template holds, for the tests to refer to.
COMPANY_CURRENCY = tryton.CURRENCY
WAREHOUSE_CODE = tryton.WAREHOUSE_CODE  # Tryton's own default warehouse
KNOWN_CUSTOMER = ("C-100", "Harbour Foods")  # (party code, name)
PRODUCTS = (
    # (template code, name, list price, units in storage)
    ("A-100", "Widget", "12.50", 8),
    ("B-200", "Gadget", "4.00", 50),
)
SUPPLIER = ("V-300", "Northern Supply")
ACCOUNT_CATEGORY = tryton.ACCOUNT_CATEGORY
RECIPE = tryton.Recipe(
    database=DATABASE,
    admin_password=ADMIN_PASSWORD,
    products=tuple(
        tryton.Product(code=code, name=name, list_price=price, stock=stock) for code, name, price, stock in PRODUCTS
    ),
    parties=tuple(tryton.Party(code=code, name=name) for code, name in (KNOWN_CUSTOMER, SUPPLIER)),
)

Server = tryton.Server
installed = tryton.installed
fiscal_year = tryton.fiscal_year


def versions_key(today: dt.date | None = None) -> str:
    """The template's cache key: the installed trytond versions, its products and its fiscal year (a new version, or
    a new year, builds a new template rather than reusing one whose fiscal year has ended)."""
    return tryton.cache_key(json.dumps(PRODUCTS), today)


@dataclass(frozen=True)
class Template:
    path: Path  # the cleanly closed SQLite file
    build_seconds: float | None  # None: taken from the cache


def template() -> Template:
    """The cached template database, built first when this key has none (one builder at a time)."""
    folder = CACHE / versions_key()
    seconds = tryton.build(folder, RECIPE)
    return Template(tryton.database_file(folder, RECIPE), seconds)


@contextlib.contextmanager
def running_server(template_path: Path, folder: Path) -> Iterator[Server]:
    """A trytond on a free loopback port over a fresh copy of the template; stopped (and waited for) after."""
    folder.mkdir(parents=True, exist_ok=True)
    tryton.copy_database(template_path, folder / f"{DATABASE}.sqlite")
    with tryton.running_server(folder, DATABASE, ADMIN_PASSWORD) as server:
        yield server


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:2] != ["build"]:
        raise SystemExit("usage: python -m tests.integration.tryton.erp build")
    built = template()
    print(built.path, "built in" if built.build_seconds else "cached", built.build_seconds or "")
