"""A hub with procure-to-pay configured (a supplier master, a chart of accounts with GR/IR, canonical sources for the
ERP, the supplier's EDI and the warehouse, and the supplier's outbound channel as a file), driven message by message
with a clock the test moves: what the procure-to-pay flow tests share.

Owns: building such hubs, the canonical documents a test sends them, and reading their stores. Must not: reach into
handler internals; it only sends CloudEvents, acts on exceptions as an operator does, and reads what is stored.
"""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx

from crossdock import bootstrap, config
from crossdock.domain import accounting, catalog
from crossdock.domain.accounting import JournalEntry
from crossdock.domain.documents import Quantity
from crossdock.domain.procurement import (
    AcknowledgementLine,
    AcknowledgementStatus,
    AdvanceShipNotice,
    GoodsReceipt,
    LineAcknowledgementStatus,
    Pack,
    POAcknowledgement,
    PurchaseOrder,
    PurchaseOrderLine,
    ReceiptLine,
    ShipNoticeLine,
    SupplierInvoice,
    SupplierInvoiceLine,
)
from crossdock.domain.workflows.procure_to_pay import POState
from crossdock.entrypoints import cli_governance
from crossdock.entrypoints.api.app import create_app
from crossdock.hub import governance
from crossdock.hub.handlers.edi import INTERCHANGE_KIND
from crossdock.hub.ports import (
    BusinessException,
    ExceptionFilter,
    ExceptionStatus,
    IntakeResult,
    PurchaseOrderRecord,
    SentInterchange,
)
from crossdock.hub.runtime import Hub
from crossdock.storage.sql import migrate

with warnings.catch_warnings():
    # Starlette asks for the `httpx2` fork under its test client; plain httpx still works and is what we ship.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
DELIVERY = date(2025, 3, 14)
ERP, SUPPLIER, WAREHOUSE = "erp", "supplier-edi", "wms"
EDI_OUT = "edi-out"  # the supplier's outbound channel: a file the EDI connector would render 850s from
LEDGER = "main"
INVENTORY, GR_IR, PAYABLES, VARIANCE, INPUT_TAX = "1400", "2150", "2000", "5200", "1570"
ACCOUNTS = {
    "receivable": "1200",
    "revenue": "4000",
    "tax_payable": "2200",
    "cogs": "5000",
    "inventory": INVENTORY,
    "cash": "1000",
    "customer_credit": "2300",
    "payables": PAYABLES,
    "gr_ir": GR_IR,
    "price_variance": VARIANCE,
    "tax_receivable": INPUT_TAX,
}
# SUP-1's invoices may stray 2 % from the PO price; its acknowledgements may cut a quantity by up to 20 %.
PROCUREMENT = {
    "suppliers": [{"number": "SUP-1", "currency": "EUR", "price_tolerance_percent": "2"}],
    "changes": {"quantity_decrease_percent": "20", "days_later": 2},
}
D = Decimal


class Clock:
    def __init__(self) -> None:
        self.at = START

    def now(self) -> datetime:
        return self.at


def settings_for(data_dir: Path, database_url: str | None = None, **sections: Any) -> config.Settings:
    overrides: dict[str, Any] = {
        "data_dir": str(data_dir),
        "sources": {name: {"kind": "canonical"} for name in (ERP, SUPPLIER, WAREHOUSE)},
        "destinations": {EDI_OUT: {"kind": "jsonl", "path": "edi-out.jsonl"}},
        "subscriptions": [
            {
                "destination": EDI_OUT,
                "events": [catalog.PurchaseOrderReleased.event_type, catalog.PurchaseOrderCancelled.event_type],
            }
        ],
        "accounting": {"accounts": ACCOUNTS, "ledger": LEDGER},
        "procurement": PROCUREMENT,
    }
    if database_url is not None:
        overrides["storage"] = {"url": database_url}
    overrides.update(sections)
    return config.load(None, environ={}, overrides=overrides)


