"""Functional acknowledgements through real files: every 850 we write awaits the supplier's 997; an accepting one
clears it, a rejecting one opens an exception naming the set, none at all opens one "acknowledgement-overdue" once
(a late 997 resolves it); a refused inbound 850 is still answered by a rejecting 997; control numbers run 1, 2, 3...
per partner, without gaps, across partners and restarts. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from crossdock.connectors import x12
from crossdock.connectors.x12 import mapping
from crossdock.hub.ports import ExceptionStatus
from tests.conftest import SAMPLES
from tests.e2e.conftest import EstateFactory
from tests.e2e.procure_to_pay_estate import START, ProcureToPayEstate, edi_supplier_settings, purchase_order
from tests.e2e.test_edi_intake import post_file
from tests.e2e.test_edi_outbound import EDI_OUT, outbound

OURS = "999999999"
SOURCE, DESTINATION = "edi-acme", "edi-acme-out"
BAD_850 = SAMPLES / "x12-bad" / "ediengine_850_syntax-note-violations.edi"


def supplier(name: str, supplier_number: str, **extra: Any) -> dict[str, Any]:
    return {
        "role": "supplier",
        "id": name.upper(),
        "our_id": OURS,
        "supplier": supplier_number,
        "item_ids": [{"qualifier": "BP"}],
        "transport": {"path": f"partners/{name}"},
        **extra,
    }


def estate_with(data_dir: Path, database_url: str, **partners: dict[str, Any]) -> ProcureToPayEstate:
    """A procure-to-pay hub whose suppliers are X12 partners: an edi source and an 850 destination each."""
    settings = edi_supplier_settings(
        data_dir,
        database_url,
        partners,
        procurement={
            "suppliers": [
                {"number": "SUP-1", "currency": "EUR", "price_tolerance_percent": "2"},
                {"number": "SUP-2", "currency": "EUR", "price_tolerance_percent": "2"},
            ]
        },
    )
    return ProcureToPayEstate(data_dir, settings)


@pytest.fixture
def estate(tmp_path: Path, database_url: str) -> Iterator[ProcureToPayEstate]:
    built = estate_with(tmp_path, database_url, acme=supplier("acme", "SUP-1"))
    yield built
    built.stop()


def the_850(estate: ProcureToPayEstate, index: int = 0) -> x12.Interchange:
    [interchange] = x12.parse(estate.outbound("850")[index].read_bytes())
    return interchange


def accepting_997(ours: x12.Interchange, control: int) -> bytes:
    """The supplier's 997 for our interchange, accepting every set (its translator's own numbers)."""
    reply = x12.acknowledge(
        ours, [], interchange_control_number=f"{control:09d}", group_control_number=str(control), at=START
    )
    return x12.write(reply)


def rejecting_997(ours: x12.Interchange, control: int) -> bytes:
    """The supplier's 997 rejecting our 850: PO1 (segment 3) has a bad PO102 (AK4 code 7), the set and group R."""
    [group] = ours.groups
    [tx] = group.transactions
    segments = (
        x12.Segment("AK1", ("PO", group.control_number)),
        x12.Segment("AK2", ("850", tx.control_number)),
        x12.Segment("AK3", ("PO1", "3", "", "8")),
        x12.Segment("AK4", ("2", "", "7", "X")),
        x12.Segment("AK5", ("R", "5")),
        x12.Segment("AK9", ("R", "1", "1", "0")),
    )
    ack = x12.Transaction(set_id="997", control_number="0001", segments=segments)
    theirs = mapping.PartnerRules(partner_id=OURS, our_id=ours.receiver_id.strip(), supplier="SUP-1")
    built = mapping.build_interchange(theirs, [ack], mapping.ControlNumbers(interchange=control, group=control), START)
    return x12.write(built)


def test_an_850_answered_by_an_accepting_997_leaves_nothing_open(estate: ProcureToPayEstate) -> None:
    estate.issue(purchase_order())
    estate.drain()
    ours = the_850(estate)

    estate.hub.receive(SOURCE, accepting_997(ours, 501), {})
    estate.later(days=3)

    [record] = estate.sent()
    assert (record.interchange, record.group, record.sets) == ("000000001", "1", (("850", "0001"),))
    assert record.status == "accepted" and record.acknowledged_at is not None
    assert record.document == "purchase order PO-1 revision 1"
    assert estate.edi_exceptions(status=None) == [], "an accepted interchange is never overdue"


def test_an_unanswered_850_is_overdue_once_and_a_late_997_resolves_it(estate: ProcureToPayEstate) -> None:
    estate.issue(purchase_order())
    estate.drain()
    ours = the_850(estate)

    estate.later(hours=23)
    assert estate.edi_exceptions() == [], "the partner has 24 hours from when the file was written"
    estate.later(hours=2)
    estate.later(days=2)

    [overdue] = estate.edi_exceptions()
    assert (overdue.reason_code, overdue.about_key, overdue.owner) == (
        "acknowledgement-overdue",
        "acme:000000001",
        "edi",
    )
    assert "850 0001" in overdue.message and "PO-1" in overdue.message
    assert estate.sent()[0].status == "awaiting"

    estate.hub.receive(SOURCE, accepting_997(ours, 502), {})
    estate.drain()

    [closed] = estate.edi_exceptions(status=None)
    assert closed.id == overdue.id and closed.status is ExceptionStatus.RESOLVED
    assert closed.actions[-1].actor == "crossdock/edi" and "000000502" in closed.actions[-1].note
    assert estate.sent()[0].status == "accepted"


