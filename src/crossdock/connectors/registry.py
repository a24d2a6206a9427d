"""What a connector declares (its kind, how it reaches its system, its limits, the factories of its two sides) and
how the installed ones are found: Python packages register them under the entry-point group `crossdock.connectors`.

Must not: build anything at import time or read the configuration; bootstrap hands each factory its settings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import Any

from crossdock.hub.ports import (
    Delivery,
    InboundAdapter,
    IntakeResult,
    NewMessage,
    Poller,
    Sender,
    SendResult,
    UnitOfWorkFactory,
)

ENTRY_POINT_GROUP = "crossdock.connectors"


class ConnectorError(ValueError):
    """A connector kind is not installed, cannot be loaded, or has no side for the use it is configured for."""


class Reach(StrEnum):
    """How a connector reaches its system."""

    WEBHOOK = "webhook"  # the system posts to the hub's intake
    POLL = "poll"  # the hub asks the system what changed since a watermark
    FILE_DROP = "file-drop"  # files in a folder or on an SFTP account, both ways
    API = "api"  # the hub calls the system's API


@dataclass(frozen=True)
class Limits:
    """What the other system takes. The runtime keeps every destination of this kind within them, whatever the
    configuration asks: a configured rate or concurrency may be lower, never higher. None: no limit of its own."""

    rate_per_second: float | None = None
    burst: float | None = None  # requests the system takes at once before the rate applies
    concurrency: int | None = None  # requests in flight at once
    batch_size: int | None = None  # deliveries handed to one send() call

    def __post_init__(self) -> None:
        for name in ("rate_per_second", "burst", "concurrency", "batch_size"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConnectorError(f"a connector's {name} limit must be above zero, not {value}")


@dataclass(frozen=True)
class Setup:
    """What a factory gets: the source's or destination's name and its configuration section as plain data."""

    name: str
    settings: Mapping[str, Any]  # the whole section (kind, url, partner...) as the configuration holds it
    data_dir: Path  # where relative paths in the settings point
    partners: Mapping[str, Any] = field(default_factory=dict)  # trading partners, for connectors that speak EDI
    limits: Limits = field(default_factory=Limits)  # the limits in force: the declared ones, or tighter

    @property
    def options(self) -> Mapping[str, Any]:
        """The section's `options`: a connector's own settings (a shop's domain, an API token...)."""
        found = self.settings.get("options") or {}
        return dict(found)

    def poll_every(self, default: float) -> float:
        """Seconds between two polls of a source: its `poll_seconds`, else the connector's default."""
        configured = self.settings.get("poll_seconds")
        return float(configured) if configured is not None else default


@dataclass(frozen=True)
class Feed:
    """What a poller may use of the built hub: units of work (its watermarks, cross-references, the inbox), intake's
    preparation of a raw message (identified and keyed by the source's adapter), the durable receive, and the clock."""

    begin: UnitOfWorkFactory
    prepare: Callable[[str, bytes, Mapping[str, str], datetime], NewMessage]  # hub.intake.prepare
    receive: Callable[[str, bytes, dict[str, str]], IntakeResult]  # hub.receive: stored before it returns
    now: Callable[[], datetime]


InboundFactory = Callable[[Setup], InboundAdapter]
SenderFactory = Callable[[Setup], Sender]
PollerFactory = Callable[[Setup, Feed], Poller | None]  # None: nothing to read for this source


@dataclass(frozen=True)
class Connector:
    """One kind of connector, as a package declares it."""

    kind: str  # what `kind:` in a source or destination names
    reaches: tuple[Reach, ...]
    inbound: InboundFactory | None = None  # its side for sources: identify and map what the system sends
    sender: SenderFactory | None = None  # its side for destinations: send the hub's deliveries
    poller: PollerFactory | None = None  # for sources the hub must read (Reach.POLL, Reach.FILE_DROP): run by workers
    limits: Limits = field(default_factory=Limits)
    summary: str = ""


def installed_kinds() -> list[str]:
    """The kinds installed, without loading them."""
    return sorted({ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)})


def load(kind: str) -> Connector:
    """The connector installed under `kind`; ConnectorError names the installed ones when there is none."""
    found = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == kind]
    if not found:
        installed = ", ".join(installed_kinds()) or "none: is crossdock installed (pip install -e .)?"
        raise ConnectorError(f"no connector of kind {kind!r} is installed (installed: {installed})")
    if len({ep.value for ep in found}) > 1:
        where = ", ".join(f"{ep.value} ({_distribution(ep)})" for ep in found)
        raise ConnectorError(f"connector kind {kind!r} is registered more than once: {where}")
    entry = found[0]
    try:
        declared = entry.load()
    except Exception as exc:
        raise ConnectorError(
            f"connector {kind!r} ({entry.value}, from {_distribution(entry)}) cannot be loaded: {exc}"
        ) from exc
    if not isinstance(declared, Connector):
        raise ConnectorError(f"connector {kind!r} ({entry.value}) is a {type(declared).__name__}, not a Connector")
    if declared.kind != kind:
        raise ConnectorError(f"entry point {kind!r} ({entry.value}) declares kind {declared.kind!r}")
    return declared


def _distribution(entry: metadata.EntryPoint) -> str:
    dist = entry.dist
    return f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"


def in_batches(sender: Sender, batch_size: int | None) -> Sender:
    """The sender, handed at most `batch_size` deliveries per call."""
    return sender if batch_size is None else _Batched(sender, batch_size)


@dataclass(frozen=True)
class _Batched:
    inner: Sender
    batch_size: int

    def send(self, deliveries: Sequence[Delivery]) -> list[SendResult]:
        results: list[SendResult] = []
        for start in range(0, len(deliveries), self.batch_size):
            results.extend(self.inner.send(deliveries[start : start + self.batch_size]))
        return results

    def close(self) -> None:
        self.inner.close()
