"""The overview's KPIs over the in-memory stores: what is stuck where and for how long, what is shipped but not
invoiced or received but not matched, what the last reconciliation raised per location, invoice exceptions per
channel, dead letters, sync latency and each connector's health."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossdock.domain.workflows import order_to_cash as otc
from crossdock.domain.workflows import procure_to_pay as p2p
from crossdock.hub import dashboard
from crossdock.hub.ports import (
    BreakerState,
    BusinessException,
    DeliveryStatus,
    DeliveryUpdate,
    EndpointState,
    ExceptionAction,
    MessageStatus,
    NewDelivery,
    NewMessage,
    OrderRecord,
    PurchaseOrderRecord,
    ReconciliationRun,
    UnitOfWork,
)
from crossdock.storage.memory import MemoryUnitOfWorkFactory
from tests.unit.factories import PROPERTY, T0

NOW = T0 + timedelta(days=2)


@pytest.fixture
def uow() -> Iterator[UnitOfWork]:
    with MemoryUnitOfWorkFactory(lambda: T0)() as unit:
        yield unit


def store_order(
    uow: UnitOfWork,
    order_id: str,
    status: otc.OrderStatus,
    at: datetime = T0,
    *,
    channel: str | None = "webshop",
    lines: tuple[otc.LineState, ...] = (),
) -> None:
    state = otc.OrderState(order_id=order_id, status=status, currency="EUR", customer_id="C1", lines=lines)
    found = uow.orders.load(order_id)
    uow.orders.save(
        OrderRecord(
            order_id=order_id,
            status=status.value,
            state=state.model_dump(mode="json"),
            version=found.version if found else 0,
            channel=channel,
            customer_id="C1",
        ),
        at,
    )


def order_line(line_id: str = "1", **quantities: str) -> otc.LineState:
    fields = {"ordered": "10", "unit_price": "2.50", **quantities}
    return otc.LineState.model_validate({"line_id": line_id, "sku": f"SKU-{line_id}", **fields})


def store_po(uow: UnitOfWork, po_id: str, status: p2p.POStatus, *lines: p2p.LineState, receipts: int = 1) -> None:
    state = p2p.POState(
        po_id=po_id,
        status=status,
        currency="EUR",
        supplier_id="S1",
        lines=lines,
        receipts=tuple(
            p2p.ReceiptRecord(receipt_id=f"{po_id}-R{n}", shipment_id=None, location="WH1", lines=())
            for n in range(receipts)
        ),
    )
    uow.purchase_orders.save(
        PurchaseOrderRecord(po_id=po_id, status=status.value, state=state.model_dump(mode="json"), supplier_id="S1"),
        T0,
    )


def po_line(line_id: str = "1", **quantities: str) -> p2p.LineState:
    fields = {"ordered": "10", "unit_price": "4.00", **quantities}
    return p2p.LineState.model_validate({"line_id": line_id, "sku": f"SKU-{line_id}", **fields})


def exception(
    ident: str, *, owner: str = "finance", reason: str = "x", kind: str = "order", key: str = "SO-1"
) -> BusinessException:
    return BusinessException(
        id=ident, owner=owner, reason_code=reason, about_kind=kind, about_key=key, message="m", opened_at=T0
    )


def delivery(ident: str, destination: str = "erp", created: datetime = T0) -> NewDelivery:
    return NewDelivery(
        id=ident,
        event_id=f"evt-{ident}",
        event_type="crossdock.order.accepted.v1",
        subject="SO-1",
        destination=destination,
        partition_key="SO-1",
        shard=0,
        payload={},
        created_at=created,
        next_attempt_at=created,
    )


def settle(uow: UnitOfWork, ident: str, status: DeliveryStatus, at: datetime | None = None) -> None:
    delivered = at if status is DeliveryStatus.DELIVERED else None
    uow.outbox.record(
        [
            DeliveryUpdate(
                ident, status, 1, at or T0, "HTTP 400" if status is DeliveryStatus.DEAD else None, delivered, None
            )
        ]
    )


# ---- orders and purchase orders by stage -----------------------------------------------------------------------


def test_open_orders_are_counted_per_stage_with_how_long_the_oldest_has_waited(uow: UnitOfWork) -> None:
    store_order(uow, "SO-1", otc.OrderStatus.RELEASED, T0)
    store_order(uow, "SO-2", otc.OrderStatus.RELEASED, T0 + timedelta(hours=5))
    store_order(uow, "SO-3", otc.OrderStatus.ACCEPTED, T0 + timedelta(hours=1))
    store_order(uow, "SO-4", otc.OrderStatus.CLOSED, T0 - timedelta(days=9))
    store_order(uow, "SO-5", otc.OrderStatus.CANCELLED, T0 - timedelta(days=9))

    stages = dashboard.order_stages(uow, NOW)

    assert [(s.status, s.count) for s in stages] == [("accepted", 1), ("released", 2)], (
        "open stages come in workflow order; closed and cancelled orders are finished, not stuck"
    )
    released = stages[1]
    assert released.oldest_update == T0 and released.stuck_for == timedelta(days=2), (
        "a stage is as stuck as its longest-untouched order"
    )


def test_an_order_updated_again_is_no_longer_the_oldest_in_its_stage(uow: UnitOfWork) -> None:
    store_order(uow, "SO-1", otc.OrderStatus.RELEASED, T0)
    store_order(uow, "SO-2", otc.OrderStatus.RELEASED, T0 + timedelta(hours=1))
    store_order(uow, "SO-1", otc.OrderStatus.RELEASED, T0 + timedelta(hours=3))

    [stage] = dashboard.order_stages(uow, NOW)

    assert stage.oldest_update == T0 + timedelta(hours=1)


def test_purchase_orders_are_counted_per_open_stage(uow: UnitOfWork) -> None:
    store_po(uow, "PO-1", p2p.POStatus.SENT)
    store_po(uow, "PO-2", p2p.POStatus.CLOSED)

    stages = dashboard.purchase_order_stages(uow, NOW)

    assert [(s.status, s.count, s.stuck_for) for s in stages] == [("sent", 1, timedelta(days=2))]


def test_the_oldest_order_of_a_stage_larger_than_one_page_is_still_found(uow: UnitOfWork) -> None:
    for n in range(40):
        store_order(uow, f"SO-{n}", otc.OrderStatus.RELEASED, T0 + timedelta(minutes=37 * n + 11))

    [stage] = dashboard.order_stages(uow, NOW, page=5)

    assert stage.count == 40 and stage.oldest_update == T0 + timedelta(minutes=11), (
        "past one page the oldest is searched for, not guessed from the newest rows"
    )


@PROPERTY
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=10**8), min_size=1, max_size=60),
    page=st.integers(min_value=1, max_value=8),
)
def test_the_oldest_update_is_a_real_one_within_a_second_of_the_true_oldest(offsets: list[int], page: int) -> None:
    times = sorted((T0 + timedelta(seconds=o / 10) for o in offsets), reverse=True)

    def find(before: datetime | None, limit: int) -> list[datetime]:
        return [t for t in times if before is None or t < before][:limit]

    found = dashboard.oldest_update(find, page)

    assert found in times
    assert timedelta(0) <= found - min(times) <= dashboard.OLDEST_RESOLUTION


# ---- goods moved, money not matched ----------------------------------------------------------------------------


def test_shipped_units_no_invoice_covers_are_counted_and_valued_at_the_order_price(uow: UnitOfWork) -> None:
    store_order(
        uow,
        "SO-1",
        otc.OrderStatus.PARTIALLY_SHIPPED,
        lines=(order_line("1", shipped="3", invoiced="1"), order_line("2", shipped="0")),
    )
    store_order(uow, "SO-2", otc.OrderStatus.SHIPPED, lines=(order_line("1", shipped="10", invoiced="10"),))
    store_order(uow, "SO-3", otc.OrderStatus.RELEASED, lines=(order_line("1", shipped="4"),))

    backlog = dashboard.shipped_not_invoiced(uow)

    assert (backlog.documents, backlog.units, backlog.value) == (1, Decimal(2), {"EUR": Decimal("5.00")}), (
        "only shipped units without an invoice count; a fully invoiced order is done"
    )
    assert backlog.keys == ("SO-1",) and not backlog.capped


def test_a_scan_that_stops_at_its_limit_says_its_figures_are_lower_bounds(uow: UnitOfWork) -> None:
    for n in range(3):
        store_order(uow, f"SO-{n}", otc.OrderStatus.SHIPPED, lines=(order_line("1", shipped="1"),))

    assert dashboard.shipped_not_invoiced(uow, limit=2).capped
    assert not dashboard.shipped_not_invoiced(uow, limit=4).capped


def test_received_goods_no_approved_invoice_covers_are_unmatched_receipts(uow: UnitOfWork) -> None:
    store_po(uow, "PO-1", p2p.POStatus.PARTIALLY_RECEIVED, po_line("1", received="5", invoiced="2"), receipts=2)
    store_po(uow, "PO-2", p2p.POStatus.RECEIVED, po_line("1", received="10", invoiced="10"))

    backlog = dashboard.receipts_not_matched(uow)

    assert (backlog.documents, backlog.units, backlog.value) == (2, Decimal(3), {"EUR": Decimal("12.00")})
    assert backlog.keys == ("PO-1",)


# ---- the last reconciliation -----------------------------------------------------------------------------------


def drift(
    location: str, action: str, unexplained: str, *, sku: str = "A", adjustment: str | None = None
) -> dict[str, str | None]:
    return {
        "sku": sku,
        "location": location,
        "ledger": "10",
        "counted": str(10 + Decimal(unexplained)),
        "drift": unexplained,
        "explained": "0",
        "unexplained": unexplained,
        "cause": "unknown",
        "action": action,
        "explanation": "no pending movement explains it",
        "adjustment": adjustment,
    }


def reconcile(uow: UnitOfWork, ident: str, at: datetime, raised: list[str], *drifts: dict[str, str | None]) -> None:
    run = ReconciliationRun(ident, "wms", "key:abc/ops", at, "0" * 64, 12, 12 - len(drifts), drifts, tuple(raised))
    assert uow.reconciliations.add(run)


def test_the_last_reconciliation_shows_per_location_what_drifted_what_was_adjusted_and_what_waits_for_a_person(
    uow: UnitOfWork,
) -> None:
    for ident, key in (("d1", "A@WH1"), ("d2", "B@WH1"), ("d3", "A@WH2")):
        uow.exceptions.open(exception(ident, owner="warehouse", reason="inventory_drift", kind="stock", key=key))
    uow.exceptions.act("d2", ExceptionAction("accept", "ana", T0, "counted again"), resolve=True)
    reconcile(uow, "count-1", T0, ["old"], drift("WH9", "adjust", "1", adjustment="m0"))
    reconcile(
        uow,
        "count-2",
        T0 + timedelta(hours=1),
        ["d1", "d2", "d3", "gone"],
        drift("WH1", "exception", "-2"),
        drift("WH1", "exception", "3", sku="B"),
        drift("WH1", "adjust", "-1", sku="C", adjustment="m1"),
        drift("WH2", "exception", "4"),
        drift("WH3", "adjust", "5", adjustment="m2"),
    )

    found = dashboard.last_reconciliation(uow)

    assert found is not None and found.reconciliation == "count-2", "the newest reconciliation is the one shown"
    assert (found.source, found.actor, found.at) == ("wms", "key:abc/ops", T0 + timedelta(hours=1))
    assert (found.checked, found.drifts, found.adjustments) == (12, 5, 2)
    assert [(d.location, d.positions, d.adjusted, d.drifted, d.open, d.unexplained) for d in found.by_location] == [
        ("WH1", 3, 1, 2, 1, Decimal(0)),  # two raised, one since accepted; the drifts' sum cancels out
        ("WH2", 1, 0, 1, 1, Decimal(4)),
        ("WH3", 1, 1, 0, 0, Decimal(5)),  # corrected: nothing left for a person
    ], "every location that drifted is shown, not only those with an exception"


def test_before_any_reconciliation_there_is_none_to_show(uow: UnitOfWork) -> None:
    assert dashboard.last_reconciliation(uow) is None
    reconcile(uow, "count-1", T0, [])

    found = dashboard.last_reconciliation(uow)

    assert found is not None and (found.drifts, found.by_location) == (0, ())


# ---- exceptions ------------------------------------------------------------------------------------------------


def test_invoice_exceptions_are_counted_per_channel_of_the_order_they_concern(uow: UnitOfWork) -> None:
    store_order(uow, "SO-1", otc.OrderStatus.SHIPPED, channel="webshop")
    store_order(uow, "SO-2", otc.OrderStatus.INVOICED, channel="marketplace")
    uow.links.link(dashboard.INVOICE_LINK, "INV-9", "SO-2")
    uow.exceptions.open(exception("e1", reason="sla_shipped_not_invoiced", key="SO-1"))
    uow.exceptions.open(exception("e2", reason="period_closed", kind="invoice", key="INV-9"))
    uow.exceptions.open(exception("e3", reason="invoice_match", kind="purchase_order", key="PO-1"))
    uow.exceptions.open(exception("e4", owner="warehouse", reason="sla_released_not_shipped", key="SO-1"))
    uow.exceptions.open(exception("e5", reason="refused_invoiced", key="SO-1"))
    uow.exceptions.act("e5", ExceptionAction("accept", "ana", T0), resolve=True)

    assert dashboard.invoice_exceptions_by_channel(uow) == {"marketplace": 1, dashboard.SUPPLIERS: 1, "webshop": 1}, (
        "an invoice's exception counts for its order's channel; shipping delays and resolved ones are not counted"
    )


# ---- deliveries ------------------------------------------------------------------------------------------------


def test_dead_letters_are_counted_per_destination(uow: UnitOfWork) -> None:
    uow.outbox.enqueue([delivery("a"), delivery("b"), delivery("c", "wms"), delivery("d", "wms")])
    for ident in ("a", "c", "d"):
        settle(uow, ident, DeliveryStatus.DEAD)

    found = dashboard.dead_letters(uow)

    assert (found.total, found.by_destination, found.capped) == (3, {"erp": 1, "wms": 2}, False)


def test_sync_latency_is_measured_from_queued_to_delivered_per_slice_of_the_window(uow: UnitOfWork) -> None:
    start = NOW - timedelta(hours=1)
    # Three deliveries queued in the first five minutes (200, 400 and 1000 ms), one in the last slice (50 ms).
    timings = [("a", 1, 200), ("b", 2, 400), ("c", 3, 1000), ("d", 58, 50)]
    uow.outbox.enqueue([delivery(ident, created=start + timedelta(minutes=m)) for ident, m, _ in timings])
    for ident, minute, ms in timings:
        settle(uow, ident, DeliveryStatus.DELIVERED, start + timedelta(minutes=minute, milliseconds=ms))
    uow.outbox.enqueue([delivery("pending", created=start + timedelta(minutes=30))])

    buckets = dashboard.sync_latency(uow, NOW, window=timedelta(hours=1), buckets=12)

    assert len(buckets) == 12 and buckets[0].start == start and buckets[-1].end == NOW
    first, last = buckets[0], buckets[-1]
    assert (first.sampled, first.p50_ms, first.p95_ms, first.max_ms) == (3, 400.0, 1000.0, 1000.0)
    assert (last.sampled, last.p50_ms) == (1, 50.0)
    assert all(b.sampled == 0 and b.p50_ms is None for b in buckets[1:-1]), "a pending delivery has no latency yet"
    assert dashboard.oldest_pending_delivery(uow, NOW) == timedelta(minutes=30)


def test_a_latency_chart_needs_a_window_and_a_slice(uow: UnitOfWork) -> None:
    with pytest.raises(ValueError, match="positive window"):
        dashboard.sync_latency(uow, NOW, window=timedelta(0))


# ---- connectors ------------------------------------------------------------------------------------------------


def message(source: str, key: str, status: MessageStatus = MessageStatus.PENDING) -> NewMessage:
    return NewMessage(
        source, key, "h", b"{}", {}, T0, "p", 0, status, "bad" if status is MessageStatus.FAILED else None
    )


def test_connectors_show_last_message_breaker_state_and_backlog(uow: UnitOfWork) -> None:
    uow.inbox.add([message("shop", "1"), message("shop", "2", MessageStatus.FAILED), message("wms", "3")])
    uow.endpoints.load("erp")  # as the outbox does before it saves a breaker
    uow.endpoints.save(EndpointState("erp", BreakerState.OPEN, failures=5, open_until=NOW + timedelta(seconds=30)))
    uow.outbox.enqueue([delivery("a", "erp"), delivery("b", "wms", NOW - timedelta(minutes=5)), delivery("c", "wms")])
    settle(uow, "b", DeliveryStatus.DELIVERED, NOW - timedelta(minutes=4))
    settle(uow, "c", DeliveryStatus.DEAD)

    found = dashboard.connectors(uow, NOW, sources=["wms", "shop", "bank"], destinations=["wms", "erp", "jsonl"])

    assert [(s.name, s.health, s.failed) for s in found.sources] == [
        ("bank", "idle", 0),
        ("shop", "failing", 1),
        ("wms", "ok", 0),
    ]
    assert found.sources[1].last_message_at == T0
    assert [(d.name, d.health, d.breaker, d.pending, d.dead) for d in found.destinations] == [
        ("erp", "down", "open", 1, 0),
        ("jsonl", "ok", "closed", 0, 0),
        ("wms", "degraded", "closed", 0, 1),
    ], "an open breaker is down; dead letters make a destination degraded; one never used is fine"
    assert found.destinations[2].last_delivered_at == NOW - timedelta(minutes=4)
