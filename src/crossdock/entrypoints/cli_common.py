"""What the `crossdock` subcommand modules share: the --config, --data-dir and --json options, and the runtime a
command opens (the main command's `opened`: settings loaded, schema checked, closed after).

Must not: import the main command when imported itself, since the main command imports the subcommand modules to
register them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from crossdock import bootstrap

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML configuration file.", envvar="CROSSDOCK_CONFIG")
]
DataDirOption = Annotated[Path | None, typer.Option("--data-dir", help="Where the SQLite file and outputs live.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@contextmanager
def opened(config_path: Path | None, data_dir: Path | None, *, upgrade: bool = False) -> Iterator[bootstrap.Runtime]:
    from crossdock.entrypoints import cli

    with cli.opened(config_path, data_dir, upgrade=upgrade) as runtime:
        yield runtime
