"""The shipment tracking and invoice status experience API, read through hub.views from the order's state, log and
journal. A key restricted to a sales channel sees only its channel's shipments and invoices; another channel's are
answered as missing, as orders are.

Owns: these routes, their response models and problem codes. Must not: write anything, or query a store itself.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from crossdock.bootstrap import Runtime
from crossdock.entrypoints.api import auth, problems
from crossdock.hub import governance, views

READ_SCOPE = governance.ORDERS_READ
Number = str  # decimals are answered as strings, never as binary floats


class Quantity(BaseModel):
    value: Number
    unit: str


class ShipmentLine(BaseModel):
    line_id: str = Field(description="The order line this ships against.")
    sku: str
    quantity: Quantity = Field(description="As the warehouse confirmed it, in its unit.")
    shipped: Number | None = Field(description="Base units the order counts as shipped by it (null: held).")
    invoiced: Number | None = Field(description="Base units of it billed so far (null: held).")


class InvoiceRef(BaseModel):
    invoice: str
    link: str


class Shipment(BaseModel):
    shipment: str
    order: str
    channel: str | None
    location: str = Field(description="Where the goods left from.")
    carrier: str | None
    tracking_numbers: list[str]
    status: Literal["held", "shipped", "partially_invoiced", "invoiced"] = Field(
        description="held: confirmed, waiting for its order or release before it counts; shipped: not billed yet."
    )
    shipped_at: str = Field(description="When the goods left (ISO 8601), as the warehouse said, else when confirmed.")
    confirmed_at: str = Field(description="When the hub received the confirmation (ISO 8601).")
    lines: list[ShipmentLine]
    invoices: list[InvoiceRef]
    link: str


class ReleaseLine(BaseModel):
    line_id: str
    sku: str
    quantity: Quantity


class Release(BaseModel):
    release: str
    location: str
    released_at: str
    lines: list[ReleaseLine]


class AwaitingLine(BaseModel):
    line_id: str
    sku: str
    released: Number
    shipped: Number
    awaiting: Number = Field(description="Released to a warehouse and not shipped yet, in base units.")


class OrderShipments(BaseModel):
    order: str
    status: str
    channel: str | None
    shipments: list[Shipment]
    releases: list[Release]
    awaiting_shipment: list[AwaitingLine]
    link: str


class InvoiceAmounts(BaseModel):
    currency: str | None
    net: Number | None
    tax: Number | None
    total: Number | None
    paid: Number = Field(description="The payments applied to this invoice, prepayments from its order included.")
    credited: Number = Field(description="The credit memos that credit this invoice, in its currency.")
    open: Number | None = Field(description="Total less paid and credited, never below zero.")


class InvoiceLine(BaseModel):
    line_id: str
    sku: str
    quantity: Quantity
    unit_price: Number
    tax_rate: Number


class PaymentApplied(BaseModel):
    payment: str = Field(description="The payment's reference.")
    amount: Number | None = Field(description="What it applied to this invoice (null: its event was pruned).")
    currency: str | None
    received_on: str | None
    prepayment: bool = Field(description="Taken for the order before it was invoiced, applied as the invoice posted.")


class CreditMemo(BaseModel):
    credit_memo: str = Field(description="The credit memo's number.")
    issued_on: str | None
    reason: str | None
    currency: str | None
    net: Number | None
    tax: Number | None
    total: Number | None = Field(description="What it credits (null: its event was pruned).")


class InvoiceLinks(BaseModel):
    order: str
    shipment: str | None


class Invoice(BaseModel):
    invoice: str
    order: str
    channel: str | None
    customer: str | None
    shipment: str | None
    issued_on: str | None
    due_on: str | None
    posted_at: str | None
    status: Literal["open", "partially_paid", "paid", "credited"] = Field(
        description="paid: nothing open and something paid; credited: nothing open, all of it by credit memos; "
        "partially_paid: some paid, some open; open: nothing paid yet (credit memos may have reduced it)."
    )
    amounts: InvoiceAmounts
    lines: list[InvoiceLine]
    payments: list[PaymentApplied]
    credit_memos: list[CreditMemo] = Field(description="The credit memos that credit this invoice, as they came.")
    links: InvoiceLinks


def router(runtime: Runtime, *, guard: auth.Guard) -> APIRouter:
    """Include it before the orders router: `/v1/orders/{id}` takes any path below it."""
    hub = runtime.hub
    invoice_prefix = runtime.order_to_cash.policy.invoice_prefix
    api = APIRouter()

    @api.get(
        "/v1/orders/{order_id:path}/shipments",
        tags=["orders"],
        response_model=OrderShipments,
        responses=problems.documented(problems.Code.ORDER_NOT_FOUND),
    )
    def get_order_shipments(
        order_id: str = Path(min_length=1), principal: auth.Principal = Depends(guard.require(READ_SCOPE))
    ) -> Any:
        """What left the warehouses for one order: every shipment with location, carrier, tracking numbers, lines and
        status; every release to a warehouse; and what was released but has not shipped yet."""
        with hub.begin() as uow:
            found = views.order_shipments(uow, order_id)
        if found is None or not principal.sees(found["channel"]):
            return problems.problem(
                404, problems.Code.ORDER_NOT_FOUND, "No such order", f"the hub knows no order {order_id}"
            )
        return found

    @api.get(
        "/v1/shipments/{shipment_id:path}",
        tags=["orders"],
        response_model=Shipment,
        responses=problems.documented(problems.Code.SHIPMENT_NOT_FOUND),
    )
    def get_shipment(
        shipment_id: str = Path(min_length=1), principal: auth.Principal = Depends(guard.require(READ_SCOPE))
    ) -> Any:
        """One shipment: where it left from, carrier and tracking numbers, lines, status and when."""
        with hub.begin() as uow:
            found = views.shipment_view(uow, shipment_id, invoice_prefix=invoice_prefix)
        if found is None or not principal.sees(found["channel"]):
            return problems.problem(
                404,
                problems.Code.SHIPMENT_NOT_FOUND,
                "No such shipment",
                f"the hub cannot tie a shipment {shipment_id} to an order; "
                "GET /v1/orders/{id}/shipments lists every shipment of an order",
            )
        return found

    @api.get(
        "/v1/invoices/{invoice_id:path}",
        tags=["accounting"],
        response_model=Invoice,
        responses=problems.documented(problems.Code.INVOICE_NOT_FOUND),
    )
    def get_invoice(
        invoice_id: str = Path(min_length=1), principal: auth.Principal = Depends(guard.require(READ_SCOPE))
    ) -> Any:
        """One customer invoice: what it bills, the payments applied to it, what is paid and what is still open."""
        with hub.begin() as uow:
            found = views.invoice_view(uow, invoice_id)
        if found is None or not principal.sees(found["channel"]):
            return problems.problem(
                404, problems.Code.INVOICE_NOT_FOUND, "No such invoice", f"no order claims an invoice {invoice_id}"
            )
        return found

    return api
