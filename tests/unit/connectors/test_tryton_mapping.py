"""The Tryton connector's pure mapping: Tryton records as JSON-RPC reads them, to canonical events (shipments,
invoices, adjustments, confirmed purchases), and the hub's documents to what the sender writes in Tryton (sales,
receipt quantities, supplier invoice lines, account moves). No server: the records are written as Tryton reads them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossdock.connectors.tryton import mapping
from crossdock.domain import catalog, documents
from crossdock.hub.errors import MappingError

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
INT4_MAX = 2**31 - 1  # trytond stores an Integer field as a 32-bit INTEGER on PostgreSQL
SHOPIFY_LINE = 487817672276298554  # a Shopify line item id: above 2**53, let alone 2**31


# ---- factories: records as Tryton's JSON-RPC reads them (dotted fields come back as "<field>.": {...}) ----------


def sale_line(line_id: int, hub_line: int | None, order: str | None = "SO-1", sequence: int = 1) -> dict[str, Any]:
    """A sale line as the poller's message keeps it: `line` is the hub line it resolved (pinned, or from the note)."""
    return {"id": line_id, "sequence": sequence, "sale.": {"id": 1, "reference": order}, "line": hub_line}


def stock_move(move_id: int, sale_line_id: int, sku: str, quantity: float, **overrides: Any) -> dict[str, Any]:
    move = {
        "id": move_id,
        "state": "done",
        "quantity": quantity,
        "unit.": {"symbol": "u"},
        "product.": {"code": sku},
        "origin": f"sale.line,{sale_line_id}",
    }
    return move | overrides


def shipment_message(moves: list[dict[str, Any]], sale_lines: dict[str, Any], **record: Any) -> dict[str, Any]:
    shipment = {"id": 7, "number": "S-7", "state": "done", "done_at": "2026-03-02T09:30:00+00:00"} | record
    return {"kind": mapping.SHIPMENT, "record": shipment, "moves": moves, "sale_lines": sale_lines, "warehouse": "WH"}


def purchase_line(line_id: int, sku: str | None, quantity: float, **overrides: Any) -> dict[str, Any]:
    line = {
        "id": line_id,
        "type": "line",
        "sequence": None,
        "product": line_id * 10,
        "product.": {"id": line_id * 10, "code": sku} if sku else None,
        "quantity": quantity,
        "unit.": {"symbol": "u"},
        "unit_price": Decimal("6.25"),
    }
    return line | overrides


def purchase_message(lines: list[dict[str, Any]], **related: Any) -> dict[str, Any]:
    record = {"id": 3, "number": "P-3", "state": "confirmed", "purchase_date": "2026-03-02", "delivery_date": None}
    fields = {"supplier": "V-300", "currency": "EUR", "warehouse": "WH"} | related
    return {"kind": mapping.PURCHASE, "record": record, "lines": lines, **fields}


def body(message: dict[str, Any]) -> bytes:
    return json.dumps(message, default=str).encode()


# ---- units and quantities --------------------------------------------------------------------------------------


def test_a_tryton_quantity_keeps_the_value_the_clerk_typed_in_the_hubs_unit() -> None:
    assert mapping.quantity_of(6.0, "u", "here") == documents.Quantity(value=Decimal(6), unit="EA")
    assert mapping.quantity_of(2.5, "kg", "here") == documents.Quantity(value=Decimal("2.5"), unit="KG")


def test_a_unit_without_a_counterpart_is_refused_naming_it_and_where() -> None:
    with pytest.raises(MappingError, match=r"Tryton shipment 9: Tryton unit 'dozen' has no hub unit"):
        mapping.quantity_of(1, "dozen", "Tryton shipment 9")
    with pytest.raises(MappingError, match="unit 'PALLET' has no Tryton unit"):
        mapping.tryton_unit("PALLET")


# ---- the hub's order -> a Tryton sale ---------------------------------------------------------------------------


def hub_order(*line_ids: int) -> documents.SalesOrder:
    return documents.SalesOrder(
        number="SO-1",
        customer="C-100",
        channel="webshop",
        currency="EUR",
        customer_reference="PO-77",
        ordered_at=datetime(2026, 3, 2, 0, 30, tzinfo=UTC).astimezone(),
        lines=tuple(
            documents.SalesOrderLine(
                line=line,
                sku="A-100",
                quantity=documents.Quantity(value=Decimal(3), unit="EA"),
                unit_price=Decimal("4"),
            )
            for line in line_ids
        ),
    )


