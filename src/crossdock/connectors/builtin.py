"""The connectors that ship with Crossdock, declared as any installed package declares its own (pyproject.toml
registers each under the entry-point group `crossdock.connectors`).

Must not: hold mapping or transport code; each connector's own package does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossdock.connectors.canonical.inbound import CanonicalInbound
from crossdock.connectors.edi import profiles as edi_profiles
from crossdock.connectors.edi.inbound import EdiInbound
from crossdock.connectors.edi.outbound import EdiSender
from crossdock.connectors.files.poller import FilePoller
from crossdock.connectors.generic.inbound import GenericInbound
from crossdock.connectors.generic.mapping import GenericMapping
from crossdock.connectors.generic.outbound import JsonLinesSender, WebhookSender
from crossdock.connectors.registry import Connector, Feed, Reach, Setup
from crossdock.hub.ports import InboundAdapter, Polled, Poller, Sender

_GENERIC_RULES = ("format", "event_type", "subject_field", "partition_field", "id_field")


def _generic_inbound(setup: Setup) -> InboundAdapter:
    rules: dict[str, Any] = {name: setup.settings[name] for name in _GENERIC_RULES if name in setup.settings}
    if rules.get("event_type") is None:
        rules.pop("event_type", None)  # the mapping's default type
    return GenericInbound(source=setup.name, rules=GenericMapping(**rules))


def _canonical_inbound(setup: Setup) -> InboundAdapter:
    s = setup.settings
    return CanonicalInbound(source=setup.name, event_type=s.get("event_type"), document_field=s.get("document_field"))


def _profile(setup: Setup) -> edi_profiles.Profile:
    partner = setup.settings.get("partner")
    if partner is None or partner not in setup.partners:
        raise ValueError(f"{setup.name}: partner {partner!r} is not configured (known: {sorted(setup.partners)})")
    return edi_profiles.Profile(partner, setup.partners[partner])


def _edi_inbound(setup: Setup) -> InboundAdapter:
    return EdiInbound(setup.name, _profile(setup))


def _edi_sender(setup: Setup) -> Sender:
    profile = _profile(setup)
    transport = profile.transport(setup.data_dir)
    if transport is None:
        raise ValueError(f"partner {profile.name} has no transport for its edi destination to write to")
    return EdiSender(profile, transport)


@dataclass
class PartnerFolder:
    """An EDI source's partner folder (or SFTP account) as the worker polls it: one FilePoller pass per poll."""

    files: FilePoller
    every: float

    @property
    def source(self) -> str:
        return self.files.source

    def poll(self) -> Polled:
        done = self.files.poll_once()
        trouble = done.listing_error or "; ".join(f"{name}: {why}" for name, why in done.failed.items()) or None
        return Polled(taken_in=len(done.archived), refused=len(done.rejected), error=trouble)

    def close(self) -> None:
        self.files.transport.close()


def _edi_poller(setup: Setup, feed: Feed) -> Poller | None:
    """The partner's inbound files feed the source, when the partner has a folder or an SFTP account."""
    profile = _profile(setup)
    transport = profile.transport(setup.data_dir)
    if transport is None:
        return None
    spec = profile.settings.transport
    settle = spec.settle_seconds if spec is not None else 2.0
    every = setup.poll_every(spec.poll_seconds if spec is not None else 5.0)
    return PartnerFolder(FilePoller(transport, setup.name, feed.receive, settle_seconds=settle, now=feed.now), every)


def _webhook_sender(setup: Setup) -> Sender:
    s = setup.settings
    secret = s.get("secret")
    return WebhookSender(
        s["url"],
        timeout_seconds=s.get("timeout_seconds", 10.0),
        secret=secret.get_secret_value() if secret is not None else None,
        headers={name: value.get_secret_value() for name, value in (s.get("headers") or {}).items()},
        max_connections=setup.limits.concurrency or 16,
    )


def _jsonl_sender(setup: Setup) -> Sender:
    path = Path(setup.settings["path"])
    return JsonLinesSender(path if path.is_absolute() else setup.data_dir / path)


GENERIC = Connector(
    kind="generic",
    reaches=(Reach.WEBHOOK,),
    inbound=_generic_inbound,
    summary="any JSON or raw payload posted to the intake, wrapped in one event type",
)
CANONICAL = Connector(
    kind="canonical",
    reaches=(Reach.WEBHOOK,),
    inbound=_canonical_inbound,
    summary="the catalogue's own documents and CloudEvents posted to the intake",
)
EDI = Connector(
    kind="edi",
    reaches=(Reach.FILE_DROP,),
    inbound=_edi_inbound,
    sender=_edi_sender,
    poller=_edi_poller,
    summary="X12 and EDIFACT interchanges with a trading partner, through its folders or SFTP account",
)
WEBHOOK = Connector(
    kind="webhook",
    reaches=(Reach.API,),
    sender=_webhook_sender,
    summary="each delivery POSTed as JSON to a URL, signed when a secret is set",
)
JSONL = Connector(
    kind="jsonl",
    reaches=(Reach.FILE_DROP,),
    sender=_jsonl_sender,
    summary="each delivery appended as one JSON line to a file",
)
