"""Reading and validating interchanges: every valid sample is read, every bad one is refused naming the rule
and the place, and the service characters, character sets and envelopes behave as ISO 9735 says."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from crossdock.connectors import edifact
from crossdock.connectors.edifact.syntax import Severity, decimal_from
from tests.unit.connectors.edifact.samples import (
    BAD,
    BAD_INVOIC,
    BAD_ORDERS,
    DESADV_GMI,
    DESADV_MULTI,
    INVOIC_COMMA,
    INVOIC_UNA,
    INVOIC_UTF8,
    NEEDS_LENIENCY,
    ORDERS_146,
    ORDERS_GROUP,
    ORDERS_NO_UNZ,
    VALID,
    sample,
)


def rules(error: edifact.EdifactError) -> set[str]:
    return {issue.rule for issue in error.issues}


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_every_valid_sample_is_read_in_the_default_mode_or_with_the_named_leniency(path: Path) -> None:
    if path.name in NEEDS_LENIENCY:
        with pytest.raises(edifact.EdifactError) as refused:
            edifact.parse(sample(path))
        assert NEEDS_LENIENCY[path.name] in rules(refused.value)
        interchanges = edifact.parse(sample(path), edifact.LENIENT)
        assert NEEDS_LENIENCY[path.name] in {w.rule for i in interchanges for w in i.warnings}
    else:
        interchanges = edifact.parse(sample(path))
    assert interchanges and all(list(i.all_messages()) for i in interchanges)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # `1:10` written without its release character makes a seventh component in IMD C273.
        (BAD_ORDERS, {"too-many-components"}),
        # NAD qualifier BYZZ, QTY 1020A, PRI $1.179 and a second UNS.
        (BAD_INVOIC, {"too-long", "numeric-format", "uns-repeated"}),
    ],
    ids=lambda v: v.name if isinstance(v, Path) else "",
)
def test_every_bad_sample_is_refused_naming_the_rule(path: Path, expected: set[str]) -> None:
    for leniency in (edifact.STRICT, edifact.LENIENT):
        with pytest.raises(edifact.EdifactValidationError) as refused:
            edifact.parse(sample(path), leniency)
        assert expected <= rules(refused.value)


def test_the_bad_folder_holds_no_file_the_tests_do_not_judge() -> None:
    assert {p.name for p in BAD} == {BAD_ORDERS.name, BAD_INVOIC.name}


def test_an_unescaped_colon_is_reported_at_its_message_segment_element_and_component() -> None:
    with pytest.raises(edifact.EdifactValidationError) as refused:
        edifact.parse(sample(BAD_ORDERS))
    place = refused.value.issues[0].place
    assert (place.interchange, place.message, place.message_type) == ("896", "2019265563", "ORDERS")
    assert (place.tag, place.segment, place.element, place.component) == ("IMD", 359, 3, 7)
    assert "interchange 896 / message 2019265563 (ORDERS) / segment 359 IMD / element 3 component 7" in str(
        refused.value
    )


def test_bad_values_name_segment_position_and_component() -> None:
    with pytest.raises(edifact.EdifactValidationError) as refused:
        edifact.parse(sample(BAD_INVOIC))
    found = {(i.rule, i.place.tag, i.place.segment, i.place.element, i.place.component) for i in refused.value.issues}
    assert ("too-long", "NAD", 5, 1, None) in found
    assert ("numeric-format", "QTY", 10, 1, 2) in found
    assert ("numeric-format", "PRI", 13, 1, 2) in found
    assert ("uns-repeated", "UNS", 21, None, None) in found


def test_a_missing_unz_is_refused_by_default_and_accepted_with_a_warning_when_the_partner_allows_it() -> None:
    with pytest.raises(edifact.EdifactSyntaxError) as refused:
        edifact.parse(sample(ORDERS_NO_UNZ))
    assert refused.value.rule == "unz-missing"
    [interchange] = edifact.parse(sample(ORDERS_NO_UNZ), edifact.Leniency(missing_unz=True))
    assert interchange.trailer is None
    assert [w.rule for w in interchange.warnings] == ["unz-missing"]


def test_una_declares_the_decimal_comma_and_numbers_read_exactly() -> None:
    [interchange] = edifact.parse(sample(INVOIC_COMMA))
    assert interchange.delimiters.decimal == ","
    pri = [s for s in interchange.messages[0].segments if s.tag == "PRI"]
    assert [decimal_from(s.value(1, 2), ",") for s in pri] == [Decimal("750"), Decimal("19.9"), Decimal("2.5")]


def test_custom_service_characters_and_a_release_character_are_honoured() -> None:
    [interchange] = edifact.parse(sample(INVOIC_UNA))
    assert (interchange.delimiters.element, interchange.delimiters.component, interchange.delimiters.terminator) == (
        "*",
        "=",
        "~",
    )
    # `006?415160`: the release character before an ordinary digit keeps the digit, with a warning.
    assert interchange.recipient == "006415160"
    assert "release-before-ordinary" in {w.rule for w in interchange.warnings}
    # The same invoice as the one written with default separators, except the supplier's name (NAD+SE).
    plain = edifact.parse(sample(INVOIC_UTF8))[0]
    custom_segments, plain_segments = interchange.messages[0].segments, plain.messages[0].segments
    assert [s for s in custom_segments if s.tag != "NAD"] == [s for s in plain_segments if s.tag != "NAD"]


def test_a_released_service_character_is_data() -> None:
    data = b"UNB+UNOC:3+A+B+200101:1200+R1'UNH+1+ORDERS:D:96A:UN'BGM+220+A?+B?:C??D?'E'UNT+3+1'UNZ+1+R1'"
    [interchange] = edifact.parse(data)
    assert interchange.messages[0].segments[0].value(2) == "A+B:C?D'E"


def test_utf8_under_unoa_and_replacement_characters_are_read_with_warnings() -> None:
    [umlaut] = edifact.parse(sample(INVOIC_UTF8))
    assert umlaut.encoding == "utf-8"
    assert "BÜTTNER WIDGET COMPANY" in str(umlaut.messages[0].segments)
    assert {w.rule for w in umlaut.warnings} == {"character-set"}
    [mojibake] = edifact.parse(sample(ORDERS_146))
    assert {"character-set", "replacement-character"} <= {w.rule for w in mojibake.warnings}
    assert all(w.severity is Severity.WARNING for w in mojibake.warnings)


def test_latin_1_bytes_under_unoc_are_read_as_latin_1() -> None:
    data = "UNB+UNOC:3+A+B+200101:1200+R1'UNH+1+ORDERS:D:96A:UN'BGM+220+Müller'UNT+3+1'UNZ+1+R1'".encode("latin-1")
    [interchange] = edifact.parse(data)
    assert interchange.encoding == "latin-1"
    assert interchange.messages[0].segments[0].value(2) == "Müller"


def test_several_interchanges_groups_and_blank_lines_are_read() -> None:
    first, second = edifact.parse(sample(DESADV_MULTI))
    assert (first.reference, len(first.messages), len(first.groups)) == ("000000128", 3, 0)
    assert (second.reference, [g.reference for g in second.groups]) == ("000000129", ["GRP001", "GRP002", "GRP003"])
    assert [len(g.messages) for g in second.groups] == [1, 1, 3]


def test_a_message_reference_used_twice_is_a_warning_not_a_refusal() -> None:
    [interchange] = edifact.parse(sample(DESADV_GMI))
    assert [m.reference for m in interchange.messages] == ["2266", "2266"]
    assert "duplicate-message-reference" in {w.rule for w in interchange.warnings}


def test_a_group_is_read_with_its_reference() -> None:
    [interchange] = edifact.parse(sample(ORDERS_GROUP), edifact.LENIENT)
    assert [g.reference for g in interchange.groups] == ["1"]
    assert interchange.groups[0].messages[0].association == "EAN008B"


ENVELOPE = "UNB+UNOC:3+A+B+200101:1200+R1'{body}UNZ+{count}+{ref}'"
MESSAGE = "UNH+M1+ORDERS:D:96A:UN'BGM+220+1'UNT+{segments}+{trailer}'"


@pytest.mark.parametrize(
    ("text", "rule", "place"),
    [
        # UNT counts UNH..UNT: three here, not four.
        (
            ENVELOPE.format(body=MESSAGE.format(segments=4, trailer="M1"), count=1, ref="R1"),
            "unt-segment-count",
            ("M1", "UNT", 1),
        ),
        # UNT must repeat the UNH reference.
        (
            ENVELOPE.format(body=MESSAGE.format(segments=3, trailer="M2"), count=1, ref="R1"),
            "unt-reference",
            ("M1", "UNT", 2),
        ),
        # UNZ counts messages.
        (
            ENVELOPE.format(body=MESSAGE.format(segments=3, trailer="M1"), count=2, ref="R1"),
            "unz-count",
            (None, "UNZ", 1),
        ),
        # UNZ must repeat the UNB reference.
        (
            ENVELOPE.format(body=MESSAGE.format(segments=3, trailer="M1"), count=1, ref="R9"),
            "unz-reference",
            (None, "UNZ", 2),
        ),
        # UNE counts the group's messages and repeats its reference.
        (
            ENVELOPE.format(
                body="UNG+ORDERS+A+B+200101:1200+G1+UN+D:96A'" + MESSAGE.format(segments=3, trailer="M1") + "UNE+2+G1'",
                count=1,
                ref="R1",
            ),
            "une-message-count",
            (None, "UNE", 1),
        ),
        (
            ENVELOPE.format(
                body="UNG+ORDERS+A+B+200101:1200+G1+UN+D:96A'" + MESSAGE.format(segments=3, trailer="M1") + "UNE+1+G2'",
                count=1,
                ref="R1",
            ),
            "une-reference",
            (None, "UNE", 2),
        ),
        # A required element left empty.
        (
            ENVELOPE.format(body="UNH+M1+ORDERS:D:96A:UN'BGM+220+1'QTY+:5'UNT+4+M1'", count=1, ref="R1"),
            "missing-component",
            ("M1", "QTY", 1),
        ),
        # An unknown syntax identifier.
        (
            "UNB+XXXX:3+A+B+200101:1200+R1'" + MESSAGE.format(segments=3, trailer="M1") + "UNZ+1+R1'",
            "syntax-identifier",
            (None, "UNB", 1),
        ),
    ],
)
def test_envelope_rules_are_checked_and_name_the_place(text: str, rule: str, place: tuple[object, ...]) -> None:
    with pytest.raises(edifact.EdifactValidationError) as refused:
        edifact.parse(text.encode())
    issue = next(i for i in refused.value.issues if i.rule == rule)
    assert (issue.place.message, issue.place.tag, issue.place.element) == place
    assert issue.place.interchange == "R1" or rule == "syntax-identifier"


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (b"", "no-interchange"),  # nothing at all
        (b"hello world", "unterminated-segment"),  # not EDIFACT
        (b"UNA:+.? 'UNB+UNOC:3+A+B+200101:1200+R1'UNH+1+ORDERS:D:96A:UN'BGM+220+1'", "unt-missing"),
        (b"UNB+UNOC:3+A+B+200101:1200+R1'UNH+1+ORDERS:D:96A:UN'UNZ+1+R1'", "unt-missing"),
        (b"UNH+1+ORDERS:D:96A:UN'BGM+220+1'UNT+3+1'", "missing-unb"),
        (b"UNB+UNOC:3+A+B+200101:1200+R1'BGM+220+1'UNZ+0+R1'", "segment-outside-message"),
        (b"UNA:+.? 'UNB+UNOC:3+A+B+200101:1200+R1'UNH+1+X?", "release-at-end"),
        (b"UNA:+:? 'UNB+UNOC:3+A'", "una-duplicate-characters"),
        (b"UNA:+x? 'UNB+UNOC:3+A'", "una-decimal-mark"),
        (b"UNA:+", "una-too-short"),
        (b"UNB+UNOC:3+A+B+200101:1200+R1'lower+case'", "segment-tag"),
        (
            b"UNB+UNOC:4+A+B+20200101:1200+R1'UNH+1+ORDERS:D:96A:UN'BGM+220+a*b'UNT+3+1'UNZ+1+R1'",
            "repetition-unsupported",
        ),
    ],
)
def test_unreadable_data_is_a_syntax_error_naming_the_rule(data: bytes, rule: str) -> None:
    with pytest.raises(edifact.EdifactSyntaxError) as refused:
        edifact.parse(data)
    assert refused.value.rule == rule


def test_an_interchange_error_is_a_mapping_error_of_the_hub() -> None:
    from crossdock.hub.errors import MappingError

    assert issubclass(edifact.EdifactError, MappingError)