REFS = mapping.SaleRefs(party=5, address=6, currency=1, warehouse=4, products={"A-100": (11, 1)})


def test_a_sale_carries_the_hubs_order_number_line_ids_addresses_and_the_utc_order_day() -> None:
    order, refs = hub_order(2), REFS

    values = mapping.sale_values(order, refs)

    assert (values["reference"], values["party"], values["invoice_address"], values["shipment_address"]) == (
        "SO-1",
        5,
        6,
        6,
    )
    assert values["description"] == "PO-77", "the customer's own reference travels as the sale's description"
    assert values["sale_date"] == date(2026, 3, 2), "the order day is taken in UTC"
    [[action, [line]]] = values["lines"]
    assert action == "create"
    assert (line["sequence"], line["product"], line["unit"], line["quantity"]) == (1, 11, 1, 3.0)
    assert mapping.hub_line_in(line["note"]) == 2, "the hub's line id travels in the note, how shipments find it"


@settings(deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=2**64 - 1), min_size=1, max_size=30, unique=True))
def test_a_sale_line_sequence_fits_a_32_bit_integer_whatever_the_hubs_line_ids(line_ids: list[int]) -> None:
    [[_, lines]] = mapping.sale_values(hub_order(*line_ids), REFS)["lines"]

    assert [line["sequence"] for line in lines] == list(range(1, len(line_ids) + 1)), "the lines' positions"
    assert all(line["sequence"] <= INT4_MAX for line in lines), "Tryton on PostgreSQL refuses a sequence >= 2**31"
    assert [mapping.hub_line_in(line["note"]) for line in lines] == line_ids, "each note gives back its hub line id"


@pytest.mark.parametrize(
    ("note", "hub_line"),
    [
        # as the hub wrote it
        ("crossdock:line=487817672276298554", SHOPIFY_LINE),
        # a clerk's words around it do not matter
        ("gift wrap please\ncrossdock:line=7 (do not remove)", 7),
        # the marker twice, the same line: still that line
        ("crossdock:line=7 crossdock:line=7", 7),
        # two different lines (a paste from another line): none, not a guess
        ("crossdock:line=7 crossdock:line=8", None),
        # the marker deleted, or no note at all
        ("gift wrap please", None),
        (None, None),
    ],
)
def test_the_hub_line_is_read_from_the_marker_in_a_sale_lines_note(note: str | None, hub_line: int | None) -> None:
    assert mapping.hub_line_in(note) == hub_line


def test_a_pinned_hub_line_wins_over_a_note_a_clerk_edited_and_the_note_is_not_kept_in_the_message() -> None:
    read = {"id": 21, "sequence": 2, "note": "crossdock:line=9", "sale.": {"id": 1, "reference": "SO-1"}}

    assert mapping.sale_line_entry(read, pinned=SHOPIFY_LINE) == {
        "id": 21,
        "sequence": 2,
        "sale.": {"id": 1, "reference": "SO-1"},
        "line": SHOPIFY_LINE,
    }, "the cross-reference pinned at the first read stands; the note is left out so its edits make no new message"
    assert mapping.sale_line_entry(read, pinned=None)["line"] == 9, "not pinned yet: the note says"
    assert mapping.sale_line_entry(read | {"note": "edited"}, pinned=None)["line"] is None


@pytest.mark.parametrize(
    ("order", "line"),
    [
        # a Shopify order and line item
        ("SHOP-820982911946154508", SHOPIFY_LINE),
        # an order number that holds the separator itself
        ("PO#12", 3),
    ],
)
def test_an_order_lines_cross_reference_key_gives_its_line_back(order: str, line: int) -> None:
    assert mapping.line_of_key(mapping.order_line_key(order, line)) == line
    assert mapping.line_of_key("SO-1") is None, "a key that is no order line names no line"


# ---- shipments, invoices and adjustments read back -------------------------------------------------------------


