"""Deliver the hub's orders to Tryton as sales: received -> a draft sale, accepted -> quoted and confirmed, rejected
or wholly cancelled -> the sale cancelled (while Tryton has not confirmed it). For purchases Tryton confirmed:
receipt.matched -> the supplier shipment received and done, supplierinvoice.approved -> the supplier invoice posted.
With `post_journal`, journal.posted -> a posted account move.

Owns: finding or creating the party and products a sale needs (per the authority rules) and moving sales, supplier
shipments, supplier invoices and moves through Tryton's own workflow. Must not: keep state of its own or touch the
hub's stores: the record itself, found by the hub's key (a sale's `reference`, a shipment's or invoice's
`reference`, a move's description), is what makes a repeat delivery harmless, and the poller (which has a unit of
work) records the cross-references when it reads Tryton back.

Why the sale is drafted on order.received: order.accepted carries only the order's key and total, and a sender has
no unit of work to read the order from. Tryton holds the document from the start, in the state that matches the
hub's (draft = received, confirmed = accepted), and the accepted total is checked against the sale's before
confirming.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from crossdock.connectors.tryton import mapping
from crossdock.connectors.tryton.client import TrytonClient, TrytonRefused, TrytonUnavailable
from crossdock.domain import catalog, documents
from crossdock.domain.errors import CrossdockError
from crossdock.domain.events import Envelope
from crossdock.hub.errors import MappingError
from crossdock.hub.ports import AttemptOutcome, Delivery, SendResult

log = logging.getLogger(__name__)

MISSING_REFERENCE = "missing-cross-reference"
EVENT_TYPES = (
    catalog.OrderReceived.event_type,
    catalog.OrderChanged.event_type,
    catalog.OrderAccepted.event_type,
    catalog.OrderRejected.event_type,
    catalog.OrderCancelledV2.event_type,
)
# What goes back to Tryton for the purchases it confirmed, and (with post_journal) the hub's journal.
PURCHASE_EVENT_TYPES = (catalog.ReceiptMatched.event_type, catalog.SupplierInvoiceApproved.event_type)
JOURNAL_EVENT_TYPES = (catalog.JournalPosted.event_type,)
Authority = Literal["link", "create"]
_OPEN_STATES = ("draft", "quotation")


class MissingReference(MappingError):
    """A customer or item the order names is not in Tryton, and the hub may not create it there."""


class SaleRefused(MappingError):
    """The sale cannot follow the hub's order in Tryton's workflow; a person must look at it."""


class NotInTrytonYet(Exception):
    """What the delivery needs in Tryton is not there yet; it will be."""


class SaleNotThereYet(NotInTrytonYet):
    """The sale of an order the hub accepted is not in Tryton yet (its order.received is still on its way)."""


class InvoiceNotDraftedYet(NotInTrytonYet):
    """Tryton has not drafted the invoice lines of the purchase yet (on fulfillment: before the goods are in)."""


class BooksRefused(MappingError):
    """The supplier invoice or journal entry cannot be posted in Tryton as the hub has it; a person must look."""


@dataclass(frozen=True)
class SalePolicy:
    """How sales are made in one Tryton.

    `customers` / `items`: link: a party (by code) or product (by template code) must exist, else the delivery is
    dead-lettered as a missing cross-reference; create: made in Tryton when missing (parties named from the
    customer master, products with `account_category` and the order's price as list price). `invoice_method`:
    when Tryton drafts the customer invoice; 'fulfillment' bills what shipped."""

    customers: Authority = "create"
    items: Authority = "link"
    warehouse: str = "WH"
    account_category: str | None = None
    invoice_method: Literal["manual", "order", "fulfillment"] = "fulfillment"
    customer_names: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BooksPolicy:
    """What goes back to Tryton's books. `prefix`: the source's prefix of purchase numbers (a hub PO without it is
    not this Tryton's). `post_journal`: post the hub's journal entries as account moves in the journal of code
    `journal`, each hub account on the Tryton account whose code `accounts` names; lines on accounts that require a
    party go to the party of code `journal_party` (hub entries name no party)."""

    prefix: str = ""
    post_journal: bool = False
    accounts: Mapping[str, str] = field(default_factory=dict)
    journal: str = "MISC"
    journal_party: str | None = None


class TrytonSender:
    """A destination `kind: tryton`: sends one delivery at a time, in the order given (writes to one Tryton on
    SQLite must not overlap)."""

    def __init__(
        self, client: TrytonClient, policy: SalePolicy | None = None, books: BooksPolicy | None = None
    ) -> None:
        self.client = client
        self.policy = policy or SalePolicy()
        self.books = books or BooksPolicy()
        self._ids: dict[tuple[str, str], int] = {}  # Tryton ids that never change: currencies, the warehouse
        self._books_currency: str | None = None

    def send(self, deliveries: Sequence[Delivery]) -> list[SendResult]:
        return [self._send_one(delivery) for delivery in deliveries]

    def close(self) -> None:
        self.client.close()

    def _send_one(self, delivery: Delivery) -> SendResult:
        started = time.perf_counter()

        def result(outcome: AttemptOutcome, error: str | None = None, retry: float | None = None) -> SendResult:
            return SendResult(delivery.id, outcome, None, error, retry, (time.perf_counter() - started) * 1000)

        try:
            # The delivery's payload is the envelope plus the outbox's own fields (its log position).
            fields = {k: v for k, v in delivery.payload.items() if k in Envelope.model_fields}
            self.apply(Envelope.model_validate(fields))
        except TrytonUnavailable as exc:
            return result(AttemptOutcome.RETRYABLE, str(exc), exc.retry_after)
        except NotInTrytonYet as exc:
            return result(AttemptOutcome.RETRYABLE, str(exc))
        except (TrytonRefused, MappingError, CrossdockError, ValueError) as exc:
            return result(AttemptOutcome.PERMANENT, str(exc))
        return result(AttemptOutcome.DELIVERED)

    # ---- one event ------------------------------------------------------------------------------------------------
    def apply(self, event: Envelope) -> None:
        payload = catalog.payload_of(event)
        match payload:
            case catalog.OrderReceived(order=order):
                self.draft(order)
            case catalog.OrderChanged(order=order):
                self.redraft(order)
            case catalog.OrderAccepted(order=number, total=total):
                self.confirm(number, total)
            case catalog.OrderRejected(order=number):
                self.cancel(number, only_open=True)
            case catalog.OrderCancelledV2(order=number, whole=True):
                self.cancel(number, only_open=False)
            case catalog.OrderCancelledV2():
                raise SaleRefused(
                    f"order {event.subject}: a partial cancellation must be made on the Tryton sale by hand"
                )
            case catalog.ReceiptMatched():
                self.receive(payload)
            case catalog.SupplierInvoiceApproved():
                self.bill(payload, event.time.date())
            case catalog.JournalPosted():
                self.post_entry(payload)
            case _:
                raise MappingError(f"the Tryton destination does not take {event.type}")

    def draft(self, order: documents.SalesOrder) -> int:
        existing = self.find_sale(order.number)
        if existing is not None:
            return int(existing["id"])
        values = mapping.sale_values(order, self._refs(order), self.policy.invoice_method)
        (sale_id,) = self.client.create("sale.sale", [values])
        log.info("order %s drafted as Tryton sale %s", order.number, sale_id)
        return sale_id

    def redraft(self, order: documents.SalesOrder) -> None:
        sale = self.find_sale(order.number)
        if sale is None:
            self.draft(order)
            return
        if sale["state"] not in _OPEN_STATES:
            raise SaleRefused(
                f"order {order.number} changed, but Tryton sale {sale['number']} is {sale['state']}: change it there"
            )
        if sale["state"] == "quotation":
            self.client.button("sale.sale", "draft", [sale["id"]])
        refs = self._refs(order)
        self.client.write(
            "sale.sale",
            [sale["id"]],
            {
                "lines": [
                    ["delete", list(sale["lines"])],
                    ["create", mapping.sale_lines_values(order, refs)],
                ]
            },
        )

    def confirm(self, number: str, total: documents.Money) -> None:
        sale = self.find_sale(number)
        if sale is None:
            raise SaleNotThereYet(f"order {number} was accepted, but Tryton has no sale with reference {number} yet")
        if sale["state"] not in _OPEN_STATES:
            return  # confirmed already (a repeat delivery), or further along
        untaxed = Decimal(str(sale["untaxed_amount"]))
        if sale["currency."]["code"] != total.currency or untaxed != total.amount:
            raise SaleRefused(
                f"order {number}: Tryton sale {sale['number'] or sale['id']} totals {untaxed} "
                f"{sale['currency.']['code']} before tax, the hub accepted {total}"
            )
        self._check_line_marks(number, sale)
        if sale["state"] == "draft":
            self.client.button("sale.sale", "quote", [sale["id"]])
        self.client.button("sale.sale", "confirm", [sale["id"]])
        log.info("order %s confirmed as Tryton sale %s", number, sale["id"])

    def _check_line_marks(self, number: str, sale: Mapping[str, Any]) -> None:
        """Before Tryton confirms: every goods line still names its hub line in its note, once. A line a clerk added,
        or whose note lost the marker, would leave its shipments with no hub line; a person puts it right first."""
        lines = self.client.read("sale.line", list(sale["lines"]), ["type", "sequence", "note"])
        seen: dict[int, int] = {}
        for line in sorted(lines, key=lambda ln: (ln.get("sequence") or 0, int(ln["id"]))):
            if line.get("type", "line") != "line":
                continue
            hub_line = mapping.hub_line_in(line.get("note"))
            where = f"order {number}: line {line.get('sequence')} of Tryton sale {sale['number'] or sale['id']}"
            if hub_line is None:
                raise SaleRefused(
                    f"{where} names no hub line in its note ('{mapping.LINE_MARK}<line>'): a line the hub did not "
                    "make, or a note edited; put it right in Tryton, then replay"
                )
            if hub_line in seen:
                raise SaleRefused(f"{where} names hub line {hub_line}, as line {seen[hub_line]} does")
            seen[hub_line] = line.get("sequence") or 0

    def cancel(self, number: str, *, only_open: bool) -> None:
        sale = self.find_sale(number)
        if sale is None or sale["state"] == "cancelled":
            return
        if sale["state"] not in _OPEN_STATES:
            if only_open:
                return
            raise SaleRefused(f"order {number} was cancelled, but Tryton sale {sale['number']} is {sale['state']}")
        if sale["state"] == "quotation":
            self.client.button("sale.sale", "draft", [sale["id"]])
        self.client.button("sale.sale", "cancel", [sale["id"]])

    def find_sale(self, number: str) -> dict[str, Any] | None:
        rows = self.client.search_read(
            "sale.sale",
            [("reference", "=", number), ("state", "!=", "cancelled")],
            ["number", "state", "lines", "untaxed_amount", "currency.code", "party.code"],
            order=[("id", "ASC")],
        )
        if len(rows) > 1:
            raise SaleRefused(f"order {number}: Tryton holds {len(rows)} open sales with this reference")
        return rows[0] if rows else None

    # ---- purchases Tryton confirmed: receipts and supplier invoices ----------------------------------------------
    def find_purchase(self, po: str) -> dict[str, Any] | None:
        """The Tryton purchase a hub PO came from; None for POs the hub has from elsewhere."""
        number = mapping.purchase_number(po, self.books.prefix)
        if number is None:
            return None
        rows = self.client.search_read(
            "purchase.purchase",
            [("number", "=", number)],
            ["number", "state", "party", "warehouse", "lines", "invoices", "invoice_method", "currency.code"],
            limit=2,
        )
        if len(rows) > 1:
            raise BooksRefused(f"purchase order {po}: Tryton holds {len(rows)} purchases numbered {number}")
        return rows[0] if rows else None

    def receive(self, matched: catalog.ReceiptMatched) -> None:
        """The goods accepted on a hub receipt, received in Tryton: a supplier shipment (its `reference` the hub's
        receipt) with the purchase's moves for those quantities, received and done."""
        purchase = self.find_purchase(matched.order)
        if purchase is None:
            log.info("receipt %s: purchase order %s is not from this Tryton", matched.receipt, matched.order)
            return
        where = f"receipt {matched.receipt} of purchase order {matched.order}"
        found = self.client.search_read(
            "stock.shipment.in",
            [("reference", "=", matched.receipt), ("supplier", "=", purchase["party"])],
            ["state"],
            limit=1,
        )
        if found:
            shipment_id, state = int(found[0]["id"]), str(found[0]["state"])
        else:
            lines = self.client.read("purchase.line", purchase["lines"], ["type", "sequence", "moves"])
            move_ids = sorted(m for ln in lines for m in ln["moves"])
            moves = self.client.read("stock.move", move_ids, ["state", "shipment", "quantity", "origin"])
            waiting: dict[int, list[dict[str, Any]]] = {}
            for move in moves:
                line_id = mapping.origin_id(move.get("origin"), "purchase.line")
                if move["state"] == "draft" and not move.get("shipment") and line_id is not None:
                    waiting.setdefault(line_id, []).append(move)
            received = {int(line.line_id): line.accepted for line in matched.lines}
            plan = mapping.receipt_quantities(received, mapping.purchase_line_numbers(lines), waiting, where)
            if not plan:
                return  # nothing arrived in good condition
            before = {int(m["id"]): m["quantity"] for m in moves}
            for move_id, quantity in plan.items():
                if before.get(move_id) != quantity:
                    self.client.write("stock.move", [move_id], {"quantity": quantity})
            (warehouse,) = self.client.read(
                "stock.location", [purchase["warehouse"]], ["input_location", "storage_location"]
            )
            (shipment_id,) = self.client.create(
                "stock.shipment.in",
                [
                    {
                        "supplier": purchase["party"],
                        "warehouse": purchase["warehouse"],
                        "warehouse_input": warehouse["input_location"],
                        "warehouse_storage": warehouse["storage_location"],
                        "reference": matched.receipt,
                        "incoming_moves": [["add", sorted(plan)]],
                    }
                ],
            )
            state = "draft"
        if state == "draft":
            self.client.button("stock.shipment.in", "receive", [shipment_id])
            (state,) = (r["state"] for r in self.client.read("stock.shipment.in", [shipment_id], ["state"]))
        if state == "received":
            self.client.button("stock.shipment.in", "do", [shipment_id])
        log.info("receipt %s received in Tryton as supplier shipment %s", matched.receipt, shipment_id)

    def bill(self, approved: catalog.SupplierInvoiceApproved, day: date) -> None:
        """An invoice the hub approved (after the three-way match), posted in Tryton: the supplier invoice Tryton
        drafted for the purchase, with the supplier's number as `reference` and the lines as billed."""
        purchase = self.find_purchase(approved.order)
        if purchase is None:
            log.info("supplier invoice %s: purchase order %s is not from this Tryton", approved.invoice, approved.order)
            return
        where = f"supplier invoice {approved.invoice} of purchase order {approved.order}"
        if purchase["currency."]["code"] != approved.currency:
            raise BooksRefused(f"{where}: billed in {approved.currency}, the Tryton purchase is in another currency")
        found = self.client.search_read(
            "account.invoice",
            [
                ("type", "=", "in"),
                ("party", "=", purchase["party"]),
                ("reference", "=", approved.invoice),
                ("state", "!=", "cancelled"),
            ],
            ["state"],
            limit=1,
        )
        if found and found[0]["state"] in ("posted", "paid"):
            return  # posted already: a repeated delivery
        invoice_id = int(found[0]["id"]) if found else self._fill_draft(purchase, approved, day, where)
        (totals,) = self.client.read("account.invoice", [invoice_id], ["untaxed_amount", "tax_amount", "number"])
        net = approved.total - approved.tax
        if Decimal(str(totals["untaxed_amount"])) != net or Decimal(str(totals["tax_amount"])) != approved.tax:
            raise BooksRefused(
                f"{where}: Tryton reckons {totals['untaxed_amount']} and tax {totals['tax_amount']}, the hub approved "
                f"{net} and tax {approved.tax}; the draft invoice is left in Tryton for a person"
            )
        self.client.button("account.invoice", "post", [invoice_id])
        log.info("%s posted in Tryton as invoice %s", where, invoice_id)

    def _fill_draft(
        self, purchase: Mapping[str, Any], approved: catalog.SupplierInvoiceApproved, day: date, where: str
    ) -> int:
        unclaimed = ["OR", ("reference", "=", None), ("reference", "=", "")]
        domain = [("id", "in", list(purchase["invoices"])), ("state", "=", "draft"), unclaimed]
        drafts = self.client.search_read("account.invoice", domain, ["lines"], order=[("id", "ASC")], limit=1)
        if not drafts:
            # Tryton drafts the invoice itself on order or on fulfillment; on manual, the purchase's button does.
            manual = purchase["invoice_method"] == "manual"
            self.client.button("purchase.purchase", "manual_invoice" if manual else "process", [purchase["id"]])
            (again,) = self.client.read("purchase.purchase", [purchase["id"]], ["invoices"])
            domain[0] = ("id", "in", list(again["invoices"]))
            drafts = self.client.search_read("account.invoice", domain, ["lines"], order=[("id", "ASC")], limit=1)
        if not drafts:
            raise InvoiceNotDraftedYet(f"{where}: Tryton has not drafted an invoice for purchase {purchase['number']}")
        (draft,) = drafts
        lines = self.client.read("account.invoice.line", draft["lines"], ["type", "origin", "quantity", "unit_price"])
        purchase_lines = self.client.read("purchase.line", purchase["lines"], ["type", "sequence"])
        writes, deletes = mapping.supplier_invoice_lines(
            approved,
            mapping.purchase_line_numbers(purchase_lines),
            [ln for ln in lines if ln.get("type", "line") == "line"],
            where,
        )
        actions: list[Any] = [["write", [line_id], values] for line_id, values in writes.items()]
        if deletes:
            actions.append(["delete", deletes])
        self.client.write(
            "account.invoice",
            [draft["id"]],
            {"reference": approved.invoice, "invoice_date": day, "lines": actions},
        )
        return int(draft["id"])

    # ---- the hub's journal entries -----------------------------------------------------------------------------
    def post_entry(self, posted: catalog.JournalPosted) -> None:
        """A hub journal entry as a posted account move; its description names the entry, so a repeat finds it."""
        if not self.books.post_journal:
            raise BooksRefused("journal.posted reached a Tryton destination whose options lack post_journal: true")
        description = mapping.journal_description(posted)
        found = self.client.search_read("account.move", [("description", "=", description)], ["state"], limit=1)
        if found:
            if found[0]["state"] != "posted":
                self.client.button("account.move", "post", [found[0]["id"]])
            return
        currency = self._company_currency()
        if posted.currency != currency:
            raise BooksRefused(f"journal entry {posted.entry} is in {posted.currency}, Tryton's books in {currency}")
        accounts: dict[str, int] = {}
        for line in posted.lines:
            code = self.books.accounts.get(line.account)
            if code is None:
                raise MissingReference(
                    f"{MISSING_REFERENCE}: hub account {line.account} (journal entry {posted.entry}) has no Tryton "
                    "account code in the destination's options.accounts"
                )
            accounts[line.account] = self._one("account.account", "code", code)
        needing = {
            int(row["id"])
            for row in self.client.read("account.account", sorted(set(accounts.values())), ["party_required"])
            if row["party_required"]
        }
        parties: dict[str, int] = {}
        for hub_account, account_id in accounts.items():
            if account_id not in needing:
                continue
            if self.books.journal_party is None:
                raise BooksRefused(
                    f"journal entry {posted.entry}: Tryton account {self.books.accounts[hub_account]} needs a party "
                    "and hub entries name none: set options.journal_party"
                )
            parties[hub_account] = self._one("party.party", "code", self.books.journal_party)
        periods = self.client.search_read(
            "account.period",
            [
                ("start_date", "<=", posted.posted_on),
                ("end_date", ">=", posted.posted_on),
                ("type", "=", "standard"),
                ("state", "=", "open"),
            ],
            ["id"],
            limit=1,
        )
        if not periods:
            raise BooksRefused(f"journal entry {posted.entry}: Tryton has no open period on {posted.posted_on}")
        values = mapping.move_values(
            posted,
            journal=self._one("account.journal", "code", self.books.journal),
            period=int(periods[0]["id"]),
            accounts=accounts,
            parties=parties,
        )
        (move_id,) = self.client.create("account.move", [values])
        self.client.button("account.move", "post", [move_id])
        log.info("journal entry %s posted in Tryton as move %s", posted.entry, move_id)

    def _company_currency(self) -> str:
        """The currency of the books of the user's company (it never changes once the company has moves)."""
        if self._books_currency is None:
            preferences = self.client.model("res.user", "get_preferences", True)
            (company,) = self.client.read("company.company", [preferences["company"]], ["currency.code"])
            self._books_currency = str(company["currency."]["code"])
        return self._books_currency

    # ---- what a sale refers to ------------------------------------------------------------------------------------
    def _refs(self, order: documents.SalesOrder) -> mapping.SaleRefs:
        party, address = self._party(order.customer)
        products = {}
        for line in order.lines:
            unit = self._unit(line.quantity.unit)
            products[line.sku] = (self._product(line), unit)
        return mapping.SaleRefs(
            party=party,
            address=address,
            currency=self._one("currency.currency", "code", order.currency),
            warehouse=self._one("stock.location", "code", self.policy.warehouse, [("type", "=", "warehouse")]),
            products=products,
        )

    def _party(self, customer: str) -> tuple[int, int]:
        rows = self.client.search_read("party.party", [("code", "=", customer)], ["addresses"], limit=1)
        if rows:
            party = rows[0]
            if party["addresses"]:
                return int(party["id"]), int(party["addresses"][0])
            (address,) = self.client.create("party.address", [{"party": party["id"]}])
            return int(party["id"]), address
        if self.policy.customers != "create":
            raise MissingReference(
                f"{MISSING_REFERENCE}: customer {customer} has no Tryton party with that code, "
                "and the hub may only link customers in Tryton"
            )
        name = self.policy.customer_names.get(customer) or customer
        (party_id,) = self.client.create("party.party", [{"code": customer, "name": name}])
        (read,) = self.client.read("party.party", [party_id], ["addresses"])
        if read["addresses"]:
            return party_id, int(read["addresses"][0])
        (address,) = self.client.create("party.address", [{"party": party_id}])
        return party_id, address

    def _product(self, line: documents.SalesOrderLine) -> int:
        rows = self.client.search_read("product.product", [("template.code", "=", line.sku)], ["id"], limit=2)
        if len(rows) > 1:
            raise MissingReference(f"{MISSING_REFERENCE}: item {line.sku} names more than one Tryton product variant")
        if rows:
            return int(rows[0]["id"])
        if self.policy.items != "create":
            raise MissingReference(
                f"{MISSING_REFERENCE}: item {line.sku} (line {line.line}) has no Tryton product with that template "
                "code, and the hub may only link items in Tryton"
            )
        unit = self._unit(line.quantity.unit)
        values: dict[str, Any] = {
            "name": line.sku,
            "code": line.sku,
            "type": "goods",
            "salable": True,
            "default_uom": unit,
            "sale_uom": unit,  # Tryton's sale module requires it on a salable template; the order's unit sells it
            "list_price": line.unit_price,
            "products": [["create", [{}]]],
        }
        if self.policy.account_category:
            values["account_category"] = self._one("product.category", "name", self.policy.account_category)
        (template,) = self.client.create("product.template", [values])
        (product,) = self.client.search_read("product.product", [("template", "=", template)], ["id"], limit=1)
        return int(product["id"])

    def _unit(self, unit: str) -> int:
        return self._one("product.uom", "symbol", mapping.tryton_unit(unit))

    def _one(self, model: str, name: str, value: str, domain: Sequence[Any] = ()) -> int:
        key = (model, f"{name}={value}")
        if key not in self._ids:
            rows = self.client.search_read(model, [(name, "=", value), *domain], ["id"], limit=2)
            if len(rows) != 1:
                found = "none" if not rows else "several"
                raise MissingReference(f"{MISSING_REFERENCE}: Tryton has {found} {model} with {name} {value!r}")
            self._ids[key] = int(rows[0]["id"])
        return self._ids[key]


def options(settings: Mapping[str, Any]) -> SalePolicy:
    """The policy from a destination's `tryton` settings block (plain values)."""
    return SalePolicy(**{k: v for k, v in settings.items() if v is not None})
