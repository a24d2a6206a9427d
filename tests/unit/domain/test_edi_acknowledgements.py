"""The rules that judge a partner's 997 against the interchange we sent: the worst status named wins, sets left out
were accepted with their group, a group or set we never sent is named, and the exception's words carry the partner,
the numbers, the document and the codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crossdock.domain import catalog
from crossdock.domain import edi_acknowledgements as rules

SENT = rules.Sent(
    partner="acme",
    interchange="000000004",
    group="4",
    functional_id="PO",
    sets=(("850", "0001"), ("850", "0002")),
    document="purchase order PO-1 revision 1",
)


def group(status: str, *sets: tuple[str, str, str], **extra: Any) -> catalog.AcknowledgedGroup:
    fields: dict[str, Any] = {"functional_id": "PO", "control_number": "4", "status": status}
    fields["transactions"] = [
        catalog.AcknowledgedTransaction(set_id=s, control_number=n, status=st) for s, n, st in sets
    ]
    return catalog.AcknowledgedGroup(**(fields | extra))


@pytest.mark.parametrize(
    ("acknowledged", "verdict", "reason"),
    [
        # AK9 A with no AK2 loops: every set went through.
        (group("A"), rules.Verdict.ACCEPTED, None),
        # AK9 A naming both sets accepted.
        (group("A", ("850", "0001", "A"), ("850", "0002", "A")), rules.Verdict.ACCEPTED, None),
        # AK9 E: accepted, errors noted.
        (group("E", ("850", "0001", "E")), rules.Verdict.ACCEPTED_WITH_ERRORS, rules.WITH_ERRORS),
        # AK9 P: one set rejected, the other accepted.
        (group("P", ("850", "0001", "A"), ("850", "0002", "R")), rules.Verdict.REJECTED, rules.REJECTED),
        # AK9 R.
        (group("R", ("850", "0001", "R")), rules.Verdict.REJECTED, rules.REJECTED),
        # An inconsistent 997: group accepted, a set rejected. The worst wins.
        (group("A", ("850", "0002", "R")), rules.Verdict.REJECTED, rules.REJECTED),
        # AK501 W (rejected, assurance failed) is a rejection too.
        (group("A", ("850", "0001", "W")), rules.Verdict.REJECTED, rules.REJECTED),
    ],
)
def test_the_worst_status_a_997_names_is_its_verdict(
    acknowledged: catalog.AcknowledgedGroup, verdict: rules.Verdict, reason: str | None
) -> None:
    finding = rules.judge(acknowledged, SENT)

    assert finding.verdict is verdict
    assert finding.reason_code == reason
    assert finding.clears is (reason is None)


def test_a_group_we_never_sent_is_unmatched() -> None:
    assert rules.judge(group("A"), None).reason_code == rules.UNMATCHED


def test_a_group_number_of_another_functional_group_is_not_ours() -> None:
    invoices = group("A", functional_id="IN")

    assert rules.judge(invoices, SENT).reason_code == rules.UNMATCHED


def test_an_accepting_997_that_names_a_set_we_did_not_send_is_not_a_clean_answer() -> None:
    finding = rules.judge(group("A", ("850", "0009", "A")), SENT)

    assert finding.unknown_sets == (("850", "0009"),)
    assert finding.reason_code == rules.WITH_ERRORS
    assert "850 0009" in rules.message(finding, "000000501")


def test_the_message_names_partner_numbers_document_and_codes() -> None:
    error = catalog.AcknowledgedError(segment="PO1", position=3, code="7", element=2, value="X")
    rejected = group(
        "R",
        codes=["5"],
    ).model_copy(
        update={
            "transactions": [
                catalog.AcknowledgedTransaction(
                    set_id="850", control_number="0001", status="R", codes=["5"], errors=[error]
                )
            ]
        }
    )

    text = rules.message(rules.judge(rejected, SENT), "000000501")

    for named in ("acme", "rejected", "000000004", "group 4", "850 0001", "PO-1", "000000501", "AK9 R codes 5"):
        assert named in text, f"{named!r} missing from {text}"
    assert "AK5 R codes 5; segment PO1 at 3 element 2 code 7 value 'X'" in text


def test_the_acknowledgement_is_due_the_partners_window_after_sending_or_never() -> None:
    sent_at = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

    assert rules.due_by(sent_at, timedelta(hours=24)) == sent_at + timedelta(hours=24)
    assert rules.due_by(sent_at, None) is None


@pytest.mark.parametrize(
    "role",
    [
        # A supplier's 997 refusing our 850: the EDI team, not procurement, settles envelopes and codes.
        "supplier",
        # A customer's 997 refusing our 855, 856 or 810.
        "customer",
        # A 3PL's 997 refusing our 940.
        "3pl",
        # A partner configured without a role.
        "",
    ],
)
def test_acknowledgement_problems_go_to_the_edi_desk_whatever_the_partners_role(role: str) -> None:
    assert rules.owner_for(role) is catalog.ExceptionOwner.EDI
