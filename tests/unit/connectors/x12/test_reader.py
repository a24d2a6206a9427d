from __future__ import annotations

from pathlib import Path

import pytest

from crossdock.connectors import x12
from crossdock.connectors.x12 import codes
from tests.unit.connectors.x12.samples import BAD, MISFILED, VALID, sample, valid_params

# Why each bad file is refused: the rules its errors must name (at least these).
REFUSED_FOR = {
    # PO1 has CB with an empty id (P0607); PO4 has PO405 without PO406 (C0506, P0607).
    "ediengine_850_syntax-note-violations.edi": {"syntax-note"},
    "ediengine_940_control-number-mismatch.edi": {"se-control-number", "ge-control-number", "iea-control-number"},
    "ediengine_940_wrong-group-and-tx-counts.edi": {"ge-transaction-count", "iea-group-count"},
    "ediengine_not-edi.edi": {"not-x12"},
    # ISA16 reads as "~", so the terminator is the newline and every "~" is a component separator.
    "edinet_850_issue135_isa16-missing_one-unterminated-seg.edi": {
        "component-separator-ends-segments",
        "st-control-number-unique",
    },
    "edinet_850_nbsp-in-isa_iea-mismatch.edi": {"iea-control-number"},
    "gtlogistics_isa-inconsistent-separator.edi": {"isa-separators"},
    "gtlogistics_no-iea-trailer.edi": {"iea-missing", "isa-version"},
    "gtlogistics_no-se-trailer.edi": {"se-missing"},
    "gtlogistics_se01-count-mismatch.edi": {"se-segment-count"},
    # Unpadded ISA fields are tolerated (the valid 810s have them); what is wrong is the missing rest.
    "gtlogistics_trimmed-isa.edi": {"iea-missing"},
    "staedi_997_invalid-codes-nonnumeric.edi": {"ack-code"},
    "vscodeedi_850_bad-dates_bad-segment_bad-iea.x12": {"segment-tag", "se-segment-count", "ge-control-number"},
    "vscodeedi_850_with-slash-comments.x12": {"not-x12"},
}


@pytest.mark.parametrize("path", valid_params())
def test_every_valid_sample_parses_in_the_default_mode(path: Path) -> None:
    interchanges = x12.parse(path.read_bytes())

    assert len(interchanges) >= 1
    for interchange in interchanges:
        assert interchange.groups, "every valid sample has at least one functional group"
        for group, transaction in interchange.transactions():
            assert transaction.trailer is not None
            assert transaction.set_id == path.parent.name.removeprefix("x12-") or group.functional_id == "PO"


@pytest.mark.parametrize("path", BAD, ids=[p.name for p in BAD])
def test_every_bad_sample_is_refused_with_its_reason(path: Path) -> None:
    with pytest.raises(x12.X12Refused) as refused:
        x12.parse(path.read_bytes())

    assert REFUSED_FOR[path.name] <= refused.value.rules, str(refused.value)
    assert all(issue.message and str(issue.place) for issue in refused.value.errors)


def test_every_bad_sample_has_its_reason_written_down() -> None:
    assert set(REFUSED_FOR) == {p.name for p in BAD}


def test_the_misfiled_850_is_refused_for_its_trailer_but_reads_when_the_partner_is_lenient() -> None:
    (path,) = [p for p in VALID if p.name in MISFILED]

    with pytest.raises(x12.X12Refused) as refused:
        x12.parse(path.read_bytes())
    lenient = x12.parse(path.read_bytes(), x12.LENIENT)

    assert refused.value.rules == {"iea-control-number"}
    assert {w.rule for w in lenient.warnings} >= {"iea-control-number", "byte-order-mark", "isa-padding"}


def test_an_error_names_the_rule_the_place_and_its_acknowledgement_code() -> None:
    with pytest.raises(x12.X12Refused) as refused:
        x12.parse(sample("x12-bad/ediengine_850_syntax-note-violations.edi"))

    first = refused.value.errors[0]
    assert first.rule == "syntax-note"
    assert "P0607" in first.message
    assert (first.place.interchange, first.place.group, first.place.transaction_set) == ("000003438", "1421", "850")
    assert (first.place.segment_position, first.place.segment_tag, first.place.element) == (13, "PO1", 7)
    assert (first.level, first.code) == (x12.AckLevel.ELEMENT, codes.ElementCode.CONDITIONAL_MISSING)
    assert "segment 13 PO1, element PO107" in str(first)


