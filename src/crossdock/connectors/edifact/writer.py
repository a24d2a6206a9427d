"""Writing interchanges as EDIFACT bytes, and building envelopes whose counts and references are right by
construction. Must not: do I/O, or decide business content (mapping.py does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from crossdock.connectors.edifact.syntax import (
    CHARSET_CODECS,
    DEFAULT_DELIMITERS,
    Delimiters,
    EdifactSyntaxError,
    Group,
    Interchange,
    Issue,
    Message,
    Place,
    Segment,
)


def _escaper(delimiters: Delimiters, syntax_version: int) -> dict[int, str]:
    specials = {delimiters.component, delimiters.element, delimiters.release, delimiters.terminator}
    repetition = delimiters.repetition(syntax_version)
    if repetition:
        specials.add(repetition)
    return {ord(c): delimiters.release + c for c in specials}


def segment_text(segment: Segment, delimiters: Delimiters = DEFAULT_DELIMITERS, syntax_version: int = 3) -> str:
    """One segment with its terminator, service characters in the data released."""
    table = _escaper(delimiters, syntax_version)
    elements = [
        delimiters.component.join(component.translate(table) for component in element) for element in segment.elements
    ]
    return delimiters.element.join([segment.tag, *elements]) + delimiters.terminator


def render_text(interchange: Interchange, *, line_breaks: bool = False) -> str:
    d, version = interchange.delimiters, interchange.syntax_version
    after = "\n" if line_breaks else ""
    parts: list[str] = []
    if interchange.una or not d.is_default():
        parts.append(d.una() + after)
    segments: list[Segment] = [interchange.header]
    for message in interchange.messages:
        segments.extend(message.all_segments())
    for group in interchange.groups:
        segments.append(group.header)
        for message in group.messages:
            segments.extend(message.all_segments())
        segments.append(group.trailer)
    if interchange.trailer is not None:
        segments.append(interchange.trailer)
    parts.extend(segment_text(segment, d, version) + after for segment in segments)
    return "".join(parts)


def render(interchange: Interchange, *, line_breaks: bool = False) -> bytes:
    """The interchange's bytes in its `encoding`; text the encoding cannot carry is an EdifactSyntaxError."""
    text = render_text(interchange, line_breaks=line_breaks)
    try:
        return text.encode(interchange.encoding)
    except UnicodeEncodeError as exc:
        raise EdifactSyntaxError(
            Issue(
                "character-set",
                "21",
                f"{text[exc.start : exc.end]!r} cannot be written in {interchange.syntax} ({interchange.encoding})",
                Place(interchange=interchange.reference),
            )
        ) from None


def render_many(interchanges: Sequence[Interchange], *, line_breaks: bool = False) -> bytes:
    return b"".join(render(interchange, line_breaks=line_breaks) for interchange in interchanges)


# ---------------------------------------------------------------------------------------------------------------
# Builders


def message(
    reference: str,
    message_type: str,
    body: Sequence[Segment],
    *,
    version: str = "D",
    release: str = "96A",
    agency: str = "UN",
    association: str = "",
) -> Message:
    """A message with UNH and a UNT that counts UNH..UNT."""
    identifier = (message_type, version, release, agency, *((association,) if association else ()))
    header = Segment.of("UNH", reference, identifier)
    trailer = Segment.of("UNT", str(len(body) + 2), reference)
    return Message(header, tuple(body), trailer)


def group(
    reference: str,
    message_type: str,
    messages: Sequence[Message],
    *,
    sender: str,
    recipient: str,
    prepared: datetime,
    version: str = "D",
    release: str = "96A",
    agency: str = "UN",
) -> Group:
    header = Segment.of(
        "UNG",
        message_type,
        sender,
        recipient,
        (prepared.strftime("%y%m%d"), prepared.strftime("%H%M")),
        reference,
        agency,
        (version, release),
    )
    return Group(header, tuple(messages), Segment.of("UNE", str(len(messages)), reference))


def interchange(
    reference: str,
    *,
    sender: tuple[str, str],
    recipient: tuple[str, str],
    prepared: datetime,
    messages: Sequence[Message] = (),
    groups: Sequence[Group] = (),
    syntax: str = "UNOC",
    syntax_version: int = 3,
    delimiters: Delimiters = DEFAULT_DELIMITERS,
    una: bool = True,
    application: str = "",
    test: bool = False,
) -> Interchange:
    """An interchange with UNB and a UNZ that counts its groups, or its messages when it has no groups."""
    if messages and groups:
        raise ValueError("an interchange holds either groups or messages, not both")
    date = prepared.strftime("%Y%m%d" if syntax_version >= 4 else "%y%m%d")
    header = Segment.of(
        "UNB",
        (syntax, str(syntax_version)),
        sender,
        recipient,
        (date, prepared.strftime("%H%M")),
        reference,
        None,
        application or None,
        None,
        None,
        None,
        "1" if test else None,
    )
    count = len(groups) if groups else len(messages)
    return Interchange(
        header,
        tuple(messages),
        tuple(groups),
        Segment.of("UNZ", str(count), reference),
        delimiters,
        una,
        CHARSET_CODECS.get(syntax, "utf-8"),
    )


def with_encoding(interchange: Interchange, syntax: str) -> Interchange:
    """The interchange re-declared in another character set (UNB S001 0001), written with its codec."""
    header = interchange.header
    first = (syntax, *header.element(1)[1:])
    return replace(
        interchange,
        header=Segment(header.tag, (first, *header.elements[1:])),
        encoding=CHARSET_CODECS[syntax],
    )
