"""810 invoices <-> canonical: a supplier's 810 becomes a SupplierInvoice (with its allowances and charges beside
it, since a PO prices none of them), a SupplierInvoice can be written as one, and our Invoice to a customer goes out
as an 810 (and reads back). Pure; whether an invoice's amounts are acceptable is the match's to say, not ours."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from crossdock.connectors.x12.mapping import _segments as s
from crossdock.connectors.x12.mapping.rules import PartnerRules, X12MappingError
from crossdock.connectors.x12.model import Segment, Transaction
from crossdock.domain import documents, procurement

SET = "810"
PRICE_BASIS = {"HP": Decimal(100), "TP": Decimal(1000)}
# SAC02 codes that are taxes rather than charges (H850 tax; H770 state, H740 sales, H650 federal excise...).
TAX_CODES = frozenset({"H850", "H770", "H740", "H650", "H700", "H750", "H760"})
# REF01 of the shipment an invoice bills (shipper's identifying number for shipment).
SHIPMENT_REF = "SI"


class ChargeKind(StrEnum):
    ALLOWANCE = "allowance"  # SAC01 A: lowers what is owed
    CHARGE = "charge"  # SAC01 C: raises it


class Charge(BaseModel):
    """An allowance or charge of an 810 (SAC) that is not a tax: freight (G830), handling (H090), a discount
    (C310)... `line` is the invoice line it was sent on, None for the whole invoice."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ChargeKind
    code: str
    amount: Decimal = Field(ge=0, description="SAC05 in the invoice's currency (the wire has it in cents).")
    description: str = ""
    percent: Decimal | None = None
    line: int | None = None

    @property
    def signed(self) -> Decimal:
        return self.amount if self.kind is ChargeKind.CHARGE else -self.amount


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    sku: str
    quantity: documents.Quantity
    unit_price: Decimal
    tax_percent: Decimal | None
    loop: list[s.Located]


@dataclass(frozen=True, slots=True)
class _Read:
    number: str
    issued: date
    due: date | None
    order: str | None
    currency: str
    lines: list[_Line]
    tax: Decimal
    charges: tuple[Charge, ...]
    total: Decimal | None
    big: s.Located


def _lines(body: s.Body, rules: PartnerRules) -> list[_Line]:
    loops = body.loops("IT1")
    if not loops:
        body.fail("the invoice has no IT1 line", tag="IT1")
    out = []
    for number, loop in zip(s.numbered([loop[0] for loop in loops], 1), loops, strict=True):
        it1 = loop[0]
        price = it1.need_decimal(4, "the unit price") / PRICE_BASIS.get(it1.text(5), Decimal(1))
        txi = s.first_of(loop, "TXI")
        out.append(
            _Line(
                number=number,
                sku=it1.sku(rules, 6, 24),
                quantity=it1.quantity(2, 3, "the quantity invoiced", rules),
                unit_price=price,
                tax_percent=txi.decimal(3, "the tax percent") if txi else None,
                loop=loop,
            )
        )
    return out


def _allowances(body: s.Body, lines: list[_Line]) -> tuple[Decimal, tuple[Charge, ...]]:
    """Tax and the other allowances and charges. The summary's SAC/TXI are the invoice's when it has any; else the
    lines' add up. Never both: senders that use both (Ariba) repeat the lines' totals in the summary."""
    summary = [item for item in body.after("TDS") if item.tag in ("SAC", "TXI")]
    sources: list[tuple[int | None, list[s.Located]]]
    if summary:
        sources = [(None, summary)]
    else:
        sources = [(line.number, [i for i in line.loop if i.tag in ("SAC", "TXI")]) for line in lines]
    tax = Decimal(0)
    charges = []
    for line_number, items in sources:
        for item in items:
            if item.tag == "TXI":
                tax += item.decimal(2, "the tax amount") or Decimal(0)
                continue
            kind = item.required(1, "the allowance or charge indicator")
            if kind not in ("A", "C"):
                continue  # N: "no allowance or charge", informational only
            amount = item.decimal(5, "the allowance or charge amount", implied=2)
            if amount is None:
                continue
            code = item.text(2)
            if code in TAX_CODES:
                tax += amount if kind == "C" else -amount
                continue
            charges.append(
                Charge(
                    kind=ChargeKind.CHARGE if kind == "C" else ChargeKind.ALLOWANCE,
                    code=code,
                    amount=abs(amount),
                    description=item.text(15),
                    percent=item.decimal(7, "the allowance or charge percent"),
                    line=line_number,
                )
            )
    return tax, tuple(charges)


