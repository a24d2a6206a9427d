"""Reading EDIFACT bytes into interchanges: character set, service string advice, release characters, envelopes.

Owns the tokenizer and the envelope structure (UNB > UNG > UNH ... UNT > UNE > UNZ). Counts, references and the
segment directory are checked by validation.py. Must not: do I/O or map to canonical documents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
    Severity,
    normalise,
)

BOM = b"\xef\xbb\xbf"
TAG = re.compile(r"[A-Z][A-Z0-9]{2}")
BLANKS = "\r\n\t "
# Syntax identifier and version right after `UNB`, whatever the separators: enough to pick a codec and to know
# whether UNA5 is a repetition separator, before the interchange is tokenized.
UNB_SNIFF = re.compile(rb"UNB[^A-Z0-9](UNO[A-Z])[^A-Z0-9](\d)")


@dataclass(frozen=True)
class Leniency:
    """Departures from ISO 9735 accepted on reading, per partner. The default refuses all of them.

    Quirks that lose nothing (a byte order mark, text outside the declared character set, blank UNB party ids,
    a message reference used twice) are always accepted and reported as warnings instead."""

    # A file that ends after a complete UNT without UNZ: accepted as an interchange, with a warning.
    missing_unz: bool = False
    # A UNT whose segment count is wrong while its reference matches: a sender that counts the envelope in.
    # The message is read; the count is reported as a warning.
    wrong_segment_count: bool = False


STRICT = Leniency()
LENIENT = Leniency(missing_unz=True, wrong_segment_count=True)


def _issue(rule: str, code: str, message: str, place: Place, severity: Severity = Severity.ERROR) -> Issue:
    return Issue(rule=rule, code=code, message=message, place=place, severity=severity)


def decode(raw: bytes) -> tuple[str, str, list[Issue]]:
    """The text of an interchange file, the codec it was read with, and warnings about the bytes.

    UTF-8 is tried first: it is what mis-declared files in practice carry (umlauts under UNOA), and a byte
    sequence that is valid UTF-8 is almost never intended as Latin-1. Otherwise the declared character set
    decides, and Latin-1 (which reads any byte) is the last resort, with a warning."""
    warnings: list[Issue] = []
    if raw.startswith(BOM):
        raw = raw[len(BOM) :]
        warnings.append(
            _issue(
                "byte-order-mark", "21", "a UTF-8 byte order mark precedes the interchange", Place(), Severity.WARNING
            )
        )
    sniffed = UNB_SNIFF.search(raw[:4096])
    declared = sniffed.group(1).decode("ascii") if sniffed else ""
    declared_codec = CHARSET_CODECS.get(declared, "latin-1")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text, codec = raw.decode(declared_codec), declared_codec
        except UnicodeDecodeError:
            text, codec = raw.decode("latin-1"), "latin-1"
            warnings.append(
                _issue(
                    "character-set",
                    "21",
                    f"bytes outside {declared or 'the declared set'}; read as Latin-1",
                    Place(),
                    Severity.WARNING,
                )
            )
        return text, codec, warnings
    if text.isascii():
        return text, declared_codec if declared_codec != "latin-1" or declared else "latin-1", warnings
    if declared_codec != "utf-8":
        warnings.append(
            _issue(
                "character-set",
                "21",
                f"UTF-8 text in an interchange declared {declared or 'without a syntax id'}",
                Place(),
                Severity.WARNING,
            )
        )
    if "\ufffd" in text:
        warnings.append(
            _issue(
                "replacement-character",
                "21",
                "U+FFFD replacement characters: the sender lost characters before sending",
                Place(),
                Severity.WARNING,
            )
        )
    return text, "utf-8", warnings


@dataclass
class _Raw:
    tag: str
    elements: tuple[tuple[str, ...], ...]
    offset: int
    delimiters: Delimiters
    una: bool


class _Tokenizer:
    """Splits text into segments, honouring the release character and a UNA before any interchange."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.warnings: list[Issue] = []

    def _pattern(self, d: Delimiters, repetition: str | None) -> re.Pattern[str]:
        specials = {d.component, d.element, d.release, d.terminator} | ({repetition} if repetition else set())
        cls = "".join(re.escape(c) for c in sorted(specials))
        return re.compile(f"[^{cls}]+|{re.escape(d.release)}(.?)|([{cls}])", re.DOTALL)

    def segments(self) -> list[_Raw]:
        text, pos = self.text, 0
        out: list[_Raw] = []
        d, una, pattern, repetition = DEFAULT_DELIMITERS, False, self._pattern(DEFAULT_DELIMITERS, None), None
        elements: list[list[str]] = [[""]]
        start = None
        while pos < len(text):
            if start is None:
                # Between segments: line breaks and indentation are layout, not data.
                while pos < len(text) and text[pos] in BLANKS:
                    pos += 1
                if pos >= len(text):
                    break
                start = pos
                if not una and not out and self._version(text, pos, d) >= 4:
                    # Without a UNA, syntax version 4 has `*` as its repetition separator by default.
                    d = Delimiters(reserved="*")
                    repetition = "*"
                    pattern = self._pattern(d, repetition)
                if text.startswith("UNA", pos):
                    advice = text[pos + 3 : pos + 9]
                    d, una = self._una(advice, pos), True
                    repetition = d.repetition(self._version(text, pos + 9, d))
                    pattern = self._pattern(d, repetition)
                    pos, start = pos + 9, None
                    continue
            match = pattern.match(text, pos)
            if match is None:  # pragma: no cover - the pattern matches any character
                raise AssertionError("tokenizer stalled")
            token = match.group(0)
            pos = match.end()
            if token[0] == d.release and match.group(2) is None:
                released = match.group(1)
                if not released:
                    raise EdifactSyntaxError(
                        _issue("release-at-end", "22", "a release character ends the data", self._place(start))
                    )
                if released not in d.releasable():
                    # ISO 9735 defines release only before service characters; senders over-escape, and the
                    # character itself is unambiguous, so it is kept and reported.
                    self.warnings.append(
                        _issue(
                            "release-before-ordinary",
                            "22",
                            f"release character before {released!r}, which is not a service character",
                            self._place(start, elements),
                            Severity.WARNING,
                        )
                    )
                elements[-1][-1] += released
            elif match.group(2) is not None and match.group(2) == token:
                if token == d.terminator:
                    out.append(self._segment(elements, start, d, una))
                    elements, start = [[""]], None
                elif token == d.element:
                    elements.append([""])
                elif token == d.component:
                    elements[-1].append("")
                else:
                    raise EdifactSyntaxError(
                        _issue(
                            "repetition-unsupported",
                            "15",
                            "repeated data elements (syntax version 4) are not supported",
                            self._place(start, elements),
                        )
                    )
            else:
                elements[-1][-1] += token
        if start is not None:
            raise EdifactSyntaxError(
                _issue(
                    "unterminated-segment",
                    "18",
                    f"data after the last segment terminator {d.terminator!r}",
                    self._place(start, elements),
                )
            )
        return out

    def _place(self, start: int | None, elements: list[list[str]] | None = None) -> Place:
        tag = elements[0][0][:3] if elements and elements[0] else None
        return Place(
            tag=tag or None,
            element=len(elements) - 1 if elements and len(elements) > 1 else None,
            component=len(elements[-1]) if elements and len(elements) > 1 and len(elements[-1]) > 1 else None,
            offset=start,
        )

    def _una(self, advice: str, pos: int) -> Delimiters:
        if len(advice) < 6:
            raise EdifactSyntaxError(
                _issue("una-too-short", "22", "the service string advice needs six characters", Place(tag="UNA"))
            )
        d = Delimiters(*advice)
        used = [d.component, d.element, d.decimal, d.release, d.terminator]
        if len(set(used)) != 5 or (d.reserved != " " and d.reserved in used):
            raise EdifactSyntaxError(
                _issue(
                    "una-duplicate-characters",
                    "22",
                    f"the service string advice {advice!r} uses a character twice",
                    Place(tag="UNA"),
                )
            )
        if d.decimal not in ".,":
            raise EdifactSyntaxError(
                _issue(
                    "una-decimal-mark",
                    "22",
                    f"decimal mark {d.decimal!r} is neither comma nor full stop",
                    Place(tag="UNA"),
                )
            )
        if any(c.isalnum() or c in "\r\n\t" for c in used):
            raise EdifactSyntaxError(
                _issue(
                    "una-invalid-character",
                    "22",
                    f"the service string advice {advice!r} uses a letter, digit or line break",
                    Place(tag="UNA"),
                )
            )
        return d

    def _version(self, text: str, pos: int, d: Delimiters) -> int:
        match = re.match(
            r"[" + re.escape(BLANKS) + r"]*UNB" + re.escape(d.element) + r"UNO[A-Z]" + re.escape(d.component) + r"(\d)",
            text[pos : pos + 64],
        )
        return int(match.group(1)) if match else 3

    def _segment(self, elements: list[list[str]], start: int | None, d: Delimiters, una: bool) -> _Raw:
        head = elements[0]
        if len(head) != 1 or not TAG.fullmatch(head[0]):
            raise EdifactSyntaxError(
                _issue(
                    "segment-tag", "18", f"{':'.join(head)[:20]!r} is not a segment tag", Place(tag=head[0][:3] or None)
                )
            )
        return _Raw(head[0], normalise([tuple(e) for e in elements[1:]]), start or 0, d, una)


