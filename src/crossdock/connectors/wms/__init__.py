"""A REST/webhook WMS: releases out as pick releases (and their cancellations); pick, pack and ship confirmations,
receipts, adjustments and cycle counts in as webhooks. The WMS's API is documented in README.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crossdock.connectors.registry import Connector, Limits, Reach, Setup
from crossdock.connectors.wms.client import WmsClient
from crossdock.connectors.wms.inbound import WmsInbound
from crossdock.connectors.wms.mapping import Warehouses
from crossdock.connectors.wms.outbound import WmsSender
from crossdock.hub.ports import InboundAdapter, Sender


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    return str(value.get_secret_value() if hasattr(value, "get_secret_value") else value)


def warehouses(where: str, options: Mapping[str, Any]) -> Warehouses:
    given = options.get("warehouses")
    if not isinstance(given, Mapping):
        raise ValueError(f"{where}.options.warehouses: needed, as {{<hub location>: <WMS warehouse code>}}")
    return Warehouses({str(location): str(code) for location, code in given.items()})


def _inbound(setup: Setup) -> InboundAdapter:
    options = setup.options
    return WmsInbound(
        source=setup.name,
        warehouses=warehouses(f"sources.{setup.name}", options),
        secret=_secret(options.get("secret")),
    )


def _sender(setup: Setup) -> Sender:
    options = setup.options
    missing = [name for name in ("base_url", "token") if not options.get(name)]
    if missing:
        raise ValueError(f"destinations.{setup.name}: a wms destination needs options {', '.join(missing)}")
    token = _secret(options["token"])
    assert token is not None
    client = WmsClient(str(options["base_url"]), token, timeout_seconds=float(options.get("timeout_seconds", 10.0)))
    # Who an order ships to is read through the hub once it exists (bootstrap wires it): the Setup has no store.
    return WmsSender(setup.name, warehouses(f"destinations.{setup.name}", options), client)


CONNECTOR = Connector(
    kind="wms",
    reaches=(Reach.WEBHOOK, Reach.API),
    inbound=_inbound,
    sender=_sender,
    # A generic WMS's API gateway: calls one at a time per destination, at a pace any of them takes.
    limits=Limits(rate_per_second=20.0, burst=40.0, concurrency=1),
    summary="a REST/webhook WMS: pick releases out; pick, pack, ship, receipt, adjustment and count webhooks in",
)
