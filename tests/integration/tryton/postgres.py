"""Tryton on PostgreSQL for the integration tests, when CROSSDOCK_TEST_TRYTON_POSTGRES_URL names a server (for
instance one from `scripts/postgres.sh start`): the template database (erp.py's recipe) built once per test run on
it, each test's Tryton a copy of it (CREATE DATABASE ... TEMPLATE) under a trytond of its own, dropped after.

Owns: Tryton's configuration for PostgreSQL and those databases. The build itself is crossdock.devtools.tryton's
setup, run in a process of its own as for SQLite. Must not: touch databases it did not create.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from crossdock.devtools import tryton
from tests.integration.tryton import erp

ENV = "CROSSDOCK_TEST_TRYTON_POSTGRES_URL"


def server_url() -> str | None:
    """The PostgreSQL server the Tryton tests run on, or None for SQLite (the default)."""
    return os.environ.get(ENV) or None


@dataclass(frozen=True)
class Template:
    server: str  # the PostgreSQL URL, of any database on the server
    database: str  # the template database
    build_seconds: float


def _tryton_uri(server: str) -> str:
    """trytond's uri names the server only; the database is given per process (-d)."""
    parts = urlsplit(server)
    return urlunsplit((parts.scheme, parts.netloc, "/", "", ""))


def write_config(folder: Path, server: str, port: int | None = None) -> Path:
    lines = ["[database]", f"uri = {_tryton_uri(server)}", "language = en"]
    if port is not None:
        lines += ["[web]", f"listen = 127.0.0.1:{port}"]
    lines += ["[password]", "length = 8"]
    path = folder / "trytond.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


def _admin(server: str, statement: str) -> None:
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(statement)  # names made here, never from input


def template(server: str, folder: Path) -> Template:
    """erp.py's recipe built into a new database on `server` (about a minute of CPU)."""
    started = time.perf_counter()
    name = f"{erp.DATABASE}_template_{uuid.uuid4().hex[:8]}"
    _admin(server, f'CREATE DATABASE "{name}"')
    recipe = dataclasses.replace(erp.RECIPE, database=name)
    conf = write_config(folder, server)
    passfile = folder / "admin.pass"
    passfile.write_text(recipe.admin_password)
    # proteus (the setup) takes a bare database name for SQLite unless the environment names the server.
    env = {**os.environ, "TRYTONPASSFILE": str(passfile), "TRYTOND_DATABASE_URI": _tryton_uri(server)}
    admin = [str(tryton.bin_dir() / "trytond-admin"), "-c", str(conf), "-d", name]
    steps = [
        ([*admin, "--all", "--email", "admin@example.com"], "admin-init.log"),
        ([*admin, "-u", *tryton.MODULES, "--activate-dependencies"], "admin-modules.log"),
        ([sys.executable, "-m", "crossdock.devtools.tryton", "setup", str(conf), recipe.as_json()], "setup.log"),
    ]
    for args, log in steps:
        with (folder / log).open("wb") as out:
            done = subprocess.run(args, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"building the Tryton template on PostgreSQL failed; see {folder / log}")
    passfile.unlink()
    return Template(server, name, round(time.perf_counter() - started, 1))


@contextlib.contextmanager
def running_server(built: Template, folder: Path) -> Iterator[erp.Server]:
    """A trytond on a free loopback port over a fresh copy of the template; stopped, and the copy dropped, after."""
    folder.mkdir(parents=True, exist_ok=True)
    database = f"{erp.DATABASE}_{uuid.uuid4().hex[:8]}"
    _admin(built.server, f'CREATE DATABASE "{database}" TEMPLATE "{built.database}"')
    port = tryton.free_port()
    conf = write_config(folder, built.server, port)
    started = time.perf_counter()
    with (folder / "trytond.log").open("wb") as log:
        process = subprocess.Popen(
            [str(tryton.bin_dir() / "trytond"), "-c", str(conf), "-d", database],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = erp.Server(f"http://127.0.0.1:{port}/", database, folder, process, 0.0)
    try:
        tryton.wait_for(server.url, database, erp.ADMIN_PASSWORD, process=process, log=folder / "trytond.log")
        server.started_in = time.perf_counter() - started
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        _admin(built.server, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