def test_a_done_shipment_reports_what_left_per_order_line_summing_split_moves_and_skipping_undone_ones() -> None:
    moves = [
        stock_move(1, 21, "A-100", 4.0),
        stock_move(2, 21, "A-100", 2.0),  # the same sale line picked from two bins
        stock_move(3, 22, "B-200", 3.0),
        stock_move(4, 22, "B-200", 9.0, state="cancelled"),
    ]
    message = shipment_message(moves, {"21": sale_line(21, 1), "22": sale_line(22, 2)})

    (confirmed,) = mapping.shipment_payloads(message, prefix="T-")

    assert (confirmed.shipment.number, confirmed.shipment.order, confirmed.shipment.from_location) == (
        "T-S-7",
        "SO-1",
        "WH",
    )
    assert [(ln.line, ln.sku, ln.quantity.value) for ln in confirmed.shipment.lines] == [
        (1, "A-100", Decimal(6)),
        (2, "B-200", Decimal(3)),
    ]


def test_a_shipment_a_clerk_merged_for_two_orders_becomes_one_confirmation_per_order() -> None:
    moves = [stock_move(1, 21, "A-100", 1.0), stock_move(2, 31, "A-100", 2.0)]
    lines = {"21": sale_line(21, 1, "SO-1"), "31": sale_line(31, 1, "SO-2")}

    confirmed = mapping.shipment_payloads(shipment_message(moves, lines))

    assert [(c.shipment.number, c.shipment.order) for c in confirmed] == [("S-7/SO-1", "SO-1"), ("S-7/SO-2", "SO-2")]


def test_a_shipment_names_shopify_sized_hub_lines_exactly() -> None:
    moves = [stock_move(1, 21, "A-100", 6.0), stock_move(2, 22, "B-200", 3.0)]
    lines = {"21": sale_line(21, SHOPIFY_LINE, sequence=1), "22": sale_line(22, 2**64 - 1, sequence=2)}

    (confirmed,) = mapping.shipment_payloads(shipment_message(moves, lines))

    assert [(ln.line, ln.sku) for ln in confirmed.shipment.lines] == [(SHOPIFY_LINE, "A-100"), (2**64 - 1, "B-200")]


def test_a_message_stored_before_the_hub_line_moved_to_the_note_still_maps_by_sequence() -> None:
    legacy = {"id": 21, "sequence": 4, "sale.": {"id": 1, "reference": "SO-1"}}  # no `line`: sequence was the hub's

    (confirmed,) = mapping.shipment_payloads(shipment_message([stock_move(1, 21, "A-100", 1.0)], {"21": legacy}))

    assert [ln.line for ln in confirmed.shipment.lines] == [4], "a replay of an old message maps as it did"


def test_a_sale_line_that_names_no_hub_line_is_refused_naming_it_and_its_order() -> None:
    message = shipment_message([stock_move(1, 21, "A-100", 1.0)], {"21": sale_line(21, None)})

    with pytest.raises(
        MappingError, match=r"Tryton shipment S-7 \(id 7\): sale line 21 of order SO-1 names no hub line"
    ):
        mapping.shipment_payloads(message)


def test_moves_of_sales_the_hub_did_not_make_map_to_nothing() -> None:
    message = shipment_message([stock_move(1, 21, "A-100", 1.0)], {"21": sale_line(21, 1, order=None)})

    assert mapping.shipment_payloads(message) == []


def test_moves_of_one_sale_line_in_two_products_are_refused() -> None:
    moves = [stock_move(1, 21, "A-100", 1.0), stock_move(2, 21, "B-200", 1.0)]

    with pytest.raises(MappingError, match="moves of sale line 21 differ in product or unit"):
        mapping.shipment_payloads(shipment_message(moves, {"21": sale_line(21, 1)}))


def test_a_posted_customer_invoice_bills_the_order_for_the_shipment_its_lines_left_in_with_their_tax_rate() -> None:
    message = {
        "kind": mapping.INVOICE,
        "record": {"id": 9, "number": "INV-9", "state": "posted", "invoice_date": "2026-03-03"},
        "lines": [
            {
                "id": 91,
                "type": "line",
                "quantity": 5.0,
                "unit.": {"symbol": "u"},
                "product.": {"code": "A-100"},
                "unit_price": "12.50",
                "origin": "sale.line,21",
            },
            {"id": 92, "type": "comment", "origin": "sale.line,21"},
        ],
        "sale_lines": {"21": sale_line(21, 1)},
        "shipments": {"91": "S-7"},
        "tax_rates": {"91": "0.10"},
        "customer": "C-100",
        "currency": "EUR",
    }

    (posted,) = mapping.invoice_payloads(message)

    invoice = posted.invoice
    assert (invoice.number, invoice.order, invoice.shipment, invoice.issued_on) == (
        "INV-9",
        "SO-1",
        "S-7",
        date(2026, 3, 3),
    )
    assert [(ln.line, ln.sku, ln.quantity.value, ln.unit_price, ln.tax_rate) for ln in invoice.lines] == [
        (1, "A-100", Decimal(5), Decimal("12.50"), Decimal("0.10"))
    ]