def edi_supplier_settings(
    data_dir: Path, database_url: str, partners: dict[str, dict[str, Any]], **sections: Any
) -> config.Settings:
    """Procure to pay with its suppliers on EDI files: per partner an edi source `edi-<name>` its interchanges are
    posted to, and a destination `edi-<name>-out` that writes our purchase orders and answers to its folder."""
    return settings_for(
        data_dir,
        database_url,
        partners=partners,
        sources={
            ERP: {"kind": "canonical"},
            WAREHOUSE: {"kind": "canonical"},
            **{f"edi-{name}": {"kind": "edi", "partner": name} for name in partners},
        },
        destinations={f"edi-{name}-out": {"kind": "edi", "partner": name} for name in partners},
        subscriptions=[
            {
                "destination": f"edi-{name}-out",
                "events": [catalog.PurchaseOrderReleased.event_type, catalog.EdiInterchangeReceived.event_type],
            }
            for name in partners
        ],
        **sections,
    )


# ---- the documents -------------------------------------------------------------------------------------------------


def qty(value: int | str, unit: str = "EA") -> Quantity:
    return Quantity(value=D(value), unit=unit)


def purchase_order(number: str = "PO-1", **overrides: Any) -> PurchaseOrder:
    """12 x SKU-1 at 10.00 and 5 x SKU-2 at 4.25 from SUP-1, to WH1 by DELIVERY."""
    fields: dict[str, Any] = {
        "number": number,
        "supplier": "SUP-1",
        "currency": "EUR",
        "ship_to": "WH1",
        "ordered_on": START.date(),
        "requested_on": DELIVERY,
        "lines": [
            PurchaseOrderLine(line=1, sku="SKU-1", supplier_item="VP-1", quantity=qty(12), unit_price=D("10.00")),
            PurchaseOrderLine(line=2, sku="SKU-2", quantity=qty(5), unit_price=D("4.25")),
        ],
    }
    return PurchaseOrder(**(fields | overrides))


def acknowledgement(order: str = "PO-1", number: str = "855-1", **changed_quantities: int) -> POAcknowledgement:
    """Accepted as ordered, or with the quantity of some lines changed (line_1=10)."""
    lines = [
        AcknowledgementLine(
            line=int(name.removeprefix("line_")), status=LineAcknowledgementStatus.CHANGED, quantity=qty(q)
        )
        for name, q in changed_quantities.items()
    ]
    status = AcknowledgementStatus.ACCEPTED_WITH_CHANGES if lines else AcknowledgementStatus.ACCEPTED
    return POAcknowledgement(number=number, order=order, supplier="SUP-1", status=status, lines=tuple(lines))


def ship_notice(
    order: str = "PO-1", shipment: str = "SH-1", expected_on: date = date(2025, 3, 12)
) -> AdvanceShipNotice:
    """Line 1 only, 6 + 4 units in two cartons: a partial shipment of the PO."""
    return AdvanceShipNotice(
        shipment=shipment,
        order=order,
        supplier="SUP-1",
        shipped_on=date(2025, 3, 10),
        expected_on=expected_on,
        packs=(Pack(id="00012345600000000017"), Pack(id="00012345600000000024")),
        lines=(
            ShipNoticeLine(line=1, sku="SKU-1", quantity=qty(6), pack="00012345600000000017"),
            ShipNoticeLine(line=1, sku="SKU-1", quantity=qty(4), pack="00012345600000000024"),
        ),
    )


def goods_receipt(number: str = "GR-1", order: str = "PO-1", asn: str | None = "SH-1", **per_line: int) -> GoodsReceipt:
    """Counted in at WH1, per line (line_1=8)."""
    lines = tuple(
        ReceiptLine(line=int(name.removeprefix("line_")), sku=f"SKU-{name.removeprefix('line_')}", quantity=qty(q))
        for name, q in per_line.items()
    )
    return GoodsReceipt(number=number, order=order, asn=asn, location="WH1", received_on=DELIVERY, lines=lines)


