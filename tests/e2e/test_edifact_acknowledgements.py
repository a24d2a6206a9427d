"""CONTRL from an EDIFACT supplier, through real files: every ORDERS we write awaits the supplier's CONTRL; one
accepting it leaves nothing open, none at all opens "acknowledgement-overdue" once (a late CONTRL resolves it), one
rejecting the message opens an exception naming the message, the document and the codes, and one naming an
interchange we never sent is an exception too. A partner's CONTRL is never itself answered. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from crossdock.connectors import edifact
from crossdock.connectors.edifact import contrl
from crossdock.domain import catalog
from crossdock.domain.edi_acknowledgements import owner_for
from crossdock.hub.ports import ExceptionStatus
from tests.e2e.procure_to_pay_estate import START, ProcureToPayEstate, edi_supplier_settings, purchase_order
from tests.e2e.test_procure_to_pay_edifact import ACME, SOURCE

SUPPLIERS_DESK = owner_for("supplier").value  # who hears about a supplier's interchanges


@pytest.fixture
def estate(tmp_path: Path, database_url: str) -> Iterator[ProcureToPayEstate]:
    built = ProcureToPayEstate(tmp_path, edi_supplier_settings(tmp_path, database_url, {"acme": ACME}))
    yield built
    built.stop()


def the_orders(estate: ProcureToPayEstate) -> edifact.Interchange:
    [path] = estate.outbound("orders")
    [interchange] = edifact.parse(path.read_bytes())
    return interchange


def contrl_for(ours: edifact.Interchange, reference: str, issues: Sequence[edifact.Issue] = ()) -> bytes:
    """The supplier's translator answering our interchange: its CONTRL, under its own interchange reference."""
    return edifact.render(contrl.acknowledge(ours, issues, reference=reference, prepared=START))


def bad_quantity(ours: edifact.Interchange) -> edifact.Issue:
    """What the supplier's translator found wrong: QTY (segment 9 of message 1) element 1 component 2, code 12."""
    [message] = ours.messages
    place = edifact.Place(
        interchange=ours.reference,
        message=message.reference,
        message_type=message.type,
        segment=9,
        tag="QTY",
        element=1,
        component=2,
    )
    return edifact.Issue("invalid-value", "12", "unit not known", place)


def test_orders_answered_by_an_accepting_contrl_leaves_nothing_open(estate: ProcureToPayEstate) -> None:
    estate.issue(purchase_order())
    estate.drain()
    ours = the_orders(estate)
    [awaiting] = estate.sent()
    assert (awaiting.interchange, awaiting.sets, awaiting.status) == ("000000001", (("ORDERS", "1"),), "awaiting")

    estate.hub.receive(SOURCE, contrl_for(ours, "801"), {})
    estate.later(days=3)

    [record] = estate.sent()
    assert record.status == "accepted" and record.acknowledged_at is not None
    assert record.acknowledgement.startswith("801: UCI A")
    assert estate.edi_exceptions(status=None) == [], "an accepted interchange is never overdue"
    [received] = estate.events(catalog.EdiAcknowledgementReceived.event_type)
    assert (received["standard"], received["interchange"], received["acknowledges"]) == ("edifact", "801", "000000001")
    assert estate.outbound("contrl") == [], "a CONTRL is never answered by a CONTRL"


def test_an_unanswered_orders_is_overdue_once_and_a_late_contrl_resolves_it(estate: ProcureToPayEstate) -> None:
    estate.issue(purchase_order())
    estate.drain()
    ours = the_orders(estate)

    estate.later(hours=23)
    assert estate.edi_exceptions() == [], "the supplier has 24 hours from when the file was written"
    estate.later(hours=2)
    estate.later(days=2)

    [overdue] = estate.edi_exceptions()
    assert (overdue.reason_code, overdue.about_key, overdue.owner) == (
        "acknowledgement-overdue",
        "acme:000000001",
        SUPPLIERS_DESK,
    )
    assert "messages ORDERS 1" in overdue.message and "purchase order PO-1" in overdue.message

    estate.hub.receive(SOURCE, contrl_for(ours, "802"), {})
    estate.drain()

    [closed] = estate.edi_exceptions(status=None)
    assert closed.id == overdue.id and closed.status is ExceptionStatus.RESOLVED
    assert closed.actions[-1].actor == "crossdock/edi" and "802" in closed.actions[-1].note
    assert estate.sent()[0].status == "accepted"


def test_a_contrl_rejecting_the_message_opens_an_exception_naming_the_message_the_document_and_the_codes(
    estate: ProcureToPayEstate,
) -> None:
    estate.issue(purchase_order())
    estate.drain()
    ours = the_orders(estate)

    estate.hub.receive(SOURCE, contrl_for(ours, "803", [bad_quantity(ours)]), {})
    estate.drain()

    [rejected] = estate.edi_exceptions()
    assert (rejected.reason_code, rejected.about_key, rejected.owner) == (
        "acknowledgement-rejected",
        "acme:000000001",
        SUPPLIERS_DESK,
    )
    for named in (
        "acme",
        "000000001",
        "message ORDERS 1: UCM 4",
        "purchase order PO-1",
        "UCI R",
        "segment 9 element 1.2 code 12",
    ):
        assert named in rejected.message, f"{named!r} missing from: {rejected.message}"
    assert estate.sent()[0].status == "rejected"
    estate.later(days=3)
    assert [e.reason_code for e in estate.edi_exceptions()] == ["acknowledgement-rejected"], "answered: not overdue"


def test_a_contrl_for_an_interchange_never_sent_is_an_exception_and_ours_still_awaits(
    estate: ProcureToPayEstate,
) -> None:
    estate.issue(purchase_order())
    estate.drain()
    ours = the_orders(estate)
    unb = ours.header
    stranger = replace(ours, header=replace(unb, elements=(*unb.elements[:4], ("000000077",), *unb.elements[5:])))

    estate.hub.receive(SOURCE, contrl_for(stranger, "804"), {})
    estate.drain()

    [unmatched] = estate.edi_exceptions()
    assert unmatched.reason_code == "acknowledgement-unmatched"
    assert "interchange 000000077" in unmatched.message and "not sent" in unmatched.message
    assert estate.sent()[0].status == "awaiting", "our own ORDERS is still waiting for its answer"
