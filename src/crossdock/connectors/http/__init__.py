"""A configurable HTTP connector for systems without a connector of their own (`kind: http`): what they post is mapped
to the catalogue by a Python function the integrator writes, and the hub's events go out as the requests another of
their functions builds. `connector()` declares such a mapping as a connector kind of its own, with its limits, for a
package to register. Must not: hold business rules, or import the integrator's functions before the hub is built.

What a mapping module uses: `Received` (in), `Event` and the catalogue's payload models (returned), `Identity`
(returned by an identify function), `Request` (returned by an outbound mapping). README.md has a worked example.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crossdock.connectors.http import loading, options
from crossdock.connectors.http.client import HttpClient
from crossdock.connectors.http.inbound import HttpInbound, Signature
from crossdock.connectors.http.mapping import Event, IdentityRules, Received, Request
from crossdock.connectors.http.outbound import HttpSender
from crossdock.connectors.registry import Connector, InboundFactory, Limits, Reach, SenderFactory, Setup, in_batches
from crossdock.hub.ports import Identity, InboundAdapter, Sender

__all__ = ["CONNECTOR", "Event", "Identity", "Received", "Request", "connector"]

DEFAULT_CONCURRENCY = 4  # when nothing says how many requests the system takes at once


def _inbound(defaults: Mapping[str, Any]) -> InboundFactory:
    def inbound(setup: Setup) -> InboundAdapter:
        where = f"sources.{setup.name}.options"
        given = options.read(options.SourceOptions, where, {**defaults, **setup.options})
        search = loading.folders(f"{where}.path", given.path)
        to_canonical = loading.load(f"{where}.mapping", given.mapping, search)
        identify = loading.load(f"{where}.identify", given.identify, search) if given.identify else None
        section = setup.settings
        rules = IdentityRules(
            id_field=section.get("id_field"),
            subject_field=section.get("subject_field"),
            partition_field=section.get("partition_field"),
        )
        signature = None
        if given.secret is not None:
            signature = Signature(given.secret, given.signature_header, given.signature_format)
        return HttpInbound(setup.name, to_canonical, identify, rules, signature)

    return inbound


def _sender(defaults: Mapping[str, Any]) -> SenderFactory:
    def sender(setup: Setup) -> Sender:
        where = f"destinations.{setup.name}.options"
        given = options.read(options.DestinationOptions, where, {**defaults, **setup.options})
        search = loading.folders(f"{where}.path", given.path)
        to_request = loading.load(f"{where}.mapping", given.mapping, search)
        timeout = given.timeout_seconds or float(setup.settings.get("timeout_seconds") or 10.0)
        # The configuration may only tighten what the runtime allows (worker.send_concurrency, declared limits).
        allowed = [n for n in (given.concurrency, setup.limits.concurrency) if n is not None]
        concurrency = min(allowed) if allowed else DEFAULT_CONCURRENCY
        auth = given.auth
        basic = (auth.basic.username, auth.basic.password.get_secret_value()) if auth and auth.basic else None
        client = HttpClient(
            timeout_seconds=timeout,
            max_connections=concurrency,
            auth_headers=auth.headers() if auth else None,
            basic=basic,
        )
        built = HttpSender(
            setup.name,
            to_request,
            given.base_url,
            client,
            concurrency=concurrency,
            secret=given.secret.get_secret_value() if given.secret else None,
        )
        declared = setup.limits.batch_size  # the runtime splits by this one already
        tighter = given.batch_size is not None and (declared is None or given.batch_size < declared)
        return in_batches(built, given.batch_size) if tighter else built

    return sender


def connector(
    kind: str,
    *,
    inbound: str | None = None,
    identify: str | None = None,
    outbound: str | None = None,
    limits: Limits | None = None,
    summary: str = "",
) -> Connector:
    """A connector kind of its own for a system mapped in Python: `inbound`, `identify` and `outbound` name the
    functions (`package.module:function`), the defaults of the sections' options.mapping and options.identify, which
    a configuration may still override. `limits` are what the system takes; the runtime keeps every destination of
    the kind within them. A kind has a source side when it names an inbound function, a destination side when it
    names an outbound one."""
    if inbound is None and outbound is None:
        raise ValueError(f"connector {kind!r}: name an inbound or an outbound mapping function")
    source_defaults = {k: v for k, v in (("mapping", inbound), ("identify", identify)) if v is not None}
    reaches = ((Reach.WEBHOOK,) if inbound else ()) + ((Reach.API,) if outbound else ())
    return Connector(
        kind=kind,
        reaches=reaches,
        inbound=_inbound(source_defaults) if inbound is not None else None,
        sender=_sender({"mapping": outbound}) if outbound is not None else None,
        limits=limits or Limits(),
        summary=summary or f"{kind}: a system mapped by Python functions, over HTTP",
    )


CONNECTOR = Connector(
    kind="http",
    reaches=(Reach.WEBHOOK, Reach.API),
    inbound=_inbound({}),
    sender=_sender({}),
    summary="any REST or webhook system, mapped by Python functions: requests in, events out as requests",
)