@pytest.mark.parametrize(
    ("direction", "origin", "change", "reason"),
    [
        # found in a count: stock goes up, and it was a cycle count
        ("in", "stock.inventory.line,4", Decimal(2), catalog.AdjustmentReason.CYCLE_COUNT),
        # written off by hand: stock goes down, a correction
        ("out", None, Decimal(-2), catalog.AdjustmentReason.CORRECTION),
    ],
)
def test_a_move_to_or_from_lost_and_found_adjusts_on_hand_at_its_warehouse(
    direction: str, origin: str | None, change: Decimal, reason: catalog.AdjustmentReason
) -> None:
    move = stock_move(5, 0, "A-100", 2.0, origin=origin)
    message = {"kind": mapping.MOVE, "record": move, "warehouse": "WH", "direction": direction}

    (adjusted,) = mapping.move_payloads(message)

    assert (adjusted.sku, adjusted.location, adjusted.change.value, adjusted.reason) == ("A-100", "WH", change, reason)
    assert adjusted.reference == "tryton-move-5"


# ---- purchases confirmed in Tryton -> the hub's purchase orders ------------------------------------------------------


def test_purchase_lines_are_numbered_in_trytons_order_goods_lines_only() -> None:
    lines = [
        purchase_line(40, "A-100", 1, sequence=None),
        purchase_line(30, "B-200", 1, sequence=2),
        {"id": 20, "type": "title", "sequence": 1},
        purchase_line(10, "C-300", 1, sequence=2),
    ]

    assert mapping.purchase_line_numbers(lines) == {10: 1, 30: 2, 40: 3}, (
        "by sequence (unset last), then by id; titles and comments are not lines of the purchase order"
    )


def test_a_confirmed_purchase_is_the_hubs_purchase_order_issued_to_its_supplier() -> None:
    message = purchase_message(
        [purchase_line(12, "B-200", 4.0), purchase_line(11, "A-100", 10.0)], warehouse="WH", supplier="V-300"
    )

    (issued,) = mapping.purchase_payloads(message, prefix="T-")

    po = issued.purchase_order
    assert (po.number, po.supplier, po.currency, po.ship_to, po.ordered_on) == (
        "T-P-3",
        "V-300",
        "EUR",
        "WH",
        date(2026, 3, 2),
    )
    assert [(ln.line, ln.sku, ln.quantity.value, ln.quantity.unit, ln.unit_price) for ln in po.lines] == [
        (1, "A-100", Decimal(10), "EA", Decimal("6.25")),
        (2, "B-200", Decimal(4), "EA", Decimal("6.25")),
    ]


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        # the hub knows suppliers by their party code
        (purchase_message([purchase_line(1, "A-100", 1)], supplier=None), "its supplier party has no code"),
        # and locations by their code
        (purchase_message([purchase_line(1, "A-100", 1)], warehouse=None), "its warehouse has no code"),
        # a line without a product has no sku
        (purchase_message([purchase_line(1, None, 1)]), "line 1 has no product with a code"),
        # a negative line is a return to the supplier, not something to order
        (purchase_message([purchase_line(1, "A-100", -2)]), "line 1 orders -2: a return is not a purchase order"),
    ],
)
def test_a_purchase_the_hub_cannot_order_is_refused_saying_why(message: dict[str, Any], problem: str) -> None:
    with pytest.raises(MappingError, match=f"Tryton purchase P-3 \\(id 3\\): {problem}"):
        mapping.purchase_payloads(message)


def test_a_purchase_message_is_keyed_by_the_purchase_once_confirmed_and_known_by_the_prefixed_number() -> None:
    key, business = mapping.identity_keys(body(purchase_message([purchase_line(1, "A-100", 1)])), prefix="T-")

    assert (key, business) == ("tryton:purchase:3:confirmed", "T-P-3")


