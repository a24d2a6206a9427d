"""The order-to-cash state machine, fact by fact: what each fact does to an order and what it asks others to do."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from crossdock.domain import catalog, errors, events
from crossdock.domain.workflows import order_to_cash as o2c
from crossdock.domain.workflows.order_to_cash import OrderStatus as S
from tests.unit.factories import T0, make_envelope

ORDER = "SO-1001"
PRICES = {"L1": ("SKU-A", Decimal("5.00")), "L2": ("SKU-B", Decimal("12.50"))}


# --- factories: sensible defaults, any field overridable ---------------------------------------------------------


def received(**overrides: Any) -> o2c.OrderReceived:
    fields: dict[str, Any] = {
        "order_id": ORDER,
        "customer_id": "C-1",
        "currency": "EUR",
        "lines": (
            o2c.OrderLine(line_id="L1", sku="SKU-A", quantity=Decimal(10), unit_price=Decimal("5.00")),
            o2c.OrderLine(line_id="L2", sku="SKU-B", quantity=Decimal(4), unit_price=Decimal("12.50")),
        ),
    }
    fields.update(overrides)
    return o2c.OrderReceived(**fields)


def quantities(**per_line: int | str) -> tuple[o2c.LineQuantity, ...]:
    return tuple(o2c.LineQuantity(line_id=line, quantity=Decimal(q)) for line, q in per_line.items())


def accepted(revision: int = 1, **overrides: Any) -> o2c.OrderAccepted:
    return o2c.OrderAccepted(order_id=ORDER, revision=revision, **overrides)


def rejected(revision: int = 1) -> o2c.OrderRejected:
    reason = o2c.RejectionReason(code=o2c.RejectionCode.CREDIT_LIMIT_EXCEEDED, text="over the limit")
    return o2c.OrderRejected(order_id=ORDER, revision=revision, reasons=(reason,))


def reserved(ident: str = "R1", location: str = "WH-1", **per_line: int) -> o2c.StockReserved:
    allocations = tuple(
        o2c.Allocation(line_id=line, location=location, quantity=Decimal(q)) for line, q in per_line.items()
    )
    return o2c.StockReserved(order_id=ORDER, reservation_id=ident, allocations=allocations)


def released(ident: str = "REL1", **per_line: int) -> o2c.WarehouseReleased:
    return o2c.WarehouseReleased(order_id=ORDER, release_id=ident, lines=quantities(**per_line))


def shipped(ident: str = "SH1", **per_line: int) -> o2c.ShipmentConfirmed:
    return o2c.ShipmentConfirmed(order_id=ORDER, shipment_id=ident, lines=quantities(**per_line))


def invoiced(
    ident: str = "INV1", shipment: str = "SH1", amount: str | None = None, **per_line: int
) -> o2c.InvoicePosted:
    value = Decimal(amount) if amount is not None else sum(PRICES[line][1] * q for line, q in per_line.items())
    return o2c.InvoicePosted(
        order_id=ORDER,
        invoice_id=ident,
        shipment_id=shipment,
        currency="EUR",
        amount=Decimal(value),
        lines=quantities(**per_line),
    )


def paid(amount: str, ident: str = "PAY1", currency: str = "EUR") -> o2c.PaymentApplied:
    return o2c.PaymentApplied(order_id=ORDER, payment_id=ident, currency=currency, amount=Decimal(amount))


def cancelled(ident: str = "X1", **per_line: int) -> o2c.OrderCancelled:
    return o2c.OrderCancelled(order_id=ORDER, cancellation_id=ident, lines=quantities(**per_line) if per_line else None)


def run(*facts: o2c.OrderFact, state: o2c.OrderState | None = None) -> o2c.OrderState:
    current = state or o2c.OrderState.new(ORDER)
    for fact in facts:
        current = o2c.apply_fact(current, fact, T0).state
    return current


def step(state: o2c.OrderState, fact: o2c.OrderFact) -> o2c.Step:
    return o2c.apply_fact(state, fact, T0)


def commands_of(result: o2c.Step, kind: type[Any]) -> list[Any]:
    return [command for command in result.commands if isinstance(command, kind)]


def line(state: o2c.OrderState, line_id: str) -> o2c.LineState:
    found = state.line(line_id)
    assert found is not None
    return found


ACCEPTED = run(received(), accepted())
RELEASED = run(received(), accepted(), reserved(L1=10, L2=4), released(L1=10, L2=4))


# --- receiving and validating -------------------------------------------------------------------------------------


def test_a_received_order_asks_for_validation_and_arms_the_validation_timer() -> None:
    result = step(o2c.OrderState.new(ORDER), received())

    assert result.state.status is S.RECEIVED
    assert result.commands == (o2c.ValidateOrder(order_id=ORDER, revision=1),)
    (timer,) = result.timers
    assert (timer.action, timer.stage, timer.due_at) == ("arm", o2c.SlaStage.RECEIVED_NOT_VALIDATED, T0 + timer.due_in)
    assert timer.key == f"sla:order:{ORDER}:received-not-validated"


def test_acceptance_reserves_every_open_line_and_publishes_order_accepted() -> None:
    result = step(run(received()), accepted())

    assert result.state.status is S.ACCEPTED
    (reserve,) = commands_of(result, o2c.ReserveStock)
    assert [(c.line_id, c.sku, c.quantity) for c in reserve.lines] == [
        ("L1", "SKU-A", Decimal(10)),
        ("L2", "SKU-B", Decimal(4)),
    ]
    assert [event.type for event in result.emitted] == ["crossdock.order.accepted.v1"]
    assert result.emitted[0].data["total"] == {"amount": "100.00", "currency": "EUR"}


def test_a_rejection_keeps_its_reasons_and_opens_an_exception_for_customer_service() -> None:
    result = step(run(received()), rejected())

    assert result.state.status is S.REJECTED
    assert result.state.rejection == rejected().reasons
    (exception,) = commands_of(result, o2c.OpenException)
    assert exception.owner is o2c.ExceptionOwner.CUSTOMER_SERVICE
    assert exception.reason_code == "order_rejected:credit_limit_exceeded"
    assert result.emitted[0].data["reasons"] == [
        {"code": "credit_limit_exceeded", "message": "over the limit", "line": None}
    ]
    assert "credit_limit_exceeded" in o2c.open_reasons(result.state)[0]


def standing(**overrides: Any) -> o2c.CustomerStanding:
    fields: dict[str, Any] = {
        "customer_id": "C-1",
        "currency": "EUR",
        "credit_limit": Decimal(1000),
        "open_receivables": Decimal(0),
    }
    fields.update(overrides)
    return o2c.CustomerStanding(**fields)


LIST = o2c.PriceList(currency="EUR", prices={"SKU-A": Decimal("5.00"), "SKU-B": Decimal("12.50")})


@pytest.mark.parametrize(
    ("customer", "price_list", "tolerance", "codes"),
    [
        (None, LIST, "0", ["customer_unknown"]),  # nobody by that id
        (standing(customer_id="C-2"), LIST, "0", ["customer_unknown"]),  # someone else's standing
        (standing(open_receivables=Decimal("900.01")), LIST, "0", ["credit_limit_exceeded"]),  # 900.01 + 100 > 1000
        (standing(currency="USD"), LIST, "0", ["currency_mismatch"]),  # credit kept in another currency
        (standing(), o2c.PriceList(currency="EUR", prices={"SKU-A": Decimal(5)}), "0", ["price_not_listed"]),  # B
        (standing(), o2c.PriceList(currency="EUR", prices={"SKU-A": Decimal(4), "SKU-B": Decimal("12.50")}), "20",
         ["price_out_of_tolerance"]),  # 5.00 is 25% above 4.00
        (None, o2c.PriceList(currency="USD", prices={}), "0", ["customer_unknown", "currency_mismatch"]),  # all found
    ],
)  # fmt: skip
def test_validation_rejects_with_every_reason_it_finds(
    customer: o2c.CustomerStanding | None, price_list: o2c.PriceList, tolerance: str, codes: list[str]
) -> None:
    verdict = o2c.validate_order(
        run(received()), customer=customer, price_list=price_list, price_tolerance_percent=Decimal(tolerance)
    )

    assert isinstance(verdict, o2c.OrderRejected)
    assert [reason.code.value for reason in verdict.reasons] == codes


@pytest.mark.parametrize(
    ("customer", "prices", "tolerance"),
    [
        (standing(open_receivables=Decimal(900)), LIST.prices, "0"),  # exactly at the credit limit
        (standing(credit_limit=None, open_receivables=Decimal(10**9)), LIST.prices, "0"),  # no limit at all
        (standing(), {"SKU-A": Decimal("4.00"), "SKU-B": Decimal("12.50")}, "25"),  # 5.00 is exactly 25% above
    ],
)
def test_validation_accepts_orders_within_credit_and_price_tolerance(
    customer: o2c.CustomerStanding, prices: dict[str, Decimal], tolerance: str
) -> None:
    verdict = o2c.validate_order(
        run(received()),
        customer=customer,
        price_list=o2c.PriceList(currency="EUR", prices=prices),
        price_tolerance_percent=Decimal(tolerance),
    )

    assert verdict == o2c.OrderAccepted(order_id=ORDER, revision=1)


def test_only_a_received_order_is_validated() -> None:
    with pytest.raises(errors.IllegalTransition, match="only a received order is validated"):
        o2c.validate_order(ACCEPTED, customer=standing(), price_list=LIST)


def test_a_change_before_acceptance_replaces_the_lines_and_asks_for_validation_again() -> None:
    change = o2c.OrderChanged(order_id=ORDER, revision=2, lines=received().lines[:1])

    result = step(run(received(), rejected()), change)

    assert (result.state.status, result.state.revision, len(result.state.lines)) == (S.RECEIVED, 2, 1)
    assert result.state.rejection == ()
    assert result.commands == (o2c.ValidateOrder(order_id=ORDER, revision=2),)


def test_a_verdict_about_an_older_revision_is_ignored() -> None:
    state = run(received(), o2c.OrderChanged(order_id=ORDER, revision=2, lines=received().lines))

    result = step(state, accepted(revision=1))

    assert result.state.status is S.RECEIVED
    assert result.commands == ()


def test_an_override_accepts_a_rejected_order_but_waits_for_the_rejection() -> None:
    early = step(run(received()), accepted(override=True))
    assert early.state.status is S.RECEIVED and early.held == (accepted(override=True),)

    result = step(early.state, rejected())

    assert result.state.status is S.ACCEPTED
    assert result.state.rejection == ()


def test_a_plain_acceptance_cannot_overrule_a_rejection() -> None:
    with pytest.raises(errors.IllegalTransition, match="only an override can accept it"):
        step(run(received(), rejected()), accepted())


def test_a_rejected_order_can_be_closed() -> None:
    result = step(run(received(), rejected()), o2c.OrderClosed(order_id=ORDER, reason="customer gone"))

    assert result.state.status is S.CLOSED
    assert [event.type for event in result.emitted] == ["crossdock.order.closed.v1"]
    assert o2c.open_reasons(result.state) == ()


# --- reserving, releasing, shipping -------------------------------------------------------------------------------


def test_a_partial_reservation_backorders_the_rest_and_releases_what_was_reserved() -> None:
    result = step(ACCEPTED, reserved(L1=6, L2=4))

    assert result.state.status is S.RESERVED
    assert (line(result.state, "L1").reserved, line(result.state, "L1").backordered) == (6, 4)
    assert line(result.state, "L2").backordered == 0
    (release,) = commands_of(result, o2c.ReleaseToWarehouse)
    assert [(c.line_id, c.quantity) for c in release.lines] == [("L1", 6), ("L2", 4)]
    (backorder,) = [event for event in result.emitted if event.type == "crossdock.order.backordered.v1"]
    assert backorder.data["lines"] == [{"line_id": "L1", "sku": "SKU-A", "quantity": "4"}]


def test_an_empty_reservation_backorders_everything() -> None:
    state = run(reserved("R0"), state=ACCEPTED)

    assert [ln.backordered for ln in state.lines] == [10, 4]
    assert "14 units not reserved" in o2c.open_reasons(state)


def test_a_reservation_split_across_locations_adds_up_per_line() -> None:
    state = run(reserved("R1", "WH-1", L1=4), reserved("R2", "WH-2", L1=6), state=ACCEPTED)

    assert (line(state, "L1").reserved, line(state, "L1").backordered) == (10, 0)


def test_a_reservation_for_an_unknown_line_is_illegal() -> None:
    with pytest.raises(errors.IllegalTransition, match="no line 'L9'"):
        step(ACCEPTED, reserved(L9=1))


def test_partial_shipments_each_ask_for_an_invoice_of_exactly_what_shipped() -> None:
    first = step(RELEASED, shipped("SH1", L1=3))
    second = step(first.state, shipped("SH2", L1=7, L2=4))

    assert first.state.status is S.PARTIALLY_SHIPPED and second.state.status is S.SHIPPED
    (invoice,) = commands_of(second, o2c.PostInvoice)
    assert invoice.shipment_id == "SH2"
    assert [(c.line_id, c.quantity, c.unit_price) for c in invoice.lines] == [
        ("L1", 7, Decimal("5.00")),
        ("L2", 4, Decimal("12.50")),
    ]


def test_shipping_more_than_is_still_ordered_is_illegal() -> None:
    with pytest.raises(errors.IllegalTransition, match="would ship 11 of 10"):
        step(RELEASED, shipped(L1=11))


# --- invoicing and paying -----------------------------------------------------------------------------------------


def test_an_invoice_may_cover_only_what_its_shipment_shipped() -> None:
    state = run(shipped("SH1", L1=3), state=RELEASED)

    with pytest.raises(errors.IllegalTransition, match="would invoice 4 of 3 on shipment SH1"):
        step(state, invoiced(L1=4))
    with pytest.raises(errors.IllegalTransition, match="would invoice 1 of 0"):
        step(state, invoiced(L2=1))


def test_an_invoice_in_another_currency_is_illegal() -> None:
    state = run(shipped("SH1", L1=3), state=RELEASED)
    wrong = invoiced(L1=3).model_copy(update={"currency": "USD"})

    with pytest.raises(errors.IllegalTransition, match="invoiced in USD"):
        step(state, wrong)


def test_partial_payments_leave_a_balance_and_the_order_closes_when_paid_in_full() -> None:
    state = run(shipped(L1=10, L2=4), invoiced(L1=10, L2=4), paid("60", "P1"), state=RELEASED)
    assert (state.status, state.balance_due) == (S.INVOICED, Decimal(40))
    assert "40.00 EUR not paid" in o2c.open_reasons(state)

    result = step(state, paid("40", "P2"))

    assert result.state.status is S.CLOSED
    assert result.state.credit == 0
    assert [event.type for event in result.emitted] == ["crossdock.order.closed.v1"]
    assert [t.stage for t in result.timers if t.action == "disarm"] == [o2c.SlaStage.INVOICED_NOT_PAID]


def test_an_overpayment_becomes_the_customers_credit() -> None:
    state = run(shipped(L1=10, L2=4), invoiced(L1=10, L2=4), state=RELEASED)

    result = step(state, paid("130"))

    assert (result.state.status, result.state.credit) == (S.CLOSED, Decimal(30))
    (credit,) = commands_of(result, o2c.RecordCustomerCredit)
    assert (credit.customer_id, credit.currency, credit.amount) == ("C-1", "EUR", Decimal(30))


def test_a_payment_after_closing_is_credited_in_full() -> None:
    state = run(shipped(L1=10, L2=4), invoiced(L1=10, L2=4), paid("100"), state=RELEASED)

    result = step(state, paid("15", "P2"))

    assert (result.state.status, result.state.credit) == (S.CLOSED, Decimal(15))
    assert commands_of(result, o2c.RecordCustomerCredit)[0].amount == 15


def test_a_payment_in_another_currency_is_illegal() -> None:
    with pytest.raises(errors.IllegalTransition, match="paid in USD"):
        step(ACCEPTED, paid("10", currency="USD"))


# --- cancelling ---------------------------------------------------------------------------------------------------


def test_cancelling_released_lines_takes_back_the_release_and_frees_the_stock() -> None:
    result = step(RELEASED, cancelled(L2=4))

    (take_back,) = commands_of(result, o2c.CancelRelease)
    (free,) = commands_of(result, o2c.ReleaseReservation)
    assert [(c.line_id, c.quantity) for c in take_back.lines] == [("L2", 4)]
    assert [(c.line_id, c.quantity) for c in free.lines] == [("L2", 4)]
    assert result.commands.index(take_back) < result.commands.index(free)
    assert (line(result.state, "L2").open, line(result.state, "L2").reserved) == (0, 0)
    (event,) = result.emitted
    assert (event.type, event.data["whole"]) == ("crossdock.order.cancelled.v2", False)


def test_cancelling_unreserved_backorder_needs_no_compensation() -> None:
    state = run(reserved(L1=6), state=ACCEPTED)

    result = step(state, cancelled(L1=4))

    assert commands_of(result, o2c.ReleaseReservation) == []
    assert (line(result.state, "L1").reserved, line(result.state, "L1").backordered) == (6, 0)


def test_cancelling_every_line_before_shipping_cancels_the_order() -> None:
    result = step(RELEASED, cancelled(L1=10, L2=4))

    assert result.state.status is S.CANCELLED
    assert result.emitted[0].data["whole"] is True
    assert {t.action for t in result.timers} == {"disarm"}


def test_cancelling_a_whole_received_order_needs_no_compensation() -> None:
    result = step(run(received()), cancelled())

    assert result.state.status is S.CANCELLED
    assert result.commands == ()
    assert [ln.cancelled for ln in result.state.lines] == [10, 4]


@pytest.mark.parametrize(
    "cancellation",
    [
        cancelled(L1=8),  # 3 of line 1 shipped: only 7 remain to cancel
        cancelled(),  # the whole order, though part of it shipped
    ],
)
def test_cancelling_what_has_shipped_is_refused_because_it_needs_a_return(cancellation: o2c.OrderCancelled) -> None:
    state = run(shipped(L1=3), state=RELEASED)

    with pytest.raises(errors.IllegalTransition, match="return"):
        step(state, cancellation)


def test_cancelling_the_rest_of_a_partly_shipped_order_lets_it_close() -> None:
    state = run(shipped(L1=3), invoiced(L1=3), paid("15"), state=RELEASED)

    result = step(state, cancelled(L1=7, L2=4))

    assert result.state.status is S.CLOSED
    assert [event.type for event in result.emitted] == ["crossdock.order.cancelled.v2", "crossdock.order.closed.v1"]


def test_a_reservation_arriving_after_cancellation_is_released_again() -> None:
    state = run(cancelled(), state=ACCEPTED)

    result = step(state, reserved(L1=10))

    assert result.state.status is S.CANCELLED
    (free,) = commands_of(result, o2c.ReleaseReservation)
    assert [(c.line_id, c.quantity) for c in free.lines] == [("L1", 10)]


def test_a_payment_on_a_cancelled_order_becomes_credit() -> None:
    result = step(run(cancelled(), state=ACCEPTED), paid("25"))

    assert result.state.credit == 25
    assert commands_of(result, o2c.RecordCustomerCredit)[0].amount == 25


# --- out-of-order input -------------------------------------------------------------------------------------------


def test_a_payment_before_its_order_is_held_and_applied_once_the_order_is_accepted() -> None:
    early = step(o2c.OrderState.new(ORDER), paid("50"))
    assert early.held == (paid("50"),)
    assert early.state.paid == 0

    state = run(received(), state=early.state)
    assert state.held == (paid("50"),)  # received is not yet accepted
    state = run(accepted(), state=state)

    assert (state.paid, state.held) == (Decimal(50), ())


def test_an_update_before_its_create_is_held_and_applied_after_it() -> None:
    change = o2c.OrderChanged(order_id=ORDER, revision=2, lines=received().lines[1:])

    state = run(change, received())

    assert (state.revision, [ln.line_id for ln in state.lines], state.held) == (2, ["L2"], ())


def test_a_shipment_before_its_release_is_held_until_the_release_arrives() -> None:
    state = run(reserved(L1=10), state=ACCEPTED)

    early = step(state, shipped(L1=4))
    assert early.held and line(early.state, "L1").shipped == 0

    result = step(early.state, released(L1=10))

    assert line(result.state, "L1").shipped == 4
    assert commands_of(result, o2c.PostInvoice)[0].shipment_id == "SH1"


def test_an_invoice_before_its_shipment_is_held() -> None:
    state = run(invoiced(L1=3), state=RELEASED)
    assert line(state, "L1").invoiced == 0

    state = run(shipped(L1=3), state=state)

    assert (line(state, "L1").invoiced, state.held) == (3, ())


def test_a_held_fact_that_breaks_a_rule_once_released_is_refused_with_an_exception() -> None:
    state = run(reserved(L1=10), shipped(L1=4), state=ACCEPTED)

    result = step(state, cancelled())

    assert result.state.status is S.CANCELLED
    (refusal,) = result.refused
    assert refusal.fact == shipped(L1=4) and "cancelled" in refusal.reason
    exception = commands_of(result, o2c.OpenException)[0]
    assert (exception.owner, exception.reason_code) == (o2c.ExceptionOwner.WAREHOUSE, "refused_shipped")
    assert result.state.held == ()


def test_held_facts_survive_a_round_trip_through_json() -> None:
    state = run(paid("50"), shipped(L1=1), o2c.OrderChanged(order_id=ORDER, revision=2, lines=received().lines))

    restored = o2c.OrderState.model_validate_json(state.model_dump_json())

    assert restored == state
    assert [type(fact) for fact in restored.held] == [o2c.PaymentApplied, o2c.ShipmentConfirmed, o2c.OrderChanged]


# --- duplicates and illegal transitions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fact",
    [
        shipped(L1=3),  # an applied fact delivered twice
        invoiced("INV9", shipment="SH9", L1=1),  # ... and one still held: its shipment never came
    ],
)
def test_a_repeated_fact_changes_nothing(fact: o2c.OrderFact) -> None:
    state = run(received(), fact, accepted(), reserved(L1=10), released(L1=10))

    result = step(state, fact)

    assert result.duplicate
    assert len(state.held) == (1 if isinstance(fact, o2c.InvoicePosted) else 0)
    assert result.state == state
    assert (result.commands, result.emitted, result.timers) == ((), (), ())


@pytest.mark.parametrize(
    ("before", "fact", "state_name"),
    [
        (run(cancelled(), state=ACCEPTED), shipped(L1=1), "cancelled"),  # goods left for a cancelled order
        (ACCEPTED, o2c.OrderChanged(order_id=ORDER, revision=2, lines=received().lines), "accepted"),  # too late
        (ACCEPTED, o2c.OrderClosed(order_id=ORDER), "accepted"),  # a live order closes by settling
        (run(received(), rejected(), o2c.OrderClosed(order_id=ORDER)), cancelled(), "closed"),  # closed is final
        (RELEASED, o2c.ShipmentConfirmed(order_id="SO-9", shipment_id="S", lines=quantities(L1=1)), "released"),
    ],
)
def test_an_illegal_transition_names_the_order_its_state_and_the_fact(
    before: o2c.OrderState, fact: o2c.OrderFact, state_name: str
) -> None:
    with pytest.raises(errors.IllegalTransition) as raised:
        o2c.advance(before, fact, T0)

    assert (raised.value.subject, raised.value.state, raised.value.fact) == (ORDER, state_name, o2c.fact_key(fact))
    assert str(raised.value).startswith(f"order {ORDER} is {state_name}: cannot take {o2c.fact_key(fact)}")


def test_every_kind_of_fact_has_a_row_in_the_transition_table() -> None:
    kinds = {cls.model_fields["kind"].default for cls in o2c.OrderFact.__args__}

    assert set(o2c.TRANSITIONS) == kinds


def test_the_events_the_machine_emits_never_feed_back_into_it() -> None:
    inputs = set(o2c.INPUT_TYPES.values())

    assert inputs.isdisjoint(o2c.EMITTED_TYPES)
    assert all(events.EVENT_TYPE_PATTERN.match(name) for name in inputs | o2c.EMITTED_TYPES)


# --- the event catalogue: what the machine publishes and takes is published, and fits its payload model ----------


def test_every_type_the_machine_emits_or_consumes_is_in_the_catalogue_at_its_newest_version() -> None:
    used = set(o2c.INPUT_TYPES.values()) | o2c.EMITTED_TYPES

    assert used - set(catalog.EVENT_TYPES) == set()
    assert all(catalog.upcast(name, {}) == (name, {}) for name in used)  # no superseded version among them


def settled_with_overpayment() -> o2c.Step:
    return step(run(shipped(L1=10, L2=4), invoiced(L1=10, L2=4), state=RELEASED), paid("120"))


# Real steps that between them emit every type the machine publishes.
EMITTING_STEPS: dict[str, Callable[[], o2c.Step]] = {
    # acceptance publishes the order's total
    "accepted": lambda: step(run(received()), accepted()),
    # a rejection publishes its reasons
    "rejected": lambda: step(run(received()), rejected()),
    # a partial reservation publishes the backorder
    "backordered": lambda: step(ACCEPTED, reserved(L1=6, L2=4)),
    # cancelling some quantity of a released line
    "lines cancelled": lambda: step(RELEASED, cancelled(L2=4)),
    # cancelling a whole received order
    "order cancelled": lambda: step(run(received()), cancelled()),
    # closing a rejected order by hand
    "closed by hand": lambda: step(run(received(), rejected()), o2c.OrderClosed(order_id=ORDER, reason="gone")),
    # paying more than was invoiced closes the order with a credit
    "closed with credit": settled_with_overpayment,
    # cancelling the rest of a partly shipped, paid order cancels lines and closes it in one step
    "cancelled and closed": lambda: step(
        run(shipped(L1=3), invoiced(L1=3), paid("15"), state=RELEASED), cancelled(L1=7, L2=4)
    ),
}


@pytest.mark.parametrize("scenario", sorted(EMITTING_STEPS))
def test_what_the_machine_emits_fits_the_catalogues_payload_model_exactly(scenario: str) -> None:
    result = EMITTING_STEPS[scenario]()

    assert result.emitted
    for event in result.emitted:
        envelope = make_envelope(type=event.type, subject=event.subject, data=event.data)
        payload = catalog.payload_as(envelope, catalog.EVENT_TYPES[event.type])
        # Exactly: a field the model does not know would be dropped silently by a consumer that validates it.
        assert payload.model_dump(mode="json") == event.data
        assert event.data["order"] == event.subject == ORDER


def test_the_emitting_steps_cover_every_type_the_machine_emits() -> None:
    emitted = {event.type for build in EMITTING_STEPS.values() for event in build().emitted}

    assert emitted == o2c.EMITTED_TYPES


def test_a_closed_order_publishes_what_was_invoiced_paid_and_kept_as_credit() -> None:
    (closed,) = [event for event in settled_with_overpayment().emitted if event.type == o2c.ORDER_CLOSED]

    payload = catalog.OrderClosed.model_validate(closed.data)
    assert (payload.invoiced.amount, payload.paid.amount, payload.credit.amount) == (
        Decimal(100),
        Decimal(120),
        Decimal(20),
    )
    assert payload.credit.currency == "EUR"


def test_a_whole_cancellation_publishes_every_line_with_the_quantity_taken_off() -> None:
    (event,) = step(run(received()), cancelled()).emitted

    payload = catalog.OrderCancelledV2.model_validate(event.data)
    assert payload.whole
    assert [(ln.line_id, ln.sku, ln.quantity) for ln in payload.lines] == [
        ("L1", "SKU-A", Decimal(10)),
        ("L2", "SKU-B", Decimal(4)),
    ]


def request_data(fact: o2c.OrderCancelled) -> dict[str, Any]:
    lines = None if fact.lines is None else [{"line_id": ln.line_id, "quantity": str(ln.quantity)} for ln in fact.lines]
    return {"order": fact.order_id, "cancellation": fact.cancellation_id, "lines": lines, "reason": fact.reason}


@pytest.mark.parametrize(
    "fact",
    [
        # quantities of some lines
        o2c.OrderCancelled(order_id=ORDER, cancellation_id="X1", lines=quantities(L1="2.5", L2=1), reason="late"),
        # the whole order, without a reason given
        cancelled(),
    ],
)
def test_a_cancellation_request_carries_everything_the_cancellation_fact_needs(fact: o2c.OrderCancelled) -> None:
    envelope = make_envelope(type=o2c.INPUT_TYPES["cancelled"], subject=ORDER, data=request_data(fact))

    request = catalog.payload_as(envelope, catalog.OrderCancellationRequested)
    lines = (
        None
        if request.lines is None
        else tuple(o2c.LineQuantity(line_id=ln.line_id, quantity=ln.quantity) for ln in request.lines)
    )
    rebuilt = o2c.OrderCancelled(
        order_id=request.order, cancellation_id=request.cancellation, lines=lines, reason=request.reason
    )
    assert rebuilt == fact


def test_a_close_request_carries_everything_the_close_fact_needs() -> None:
    fact = o2c.OrderClosed(order_id=ORDER, reason="customer gone")
    envelope = make_envelope(
        type=o2c.INPUT_TYPES["closed"], subject=ORDER, data={"order": ORDER, "reason": fact.reason}
    )

    request = catalog.payload_as(envelope, catalog.OrderCloseRequested)
    assert o2c.OrderClosed(order_id=request.order, reason=request.reason) == fact


# --- SLA stages ---------------------------------------------------------------------------------------------------


def test_sla_timers_are_armed_on_entering_a_stage_and_disarmed_on_leaving_it() -> None:
    on_release = step(run(reserved(L1=10, L2=4), state=ACCEPTED), released(L1=10, L2=4))
    on_shipment = step(on_release.state, shipped(L1=10, L2=4))
    on_invoice = step(on_shipment.state, invoiced(L1=10, L2=4))

    def actions(result: o2c.Step) -> set[tuple[str, str]]:
        return {(timer.action, timer.stage.value) for timer in result.timers}

    assert actions(on_release) == {("disarm", "accepted-not-released"), ("arm", "released-not-shipped")}
    assert actions(on_shipment) == {("disarm", "released-not-shipped"), ("arm", "shipped-not-invoiced")}
    assert actions(on_invoice) == {("disarm", "shipped-not-invoiced"), ("arm", "invoiced-not-paid")}


def test_a_stage_that_stays_active_keeps_its_first_timer() -> None:
    first = step(RELEASED, shipped("SH1", L1=2))
    second = step(first.state, shipped("SH2", L1=2))

    assert ("arm", o2c.SlaStage.SHIPPED_NOT_INVOICED) in {(t.action, t.stage) for t in first.timers}
    assert second.timers == ()


def test_sla_offsets_are_configurable() -> None:
    sla = {**o2c.DEFAULT_SLA, o2c.SlaStage.RECEIVED_NOT_VALIDATED: timedelta(minutes=2)}

    (timer,) = o2c.advance(o2c.OrderState.new(ORDER), received(), T0, sla=sla).timers

    assert timer.due_at == T0 + timedelta(minutes=2)


def test_a_change_that_reaches_a_cancelled_order_keeps_the_reservations_that_raced_it() -> None:
    change = o2c.OrderChanged(
        order_id=ORDER,
        revision=2,
        lines=(
            *received().lines,
            o2c.OrderLine(line_id="L3", sku="SKU-C", quantity=Decimal(2), unit_price=Decimal(1)),
        ),
    )
    reservations = [reserved("R1", L1=10), reserved("R2", L3=2)]

    in_order = run(received(), change, accepted(revision=2), *reservations, cancelled())
    # The cancellation overtakes the change: R1 counts against revision 1 and must survive the change; R2 is for
    # L3, a line only revision 2 has, so it waits for the change.
    overtaken = run(received(), cancelled(), *reservations, accepted(revision=2), change)

    assert overtaken == in_order
    assert line(overtaken, "L3").reserved_reported == 2


def test_open_reasons_count_the_facts_held_for_a_prerequisite() -> None:
    state = run(received(), paid("10"), paid("5", "P2"))

    assert o2c.open_reasons(state) == ("revision 1 awaits validation", "2 facts held for a prerequisite")