def test_all_errors_are_collected_not_only_the_first() -> None:
    reading = x12.read(sample("x12-bad/ediengine_940_control-number-mismatch.edi"))

    assert [(e.rule, e.level, e.code) for e in reading.errors] == [
        ("iea-control-number", x12.AckLevel.INTERCHANGE, "001"),
        ("ge-control-number", x12.AckLevel.GROUP, "4"),
        ("se-control-number", x12.AckLevel.TRANSACTION, "3"),
    ]


def test_separators_come_from_the_isa_whatever_they_are() -> None:
    pipes = x12.parse(sample("x12-856/vscodex12_856_amerisourcebergen_pipe-separated.edi"))[0]
    backtick = x12.parse(sample("x12-997/gtlogistics_997_4010_accepted_backtick-isa16.edi"))[0]
    newline = x12.parse(sample("x12-850/nodex12_850_xyzretail_newline-terminated.edi"))[0]
    five = x12.parse(sample("x12-997/staedi_997_5010_rejected-with-ak3-ak4.edi"))[0]

    assert pipes.separators == x12.Separators("|", ">", "~", None)
    assert backtick.separators == x12.Separators("*", "`", "~", None)
    assert newline.separators == x12.Separators("*", ">", "\n", None)
    assert five.separators == x12.Separators("*", ":", "~", "^")


def test_the_same_document_with_tilde_or_newline_terminators_reads_the_same() -> None:
    tilde = x12.parse(sample("x12-850/nodex12_850_xyzretail_4010vics_tilde-lf.edi"))[0]
    newline = x12.parse(sample("x12-850/nodex12_850_xyzretail_newline-terminated.edi"))[0]

    assert tilde.groups == newline.groups


def test_the_envelope_values_are_read_without_their_padding() -> None:
    (interchange,) = x12.parse(sample("x12-850/nodex12_850_xyzretail_4010vics_tilde-lf.edi"))
    (group,) = interchange.groups
    (po,) = group.transactions

    assert (interchange.sender_qualifier, interchange.sender_id) == ("12", "4405197800")
    assert (interchange.receiver_qualifier, interchange.receiver_id) == ("01", "999999999")
    assert (interchange.control_number, interchange.version, interchange.usage) == ("000003438", "00400", "P")
    assert (group.functional_id, group.control_number, group.version) == ("PO", "1421", "004010VICS")
    assert (po.set_id, po.segments[0].tag, po.segments[0].value(3)) == ("850", "BEG", "08292233294")


def test_composite_elements_are_split_into_components() -> None:
    (interchange,) = x12.parse(sample("x12-850/ediengine_850_sln-composite_newline-terminated.edi"))
    sln = next(s for _, t in interchange.transactions() for s in t.segments if s.tag == "SLN")

    assert isinstance(sln.element(5), x12.Composite)
    assert sln.component(5, 1) == sln.element(5).components[0]  # type: ignore[union-attr]


def test_repetitions_follow_isa11_from_version_00402_and_a_partner_can_turn_them_off() -> None:
    data = sample("x12-856/nodex12_856_sopi_4060.edi")

    split = x12.parse(data)
    whole = x12.parse(data, x12.Leniency(repetitions=False))

    ref = next(s for _, t in split[0].transactions() for s in t.segments if s.tag == "REF")
    ref_whole = next(s for _, t in whole[0].transactions() for s in t.segments if s.tag == "REF")
    assert ref.element(2) == x12.Repeated(("999999", "001"))
    assert ref_whole.value(2) == "999999-001"
    assert "repetition-separator-in-data" in {w.rule for w in split.warnings}


def test_several_interchanges_and_groups_in_one_file_are_all_read() -> None:
    two = x12.parse(sample("x12-940/ediengine_940_two-interchanges_four-groups.edi"))
    three = x12.parse(sample("x12-997/staedi_997_5010_three-interchanges.edi"))

    assert [len(x.groups) for x in two] == [2, 2]
    assert sum(len(g.transactions) for x in two for g in x.groups) == 6
    assert [x.control_number for x in three] == ["000000001", "000000002", "000000003"]


