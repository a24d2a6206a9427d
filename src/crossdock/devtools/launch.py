"""What `make run` runs: `crossdock run` on the example estate, with a local Tryton beside it when the estate has a
Tryton destination and trytond is installed (its database built once under <data_dir>/tryton/), else without that
destination and a one-line hint on installing it.

Must not: import trytond (devtools.tryton runs it in processes of its own), or change anything `crossdock run` does.
Usage: python -m crossdock.devtools.launch [crossdock run options...]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr

from crossdock import config
from crossdock.devtools import tryton

ESTATE = Path("examples/northwind/crossdock.yaml")
TRYTON_KIND = "tryton"


def given_config(argv: Sequence[str]) -> Path | None:
    """The --config/-c among `crossdock run`'s arguments, if any."""
    for index, arg in enumerate(argv):
        if arg in ("--config", "-c") and index + 1 < len(argv):
            return Path(argv[index + 1])
        if arg.startswith("--config="):
            return Path(arg.split("=", 1)[1])
    return None


def chosen_config(argv: Sequence[str], environ: Mapping[str, str]) -> Path | None:
    """The configuration `crossdock run` will read: --config/-c, else CROSSDOCK_CONFIG, else the example estate when
    it is there (a clone of the repository); None leaves the choice to `crossdock run`."""
    given = given_config(argv)
    if given is not None:
        return given
    if environ.get("CROSSDOCK_CONFIG"):
        return Path(environ["CROSSDOCK_CONFIG"])
    return ESTATE if ESTATE.exists() else None


def recipe_of(settings: config.Settings, database: str, password: str) -> tryton.Recipe:
    """The ERP's masters as the estate's reference data has them: its customers as parties and its items as products
    (at the default price list's prices), so that the Tryton destination links to them."""
    reference = settings.reference
    prices = reference.price_lists.get(reference.default_price_list or "")
    return tryton.Recipe(
        database=database,
        admin_password=password,
        products=tuple(
            tryton.Product(
                code=item.sku,
                name=item.description or item.sku,
                list_price=str(prices.prices.get(item.sku, 0) if prices else 0),
                stock=0,
            )
            for item in reference.items
        ),
        parties=tuple(tryton.Party(code=c.number, name=c.name or c.number) for c in reference.customers),
    )


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


@contextmanager
def local_tryton(settings: config.Settings, name: str, environ: MutableMapping[str, str]) -> Iterator[None]:
    """Tryton for the destination `name`: already answering at its url, or started here over a database built once;
    when it cannot be had, the destination is switched off for this run (in `environ`) with one line saying why."""
    options = settings.destinations[name].options
    url, database = str(options.get("url", "")), str(options.get("database", ""))
    password = options.get("password")
    secret = str(password.get_secret_value() if isinstance(password, SecretStr) else password or "")
    switch_off = f"{config.ENV_PREFIX}DESTINATIONS__{name.upper()}__ENABLED"
    parts = urlsplit(url)
    if not tryton.installed():
        _say(f"Tryton is not installed: running without the ERP destination {name!r} ({tryton.INSTALL_HINT} adds it).")
        environ[switch_off] = "false"
        yield
        return
    if parts.hostname not in ("127.0.0.1", "localhost") or not parts.port or not database:
        yield  # a Tryton elsewhere is that system's business, not this launcher's
        return
    if tryton.answers(url, database, secret):
        _say(f"Tryton already answers at {url} (database {database}).")
        yield
        return
    if tryton.port_in_use(parts.port):
        _say(f"Port {parts.port} is held by something else: running without the ERP destination {name!r}.")
        environ[switch_off] = "false"
        yield
        return
    recipe = recipe_of(settings, database, secret)
    # A new recipe (other masters, other trytond versions) gets a database of its own; the old one stays as it was.
    folder = settings.data_dir / "tryton" / f"{database}-{tryton.versions_key(recipe)}"
    if not (folder / f"{database}.sqlite.ready").exists():
        _say(f"Building the local Tryton database {database} once under {folder} (about a minute)...")
    with ExitStack() as running:
        try:
            tryton.build(folder, recipe)
            server = running.enter_context(tryton.running_server(folder, database, secret, port=parts.port))
        except RuntimeError as exc:
            _say(f"The local Tryton did not start ({exc}); running without the ERP destination {name!r}.")
            environ[switch_off] = "false"
        else:
            _say(f"Tryton {database} listening on {server.url} (log: {folder / 'trytond.log'}).")
        yield


def main(argv: Sequence[str]) -> int:
    from crossdock.entrypoints import cli

    environ = os.environ
    path = chosen_config(argv, environ)
    args = list(argv)
    if path is not None and given_config(argv) is None:
        args = ["--config", str(path), *args]
    with ExitStack() as stack:
        if path is not None:
            try:
                settings = config.load(path)
            except config.ConfigError as exc:
                _say(str(exc))
                return 2
            for name, destination in settings.destinations.items():
                if destination.kind == TRYTON_KIND and destination.enabled:
                    stack.enter_context(local_tryton(settings, name, environ))
        try:
            cli.app(["run", *args], standalone_mode=True)
        except SystemExit as done:
            return int(done.code or 0) if not isinstance(done.code, str) else 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
