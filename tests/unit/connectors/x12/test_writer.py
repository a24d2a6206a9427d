from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossdock.connectors import x12
from tests.unit.connectors.x12.samples import sample, valid_params

OTHER = x12.Separators(element="|", component="\\", segment="'", repetition="{")


@pytest.mark.parametrize("path", valid_params())
def test_parse_write_parse_keeps_the_content_of_every_valid_sample(path: Path) -> None:
    first = x12.parse(path.read_bytes())

    again = x12.parse(x12.write(first))

    assert tuple(again) == tuple(first)
    # What the writer produces has no formatting quirks; only warnings about the content itself remain.
    assert {w.rule for w in again.warnings} <= {w.rule for w in first.warnings} - {"indentation", "isa-unpadded"}


@pytest.mark.parametrize("path", valid_params())
def test_writing_with_other_separators_and_newlines_keeps_the_content(path: Path) -> None:
    first = x12.parse(path.read_bytes())

    again = x12.parse(x12.write(first, separators=OTHER, newline=True))

    assert tuple(replace(x, separators=OTHER) for x in first) == tuple(again)


def test_the_writer_pads_the_isa_and_derives_the_trailers() -> None:
    (interchange,) = x12.parse(sample("x12-bad/ediengine_940_wrong-group-and-tx-counts.edi"), x12.LENIENT)

    text = x12.render(interchange, separators=x12.Separators(), newline=True)

    lines = text.splitlines()
    assert len(lines[0]) == 106 and lines[0].endswith("*P*>~")
    assert lines[-3:] == ["SE*5*0001~", "GE*1*3314~", "IEA*1*000003438~"]


@pytest.mark.parametrize(
    "segment",
    [
        # An element value holding the element separator.
        x12.Segment("REF", ("ZZ", "A*B")),
        # ... the segment terminator.
        x12.Segment("REF", ("ZZ", "A~B")),
        # ... a line break.
        x12.Segment("REF", ("ZZ", "A\nB")),
        # A component holding the component separator.
        x12.Segment("SLN", (x12.Composite(("A>B", "C")),)),
        # A repeated element where the separators have no repetition separator.
        x12.Segment("REF", (x12.Repeated(("A", "B")),)),
        # Not a segment tag.
        x12.Segment("R*F", ("A",)),
    ],
)
def test_a_value_that_would_be_written_ambiguously_is_refused(segment: x12.Segment) -> None:
    interchange = minimal(segments=(segment,))

    with pytest.raises(x12.X12WriteError):
        x12.write(interchange)


def test_an_isa_value_longer_than_its_field_is_refused() -> None:
    with pytest.raises(x12.X12WriteError, match="ISA06"):
        x12.write(replace(minimal(), sender_id="S" * 16))


def minimal(segments: tuple[x12.Segment, ...] = (), **changes: object) -> x12.Interchange:
    transaction = x12.Transaction(set_id="850", control_number="0001", segments=segments)
    group = x12.FunctionalGroup(
        functional_id="PO",
        application_sender="S",
        application_receiver="R",
        date="20240131",
        time="1100",
        control_number="7",
        version="004010",
        transactions=(transaction,),
    )
    values: dict[str, object] = {
        "sender_qualifier": "ZZ",
        "sender_id": "SENDER",
        "receiver_qualifier": "ZZ",
        "receiver_id": "RECEIVER",
        "date": "240131",
        "time": "1100",
        "control_number": "000000007",
        "version": "00401",
        "groups": (group,),
    }
    return x12.Interchange(**{**values, **changes})  # type: ignore[arg-type]


# Values the writer can carry: printable, no separators of the set used below, no surrounding blanks on the tag.
value = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="*>~^\x7f"), max_size=8)
composite = st.lists(value, min_size=2, max_size=3).map(lambda c: x12.Composite(tuple(c)))
simple_or_composite = value | composite
element = simple_or_composite | st.lists(simple_or_composite, min_size=2, max_size=3).map(
    lambda v: x12.Repeated(tuple(v))
)
tag = st.from_regex(r"[A-Z][A-Z0-9]{1,2}", fullmatch=True).filter(
    lambda t: t not in {"ISA", "IEA", "GS", "GE", "ST", "SE"}
)
segment = st.builds(x12.Segment, tag, st.lists(element, max_size=6).map(tuple)).filter(
    # A segment that ends in an empty element writes as the same text as one without it.
    lambda s: not s.elements or x12.model.first_value(s.elements[-1]) != "" or not isinstance(s.elements[-1], str)
)
transactions = st.lists(
    st.builds(
        x12.Transaction,
        set_id=st.sampled_from(["850", "855", "856", "810"]),
        control_number=st.from_regex(r"[0-9]{4,9}", fullmatch=True),
        segments=st.lists(segment, max_size=5).map(tuple),
    ),
    max_size=3,
    unique_by=lambda t: t.control_number,
)


@settings(max_examples=200, deadline=None)
@given(
    segments=transactions,
    usage=st.sampled_from(["P", "T"]),
    newline=st.booleans(),
)
def test_any_interchange_the_writer_produces_parses_back_equal(
    segments: list[x12.Transaction], usage: str, newline: bool
) -> None:
    base = minimal(usage=usage, separators=x12.Separators("*", ">", "~", "^"), version="00501")
    group = replace(base.groups[0], transactions=tuple(replace(t, segments=t.segments) for t in segments))
    interchange = replace(base, groups=(group,))

    (again,) = x12.parse(x12.write(interchange, newline=newline), x12.LENIENT)

    assert again == interchange