@pytest.mark.parametrize(
    ("relative", "rules"),
    [
        # BOM, unpadded ISA and tab indentation.
        ("x12-810/edinet_810a_ariba-style_bom_unpadded-isa.edi", {"byte-order-mark", "isa-unpadded", "indentation"}),
        # IEA02 3438 for ISA13 000003438.
        ("x12-940/ediengine_940_two-interchanges_four-groups.edi", {"iea-control-number-padding"}),
        # An 864 under GS*PO, and GS02/GS03 of spaces.
        ("x12-850/vscodeedi_850-864_two-groups_blank-gs-ids.x12", {"st-functional-group", "gs-blank"}),
    ],
)
def test_real_world_quirks_are_accepted_with_a_warning_by_default_and_refused_when_strict(
    relative: str, rules: set[str]
) -> None:
    data = sample(relative)

    assert rules <= {w.rule for w in x12.parse(data).warnings}
    with pytest.raises(x12.X12Refused) as refused:
        x12.parse(data, x12.STRICT)
    assert rules <= refused.value.rules


def test_a_partner_can_be_excused_wrong_segment_counts() -> None:
    data = sample("x12-bad/ediengine_940_wrong-group-and-tx-counts.edi")
    relaxed = x12.Leniency(trailer_counts=x12.Tolerance.WARN)

    interchanges = x12.parse(data, relaxed)

    assert {w.rule for w in interchanges.warnings} >= {"ge-transaction-count", "iea-group-count"}


ISA = "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *240131*1100*U*00401*000000007*0*P*>~"


def envelope(body: str, *, gs: str = "GS*PO*S*R*20240131*1100*7*X*004010~", st: str = "ST*850*0001~") -> str:
    count = body.count("~") + 2
    return f"{ISA}{gs}{st}{body}SE*{count}*0001~GE*1*7~IEA*1*000000007~"


def test_a_minimal_interchange_built_by_hand_parses() -> None:
    (interchange,) = x12.parse(envelope("BEG*00*SA*PO1**20240131~"))

    ((_, po),) = interchange.transactions()
    assert po.segments == (x12.Segment("BEG", ("00", "SA", "PO1", "", "20240131")),)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        # Nothing at all.
        ("", "not-x12"),
        # Ends inside the ISA.
        (ISA[:50], "isa-truncated"),
        # A segment between SE and ST.
        (envelope("BEG*00~").replace("SE*3*0001~", "SE*3*0001~REF*ZZ*1~"), "outside-transaction"),
        # ISA09 is not a date.
        (envelope("BEG*00~").replace("*240131*", "*241331*"), "isa-date"),
        # GS04 is not a date.
        (envelope("BEG*00~", gs="GS*PO*S*R*2024013*1100*7*X*004010~"), "gs-date"),
        # GS05 is not a time.
        (envelope("BEG*00~", gs="GS*PO*S*R*20240131*2500*7*X*004010~"), "gs-time"),
        # ISA05 is not a qualifier.
        (envelope("BEG*00~").replace("*ZZ*SENDER", "*QQ*SENDER"), "isa-code"),
        # ST01 is not a transaction set id.
        (envelope("BEG*00~", st="ST*85*0001~").replace("SE*3*0001", "SE*3*0001"), "st-set-id"),
        # GS ... without GE.
        (envelope("BEG*00~").replace("GE*1*7~", ""), "ge-missing"),
        # GS06 is not a number.
        (
            envelope("BEG*00~", gs="GS*PO*S*R*20240131*1100*A7*X*004010~").replace("GE*1*7", "GE*1*A7"),
            "gs-control-number",
        ),
        # A lower-case segment tag.
        (envelope("beg*00~"), "segment-tag"),
    ],
)
def test_envelope_rules_are_checked(text: str, rule: str) -> None:
    with pytest.raises(x12.X12Refused) as refused:
        x12.parse(text.encode())

    assert rule in refused.value.rules


def test_text_before_the_isa_is_refused_unless_the_partner_is_lenient() -> None:
    data = ("garbage line\n" + envelope("BEG*00~")).encode()

    with pytest.raises(x12.X12Refused):
        x12.parse(data)
    assert "text-before-interchange" in {w.rule for w in x12.parse(data, x12.LENIENT).warnings}


def test_bytes_that_are_not_utf8_are_read_as_latin1_with_a_warning() -> None:
    data = envelope("N1*ST*Caf\xe9~").encode("latin-1")

    interchanges = x12.parse(data)

    assert interchanges[0].groups[0].transactions[0].segments[0].value(2) == "Café"
    assert "not-utf8" in {w.rule for w in interchanges.warnings}
