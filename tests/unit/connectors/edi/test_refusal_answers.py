"""What a refused file still tells its sender: when its envelope can be read, one interchange_received per
interchange saying rejected, every set rejected, with the errors the engine found; when it cannot, nothing."""

from __future__ import annotations

from typing import Any

from crossdock.config import PartnerSettings
from crossdock.connectors.edi.inbound import EdiInbound
from crossdock.connectors.edi.profiles import Profile
from crossdock.domain import catalog
from tests.conftest import SAMPLES
from tests.unit.factories import make_stored_message

BAD_850 = SAMPLES / "x12-bad" / "ediengine_850_syntax-note-violations.edi"
ORDERS = SAMPLES / "edifact-orders" / "vscodeedi_orders_d96a_ean008_placeholder-glns.edifact"


def adapter(role: str = "customer", standard: str = "x12", **overrides: Any) -> EdiInbound:
    fields: dict[str, Any] = {"role": role, "standard": standard, "id": "4405197800", "our_id": "US", **overrides}
    return EdiInbound("edi-xyz", Profile("xyz", PartnerSettings.model_validate(fields)))


def test_a_refused_x12_file_is_answered_rejected_with_the_segment_and_element_in_error() -> None:
    message = make_stored_message(source="edi-xyz", body=BAD_850.read_bytes())

    [answer] = adapter().answer_refusal(message, "X12Refused: syntax-note ...")

    received = catalog.payload_as(answer, catalog.EdiInterchangeReceived)
    assert received.status is catalog.InterchangeStatus.REJECTED
    [group] = received.groups
    [tx] = group.transactions
    assert (group.control_number, group.status, group.accepted) == ("1421", "R", 0)
    assert (tx.set_id, tx.control_number, tx.status) == ("850", "000000010", "R")
    assert {(e.segment, e.position, e.element) for e in tx.errors} >= {("PO1", 13, 7)}
    assert received.issues[-1] == "X12Refused: syntax-note ...", "the reason the hub refused it travels along"
    assert answer.subject == "xyz:000003438"


def test_a_set_the_role_does_not_send_is_rejected_as_not_supported() -> None:
    # A supplier does not send 850s: the file maps to nothing and is refused, its set rejected with AK502 1.
    message = make_stored_message(
        source="edi-xyz", body=(SAMPLES / "x12-850" / "nodex12_850_xyzretail_4010vics_tilde-lf.edi").read_bytes()
    )

    [answer] = adapter("supplier").answer_refusal(message, "MappingError: mapping-unsupported-set")

    [group] = catalog.payload_as(answer, catalog.EdiInterchangeReceived).groups
    assert [(t.status, t.codes) for t in group.transactions] == [("R", ["1"])]


def test_a_file_whose_envelope_cannot_be_read_gets_no_answer() -> None:
    message = make_stored_message(source="edi-xyz", body=b"this is not an interchange")

    assert adapter().answer_refusal(message, "cannot identify") == []
    assert adapter(standard="edifact").answer_refusal(message, "cannot identify") == []


def test_a_refused_edifact_interchange_is_answered_with_every_message_rejected() -> None:
    message = make_stored_message(source="edi-xyz", body=ORDERS.read_bytes())

    [answer] = adapter("supplier", "edifact", version="D96A").answer_refusal(message, "mapping-unsupported-message")

    received = catalog.payload_as(answer, catalog.EdiInterchangeReceived)
    assert received.status is catalog.InterchangeStatus.REJECTED
    assert {t.status for g in received.groups for t in g.transactions} == {"4"}
