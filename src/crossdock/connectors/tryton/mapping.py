"""Pure mapping between Tryton's records (as JSON-RPC reads them) and the canonical documents. No I/O.

Owns: which Tryton field carries which canonical field (README.md has the table), units, the shape of the raw
messages the poller stores, and what the sender writes for receipts, supplier invoices and journal entries. Must
not: call Tryton or the hub's stores.

How a Tryton record finds its hub order: a sale made by the hub carries the hub's order number in `reference` and
each sale line the hub's line id in its `note` (`crossdock:line=<id>`; `sequence` is only the line's position, 1..n:
it is a 32-bit integer on PostgreSQL, and hub line ids, Shopify's line item ids, are not); moves and invoice lines
point at their sale line by `origin`. The poller pins each line's hub id as a cross-reference the first time it
reads it and writes the hub line into the raw message (`sale_lines[].line`), so a note edited later changes nothing.
Records of sales the hub did not make (no reference) map to nothing. A purchase confirmed in Tryton is the hub's
purchase order of the same number (with the source's prefix); its goods lines are numbered 1, 2... in Tryton's
order (`purchase_line_numbers`), and moves and invoice lines find them by `origin` again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from crossdock.connectors.canonical import mapping as canonical
from crossdock.domain import catalog, documents, procurement
from crossdock.domain.events import Envelope, derive_id
from crossdock.hub.errors import MappingError

# The hub's unit codes and Tryton's unit symbols (product.uom, as its default data names them).
UNITS_TO_TRYTON: Mapping[str, str] = {
    "EA": "u",
    "KG": "kg",
    "G": "g",
    "LB": "lb",
    "M": "m",
    "CM": "cm",
    "L": "l",
    "H": "h",
}
UNITS_FROM_TRYTON: Mapping[str, str] = {symbol: code for code, symbol in UNITS_TO_TRYTON.items()}

# Raw message kinds the poller stores (the `kind` of its JSON body).
SHIPMENT = "shipment"
INVOICE = "invoice"
MOVE = "move"
PURCHASE = "purchase"
KINDS = (SHIPMENT, INVOICE, MOVE, PURCHASE)
# A hub journal entry posted as a Tryton move says so in the move's description: "crossdock:<entry> <source>".
JOURNAL_MARK = "crossdock:"
# A sale line the hub made names its hub line in its note (a field Tryton prints on no document); see hub_line_in.
LINE_MARK = "crossdock:line="
_LINE_MARK = re.compile(re.escape(LINE_MARK) + r"(\d+)")
# The cross-reference kind of a sale line: hub id "<order>#<line>", Tryton id the sale.line id.
ORDER_LINE = "order_line"


def tryton_unit(unit: str) -> str:
    try:
        return UNITS_TO_TRYTON[unit]
    except KeyError:
        raise MappingError(f"unit {unit!r} has no Tryton unit (known: {', '.join(sorted(UNITS_TO_TRYTON))})") from None


def hub_unit(symbol: str, where: str) -> str:
    try:
        return UNITS_FROM_TRYTON[symbol]
    except KeyError:
        raise MappingError(f"{where}: Tryton unit {symbol!r} has no hub unit") from None


def quantity_of(value: Any, symbol: str, where: str) -> documents.Quantity:
    # Tryton quantities are floats; their decimal text is what the clerk typed (6.0 is 6).
    return documents.Quantity(value=Decimal(str(value)).normalize() + 0, unit=hub_unit(symbol, where))


# ---- the hub's order -> a Tryton sale --------------------------------------------------------------------------


@dataclass(frozen=True)
class SaleRefs:
    """The Tryton ids a sale needs, found (or created) by the sender."""

    party: int
    address: int
    currency: int
    warehouse: int
    products: Mapping[str, tuple[int, int]]  # sku -> (product id, Tryton unit id of the order line's unit)


def sale_values(order: documents.SalesOrder, refs: SaleRefs, invoice_method: str = "fulfillment") -> dict[str, Any]:
    """A sale.sale create dict: raw RPC runs no on_change, so addresses and units are set here. Tryton invoices
    what shipped ('fulfillment') unless told otherwise."""
    values: dict[str, Any] = {
        "party": refs.party,
        "invoice_address": refs.address,
        "shipment_address": refs.address,
        "currency": refs.currency,
        "warehouse": refs.warehouse,
        "reference": order.number,
        "invoice_method": invoice_method,
        "shipment_method": "order",
        "lines": [["create", sale_lines_values(order, refs)]],
    }
    if order.customer_reference:
        values["description"] = order.customer_reference
    if order.ordered_at is not None:
        values["sale_date"] = order.ordered_at.astimezone(UTC).date()
    return values


def sale_lines_values(order: documents.SalesOrder, refs: SaleRefs) -> list[dict[str, Any]]:
    """The sale lines of an order, in the order's line order."""
    return [sale_line_values(line, refs, position) for position, line in enumerate(order.lines, start=1)]


