"""A hub with order-to-cash configured, on SQLite in a temporary folder, driven message by message with a clock
the test moves: what the flow tests share."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from crossdock import bootstrap, config
from crossdock.bootstrap import Runtime
from crossdock.domain import catalog
from crossdock.domain.workflows.order_to_cash import OrderState
from crossdock.hub.ports import BusinessException, ExceptionFilter, ExceptionStatus, IntakeResult
from crossdock.storage.sql import migrate

START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
ACCOUNTS = {
    "receivable": "1200",
    "revenue": "4000",
    "tax_payable": "2200",
    "cogs": "5000",
    "inventory": "1400",
    "cash": "1000",
    "customer_credit": "2300",
}


class Clock:
    def __init__(self) -> None:
        self.at = START

    def now(self) -> datetime:
        return self.at


def settings_for(data_dir: Path, **sections: Any) -> config.Settings:
    overrides: dict[str, Any] = {
        "data_dir": str(data_dir),
        "sources": {"wms": {"kind": "canonical"}, "erp": {"kind": "canonical"}},
        "accounting": {"accounts": ACCOUNTS, "unit_costs": {"A": "2.50", "B": "4.00"}},
    }
    overrides.update(sections)
    return config.load(None, environ={}, overrides=overrides)


def edi_customer_settings(data_dir: Path, database_url: str, name: str, partner: dict[str, Any]) -> config.Settings:
    """Order to cash with one customer on EDI files: its interchanges come in at the edi source `edi-<name>`, and the
    destination `edi-<name>-out` answers them (997) and sends it the ship notices and invoices of its orders."""
    destination = f"edi-{name}-out"
    return settings_for(
        data_dir,
        storage={"url": database_url},
        partners={name: partner},
        sources={"wms": {"kind": "canonical"}, f"edi-{name}": {"kind": "edi", "partner": name}},
        destinations={destination: {"kind": "edi", "partner": name}},
        subscriptions=[
            {
                "destination": destination,
                "events": [
                    catalog.EdiInterchangeReceived.event_type,
                    catalog.ShipmentConfirmed.event_type,
                    catalog.InvoicePosted.event_type,
                ],
            }
        ],
    )


def sales_order(
    number: str, *lines: tuple[str, int, str], customer: str = "C1", channel: str = "webshop"
) -> dict[str, Any]:
    return {
        "number": number,
        "customer": customer,
        "channel": channel,
        "currency": "EUR",
        "lines": [
            {"line": n, "sku": sku, "quantity": {"value": str(quantity), "unit": "EA"}, "unit_price": price}
            for n, (sku, quantity, price) in enumerate(lines, start=1)
        ],
    }


@dataclass
class OrderToCashEstate:
    data_dir: Path
    settings: config.Settings
    clock: Clock = field(default_factory=Clock)
    runtime: Runtime | None = None

    def __post_init__(self) -> None:
        self.start()

    def start(self) -> None:
        """Build the hub from the same database, as a restart would."""
        self.runtime = bootstrap.build(self.settings, clock=self.clock)
        migrate.upgrade(self.runtime.engine)

    def stop(self) -> None:
        assert self.runtime is not None
        self.runtime.close()
        self.runtime = None

    @property
    def hub(self) -> Any:
        assert self.runtime is not None
        return self.runtime.hub

    def order(self, order: dict[str, Any], key: str | None = None) -> IntakeResult:
        return self.hub.receive("api", json.dumps(order).encode(), {"idempotency-key": key or order["number"]})

    def event(self, source: str, event_type: str, data: dict[str, Any], event_id: str | None = None) -> IntakeResult:
        body = {"specversion": "1.0", "id": event_id or str(uuid.uuid4()), "source": source, "type": event_type}
        return self.hub.receive(source, json.dumps(body | {"data": data}).encode(), {})

    def receipt(self, sku: str, location: str, quantity: int, source: str = "wms") -> IntakeResult:
        data = {"sku": sku, "location": location, "change": {"value": str(quantity), "unit": "EA"}, "reason": "receipt"}
        return self.event(source, "crossdock.inventory.adjusted.v1", data)

    def shipment(self, number: str, order: str, location: str, *lines: tuple[int, str, int]) -> IntakeResult:
        shipped = [{"line": n, "sku": sku, "quantity": {"value": str(q), "unit": "EA"}} for n, sku, q in lines]
        data = {"shipment": {"number": number, "order": order, "from_location": location, "lines": shipped}}
        return self.event("wms", "crossdock.shipment.confirmed.v1", data)

    def drain(self) -> None:
        self.hub.drain("flow-worker")

    def later(self, **delta: float) -> None:
        self.clock.at += timedelta(**delta)
        self.drain()

    def state(self, order_id: str) -> OrderState:
        with self.hub.begin() as uow:
            record = uow.orders.load(order_id)
        assert record is not None, f"order {order_id} was never stored"
        return OrderState.model_validate(record.state)

    def events(self, event_type: str, subject: str | None = None) -> list[dict[str, Any]]:
        with self.hub.begin() as uow:
            stored = uow.log.for_subject(subject, 1000) if subject else uow.log.read(0, 100_000)
        return [e.envelope.data for e in stored if e.envelope.type == event_type]

    def exceptions(self, about: str | None = None, status: ExceptionStatus | None = None) -> list[BusinessException]:
        with self.hub.begin() as uow:
            return uow.exceptions.find(ExceptionFilter(status=status, about_key=about))

    def available(self, sku: str, location: str) -> Decimal:
        with self.hub.begin() as uow:
            return uow.inventory.load([sku]).position(sku, location).available
