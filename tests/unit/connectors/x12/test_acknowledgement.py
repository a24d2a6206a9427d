from __future__ import annotations

import datetime as dt

import pytest

from crossdock.connectors import x12
from tests.unit.connectors.x12.samples import sample

AT = dt.datetime(2026, 11, 1, 9, 30)


def reply_to(data: bytes, leniency: x12.Leniency = x12.DEFAULT) -> x12.Interchange:
    reading = x12.read(data, leniency)
    return x12.acknowledge(
        reading.interchanges[0],
        reading.issues,
        interchange_control_number="000000900",
        group_control_number="900",
        at=AT,
    )


def lines(interchange: x12.Interchange) -> list[str]:
    return x12.render(interchange, newline=True).splitlines()


def test_a_clean_interchange_is_acknowledged_as_accepted_per_group_and_transaction() -> None:
    reply = reply_to(sample("x12-810/staedi_810_two-invoices_one-group.edi"))

    assert (reply.sender_id, reply.receiver_id) == ("RECEIVERISA", "SENDERISA")
    (group,) = reply.groups
    assert (group.functional_id, group.control_number, group.date, group.time) == ("FA", "900", "20261101", "0930")
    assert [str(s) for s in group.transactions[0].segments] == [
        "AK1*IN*1",
        "AK2*810*000000001",
        "AK5*A",
        "AK2*810*000000002",
        "AK5*A",
        "AK9*A*2*2*2",
    ]


def test_a_rejected_transaction_carries_ak3_and_ak4_for_the_segment_and_element_in_error() -> None:
    reply = reply_to(sample("x12-bad/ediengine_850_syntax-note-violations.edi"))

    (ack,) = reply.groups[0].transactions
    assert [str(s) for s in ack.segments] == [
        "AK1*PO*1421",
        "AK2*850*000000010",
        "AK3*PO1*13**8",
        "AK4*7**2",
        "AK3*PO4*30**8",
        "AK4*6**2",
        "AK4*6**2",
        "AK5*R*5",
        "AK9*R*1*1*0",
    ]


def test_trailer_errors_reject_the_transaction_and_the_group_with_their_codes() -> None:
    reply = reply_to(sample("x12-bad/ediengine_940_control-number-mismatch.edi"))

    (ack,) = reply.groups[0].transactions
    assert [str(s) for s in ack.segments] == ["AK1*OW*3314", "AK2*940*0001", "AK5*R*3", "AK9*R*1*1*0*4"]


def test_one_bad_transaction_of_two_makes_the_group_partially_accepted() -> None:
    original = sample("x12-810/staedi_810_two-invoices_one-group.edi").decode()
    text = original.replace("SE*22*000000002", "SE*22*000000003")

    reply = reply_to(text.encode())

    last = [str(s) for s in reply.groups[0].transactions[0].segments][-3:]
    assert last == ["AK2*810*000000002", "AK5*R*3", "AK9*P*2*2*1"]


def test_a_warning_a_partner_is_excused_makes_the_transaction_accepted_with_errors() -> None:
    data = sample("x12-bad/ediengine_940_wrong-group-and-tx-counts.edi")

    reply = reply_to(data, x12.Leniency(trailer_counts=x12.Tolerance.WARN))

    assert [str(s) for s in reply.groups[0].transactions[0].segments][-2:] == ["AK5*A", "AK9*E*2*1*1*5"]


def test_a_5010_acknowledgement_names_the_version_in_ak1() -> None:
    reply = reply_to(sample("x12-997/staedi_997_5010_rejected-with-ak3-ak4.edi"))

    assert str(reply.groups[0].transactions[0].segments[0]) == "AK1*FA*000005*005010X230"


def test_the_997_we_build_is_itself_valid_x12_and_reads_back() -> None:
    reply = reply_to(sample("x12-bad/ediengine_850_syntax-note-violations.edi"))

    (parsed,) = x12.parse(x12.write(reply))
    (ack,) = x12.read_acknowledgements([parsed])

    assert parsed == reply
    assert (ack.functional_id, ack.group_control_number, ack.status, ack.accepted) == ("PO", "1421", "R", False)
    (tx,) = ack.transactions
    assert (tx.set_id, tx.control_number, tx.status, tx.codes) == ("850", "000000010", "R", ("5",))
    assert [(s.tag, s.position, [(e.position, e.code) for e in s.elements]) for s in tx.segments] == [
        ("PO1", 13, [(7, "2")]),
        ("PO4", 30, [(6, "2"), (6, "2")]),
    ]


def test_an_inbound_997_is_read_into_which_group_and_transactions_were_accepted_or_rejected() -> None:
    interchanges = x12.parse(sample("x12-997/staedi_997_5010_rejected-with-ak3-ak4.edi"))

    (ack,) = x12.read_acknowledgements(interchanges)

    assert (ack.functional_id, ack.group_control_number, ack.version) == ("HC", "000001", "")
    assert (ack.status, ack.included, ack.received, ack.accepted_count) == ("R", 1, 1, 0)
    tx = ack.for_transaction("837", "0021")
    assert tx is not None and not tx.accepted and tx.codes == ("5",)
    (segment,) = tx.segments
    assert (segment.tag, segment.position, segment.code) == ("NM1", 8, "8")
    assert [(e.position, e.reference, e.code, e.bad_value) for e in segment.elements] == [(8, "66", "7", "MI")]


def test_an_accepting_997_is_read_as_accepted() -> None:
    (ack,) = x12.read_acknowledgements(x12.parse(sample("x12-997/gtlogistics_997_4010_accepted_backtick-isa16.edi")))

    assert (ack.functional_id, ack.group_control_number, ack.accepted, ack.transactions) == ("SM", "1", True, ())
    assert (ack.sender_id, ack.receiver_id) == ("SENDER", "RECEIVER")


def test_reading_a_transaction_that_is_not_a_997_is_refused() -> None:
    with pytest.raises(x12.X12Error):
        x12.read_acknowledgement(x12.Transaction(set_id="850", control_number="0001"))


def test_an_interchange_without_groups_has_nothing_to_acknowledge() -> None:
    reading = x12.read(sample("x12-bad/gtlogistics_no-iea-trailer.edi"))

    with pytest.raises(x12.X12Error):
        x12.acknowledge(
            reading.interchanges[0], reading.issues, interchange_control_number="1", group_control_number="1", at=AT
        )