def _due(body: s.Body, issued: date, rules: PartnerRules) -> date | None:
    for itd in body.all("ITD"):
        due = itd.date(6, "the net due date", rules)
        if due is not None:
            return due
        days = itd.decimal(7, "the net days")
        if days is not None:
            try:
                return issued + timedelta(days=int(days))
            except (OverflowError, ValueError):
                itd.fail(f"{days} net days from {issued} is not a date", 7)
    return None


def _read(tx: Transaction, rules: PartnerRules) -> tuple[s.Body, _Read]:
    body = s.Body(tx, SET)
    big = body.require("BIG", "beginning segment for invoice")
    issued = big.date(1, "the invoice date", rules, required=True)
    assert issued is not None
    number = big.required(2, "the invoice number")
    heading = body.before("IT1")
    order = big.text(4) or None
    if order is None:
        ref = s.first_of(heading, "REF", "PO")
        order = ref.text(2) if ref else None
    lines = _lines(body, rules)
    if order is None:
        # Summary invoices (Ariba) name the order on the line instead: IT1 with a PO qualifier.
        order = next((v for q, v in lines[0].loop[0].pairs(6, 24) if q == "PO"), None)
    cur = s.first_of(heading, "CUR")
    tds = body.first("TDS")
    tax, charges = _allowances(body, lines)
    return body, _Read(
        number=number,
        issued=issued,
        due=_due(body, issued, rules),
        order=order,
        currency=cur.required(2, "the currency") if cur else rules.currency,
        lines=lines,
        tax=tax,
        charges=charges,
        total=tds.need_decimal(1, "the total invoice amount", implied=2) if tds else None,
        big=big,
    )


def supplier_invoice_from_810(tx: Transaction, rules: PartnerRules) -> procurement.SupplierInvoice:
    """A supplier's 810 as a SupplierInvoice: number BIG02, issued BIG01, order BIG04 (else REF*PO, else the PO
    id of the first IT1), due ITD06 (or BIG01 + ITD07 days), total TDS01 (cents), tax the tax SACs (H850...) and
    TXI02s. Other allowances and charges are not in it: charges_from_810 returns them."""
    body, read = _read(tx, rules)
    if read.order is None:
        read.big.fail("the purchase order number is missing (and no REF*PO or IT1 PO id)", 4)
    if read.total is None:
        body.fail("the TDS segment (total monetary value summary) is missing", tag="TDS")
    order, total = read.order, read.total
    return body.build(
        "supplier invoice",
        lambda: procurement.SupplierInvoice(
            number=read.number,
            supplier=rules.supplier_number,
            order=order,
            currency=read.currency,
            issued_on=read.issued,
            due_on=read.due,
            lines=tuple(
                procurement.SupplierInvoiceLine(
                    line=ln.number, sku=ln.sku, quantity=ln.quantity, unit_price=ln.unit_price
                )
                for ln in read.lines
            ),
            tax=read.tax,
            total=total,
        ),
        read.big,
    )


def charges_from_810(tx: Transaction, rules: PartnerRules) -> tuple[Charge, ...]:
    """The allowances and charges of an 810 that are not taxes (see supplier_invoice_from_810)."""
    return _read(tx, rules)[1].charges


def invoice_from_810(tx: Transaction, rules: PartnerRules) -> documents.Invoice:
    """An 810 we sent, read back as our Invoice: order BIG04, shipment REF*SI, customer N1*BT N104 (else the
    partner's customer number), tax rates from each line's TXI03 (a percent)."""
    body, read = _read(tx, rules)
    if read.order is None:
        read.big.fail("the order number is missing", 4)
    ref = body.first("REF", SHIPMENT_REF)
    if ref is None:
        body.fail("the shipment reference (REF*SI) is missing", tag="REF")
    shipment = ref.required(2, "the shipment number")
    bill_to = s.first_of(body.before("IT1"), "N1", "BT")
    customer = (bill_to.text(4) if bill_to else "") or rules.customer_number
    order = read.order
    return body.build(
        "invoice",
        lambda: documents.Invoice(
            number=read.number,
            order=order,
            shipment=shipment,
            customer=customer,
            issued_on=read.issued,
            due_on=read.due,
            currency=read.currency,
            lines=tuple(
                documents.InvoiceLine(
                    line=ln.number,
                    sku=ln.sku,
                    quantity=ln.quantity,
                    unit_price=ln.unit_price,
                    tax_rate=(ln.tax_percent or Decimal(0)) / 100,
                )
                for ln in read.lines
            ),
        ),
        read.big,
    )