def supplier_invoice(
    number: str = "INV-9", order: str = "PO-1", tax: str = "0", **per_line: tuple[int, str]
) -> SupplierInvoice:
    """Per line (quantity, unit price): line_1=(10, "10.30")."""
    lines = tuple(
        SupplierInvoiceLine(
            line=int(name.removeprefix("line_")),
            sku=f"SKU-{name.removeprefix('line_')}",
            quantity=qty(q),
            unit_price=D(price),
        )
        for name, (q, price) in per_line.items()
    )
    net = sum((line.quantity.value * line.unit_price for line in lines), D(0)).quantize(D("0.01"))
    return SupplierInvoice(
        number=number,
        supplier="SUP-1",
        order=order,
        currency="EUR",
        issued_on=DELIVERY,
        lines=lines,
        tax=D(tax),
        total=net + D(tax),
    )


# ---- the estate --------------------------------------------------------------------------------------------------


@dataclass
class ProcureToPayEstate:
    data_dir: Path
    settings: config.Settings
    clock: Clock = field(default_factory=Clock)
    runtime: bootstrap.Runtime | None = None

    def __post_init__(self) -> None:
        self.runtime = bootstrap.build(self.settings, clock=self.clock)
        migrate.upgrade(self.runtime.engine)

    def stop(self) -> None:
        assert self.runtime is not None
        self.runtime.close()
        self.runtime = None

    @property
    def hub(self) -> Hub:
        assert self.runtime is not None
        return self.runtime.hub

    # -- sending

    def send(self, source: str, payload: catalog.Payload, event_id: str | None = None) -> IntakeResult:
        """The payload as the CloudEvent a system that speaks the catalogue posts to its canonical source."""
        body = {
            "specversion": "1.0",
            "id": event_id or str(uuid.uuid4()),
            "source": source,
            "type": catalog.type_of(payload),
            "time": self.clock.now().isoformat(),
            "data": catalog.data_of(payload),
        }
        return self.hub.receive(source, json.dumps(body).encode(), {})

    def issue(self, po: PurchaseOrder) -> IntakeResult:
        return self.send(ERP, catalog.PurchaseOrderIssued(purchase_order=po))

    def acknowledge(self, ack: POAcknowledgement) -> IntakeResult:
        return self.send(SUPPLIER, catalog.PurchaseOrderAcknowledged(acknowledgement=ack))

    def notice(self, notice: AdvanceShipNotice) -> IntakeResult:
        return self.send(SUPPLIER, catalog.ShipNoticeReceived(notice=notice))

    def receive(self, receipt: GoodsReceipt, event_id: str | None = None) -> IntakeResult:
        return self.send(WAREHOUSE, catalog.GoodsReceiptPosted(receipt=receipt), event_id)

    def invoice(self, invoice: SupplierInvoice) -> IntakeResult:
        return self.send(SUPPLIER, catalog.SupplierInvoiceReceived(invoice=invoice))

    def cancel_lines(self, order: str, request: str, **per_line: int) -> IntakeResult:
        lines = tuple(
            catalog.PurchaseOrderLineCancellation(line_id=name.removeprefix("line_"), quantity=D(q))
            for name, q in per_line.items()
        )
        payload = catalog.PurchaseOrderCancellationRequested(order=order, cancellation=request, lines=lines)
        return self.send(ERP, payload)

    def drain(self) -> None:
        self.hub.drain("p2p-worker")

    def later(self, **delta: float) -> None:
        self.clock.at += timedelta(**delta)
        self.drain()

    def act(self, exception_id: str, action: catalog.ExceptionAction, note: str = "") -> BusinessException:
        """What an operator does with `crossdock exceptions act` or POST /v1/exceptions/{id}/actions."""
        assert self.runtime is not None
        done = self.runtime.order_to_cash.act_on_exception(
            self.hub.begin, self.clock.now(), exception_id, action, actor="ana", note=note
        )
        self.drain()
        return done

    # -- reading

    def record(self, po_id: str) -> PurchaseOrderRecord | None:
        with self.hub.begin() as uow:
            return uow.purchase_orders.load(po_id)

    def state(self, po_id: str = "PO-1") -> POState:
        record = self.record(po_id)
        assert record is not None, f"purchase order {po_id} was never stored"
        return POState.model_validate(record.state)

    def events(self, event_type: str, subject: str | None = None) -> list[dict[str, Any]]:
        with self.hub.begin() as uow:
            stored = uow.log.for_subject(subject, 1000) if subject else uow.log.read(0, 100_000)
        return [e.envelope.data for e in stored if e.envelope.type == event_type]

    def exceptions(self, about: str = "PO-1", status: ExceptionStatus | None = None) -> list[BusinessException]:
        with self.hub.begin() as uow:
            found: list[BusinessException] = uow.exceptions.find(ExceptionFilter(status=status, about_key=about))
        return found

    def exception(self, reason_code: str, about: str = "PO-1") -> BusinessException:
        [found] = [e for e in self.exceptions(about) if e.reason_code == reason_code]
        return found

    def on_hand(self, sku: str, location: str = "WH1") -> Decimal:
        with self.hub.begin() as uow:
            return uow.inventory.load([sku]).position(sku, location).on_hand

    def journal(self) -> list[JournalEntry]:
        with self.hub.begin() as uow:
            return uow.journal.entries(LEDGER, limit=10_000)

    def balance(self, account: str) -> Decimal:
        """Signed balance of an account over the whole journal: debit positive."""
        return accounting.balances(self.journal()).get((account, "EUR"), D(0))

    def outbound(self, kind: str, partner: str = "acme") -> list[Path]:
        """The files of a kind ("850", "orders", "997"...) written to an EDI partner's folder, oldest first."""
        folder = self.data_dir / "partners" / partner / "outbound"
        return sorted(folder.glob(f"{kind}-*.edi")) if folder.exists() else []

    def sent(self, partner: str = "acme") -> list[SentInterchange]:
        """The interchanges sent to an EDI partner, oldest first."""
        with self.hub.begin() as uow:
            return list(reversed(uow.interchanges.find(partner=partner)))

    def edi_exceptions(self, status: ExceptionStatus | None = None) -> list[BusinessException]:
        """The exceptions about interchanges (overdue, rejected, unknown acknowledgements)."""
        with self.hub.begin() as uow:
            found = uow.exceptions.find(ExceptionFilter(status=status, limit=1000))
        return [e for e in found if e.about_kind == INTERCHANGE_KIND]

    def released(self) -> list[dict[str, Any]]:
        """The events the supplier's outbound channel received, in order."""
        path = self.data_dir / "edi-out.jsonl"
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line)["event"] for line in lines if line.strip()]


