"""CONTRL: an interchange that passes is acknowledged message by message; one that breaks rules is rejected
with UCM/UCS/UCD naming the message, segment position and element; a CONTRL reads back to the same report."""

from __future__ import annotations

from datetime import datetime

import pytest

from crossdock.connectors import edifact
from crossdock.connectors.edifact import contrl
from tests.unit.connectors.edifact.samples import BAD_INVOIC, DESADV_MULTI, INVOIC_COMMA, sample

WHEN = datetime(2026, 2, 3, 4, 5)


def round_trip(built: edifact.Interchange) -> contrl.ContrlReport:
    [read] = edifact.parse(edifact.render(built))
    assert [m.type for m in read.messages] == ["CONTRL"]
    return contrl.read_contrl(read.messages[0])


def test_an_accepted_interchange_is_acknowledged_to_its_sender_with_every_message() -> None:
    [received] = edifact.parse(sample(INVOIC_COMMA))
    [ack] = contrl.acknowledge_data(sample(INVOIC_COMMA), reference="ACK1", prepared=WHEN)

    assert (ack.sender, ack.recipient) == (received.recipient, received.sender)
    uci = ack.messages[0].segments[0]
    assert str(uci) == "UCI+9908021557+FHPEDAL+HUBERGMBH+7"
    report = round_trip(ack)
    assert report.accepted
    assert (report.interchange, report.action) == ("9908021557", "7")
    assert [(m.reference, m.message_type, m.action) for m in report.messages] == [("INVOIC0001", "INVOIC", "7")]


def test_a_rejected_interchange_names_each_segment_and_element_in_error() -> None:
    [ack] = contrl.acknowledge_data(sample(BAD_INVOIC), reference="ACK2", prepared=WHEN)
    report = round_trip(ack)

    assert not report.accepted
    assert report.action == contrl.REJECTED
    [message] = report.messages
    assert (message.reference, message.action) == ("00000000000117", "4")
    errors = {
        (s.position, s.code, tuple((e.position, e.component, e.code) for e in s.elements)) for s in message.segments
    }
    assert errors == {
        (5, "", ((1, None, "39"),)),  # NAD 3035 BYZZ too long
        (10, "", ((1, 2, "37"),)),  # QTY 6060 1020A not numeric
        (13, "", ((1, 2, "37"),)),  # PRI 5118 $1.179 not numeric
        (21, "35", ()),  # UNS repeated
    }


def test_groups_are_acknowledged_with_ucf_and_their_messages() -> None:
    _, grouped = edifact.parse(sample(DESADV_MULTI))
    ack = contrl.acknowledge(grouped, (), reference="ACK3", prepared=WHEN)
    tags = [s.tag for s in ack.messages[0].segments]
    assert tags == ["UCI", "UCF", "UCM", "UCF", "UCM", "UCF", "UCM", "UCM", "UCM"]
    report = round_trip(ack)
    assert [(m.group, m.reference) for m in report.messages][-1] == ("GRP003", "2268")
    assert report.accepted


def test_an_envelope_error_rejects_the_interchange_in_uci() -> None:
    data = b"UNB+UNOC:3+A+B+200101:1200+R1'UNH+M1+ORDERS:D:96A:UN'BGM+220+1'UNT+3+M1'UNZ+2+R1'"
    [ack] = contrl.acknowledge_data(data, reference="ACK4", prepared=WHEN)
    report = round_trip(ack)
    assert (report.action, report.code) == ("4", "29")
    assert [m.action for m in report.messages] == ["7"]


def test_reading_a_message_that_is_not_a_contrl_is_refused() -> None:
    [invoice] = edifact.parse(sample(INVOIC_COMMA))
    with pytest.raises(edifact.EdifactValidationError) as refused:
        contrl.read_contrl(invoice.messages[0])
    assert refused.value.rule == "contrl-expected"