def read(data: bytes | str, leniency: Leniency = STRICT) -> tuple[Interchange, ...]:
    """Every interchange in the data, envelopes assembled; counts and references are not checked here
    (see validation.parse). Raises EdifactSyntaxError naming the rule and the place."""
    if isinstance(data, str):
        warnings: list[Issue] = []
        text, encoding = data.removeprefix("\ufeff"), "utf-8"
    else:
        text, encoding, warnings = decode(data)
    tokenizer = _Tokenizer(text)
    raws = tokenizer.segments()
    warnings.extend(tokenizer.warnings)
    if not raws:
        raise EdifactSyntaxError(_issue("no-interchange", "13", "no EDIFACT segments found", Place()))
    return _Assembler(raws, leniency, encoding, warnings).interchanges()


def read_one(data: bytes | str, leniency: Leniency = STRICT) -> Interchange:
    """The one interchange the data holds; more than one is an error."""
    interchanges = read(data, leniency)
    if len(interchanges) != 1:
        raise EdifactSyntaxError(
            _issue(
                "one-interchange-expected", "18", f"{len(interchanges)} interchanges where one was expected", Place()
            )
        )
    return interchanges[0]


class _Assembler:
    def __init__(self, raws: list[_Raw], leniency: Leniency, encoding: str, warnings: list[Issue]) -> None:
        self.raws, self.i = raws, 0
        self.leniency, self.encoding, self.warnings = leniency, encoding, warnings

    def _peek(self) -> _Raw | None:
        return self.raws[self.i] if self.i < len(self.raws) else None

    def _take(self) -> Segment:
        raw = self.raws[self.i]
        self.i += 1
        return Segment(raw.tag, raw.elements)

    def interchanges(self) -> tuple[Interchange, ...]:
        out = []
        first = True
        while self._peek() is not None:
            out.append(self._interchange(self.warnings if first else []))
            first = False
        return tuple(out)

    def _interchange(self, warnings: list[Issue]) -> Interchange:
        raw = self._peek()
        assert raw is not None
        if raw.tag != "UNB":
            rule = "missing-unb" if raw.tag in ("UNH", "UNG") else "segment-outside-interchange"
            raise EdifactSyntaxError(
                _issue(
                    rule,
                    "13" if rule == "missing-unb" else "14",
                    f"{raw.tag} where an interchange header UNB must come",
                    Place(tag=raw.tag, segment=self.i + 1),
                )
            )
        delimiters, una = raw.delimiters, raw.una
        header = self._take()
        place = Place(interchange=header.value(5))
        position = 1
        messages: list[Message] = []
        groups: list[Group] = []
        while True:
            nxt = self._peek()
            if nxt is None or nxt.tag == "UNB":
                issue = _issue(
                    "unz-missing", "13", "the interchange has no UNZ trailer: it may be cut short", place.at(tag="UNZ")
                )
                if not self.leniency.missing_unz:
                    raise EdifactSyntaxError(issue)
                warnings.append(Issue(issue.rule, issue.code, issue.message, issue.place, Severity.WARNING))
                return Interchange(
                    header, tuple(messages), tuple(groups), None, delimiters, una, self.encoding, tuple(warnings)
                )
            position += 1
            if nxt.tag == "UNZ":
                trailer = self._take()
                return Interchange(
                    header, tuple(messages), tuple(groups), trailer, delimiters, una, self.encoding, tuple(warnings)
                )
            if nxt.tag == "UNG":
                group, used = self._group(place)
                groups.append(group)
                position += used - 1
            elif nxt.tag == "UNH":
                message = self._message(place)
                messages.append(message)
                position += len(message.segments) + 1
            else:
                raise EdifactSyntaxError(
                    _issue(
                        "segment-outside-message",
                        "14",
                        f"{nxt.tag} outside any message",
                        place.at(segment=position, tag=nxt.tag),
                    )
                )

    def _group(self, place: Place) -> tuple[Group, int]:
        header = self._take()
        gplace = place.at(group=header.value(5))
        messages: list[Message] = []
        used = 1
        while True:
            nxt = self._peek()
            if nxt is not None and nxt.tag == "UNH":
                message = self._message(gplace)
                messages.append(message)
                used += len(message.segments) + 2
                continue
            if nxt is not None and nxt.tag == "UNE":
                return Group(header, tuple(messages), self._take()), used + 1
            found = nxt.tag if nxt else "the end of the data"
            raise EdifactSyntaxError(
                _issue(
                    "une-missing",
                    "13",
                    f"group not closed by UNE before {found}",
                    gplace.at(tag=nxt.tag if nxt else None),
                )
            )

    def _message(self, place: Place) -> Message:
        header = self._take()
        mplace = place.at(message=header.value(1), message_type=header.value(2, 1))
        body: list[Segment] = []
        while True:
            nxt = self._peek()
            if nxt is None or nxt.tag in ("UNH", "UNB", "UNZ", "UNG", "UNE"):
                found = nxt.tag if nxt else "the end of the data"
                raise EdifactSyntaxError(
                    _issue(
                        "unt-missing",
                        "13",
                        f"message not closed by UNT before {found}",
                        mplace.at(segment=len(body) + 2, tag=nxt.tag if nxt else None),
                    )
                )
            if nxt.tag == "UNT":
                return Message(header, tuple(body), self._take())
            body.append(self._take())