def test_a_997_rejecting_the_set_opens_an_exception_naming_the_set_the_document_and_the_codes(
    estate: ProcureToPayEstate,
) -> None:
    estate.issue(purchase_order())
    estate.drain()

    estate.hub.receive(SOURCE, rejecting_997(the_850(estate), 503), {})
    estate.drain()

    [rejected] = estate.edi_exceptions()
    assert (rejected.reason_code, rejected.about_key) == ("acknowledgement-rejected", "acme:000000001")
    assert rejected.owner == "edi", "a refused interchange is the EDI desk's, not the supplier's buyer's"
    for named in ("acme", "000000001", "850 0001", "purchase order PO-1", "AK9 R", "AK5 R", "PO1", "code 7"):
        assert named in rejected.message, f"{named!r} missing from: {rejected.message}"
    assert estate.sent()[0].status == "rejected"
    estate.later(days=3)
    assert [e.reason_code for e in estate.edi_exceptions()] == ["acknowledgement-rejected"], "answered: not overdue"


def test_a_997_for_a_group_never_sent_is_an_exception(estate: ProcureToPayEstate) -> None:
    estate.issue(purchase_order())
    estate.drain()
    ours = the_850(estate)
    stranger = replace(ours, groups=(replace(ours.groups[0], control_number="77"),))

    estate.hub.receive(SOURCE, accepting_997(stranger, 504), {})
    estate.drain()

    [unmatched] = estate.edi_exceptions()
    assert unmatched.reason_code == "acknowledgement-unmatched"
    assert "group PO 77" in unmatched.message and "not sent" in unmatched.message
    assert estate.sent()[0].status == "awaiting", "our own 850 is still waiting for its answer"


def test_control_numbers_run_from_one_per_partner_without_gaps_across_partners_and_a_restart(
    tmp_path: Path, database_url: str
) -> None:
    partners = {"acme": supplier("acme", "SUP-1"), "bolt": supplier("bolt", "SUP-2")}
    first = estate_with(tmp_path, database_url, **partners)
    for number, supplier_number in (("PO-1", "SUP-1"), ("PO-2", "SUP-2"), ("PO-3", "SUP-1")):
        first.issue(purchase_order(number, supplier=supplier_number))
        first.drain()
    clock = first.clock
    first.stop()

    again = estate_with(tmp_path, database_url, **partners)
    again.clock = clock
    for number, supplier_number in (("PO-4", "SUP-1"), ("PO-5", "SUP-2")):
        again.issue(purchase_order(number, supplier=supplier_number))
        again.drain()

    def numbers(partner: str) -> list[tuple[str, str, str]]:
        """(ISA13, GS06, the PO it carries) of each 850 in the partner's folder, in file-name order."""
        rules = mapping.PartnerRules(
            partner_id=partner.upper(), our_id=OURS, item_ids=(mapping.ItemId(qualifier="BP"),)
        )
        out = []
        for path in again.outbound("850", partner):
            [interchange] = x12.parse(path.read_bytes())
            [(group, tx)] = list(interchange.transactions())
            order = mapping.purchase_order_from_850(tx, rules)
            out.append((interchange.control_number, group.control_number, order.number))
        return out

    assert numbers("acme") == [("000000001", "1", "PO-1"), ("000000002", "2", "PO-3"), ("000000003", "3", "PO-4")]
    assert numbers("bolt") == [("000000001", "1", "PO-2"), ("000000002", "2", "PO-5")]
    assert [(s.interchange, s.business_key) for s in again.sent("acme")] == [
        ("000000001", "PO-1"),
        ("000000002", "PO-3"),
        ("000000003", "PO-4"),
    ]
    again.stop()


def test_a_refused_850_is_answered_by_a_rejecting_997_and_replays_after_the_profile_is_fixed(
    make_estate: EstateFactory, tmp_path: Path
) -> None:
    estate = make_estate(**EDI_OUT)
    partner = tmp_path / "partners" / "xyz"

    response = post_file(estate.client, BAD_850.read_bytes())
    estate.drain()

    message = estate.client.get(f"/v1/messages/{response.json()['message_id']}").json()
    assert message["status"] == "failed" and "syntax-note" in message["error"], "kept, failed, with the rule"
    [written] = outbound(partner)
    [ack] = x12.read_acknowledgements(x12.parse(written.read_bytes()))
    assert ack.status == "R" and ack.accepted_count == 0
    [tx] = ack.transactions
    assert tx.status == "R" and tx.segments, "the set is rejected with the AK3/AK4 that name the problem"
    assert written.name == "997-000000001.edi", "the answer takes the partner's first control number"

    # The profile is fixed (this partner's syntax notes are only warned about) and the message replayed.
    lenient = {**EDI_OUT["partners"]["xyz"], "quirks": {"syntax_notes": "warn"}}
    fixed = EDI_OUT | {"partners": {**EDI_OUT["partners"], "xyz": lenient}}
    after = make_estate(**fixed)
    replayed = after.client.post(f"/v1/messages/{response.json()['message_id']}/replay")
    after.drain()

    assert replayed.status_code in (200, 202), replayed.text
    assert after.client.get(f"/v1/messages/{response.json()['message_id']}").json()["status"] == "processed"
    answers = [x12.read_acknowledgements(x12.parse(p.read_bytes()))[0].status for p in outbound(partner)]
    # The replay that went through is answered again: accepted, the syntax notes it now tolerates noted (AK9 E).
    assert answers == ["R", "E"]
