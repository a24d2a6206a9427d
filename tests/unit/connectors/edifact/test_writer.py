"""Writing interchanges: what is read and written again reads back the same, for the samples and for any
interchange the builders can make, whatever the service characters and the data."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossdock.connectors import edifact
from crossdock.connectors.edifact import writer
from crossdock.connectors.edifact.syntax import Delimiters, Interchange, Segment
from tests.unit.connectors.edifact.samples import INVOIC_UNA, VALID, sample
from tests.unit.factories import PROPERTY


def content(interchange: Interchange) -> tuple[object, ...]:
    return (interchange.header, interchange.messages, interchange.groups, interchange.trailer)


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
@pytest.mark.parametrize("line_breaks", [False, True])
def test_parse_render_parse_keeps_every_sample_whole(path: Path, line_breaks: bool) -> None:
    first = edifact.parse(sample(path), edifact.LENIENT)
    again = edifact.parse(edifact.render_many(first, line_breaks=line_breaks), edifact.LENIENT)
    assert [content(i) for i in again] == [content(i) for i in first]
    assert [i.delimiters for i in again] == [i.delimiters for i in first]


def test_custom_service_characters_are_written_back_with_their_una() -> None:
    [interchange] = edifact.parse(sample(INVOIC_UNA))
    text = edifact.render(interchange).decode()
    assert text.startswith("UNA=*.? ~UNB*UNOA=3*")


def test_text_the_declared_character_set_cannot_carry_is_refused_on_writing() -> None:
    message = writer.message("1", "ORDERS", [Segment.of("BGM", "220", "Łódź")])
    built = writer.interchange(
        "R1",
        sender=("A", "14"),
        recipient=("B", "14"),
        prepared=datetime(2026, 1, 2),
        messages=[message],
        syntax="UNOC",
    )
    with pytest.raises(edifact.EdifactSyntaxError) as refused:
        edifact.render(built)
    assert refused.value.rule == "character-set"
    assert edifact.parse(edifact.render(writer.with_encoding(built, "UNOW")))[0].messages == built.messages


def segments(max_codepoint: int) -> st.SearchStrategy[Segment]:
    """Segments whose data is anything printable the character set can carry, service characters included."""
    values = st.text(
        st.characters(min_codepoint=32, max_codepoint=max_codepoint, exclude_characters="\x7f"), max_size=12
    )
    elements = st.lists(st.lists(values, min_size=1, max_size=3).map(tuple), max_size=4)
    return st.builds(lambda tag, els: Segment.of(tag, *els), st.sampled_from(["FTX", "ZZZ", "ABC"]), elements)


service_sets = st.sampled_from(
    [Delimiters(), Delimiters("=", "*", ",", "!", " ", "~"), Delimiters(":", "|", ".", "\\", " ", "#")]
)


@st.composite
def interchanges(draw: st.DrawFn) -> Interchange:
    grouped = draw(st.booleans())
    syntax = draw(st.sampled_from(["UNOC", "UNOW"]))
    data = segments(0xFF if syntax == "UNOC" else 0x24F)
    messages = [
        writer.message(f"M{i}", "GENRAL", draw(st.lists(data, max_size=6))) for i in range(draw(st.integers(1, 3)))
    ]
    when = datetime(2026, 3, 4, 5, 6)
    groups = [writer.group("G1", "GENRAL", messages, sender="A", recipient="B", prepared=when)] if grouped else []
    return writer.interchange(
        draw(st.from_regex(r"[A-Z0-9]{1,14}", fullmatch=True)),
        sender=("SENDER", "14"),
        recipient=("RECIPIENT", "14"),
        prepared=when,
        messages=[] if grouped else messages,
        groups=groups,
        syntax=syntax,
        delimiters=draw(service_sets),
    )


@PROPERTY
@given(built=interchanges(), line_breaks=st.booleans())
def test_any_built_interchange_renders_to_bytes_that_parse_back_to_it(built: Interchange, line_breaks: bool) -> None:
    [again] = edifact.parse(edifact.render(built, line_breaks=line_breaks))
    assert content(again) == content(built)
    assert again.delimiters == built.delimiters
