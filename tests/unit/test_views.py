"""The read views over the in-memory stores: what an order, availability, the journal and a reconciliation look
like to a portal or an operator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest

from crossdock.domain import inventory
from crossdock.domain.accounting import JournalEntry, JournalLine, PostingRule, SourceRef
from crossdock.domain.inventory import (
    BufferKind,
    ChannelBuffer,
    ChannelBuffers,
    LedgerState,
    Movement,
    MovementKind,
    ReservationPolicy,
)
from crossdock.domain.workflows import order_to_cash as otc
from crossdock.hub import views
from crossdock.hub.handlers.policy import OrderToCashPolicy
from crossdock.hub.ports import BusinessException, OrderRecord, UnitOfWork
from crossdock.storage.memory import MemoryUnitOfWorkFactory
from tests.unit.factories import T0, make_envelope


@pytest.fixture
def uow() -> Iterator[UnitOfWork]:
    with MemoryUnitOfWorkFactory(lambda: T0)() as unit:
        yield unit


def line(line_id: str, **quantities: str) -> otc.LineState:
    fields = {"ordered": "4", "unit_price": "2.5", **quantities}
    return otc.LineState(line_id=line_id, sku=f"SKU-{line_id}", **{k: Decimal(v) for k, v in fields.items()})


def store_order(uow: UnitOfWork, state: otc.OrderState, channel: str | None = "web") -> None:
    uow.orders.save(
        OrderRecord(
            order_id=state.order_id,
            status=state.status.value,
            state=state.model_dump(mode="json"),
            channel=channel,
            customer_id=state.customer_id,
        ),
        T0,
    )


def stock(uow: UnitOfWork, *counts: tuple[str, str, int]) -> LedgerState:
    movements = [
        Movement(
            id=f"rcv-{sku}-{where}",
            kind=MovementKind.RECEIPT,
            sku=sku,
            location=where,
            quantity=Decimal(n),
            occurred_at=T0,
        )
        for sku, where, n in counts
    ]
    update = inventory.apply_movements(LedgerState.empty(), movements)
    uow.inventory.save(LedgerState.empty(), update.state, update.entries, T0)
    return update.state


def test_an_order_view_gives_lines_amounts_why_it_is_open_and_its_history_in_log_order(uow: UnitOfWork) -> None:
    state = otc.OrderState(
        order_id="SO-1",
        status=otc.OrderStatus.PARTIALLY_SHIPPED,
        revision=1,
        customer_id="C-1",
        currency="EUR",
        lines=(line("1", reserved="4", released="4", shipped="1"), line("2", ordered="1", unit_price="0.333")),
        invoiced_amount=Decimal("2.50"),
        paid=Decimal("1"),
    )
    store_order(uow, state)
    uow.log.append(
        [
            (make_envelope(id="e2", type="crossdock.order.accepted.v1", subject="SO-1", causationid="e1"), None),
            (make_envelope(id="other", subject="SO-2"), None),
        ]
    )
    uow.log.append([(make_envelope(id="e3", type="crossdock.shipment.confirmed.v1", subject="SO-1"), None)])

    view = views.order_view(uow, "SO-1")

    assert view is not None
    assert (view["status"], view["channel"], view["customer"], view["link"]) == (
        "partially_shipped",
        "web",
        "C-1",
        "/v1/orders/SO-1",
    )
    assert view["amounts"] == {
        "currency": "EUR",
        "total": "10.33",  # each line rounded to cents first: 10.00 + 0.33
        "invoiced": "2.50",
        "paid": "1",
        "balance_due": "1.50",
        "credit": "0",
    }
    assert view["lines"][0] | {"unit_price": None} == {
        "line_id": "1",
        "sku": "SKU-1",
        "ordered": "4",
        "cancelled": "0",
        "reserved": "4",
        "backordered": "0",
        "released": "4",
        "shipped": "1",
        "invoiced": "0",
        "unit_price": None,
    }
    assert view["open_reasons"] == list(otc.open_reasons(state))
    assert [(e["id"], e["causationid"]) for e in view["history"]] == [("e2", "e1"), ("e3", None)]
    assert [e["position"] for e in view["history"]] == [1, 3]
    assert {t["stage"] for t in view["sla_timers"]} == {s.value for s in otc.active_stages(state)}


def test_an_order_known_only_from_facts_that_came_first_has_no_total_yet(uow: UnitOfWork) -> None:
    store_order(uow, otc.OrderState.new("SO-EARLY"), channel=None)

    view = views.order_view(uow, "SO-EARLY")

    assert view is not None
    assert (view["status"], view["total"], view["amounts"]["total"]) == ("not_received", None, None)
    assert view["open_reasons"] == ["the order itself has not arrived"]


def test_an_unknown_order_has_no_view(uow: UnitOfWork) -> None:
    assert views.order_view(uow, "SO-404") is None


def test_an_order_view_lists_only_the_open_exceptions_about_that_order(uow: UnitOfWork) -> None:
    store_order(uow, otc.OrderState(order_id="SO-1", status=otc.OrderStatus.RECEIVED, currency="EUR"))

    def exception(ident: str, kind: str = "order", key: str = "SO-1") -> BusinessException:
        return BusinessException(
            id=ident, owner="finance", reason_code="r", about_kind=kind, about_key=key, message="m", opened_at=T0
        )

    for found in (exception("EX-1"), exception("EX-2", kind="payment"), exception("EX-3", key="SO-2")):
        uow.exceptions.open(found)

    view = views.order_view(uow, "SO-1")

    assert view is not None
    assert [e["id"] for e in view["exceptions"]] == ["EX-1"]


def test_availability_takes_each_channel_buffer_off_network_atp_and_never_goes_below_zero(uow: UnitOfWork) -> None:
    state = stock(uow, ("SKU-1", "WH1", 5), ("SKU-1", "WH2", 3))
    reserved = inventory.reserve_stock(state, "SO-1", "1", "SKU-1", Decimal(2), ReservationPolicy.FEWEST_SHIPMENTS)
    uow.inventory.save(state, reserved.state, (), T0)
    policy = OrderToCashPolicy(
        channels=("web", "edi", "market"),
        buffers=ChannelBuffers(
            defaults={
                "web": ChannelBuffer(kind=BufferKind.ABSOLUTE, value=Decimal(10)),
                "market": ChannelBuffer(kind=BufferKind.PERCENT, value=Decimal(50)),
            }
        ),
    )

    found = views.availability(uow, policy, "SKU-1")
    one = views.availability(uow, policy, "SKU-1", location="WH9", channel="market")

    assert found["network"] == {"on_hand": "8", "in_transit": "0", "reserved": "2", "available": "6"}
    assert [(p["location"], p["reserved"], p["available"]) for p in found["locations"]] == [
        ("WH1", "2", "3"),
        ("WH2", "0", "3"),
    ]
    assert found["channels"] == [
        {"channel": "web", "available": "0"},  # a buffer above ATP leaves nothing, not a negative
        {"channel": "edi", "available": "6"},  # no buffer
        {"channel": "market", "available": "3"},  # half held back
    ]
    assert one["locations"] == [
        {"sku": "SKU-1", "location": "WH9", "on_hand": "0", "in_transit": "0", "reserved": "0", "available": "0"}
    ]
    assert one["channels"] == [{"channel": "market", "available": "3"}]


def test_positions_are_paged_by_sku_and_location_until_the_cursor_runs_out(uow: UnitOfWork) -> None:
    stock(uow, ("B", "WH1", 1), ("A", "WH2", 2), ("A", "WH1", 3), ("C", "WH1", 4))

    pages, cursor = [], None
    while True:
        page = views.positions_page(uow, after=cursor, limit=2)
        pages.append([(p["sku"], p["location"]) for p in page["items"]])
        cursor = page["next"]
        if cursor is None:
            break

    assert pages == [[("A", "WH1"), ("A", "WH2")], [("B", "WH1"), ("C", "WH1")], []]


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64!",  # not even base64
        "bm90IGpzb24",  # base64 of text that is not JSON
        "WzFd",  # JSON, but not a (sku, location) pair
    ],
)
def test_a_cursor_the_hub_did_not_give_out_is_refused(uow: UnitOfWork, cursor: str) -> None:
    with pytest.raises(ValueError, match="not a cursor"):
        views.positions_page(uow, after=cursor)


def test_a_cursor_survives_skus_with_any_characters() -> None:
    key = ("SKU|1/ä", "WH 1")

    assert views.decode_cursor(views.encode_cursor(key)) == key


def journal_entry(ident: str, currency: str, amount: str) -> JournalEntry:
    value = Decimal(amount)
    return JournalEntry(
        id=ident,
        period="2024-05",
        date=date(2024, 5, 6),
        currency=currency,
        rule=PostingRule.INVOICE,
        source=SourceRef(event_id=f"evt-{ident}", document_type="invoice", document_number=ident),
        lines=(JournalLine(account="1200", debit=value), JournalLine(account="4000", credit=value)),
    )


def test_a_journal_page_totals_debits_and_credits_per_currency(uow: UnitOfWork) -> None:
    entries = [journal_entry("INV-1", "EUR", "10.00"), journal_entry("INV-2", "USD", "3.50")]
    entries.append(journal_entry("INV-3", "EUR", "2.25"))
    uow.journal.add("main", [e.model_copy(update={"sequence": n}) for n, e in enumerate(entries, 1)], 3, T0)

    page = views.journal_page(uow, ledger="main", limit=2)
    rest = views.journal_page(uow, ledger="main", after=page["next"], limit=2)

    assert [e["id"] for e in page["items"]] == ["INV-1", "INV-2"]
    assert page["totals"] == {"EUR": {"debit": "10.00", "credit": "10.00"}, "USD": {"debit": "3.50", "credit": "3.50"}}
    assert ([e["id"] for e in rest["items"]], rest["next"]) == (["INV-3"], None)
    assert rest["totals"] == {"EUR": {"debit": "2.25", "credit": "2.25"}}
    assert views.journal_page(uow, ledger="other")["items"] == []