def sale_line_values(line: documents.SalesOrderLine, refs: SaleRefs, position: int) -> dict[str, Any]:
    """`sequence` is the line's position (Tryton's Integer is 32-bit on PostgreSQL; a Shopify line id is not), the
    hub's line id travels in the note."""
    product, unit = refs.products[line.sku]
    return {
        "type": "line",
        "sequence": position,
        "note": line_note(line.line),
        "product": product,
        "quantity": float(line.quantity.value),
        "unit": unit,
        "unit_price": line.unit_price,
    }


def line_note(line: int) -> str:
    return f"{LINE_MARK}{line}"


def hub_line_in(note: Any) -> int | None:
    """The hub line a sale line's note names; None when it names none, or two different ones (a clerk's paste). Text a
    clerk adds around the marker does not matter."""
    if not isinstance(note, str):
        return None
    found = {int(number) for number in _LINE_MARK.findall(note)}
    return found.pop() if len(found) == 1 else None


def order_line_key(order: str, line: int) -> str:
    """The hub id of an order line in the cross-references: '<order>#<line>'."""
    return f"{order}#{line}"


def line_of_key(key: str) -> int | None:
    """The line of an order_line cross-reference's hub id; None when it is not one."""
    _, sep, line = key.rpartition("#")
    return int(line) if sep and line.isascii() and line.isdigit() else None


def sale_line_entry(line: Mapping[str, Any], pinned: int | None) -> dict[str, Any]:
    """A sale line as the poller's raw message keeps it: its id, position and sale, and `line`, the hub line it is:
    the cross-reference pinned when the poller first read it, else the marker in its note (None when neither). The
    note itself is left out: a clerk's later edit must not make the same fact a different message."""
    sale = line.get("sale.") or {}
    return {
        "id": line["id"],
        "sequence": line.get("sequence"),
        "sale.": {"id": sale.get("id"), "reference": sale.get("reference")},
        "line": pinned if pinned is not None else hub_line_in(line.get("note")),
    }


# ---- Tryton records -> raw messages -> canonical events ----------------------------------------------------------


def message_body(kind: str, record: Mapping[str, Any], **related: Any) -> bytes:
    """The raw message the poller hands to intake: the Tryton record as read, with what mapping it needs.
    Deterministic (sorted keys), so reading the same state again is a duplicate at intake."""
    return json.dumps({"kind": kind, "record": record, **related}, sort_keys=True, default=_json_default).encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a Tryton message")


def message_key(kind: str, record: Mapping[str, Any]) -> str:
    """One message per fact: a shipment once done, an invoice once posted, a move once done."""
    return f"tryton:{kind}:{record['id']}:{record.get('state', '')}"