def _it1(
    rules: PartnerRules, number: int, quantity: documents.Quantity, price: Decimal, pairs: list[tuple[str, str]]
) -> Segment:
    unit = s.unit_out(rules, quantity.unit, SET, "IT1", 3)
    return s.segment("IT1", number, s.number(quantity.value), unit, s.number(price), None, *s.id_elements(pairs))


def _itd(due: date | None, rules: PartnerRules) -> list[Segment]:
    # ITD01 05 (discount not applicable), ITD02 3 (from the invoice date), ITD06 the net due date.
    return [s.segment("ITD", "05", "3", None, None, None, rules.format_date(due))] if due else []


def supplier_invoice_to_810(
    invoice: procurement.SupplierInvoice,
    rules: PartnerRules,
    *,
    charges: Sequence[Charge] = (),
    control_number: str = "0001",
) -> Transaction:
    """A SupplierInvoice as the 810 its supplier would send: BIG, CUR*SE, ITD, IT1 per line, then the summary:
    TDS (cents), TXI*TX with the tax, a SAC per charge, CTT."""
    out = [
        s.segment("BIG", rules.format_date(invoice.issued_on), invoice.number, None, invoice.order),
        s.segment("CUR", "SE", invoice.currency),
        *_itd(invoice.due_on, rules),
    ]
    for line in invoice.lines:
        out.append(_it1(rules, line.line, line.quantity, line.unit_price, rules.ids_for(line.sku)))
    out.append(s.segment("TDS", s.cents(invoice.total)))
    if invoice.tax:
        out.append(s.segment("TXI", "TX", s.number(invoice.tax)))
    for charge in charges:
        if charge.line is not None:
            raise X12MappingError("only invoice-level charges are written", set_id=SET, tag="SAC", element=1)
        indicator = "C" if charge.kind is ChargeKind.CHARGE else "A"
        percent = s.number(charge.percent) if charge.percent is not None else None
        # SAC05 amount in cents, SAC07 percent, SAC15 description.
        values = [indicator, charge.code, None, None, s.cents(charge.amount), None, percent, *([None] * 7)]
        out.append(s.segment("SAC", *values, charge.description or None))
    out.append(s.segment("CTT", len(invoice.lines)))
    return Transaction(set_id=SET, control_number=control_number, segments=tuple(out))


def invoice_to_810(
    invoice: documents.Invoice,
    rules: PartnerRules,
    *,
    customer_reference: str | None = None,
    buyer_items: Mapping[int, str] | None = None,
    control_number: str = "0001",
) -> Transaction:
    """Our Invoice as an 810 to the customer: BIG04 their PO number (`customer_reference`, else our order number),
    REF*SI the shipment, N1*BT the customer (N103 91: our number for them), IT1 per line with a TXI when taxed
    (the buyer's part number from their order, `buyer_items` by order line, as BP), TDS the total with tax in
    cents, CTT."""
    out = [
        s.segment(
            "BIG", rules.format_date(invoice.issued_on), invoice.number, None, customer_reference or invoice.order
        ),
        s.segment("CUR", "SE", invoice.currency),
        s.segment("REF", SHIPMENT_REF, invoice.shipment),
        s.segment("N1", "BT", None, "91", invoice.customer),
        *_itd(invoice.due_on, rules),
    ]
    for line in invoice.lines:
        pairs = rules.ids_for(line.sku, {s.BUYER_PART: (buyer_items or {}).get(line.line)})
        out.append(_it1(rules, line.line, line.quantity, line.unit_price, pairs))
        if line.tax_rate:
            tax = line.tax(invoice.currency).amount
            out.append(s.segment("TXI", "TX", s.number(tax), s.number(line.tax_rate * 100)))
    out.append(s.segment("TDS", s.cents(invoice.total().amount)))
    out.append(s.segment("CTT", len(invoice.lines)))
    return Transaction(set_id=SET, control_number=control_number, segments=tuple(out))