def test_a_stored_purchase_maps_to_the_same_event_ids_every_time_subject_and_partition_its_po() -> None:
    raw = body(purchase_message([purchase_line(1, "A-100", 1)]))

    first = mapping.to_envelopes(raw, source="erp", message_key="k-1", received_at=AT)
    again = mapping.to_envelopes(raw, source="erp", message_key="k-1", received_at=AT)

    assert [e.id for e in first] == [e.id for e in again], "a replay re-derives the same ids: the log dedupes it"
    (event,) = first
    assert (event.type, event.subject, event.partitionkey) == (catalog.PurchaseOrderIssued.event_type, "P-3", "P-3")


def test_a_po_of_another_origin_has_no_tryton_purchase_number() -> None:
    assert mapping.purchase_number("T-P-3", "T-") == "P-3"
    assert mapping.purchase_number("PO-1", "T-") is None
    assert mapping.purchase_number("T-", "T-") is None


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",  # bytes that are no JSON
        b'{"kind": "quote", "record": {}}',  # a kind the poller never stores
        b'{"kind": "purchase"}',  # no record
    ],
)
def test_a_raw_message_that_is_not_the_pollers_is_refused(payload: bytes) -> None:
    with pytest.raises(MappingError, match="Tryton message"):
        mapping.parse_message(payload)


def test_the_same_record_read_twice_is_the_same_message_body() -> None:
    record = {"state": "done", "id": 1, "number": "S-1"}

    assert mapping.message_body("shipment", record, warehouse="WH") == mapping.message_body(
        "shipment", dict(reversed(record.items())), warehouse="WH"
    ), "keys are sorted: a re-read is a duplicate at intake, not a conflict"


# ---- receipts and supplier invoices back to Tryton ---------------------------------------------------------------


def waiting(*quantities: float, start: int = 100) -> list[dict[str, Any]]:
    return [{"id": start + n, "quantity": q} for n, q in enumerate(quantities)]


@pytest.mark.parametrize(
    ("received", "moves", "plan"),
    [
        # all of it: the move as planned
        (Decimal(10), waiting(10), {100: 10.0}),
        # short: the move is written down, Tryton plans the rest anew
        (Decimal(8), waiting(10), {100: 8.0}),
        # more than ordered: the last move takes the excess
        (Decimal(12), waiting(10), {100: 12.0}),
        # across two planned deliveries, oldest first
        (Decimal(7), waiting(5, 5), {100: 5.0, 101: 2.0}),
    ],
)
def test_a_receipt_fills_the_purchase_lines_waiting_moves_in_order(
    received: Decimal, moves: list[dict[str, Any]], plan: dict[int, float]
) -> None:
    assert mapping.receipt_quantities({1: received}, {55: 1}, {55: moves}, "GR-1") == plan


def test_a_receipt_line_with_nothing_in_good_condition_moves_nothing() -> None:
    assert mapping.receipt_quantities({1: Decimal(0)}, {55: 1}, {55: waiting(10)}, "GR-1") == {}


@pytest.mark.parametrize(
    ("numbers", "moves", "problem"),
    [
        # the hub names a line the purchase does not have
        ({}, {}, "GR-1: the purchase has no line 1"),
        # everything of the line is received already in Tryton
        ({55: 1}, {}, "GR-1: line 1 has no goods left to receive in Tryton"),
    ],
)
def test_a_receipt_tryton_cannot_take_is_refused_saying_why(
    numbers: dict[int, int], moves: dict[int, list[dict[str, Any]]], problem: str
) -> None:
    with pytest.raises(MappingError, match=problem):
        mapping.receipt_quantities({1: Decimal(3)}, numbers, moves, "GR-1")


@settings(deadline=None, max_examples=200)
@given(
    received=st.decimals(min_value=1, max_value=1000, places=2),
    planned=st.lists(st.decimals(min_value=1, max_value=500, places=2), min_size=1, max_size=5),
)
def test_a_receipt_puts_exactly_what_arrived_on_the_moves_and_only_the_last_one_taken_beyond_its_plan(
    received: Decimal, planned: list[Decimal]
) -> None:
    moves = waiting(*(float(q) for q in planned))

    plan = mapping.receipt_quantities({1: received}, {55: 1}, {55: moves}, "GR-1")

    assert sum(Decimal(str(q)) for q in plan.values()) == received
    taken = [m for m in moves if m["id"] in plan]
    assert [m["id"] for m in taken] == [m["id"] for m in moves[: len(taken)]], "moves are filled oldest first"
    for move in taken[:-1]:
        assert plan[move["id"]] == move["quantity"], "every move but the last taken is received in full"


