"""A third-party warehouse by files: releases out as X12 940s or CSV shipping orders, shipment confirmations (945 or
CSV) in, and daily stock snapshots reconciled against the ledger. Its folders (or SFTP account), ids and location are
its trading-partner profile's (`partner:`); README.md documents the files."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crossdock.connectors.edi import profiles as edi_profiles
from crossdock.connectors.edi.inbound import EdiInbound
from crossdock.connectors.edi.outbound import EdiSender
from crossdock.connectors.files.poller import FilePoller
from crossdock.connectors.registry import Connector, Feed, Reach, Setup
from crossdock.connectors.threepl.client import DEFAULT_SNAPSHOTS, Stream
from crossdock.connectors.threepl.inbound import Format, ThreePlInbound
from crossdock.connectors.threepl.outbound import ThreePlSender
from crossdock.connectors.threepl.snapshots import SnapshotPoller
from crossdock.connectors.threepl.wiring import ThreePlFolder
from crossdock.hub.ports import InboundAdapter, Poller, Sender

FORMATS = ("x12", "csv")


def profile(setup: Setup, where: str) -> edi_profiles.Profile:
    partner = setup.settings.get("partner")
    if partner is None or partner not in setup.partners:
        raise ValueError(f"{where}: a 3pl needs `partner:` naming its profile (known: {sorted(setup.partners)})")
    found = edi_profiles.Profile(partner, setup.partners[partner])
    if found.role != "3pl":
        raise ValueError(f"{where}: partner {partner} is a {found.role}, not a 3pl")
    return found


def file_format(options: Mapping[str, Any], where: str) -> Format:
    given = options.get("format", "x12")
    if given not in FORMATS:
        raise ValueError(f"{where}.options.format: {given!r} is not one of {', '.join(FORMATS)}")
    return "csv" if given == "csv" else "x12"


def location(found: edi_profiles.Profile, options: Mapping[str, Any], where: str) -> str:
    value = options.get("location") or found.settings.location
    if not value:
        raise ValueError(f"{where}: the 3PL's location is not set (partner's `location` or options.location)")
    return str(value)


def snapshot_pattern(options: Mapping[str, Any]) -> str:
    return str(options.get("snapshots") or DEFAULT_SNAPSHOTS)


def _inbound(setup: Setup) -> InboundAdapter:
    where = f"sources.{setup.name}"
    found = profile(setup, where)
    chosen = file_format(setup.options, where)
    if chosen == "x12" and found.standard != "x12":
        raise ValueError(f"{where}: partner {found.name} speaks {found.standard}; a 3pl reads X12 or CSV files")
    edi = EdiInbound(setup.name, found) if chosen == "x12" else None
    return ThreePlInbound(setup.name, chosen, location(found, setup.options, where), edi)


def _sender(setup: Setup) -> Sender:
    where = f"destinations.{setup.name}"
    found = profile(setup, where)
    chosen = file_format(setup.options, where)
    transport = found.transport(setup.data_dir)
    if transport is None:
        raise ValueError(f"{where}: partner {found.name} has no transport (a folder `path` or `sftp`) to write to")
    edi = EdiSender(found, transport) if chosen == "x12" else None
    return ThreePlSender(setup.name, chosen, location(found, setup.options, where), transport, edi)


def _poller(setup: Setup, feed: Feed) -> Poller | None:
    """The 3PL's inbound files: snapshots (named by options.snapshots) to the reconciliation, the rest to intake. The
    reconciliation is handed over once the hub is built (wiring.wire)."""
    where = f"sources.{setup.name}"
    found = profile(setup, where)
    transport = found.transport(setup.data_dir)
    if transport is None:
        return None
    spec = found.settings.transport
    settle = spec.settle_seconds if spec is not None else 2.0
    pattern = snapshot_pattern(setup.options)
    files = FilePoller(
        Stream(transport, pattern, snapshots=False, owner=True), setup.name, feed.receive, settle_seconds=settle,
        now=feed.now,
    )  # fmt: skip
    counts = SnapshotPoller(
        Stream(transport, pattern, snapshots=True, owner=False),
        setup.name,
        None,
        location(found, setup.options, where),
        settle_seconds=settle,
        now=feed.now,
    )
    return ThreePlFolder(files, counts, setup.poll_every(spec.poll_seconds if spec is not None else 5.0))


CONNECTOR = Connector(
    kind="3pl",
    reaches=(Reach.FILE_DROP,),
    inbound=_inbound,
    sender=_sender,
    poller=_poller,
    summary="a 3PL by files: 940 or CSV shipping orders out; 945 or CSV confirmations and stock snapshots in",
)
