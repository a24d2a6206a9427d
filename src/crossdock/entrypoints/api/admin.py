"""The admin API over connectors and trading partners: each source's and destination's health, last message or
delivery, breaker and backlog (hub/dashboard.py computes them, for the console too), and each partner's profile
with its interchange traffic and open acknowledgement exceptions (hub.views).

Owns: these routes, their response models, and which profile fields are shown: never a secret, a password, a key
file or a login. Must not: compute health or traffic itself, or write anything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from crossdock.bootstrap import ORDERS_API_SOURCE, Runtime
from crossdock.config import PartnerSettings
from crossdock.entrypoints.api import auth, problems
from crossdock.hub import dashboard, governance, views

BUILT_IN = "built-in"  # the kind of the orders API's own source, which configuration does not name


class Source(BaseModel):
    name: str
    kind: str
    health: str = Field(description="ok, failing (failed messages kept), or idle (nothing received yet).")
    last_message_at: datetime | None
    pending: int = Field(description="Received and not processed yet: the backlog.")
    failed: int
    capped: bool = Field(description="A count reached the scan limit: the figures are lower bounds.")


class Destination(BaseModel):
    name: str
    kind: str
    health: str = Field(description="ok, degraded (failures or dead letters), or down (breaker open).")
    breaker: str = Field(description="closed, open or half_open, as every worker shares it.")
    failures: int = Field(description="Consecutive failures counted by the breaker.")
    open_until: datetime | None
    pending: int = Field(description="Deliveries waiting to be sent: the backlog.")
    dead: int
    last_delivered_at: datetime | None = Field(description="The latest delivery in the last hour.")
    capped: bool


class Watermark(BaseModel):
    connector: str
    stream: str
    value: str
    moved_at: datetime


class Connectors(BaseModel):
    sources: list[Source]
    destinations: list[Destination]
    watermarks: list[Watermark] = Field(description="How far each polling connector has read.")


class Transport(BaseModel):
    kind: str = Field(description="folder or sftp")
    host: str | None
    poll_seconds: float
    expect_every_minutes: float | None


class LastReceived(BaseModel):
    source: str
    message_id: int
    status: str
    received_at: str


class LastSent(BaseModel):
    interchange: str
    document: str
    business_key: str
    status: str = Field(description="awaiting, not_expected, accepted, accepted_with_errors or rejected.")
    queued_at: str
    sent_at: str | None
    acknowledged_at: str | None
    due_by: str | None


class ExceptionAbout(BaseModel):
    kind: str
    key: str


class PartnerException(BaseModel):
    id: str
    owner: str
    reason_code: str
    about: ExceptionAbout
    message: str
    status: str
    opened_at: str | None
    resolved_at: str | None
    actions: list[dict[str, Any]]


class PartnerSummary(BaseModel):
    name: str
    standard: str
    role: str
    their_id: str
    our_id: str
    version: str
    usage: str = Field(description="P: production, T: test.")
    channel: str
    customer: str | None
    supplier: str | None
    location: str | None
    sources: list[str] = Field(description="The sources that take this partner's interchanges.")
    destinations: list[str] = Field(description="The destinations that write interchanges to it.")
    acknowledge_within_minutes: int | None
    transport: Transport | None


class PartnerList(BaseModel):
    items: list[PartnerSummary]


class Partner(PartnerSummary):
    last_received: LastReceived | None
    last_sent: LastSent | None
    open_exceptions: list[PartnerException] = Field(description="Open acknowledgement exceptions of its interchanges.")
    capped: bool


def router(runtime: Runtime, *, guard: auth.Guard) -> APIRouter:
    hub = runtime.hub
    settings = runtime.settings
    api = APIRouter(dependencies=[Depends(guard.require(governance.ADMIN))])

    def kind_of_source(name: str) -> str:
        found = settings.sources.get(name)
        return found.kind if found is not None else BUILT_IN if name == ORDERS_API_SOURCE else "unknown"

    def kind_of_destination(name: str) -> str:
        found = settings.destinations.get(name)
        return found.kind if found is not None else "unknown"

    @api.get("/v1/connectors", tags=["operations"], response_model=Connectors)
    def list_connectors() -> Any:
        """Every source and destination with its health, last message or delivery, breaker and backlog."""
        with hub.begin() as uow:
            found = dashboard.connectors(
                uow, hub.clock.now(), sources=hub.intake.adapters.keys(), destinations=hub.outbox.destinations.keys()
            )
        return {
            "sources": [{**vars(s), "kind": kind_of_source(s.name)} for s in found.sources],
            "destinations": [{**vars(d), "kind": kind_of_destination(d.name)} for d in found.destinations],
            "watermarks": [
                {"connector": connector, "stream": stream, "value": value, "moved_at": moved}
                for connector, stream, value, moved in found.watermarks
            ],
        }

    def summary(name: str, partner: PartnerSettings) -> dict[str, Any]:
        transport = partner.transport
        return {
            "name": name,
            "standard": partner.standard,
            "role": partner.role,
            "their_id": partner.id,
            "our_id": partner.our_id,
            "version": partner.version,
            "usage": partner.usage,
            "channel": partner.channel,
            "customer": partner.customer,
            "supplier": partner.supplier,
            "location": partner.location,
            "sources": sorted(n for n, s in settings.sources.items() if s.kind == "edi" and s.partner == name),
            "destinations": sorted(
                n for n, d in settings.destinations.items() if d.kind == "edi" and d.partner == name
            ),
            "acknowledge_within_minutes": partner.acknowledge_within_minutes,
            "transport": None
            if transport is None
            else {
                "kind": "sftp" if transport.sftp is not None else "folder",
                "host": transport.sftp.host if transport.sftp is not None else None,
                "poll_seconds": transport.poll_seconds,
                "expect_every_minutes": transport.expect_every_minutes,
            },
        }

    @api.get("/v1/partners", tags=["operations"], response_model=PartnerList)
    def list_partners() -> Any:
        """The trading partners configured, with their EDI profile (no secrets)."""
        return {"items": [summary(name, partner) for name, partner in sorted(settings.partners.items())]}

    @api.get(
        "/v1/partners/{name}",
        tags=["operations"],
        response_model=Partner,
        responses=problems.documented(problems.Code.PARTNER_NOT_FOUND),
    )
    def get_partner(name: str = Path(min_length=1, max_length=100)) -> Any:
        """One trading partner: its profile, the last interchange received from it and sent to it (with what the
        acknowledgement said), and its open acknowledgement exceptions."""
        partner = settings.partners.get(name)
        if partner is None:
            return problems.problem(
                404,
                problems.Code.PARTNER_NOT_FOUND,
                "No such partner",
                f"no trading partner {name!r} is configured (known: {', '.join(sorted(settings.partners)) or 'none'})",
            )
        found = summary(name, partner)
        with hub.begin() as uow:
            activity = views.partner_activity(uow, name, found["sources"])
        return {**found, **activity}

    return api