def parse_message(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MappingError(f"Tryton message is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("kind") not in KINDS or not isinstance(payload.get("record"), dict):
        raise MappingError(f"Tryton message must be an object with kind one of {KINDS} and a record")
    return payload


def origin_id(origin: Any, model: str) -> int | None:
    """'sale.line,12' -> 12 when the origin is of that model."""
    if not isinstance(origin, str) or "," not in origin:
        return None
    name, _, ident = origin.partition(",")
    return int(ident) if name == model and ident.lstrip("-").isdigit() and int(ident) > 0 else None


def _sale_line(sale_lines: Mapping[str, Any], origin: Any) -> Mapping[str, Any] | None:
    line_id = origin_id(origin, "sale.line")
    if line_id is None:
        return None
    found: Mapping[str, Any] | None = sale_lines.get(str(line_id))
    if found is None or not (found.get("sale.") or {}).get("reference"):
        return None
    return found


def _order_of(line: Mapping[str, Any]) -> str:
    return str(line["sale."]["reference"])


def _hub_line(line: Mapping[str, Any], where: str) -> int:
    """The hub line of a sale line in a stored message. Messages stored before the hub line moved to the note have
    no `line`: their `sequence` was the hub line then."""
    if "line" not in line:
        return int(line["sequence"])
    hub_line = line["line"]
    if not isinstance(hub_line, int) or isinstance(hub_line, bool):
        raise MappingError(
            f"{where}: sale line {line['id']} of order {_order_of(line)} names no hub line (its note lost "
            f"'{LINE_MARK}<line>' before the hub read it)"
        )
    return hub_line


def _stamp(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _day(value: Any) -> date | None:
    if value is None:
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def shipment_payloads(message: Mapping[str, Any], prefix: str = "") -> list[catalog.ShipmentConfirmed]:
    """A done customer shipment: one ShipmentConfirmed per hub order among its moves (Tryton ships one sale per
    shipment unless a clerk merged them), lines summed per order line."""
    shipment = message["record"]
    number = f"{prefix}{shipment['number']}"
    where = f"Tryton shipment {shipment['number']} (id {shipment['id']})"
    per_order: dict[str, dict[int, tuple[str, str, Decimal]]] = {}
    for move in message.get("moves", []):
        if move.get("state") != "done":
            continue
        line = _sale_line(message.get("sale_lines", {}), move.get("origin"))
        if line is None:
            continue
        quantity = quantity_of(move["quantity"], move["unit."]["symbol"], where)
        sku = str(move["product."]["code"])
        lines = per_order.setdefault(_order_of(line), {})
        seq = _hub_line(line, where)
        before = lines.get(seq, (sku, quantity.unit, Decimal(0)))
        if before[:2] != (sku, quantity.unit):
            raise MappingError(f"{where}: moves of sale line {line['id']} differ in product or unit")
        lines[seq] = (sku, quantity.unit, before[2] + quantity.value)
    payloads = []
    for order, lines in sorted(per_order.items()):
        try:
            payloads.append(
                catalog.ShipmentConfirmed(
                    shipment=documents.Shipment(
                        number=number if len(per_order) == 1 else f"{number}/{order}",
                        order=order,
                        from_location=str(message["warehouse"]),
                        shipped_at=_stamp(shipment.get("done_at") or shipment.get("write_date")),
                        lines=tuple(
                            documents.ShipmentLine(
                                line=seq, sku=sku, quantity=documents.Quantity(value=value, unit=unit)
                            )
                            for seq, (sku, unit, value) in sorted(lines.items())
                        ),
                    )
                )
            )
        except ValidationError as exc:
            raise MappingError(f"{where}: {exc}") from None
    return payloads


def invoice_payloads(message: Mapping[str, Any], prefix: str = "") -> list[catalog.InvoicePosted]:
    """A posted customer invoice: one InvoicePosted per hub order it bills, for the shipment its lines' moves
    left in (Tryton's account_invoice_stock links them)."""
    invoice = message["record"]
    where = f"Tryton invoice {invoice.get('number')} (id {invoice['id']})"
    shipments: Mapping[str, str] = message.get("shipments", {})  # invoice line id -> shipment number
    rates: Mapping[str, str] = message.get("tax_rates", {})  # invoice line id -> summed percentage rate
    per_order: dict[str, list[documents.InvoiceLine]] = {}
    shipped_in: dict[str, str] = {}
    for line in message.get("lines", []):
        sale_line = _sale_line(message.get("sale_lines", {}), line.get("origin"))
        if sale_line is None or line.get("type", "line") != "line":
            continue
        order = _order_of(sale_line)
        quantity = quantity_of(line["quantity"], line["unit."]["symbol"], where)
        per_order.setdefault(order, []).append(
            documents.InvoiceLine(
                line=_hub_line(sale_line, where),
                sku=line["product."]["code"],
                quantity=quantity,
                unit_price=Decimal(str(line["unit_price"])),
                tax_rate=Decimal(rates.get(str(line["id"]), "0")),
            )
        )
        shipped_in.setdefault(order, shipments.get(str(line["id"])) or str(invoice["number"]))
    payloads = []
    for order, lines in sorted(per_order.items()):
        try:
            payloads.append(
                catalog.InvoicePosted(
                    invoice=documents.Invoice(
                        number=f"{prefix}{invoice['number']}",
                        order=order,
                        shipment=f"{prefix}{shipped_in[order]}",
                        customer=str(message["customer"]),
                        currency=str(message["currency"]),
                        issued_on=_day(invoice.get("invoice_date")) or date.today(),
                        due_on=None,
                        lines=tuple(lines),
                    )
                )
            )
        except ValidationError as exc:
            raise MappingError(f"{where}: {exc}") from None
    return payloads


def move_payloads(message: Mapping[str, Any]) -> list[catalog.InventoryAdjusted]:
    """A done move into or out of a lost-and-found location (an inventory count, a correction) changes on-hand
    at the warehouse of its other end. Moves of shipments are not adjustments: the shipments say them."""
    move = message["record"]
    where = f"Tryton move {move['id']}"
    warehouse = message.get("warehouse")
    if not warehouse or move.get("state") != "done":
        return []
    quantity = quantity_of(move["quantity"], move["unit."]["symbol"], where)
    sign = Decimal(1) if message.get("direction") == "in" else Decimal(-1)
    counted = origin_id(move.get("origin"), "stock.inventory.line") is not None
    return [
        catalog.InventoryAdjusted(
            sku=move["product."]["code"],
            location=str(warehouse),
            change=documents.Quantity(value=sign * quantity.value, unit=quantity.unit),
            reason=catalog.AdjustmentReason.CYCLE_COUNT if counted else catalog.AdjustmentReason.CORRECTION,
            reference=f"tryton-move-{move['id']}",
        )
    ]


def to_envelopes(
    body: bytes, *, source: str, message_key: str, received_at: datetime, prefix: str = ""
) -> list[Envelope]:
    """The stored raw message as canonical events; ids derive from the message key, so a replay repeats them."""
    message = parse_message(body)
    kind = message["kind"]
    payloads: Sequence[catalog.Payload]
    if kind == SHIPMENT:
        payloads = shipment_payloads(message, prefix)
    elif kind == INVOICE:
        payloads = invoice_payloads(message, prefix)
    elif kind == PURCHASE:
        payloads = purchase_payloads(message, prefix)
    else:
        payloads = move_payloads(message)
    envelopes = []
    for index, payload in enumerate(payloads):
        subject, partition = _keys(payload)
        envelopes.append(
            Envelope(
                id=derive_id("message", source, message_key, str(index)),
                source=f"crossdock/{source}",
                type=catalog.type_of(payload),
                subject=subject,
                time=received_at,
                data=catalog.data_of(payload),
                partitionkey=partition,
            )
        )
    return envelopes


def _keys(payload: catalog.Payload) -> tuple[str, str]:
    subject, partition = canonical.keys_of(catalog.type_of(payload), catalog.data_of(payload))
    if subject is None:
        raise MappingError(f"{catalog.type_of(payload)} has no business key")
    return subject, partition or subject


def identity_keys(body: bytes, prefix: str = "") -> tuple[str, str | None]:
    """(dedupe key, business key) of a raw message, cheaply: the record's id and state, and its hub order (or
    purchase order)."""
    message = parse_message(body)
    record = message["record"]
    if message["kind"] == PURCHASE:
        return message_key(PURCHASE, record), f"{prefix}{record['number']}"
    orders = sorted({str(line["sale."]["reference"]) for line in message.get("sale_lines", {}).values()})
    return message_key(message["kind"], record), (orders[0] if orders else None)


# ---- purchases confirmed in Tryton -> the hub's purchase orders --------------------------------------------------


def purchase_line_numbers(lines: Sequence[Mapping[str, Any]]) -> dict[int, int]:
    """Tryton purchase line id -> the hub's PO line number: the goods lines in Tryton's order (sequence, unset
    last, then id), numbered from 1. A confirmed purchase's lines no longer change, so the numbers hold for its
    receipts and invoices."""
    goods = [line for line in lines if line.get("type", "line") == "line"]
    goods.sort(key=lambda ln: (ln.get("sequence") is None, ln.get("sequence") or 0, int(ln["id"])))
    return {int(line["id"]): number for number, line in enumerate(goods, start=1)}


def purchase_payloads(message: Mapping[str, Any], prefix: str = "") -> list[catalog.PurchaseOrderIssued]:
    """A purchase confirmed in Tryton: the hub's purchase order, issued, to go to its supplier."""
    record = message["record"]
    where = f"Tryton purchase {record.get('number')} (id {record['id']})"
    if not message.get("supplier"):
        raise MappingError(f"{where}: its supplier party has no code, which the hub knows suppliers by")
    if not message.get("warehouse"):
        raise MappingError(f"{where}: its warehouse has no code, which the hub knows locations by")
    numbers = purchase_line_numbers(message.get("lines", []))
    lines = []
    for line in message.get("lines", []):
        number = numbers.get(int(line["id"]))
        if number is None:
            continue  # a title, comment or subtotal line
        sku = (line.get("product.") or {}).get("code")
        if not sku:
            raise MappingError(f"{where}: line {number} has no product with a code, which the hub knows items by")
        if Decimal(str(line["quantity"])) <= 0:
            raise MappingError(f"{where}: line {number} orders {line['quantity']}: a return is not a purchase order")
        lines.append(
            procurement.PurchaseOrderLine(
                line=number,
                sku=str(sku),
                quantity=quantity_of(line["quantity"], (line.get("unit.") or {}).get("symbol", ""), where),
                unit_price=Decimal(str(line["unit_price"])),
                requested_on=_day(line.get("delivery_date")),
            )
        )
    try:
        order = procurement.PurchaseOrder(
            number=f"{prefix}{record['number']}",
            supplier=str(message["supplier"]),
            currency=str(message["currency"]),
            ship_to=str(message["warehouse"]),
            ordered_on=_day(record.get("purchase_date")),
            requested_on=_day(record.get("delivery_date")),
            lines=tuple(sorted(lines, key=lambda ln: ln.line)),
        )
    except ValidationError as exc:
        raise MappingError(f"{where}: {exc}") from None
    return [catalog.PurchaseOrderIssued(purchase_order=order)]


def purchase_number(po: str, prefix: str) -> str | None:
    """The Tryton purchase number of a hub PO; None when the PO does not carry this Tryton's prefix."""
    return po[len(prefix) :] if po.startswith(prefix) and len(po) > len(prefix) else None


# ---- the hub's receipts and approved supplier invoices -> Tryton ------------------------------------------------


def receipt_quantities(
    received: Mapping[int, Decimal],
    numbers: Mapping[int, int],
    open_moves: Mapping[int, Sequence[Mapping[str, Any]]],
    where: str,
) -> dict[int, float]:
    """Stock move id -> the quantity it is received with, for a receipt of `received` (hub line number ->
    quantity in good condition). `open_moves` are each purchase line's moves still waiting for goods, oldest
    first. A line's quantity fills its moves in order and the last one taken gets whatever is left (an
    over-receipt); a move received short is written down, and Tryton plans the rest of the line anew."""
    line_of = {number: line_id for line_id, number in numbers.items()}
    plan: dict[int, float] = {}
    for number, quantity in sorted(received.items()):
        if quantity <= 0:
            continue
        line_id = line_of.get(number)
        if line_id is None:
            raise MappingError(f"{where}: the purchase has no line {number}")
        moves = list(open_moves.get(line_id, ()))
        if not moves:
            raise MappingError(f"{where}: line {number} has no goods left to receive in Tryton")
        left = quantity
        for index, move in enumerate(moves):
            last = index == len(moves) - 1
            take = left if last else min(left, Decimal(str(move["quantity"])))
            plan[int(move["id"])] = float(take)
            left -= take
            if left <= 0:
                break
    return plan


def supplier_invoice_lines(
    approved: catalog.SupplierInvoiceApproved,
    numbers: Mapping[int, int],
    draft_lines: Sequence[Mapping[str, Any]],
    where: str,
) -> tuple[dict[int, dict[str, Any]], list[int]]:
    """What to make of a draft supplier invoice Tryton drafted for the purchase: (invoice line id -> values to write,
    invoice line ids to delete). Each approved line takes the draft line of its purchase line, with the quantity and
    price as invoiced; draft lines the supplier did not bill are taken off (Tryton drafts them again later)."""
    by_number: dict[int, int] = {}
    for line in draft_lines:
        purchase_line = origin_id(line.get("origin"), "purchase.line")
        number = numbers.get(purchase_line) if purchase_line is not None else None
        if number is not None and number not in by_number:
            by_number[number] = int(line["id"])
    writes: dict[int, dict[str, Any]] = {}
    for billed in approved.lines:
        number = int(billed.line_id)
        line_id = by_number.get(number)
        if line_id is None:
            raise MappingError(f"{where}: Tryton drafted no invoice line for purchase order line {number}")
        writes[line_id] = {"quantity": float(billed.quantity), "unit_price": billed.unit_price}
    deletes = [int(line["id"]) for line in draft_lines if int(line["id"]) not in writes]
    return writes, deletes


# ---- the hub's journal entries -> Tryton account moves -------------------------------------------------------------


def journal_description(posted: catalog.JournalPosted) -> str:
    return f"{JOURNAL_MARK}{posted.entry} {posted.source.kind} {posted.source.key}"


def journal_entry_of(description: Any) -> str | None:
    """The hub entry a Tryton move was posted for, from its description; None for Tryton's own moves."""
    if not isinstance(description, str) or not description.startswith(JOURNAL_MARK):
        return None
    entry = description[len(JOURNAL_MARK) :].split(" ", 1)[0]
    return entry or None


def move_values(
    posted: catalog.JournalPosted,
    *,
    journal: int,
    period: int,
    accounts: Mapping[str, int],
    parties: Mapping[str, int],
) -> dict[str, Any]:
    """An account.move create dict for a hub entry. `accounts`: hub account -> Tryton account id; `parties`: hub
    account -> the party its Tryton account requires (hub entries name none)."""
    lines = []
    for line in posted.lines:
        if line.account not in accounts:
            raise MappingError(f"journal entry {posted.entry}: hub account {line.account} has no Tryton account")
        values: dict[str, Any] = {
            "account": accounts[line.account],
            "debit": line.debit,
            "credit": line.credit,
            "description": line.memo or None,
        }
        if line.account in parties:
            values["party"] = parties[line.account]
        lines.append(values)
    return {
        "journal": journal,
        "period": period,
        "date": posted.posted_on,
        "description": journal_description(posted),
        "lines": [["create", lines]],
    }