def balanced(estate: ProcureToPayEstate) -> None:
    """Every entry balances, and the journal's sequence has no gap."""
    entries = estate.journal()
    assert entries, "something was posted"
    for entry in entries:
        assert entry.total_debit == entry.total_credit, f"{entry.id} ({entry.rule}) does not balance"
    assert sum((e.total_debit for e in entries), D(0)) == sum((e.total_credit for e in entries), D(0))
    assert [e.sequence for e in entries] == list(range(1, len(entries) + 1))


class ApiEstate(ProcureToPayEstate):
    """The estate behind its HTTP API, called with an admin key (see `behind_the_api`)."""

    client: TestClient

    def post_interchange(self, source: str, body: bytes, content_type: str) -> httpx.Response:
        """An EDI partner's file, posted to its edi source as its translator does."""
        response: httpx.Response = self.client.post(
            f"/v1/inbound/{source}", content=body, headers={"content-type": content_type}
        )
        return response


_Api = TypeVar("_Api", bound=ApiEstate)


@contextmanager
def behind_the_api(estate: _Api) -> Iterator[_Api]:
    """The estate with its API client, signed with a new admin key; stopped when done."""
    assert estate.runtime is not None
    _, token = cli_governance.create_key(
        estate.hub.begin, estate.clock.now(), name="edi-admin", scopes=[governance.ADMIN], created_by="test"
    )
    with TestClient(create_app(estate.runtime), headers={"Authorization": f"Bearer {token}"}) as client:
        estate.client = client
        yield estate
    estate.stop()