def approved(*lines: tuple[str, int, str]) -> catalog.SupplierInvoiceApproved:
    return catalog.SupplierInvoiceApproved(
        invoice="INV-77",
        order="P-3",
        supplier="V-300",
        currency="EUR",
        lines=tuple(
            catalog.ApprovedInvoiceLine(
                line_id=line_id, sku="A-100", quantity=Decimal(q), unit_price=Decimal(p), po_unit_price=Decimal(p)
            )
            for line_id, q, p in lines
        ),
        tax=Decimal(0),
        total=Decimal("50.00"),
    )


def test_the_draft_tryton_made_takes_the_billed_quantities_and_prices_and_loses_what_was_not_billed() -> None:
    drafts: list[dict[str, Any]] = [
        {"id": 901, "origin": "purchase.line,55", "quantity": 10.0},
        {"id": 902, "origin": "purchase.line,56", "quantity": 4.0},
        {"id": 903, "origin": None, "quantity": 1.0},  # a line a clerk added by hand
    ]

    writes, deletes = mapping.supplier_invoice_lines(approved(("1", 8, "6.30")), {55: 1, 56: 2}, drafts, "INV-77")

    assert writes == {901: {"quantity": 8.0, "unit_price": Decimal("6.30")}}
    assert deletes == [902, 903], "what the supplier did not bill is not on this invoice (Tryton drafts it again)"


def test_an_approved_line_without_a_draft_line_in_tryton_is_refused() -> None:
    with pytest.raises(MappingError, match="INV-77: Tryton drafted no invoice line for purchase order line 2"):
        mapping.supplier_invoice_lines(approved(("2", 1, "1")), {55: 1, 56: 2}, [], "INV-77")


# ---- the hub's journal -> Tryton moves -------------------------------------------------------------------------


def journal_posted(*accounts: tuple[str, str, str]) -> catalog.JournalPosted:
    return catalog.JournalPosted(
        entry="JE-12",
        sequence=12,
        period="2026-03",
        posted_on=date(2026, 3, 2),
        currency="EUR",
        source=catalog.BusinessRef(kind="goods_receipt", key="PO-1/GR-1"),
        lines=tuple(
            catalog.JournalLine(account=account, debit=Decimal(debit), credit=Decimal(credit), memo="receipt")
            for account, debit, credit in accounts
        ),
    )


def test_a_journal_entry_is_a_move_on_the_mapped_accounts_whose_description_names_the_entry() -> None:
    posted = journal_posted(("1400", "20", "0"), ("2000", "0", "20"))

    values = mapping.move_values(posted, journal=5, period=3, accounts={"1400": 42, "2000": 67}, parties={"2000": 9})

    assert (values["journal"], values["period"], values["date"]) == (5, 3, date(2026, 3, 2))
    assert mapping.journal_entry_of(values["description"]) == "JE-12", "the poller finds the hub's entry again"
    [[_, lines]] = values["lines"]
    assert [(ln["account"], ln["debit"], ln["credit"], ln.get("party")) for ln in lines] == [
        (42, Decimal(20), Decimal(0), None),
        (67, Decimal(0), Decimal(20), 9),
    ], "only lines on accounts that require a party carry one"


def test_a_journal_line_on_an_account_without_a_tryton_account_is_refused_naming_it() -> None:
    with pytest.raises(MappingError, match="journal entry JE-12: hub account 2150 has no Tryton account"):
        mapping.move_values(
            journal_posted(("1400", "5", "0"), ("2150", "0", "5")),
            journal=5,
            period=3,
            accounts={"1400": 1},
            parties={},
        )


@pytest.mark.parametrize(
    "description",
    [
        None,  # a move without a description
        "Opening balance",  # Tryton's own move
        "crossdock:",  # the mark without an entry
    ],
)
def test_moves_tryton_made_itself_are_no_hub_entry(description: str | None) -> None:
    assert mapping.journal_entry_of(description) is None
