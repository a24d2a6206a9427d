"""Checking interchanges against ISO 9735 and a small segment directory, with issues that name rule and place.

Owns: envelope counts and references (UNT, UNE, UNZ), the constituents, required elements and formats of the
segments the connector reads, and the few message structure rules it relies on. Must not: refuse quirks that
lose nothing (those are warnings), or judge business content such as dates (mapping does that).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from crossdock.connectors.edifact import reader
from crossdock.connectors.edifact.syntax import (
    CHARSET_CODECS,
    EdifactValidationError,
    Group,
    Interchange,
    Issue,
    Message,
    Place,
    Segment,
    Severity,
    decimal_from,
    digits,
    message_place,
)


@dataclass(frozen=True)
class DataElement:
    """A simple data element's directory entry: tag, required, format (`an..35`, `n..15`, `a3`) or '' for any."""

    tag: str
    required: bool = False
    format: str = ""


@dataclass(frozen=True)
class ElementSpec:
    """A segment position: a simple element (one component) or a composite (several)."""

    tag: str
    required: bool
    components: tuple[DataElement, ...]

    @property
    def composite(self) -> bool:
        return self.tag[0] in "CS" and not self.tag.isdigit()


def _spec(text: str) -> tuple[ElementSpec, ...]:
    """Parse the compact directory notation: `3035:M:an..3 C082:C(3039:M:an..35,1131,3055)`. A bare tag is
    conditional with no format check: many samples bend lengths we never read, and we do not refuse them."""
    specs = []
    for item in text.split():
        head, _, inner = item.partition("(")
        tag, _, rest = head.partition(":")
        required, _, fmt = rest.partition(":")
        if inner:
            parts = []
            for component in inner.rstrip(")").split(","):
                ctag, _, crest = component.partition(":")
                creq, _, cfmt = crest.partition(":")
                parts.append(DataElement(ctag, creq == "M", cfmt))
            specs.append(ElementSpec(tag, required == "M", tuple(parts)))
        else:
            specs.append(ElementSpec(tag, required == "M", (DataElement(tag, required == "M", fmt),)))
    return tuple(specs)


# Lengths and formats are the widest across D93A..D01B and syntax versions 1..4, so that any directory the
# samples use passes; only constituents the mapping reads carry a format.
DIRECTORY: dict[str, tuple[ElementSpec, ...]] = {
    tag: _spec(text)
    for tag, text in {
        "UNB": "S001:M(0001:M:a4,0002:M:n1,0080,0133,0076) S002:M(0004:M:an..35,0007:C:an..4,0008,0042) "
        "S003:M(0010:M:an..35,0007:C:an..4,0014,0046) S004:M(0017:M:n..8,0019:M:n4) 0020:M:an..14 "
        "S005:C(0022:M:an..14,0025) 0026 0029 0031 0032 0035",
        "UNG": "0038:M:an..6 S006:C(0040:M:an..35,0007) S007:C(0044:M:an..35,0007) S004:C(0017:M:n..8,0019:M:n4) "
        "0048:M:an..14 0051:C:an..3 S008:C(0052:M:an..3,0054:M:an..3,0057) 0058",
        "UNE": "0060:M:n..6 0048:M:an..14",
        "UNH": "0062:M:an..14 S009:M(0065:M:an..6,0052:M:an..3,0054:M:an..3,0051:M:an..3,0057,0110,0113) "
        "0068 S010:C(0070,0073) S016:C(0115,0116,0118,0051) S017:C(0121,0122,0124,0051) S018:C(0127,0128,0130,0051)",
        "UNT": "0074:M:n..10 0062:M:an..14",
        "UNZ": "0036:M:n..6 0020:M:an..14",
        "UNS": "0081:M:a1",
        "BGM": "C002:C(1001:C:an..3,1131,3055,1000) C106:C(1004:C:an..35,1056,1060) 1225 4343",
        "DTM": "C507:M(2005:M:an..3,2380:C:an..35,2379:C:an..3)",
        "RFF": "C506:M(1153:M:an..3,1154:C:an..70,1156:C:an..6,4000,1060)",
        "NAD": "3035:M:an..3 C082:C(3039:M:an..35,1131,3055:C:an..3) C058:C(3124,3124,3124,3124,3124) "
        "C080:C(3036,3036,3036,3036,3036,3045) C059:C(3042,3042,3042,3042) 3164 C819:C(3229,1131,3055,3228) "
        "3251 3207",
        "CUX": "C504:C(6347:M:an..3,6345:M:an..3,6343:C:an..3,6348) 5402 6341 C504:C(6347,6345,6343,6348)",
        "LIN": "1082:C:an..6 1229 C212:C(7140:C:an..35,7143:C:an..3,1131,3055) C829:C(5495,1082) 1222 7083",
        "PIA": "4347:M:an..3 C212:M(7140:C:an..35,7143:C:an..3,1131,3055) C212:C(7140,7143,1131,3055) "
        "C212:C(7140,7143,1131,3055) C212:C(7140,7143,1131,3055) C212:C(7140,7143,1131,3055)",
        "IMD": "7077 C272:C(7081,1131,3055) C273:C(7009,1131,3055,7008,7008,3453) 7383",
        "QTY": "C186:M(6063:M:an..3,6060:M:n..15,6411:C:an..8)",
        "PRI": "C509:C(5125:M:an..3,5118:C:n..15,5375:C:an..3,5387:C:an..3,5284:C:n..9,6411:C:an..8) 5213",
        "MOA": "C516:M(5025:M:an..3,5004:C:n..35,6345:C:an..3,6343,4405)",
        "TAX": "5283:M:an..3 C241:C(5153,1131,3055,5152) C533:C(5289,1131,3055) 5286 "
        "C243:C(5279,1131,3055,5278:C:n..17,5273,1131,3055) 5305 3446 1227",
        "CNT": "C270:M(6069:M:an..3,6066:M:n..18,6411)",
        # CONTRL
        "UCI": "0020:M:an..14 S002:M(0004:M:an..35,0007,0008,0042) S003:M(0010:M:an..35,0007,0014,0046) "
        "0083:M:an..3 0085:C:an..3 0013:C:a3 S011:C(0098:M:n..3,0104:C:n..3)",
        "UCM": "0062:C:an..14 S009:C(0065:M:an..6,0052:M:an..3,0054:M:an..3,0051:M:an..3,0057) "
        "0083:M:an..3 0085:C:an..3 0013:C:a3 S011:C(0098,0104)",
        "UCS": "0096:M:n..6 0085:C:an..3",
        "UCD": "0085:C:an..3 S011:M(0098:M:n..3,0104:C:n..3)",
        "UCF": "0048:M:an..14 S006:C(0040,0007) S007:C(0044,0007) 0083:M:an..3 0085 0013 S011:C(0098,0104)",
    }.items()
}

ENVELOPE_TAGS = frozenset({"UNB", "UNG", "UNE", "UNH", "UNT", "UNZ"})
# Messages whose second segment must be BGM (beginning of message); CONTRL starts with UCI instead.
STARTS_WITH_BGM = frozenset({"ORDERS", "ORDRSP", "DESADV", "INVOIC", "RECADV", "INVRPT"})


def _format_problem(value: str, fmt: str, decimal_mark: str) -> tuple[str, str, str] | None:
    """(rule, 0085 code, message) when `value` does not fit `fmt`, else None."""
    if not fmt or value == "":
        return None
    kind = fmt.rstrip("0123456789.").rstrip(".")
    size = fmt[len(kind) :]
    variable = size.startswith("..")
    limit = int(size.lstrip("."))
    length = len(value)
    if kind == "n":
        try:
            decimal_from(value, decimal_mark)
        except ValueError:
            return "numeric-format", "37", f"{value!r} is not a number with decimal mark {decimal_mark!r}"
        length = sum(c.isdigit() for c in value)
    if length > limit:
        return "too-long", "39", f"{value!r} is longer than {fmt}"
    if not variable and length < limit:
        return "too-short", "40", f"{value!r} is shorter than {fmt}"
    return None


def check_segment(segment: Segment, place: Place, decimal_mark: str) -> list[Issue]:
    """Issues of one segment against the directory; a segment the directory does not know is not judged."""
    specs = DIRECTORY.get(segment.tag)
    if specs is None:
        return []
    issues: list[Issue] = []
    # The service segments grew components between syntax versions 1 and 4.2; unknown trailing ones there are
    # carried, not refused. In a message body an extra constituent means data we would misread.
    excess = Severity.WARNING if segment.tag in ENVELOPE_TAGS else Severity.ERROR
    if len(segment.elements) > len(specs):
        issues.append(
            Issue(
                "too-many-elements",
                "16",
                f"{segment.tag} has {len(segment.elements)} data elements, at most {len(specs)} are defined",
                place.at(element=len(specs) + 1),
                excess,
            )
        )
    for position, spec in enumerate(specs, start=1):
        element = segment.element(position)
        here = place.at(element=position)
        if not any(element):
            if spec.required:
                issues.append(
                    Issue("missing-element", "13", f"{segment.tag} element {position} ({spec.tag}) is required", here)
                )
            continue
        if len(element) > len(spec.components):
            issues.append(
                Issue(
                    "too-many-components",
                    "16",
                    f"{segment.tag} element {position} ({spec.tag}) has {len(element)} "
                    f"components, at most {len(spec.components)} are defined",
                    here.at(component=len(spec.components) + 1),
                    excess,
                )
            )
        for index, component in enumerate(spec.components, start=1):
            value = element[index - 1] if index <= len(element) else ""
            spot = here.at(component=index) if spec.composite else here
            if value == "":
                if component.required:
                    issues.append(
                        Issue("missing-component", "13", f"{segment.tag} {spec.tag} needs {component.tag}", spot)
                    )
                continue
            problem = _format_problem(value, component.format, decimal_mark)
            if problem is not None:
                rule, code, text = problem
                issues.append(Issue(rule, code, f"{segment.tag} {component.tag}: {text}", spot))
    return issues


def _count(value: str) -> int | None:
    return int(value) if digits(value) else None


def check_message(interchange: Interchange, group: Group | None, message: Message) -> list[Issue]:
    place = message_place(interchange, group, message)
    decimal = interchange.delimiters.decimal
    issues: list[Issue] = []
    for position, segment in enumerate(message.all_segments(), start=1):
        issues.extend(check_segment(segment, place.at(segment=position, tag=segment.tag), decimal))
    trailer_place = place.at(segment=len(message.segments) + 2, tag="UNT")
    counted = len(message.segments) + 2
    declared = _count(message.trailer.value(1))
    if declared is not None and declared != counted:
        issues.append(
            Issue(
                "unt-segment-count",
                "29",
                f"UNT says {declared} segments, the message has {counted}",
                trailer_place.at(element=1),
            )
        )
    if message.trailer.value(2) != message.reference:
        issues.append(
            Issue(
                "unt-reference",
                "28",
                f"UNT reference {message.trailer.value(2)!r} does not match UNH {message.reference!r}",
                trailer_place.at(element=2),
            )
        )
    uns = [i for i, s in enumerate(message.segments, start=2) if s.tag == "UNS"]
    if len(uns) > 1:
        issues.append(
            Issue(
                "uns-repeated",
                "35",
                "the section control UNS appears more than once",
                place.at(segment=uns[1], tag="UNS"),
            )
        )
    if message.type in STARTS_WITH_BGM and (not message.segments or message.segments[0].tag != "BGM"):
        found = message.segments[0].tag if message.segments else "UNT"
        issues.append(
            Issue("bgm-first", "13", f"{message.type} must begin with BGM, not {found}", place.at(segment=2, tag=found))
        )
    return issues


def check_interchange(interchange: Interchange) -> list[Issue]:
    """Every issue of the interchange, errors and warnings, in document order."""
    place = interchange.place()
    decimal = interchange.delimiters.decimal
    issues = check_segment(interchange.header, place.at(segment=1, tag="UNB"), decimal)
    if interchange.syntax not in CHARSET_CODECS:
        issues.append(
            Issue(
                "syntax-identifier",
                "2",
                f"syntax identifier {interchange.syntax!r} is not supported",
                place.at(segment=1, tag="UNB", element=1, component=1),
            )
        )
    if not 1 <= interchange.syntax_version <= 4:
        issues.append(
            Issue(
                "syntax-version",
                "2",
                f"syntax version {interchange.header.value(1, 2)!r} is not 1 to 4",
                place.at(segment=1, tag="UNB", element=1, component=2),
            )
        )
    for position, what in ((2, "sender"), (3, "recipient")):
        value = interchange.header.value(position)
        if value and not value.strip():
            issues.append(
                Issue(
                    "blank-party-id",
                    "12",
                    f"the interchange {what} id is blank",
                    place.at(segment=1, tag="UNB", element=position, component=1),
                    Severity.WARNING,
                )
            )
    if interchange.messages and interchange.groups:
        issues.append(
            Issue("groups-and-messages-mixed", "14", "an interchange holds either groups or messages, not both", place)
        )
    if not interchange.messages and not interchange.groups:
        issues.append(Issue("empty-interchange", "32", "the interchange holds no message", place))
    seen: set[str] = set()
    for group, message in interchange.all_messages():
        if message.reference in seen:
            issues.append(
                Issue(
                    "duplicate-message-reference",
                    "26",
                    f"message reference {message.reference!r} is used twice in the interchange",
                    message_place(interchange, group, message).at(segment=1, tag="UNH", element=1),
                    Severity.WARNING,
                )
            )
        seen.add(message.reference)
    for group in interchange.groups:
        gplace = place.at(group=group.reference)
        issues.extend(check_segment(group.header, gplace.at(tag="UNG"), decimal))
        for message in group.messages:
            issues.extend(check_message(interchange, group, message))
        issues.extend(check_segment(group.trailer, gplace.at(tag="UNE"), decimal))
        if not group.messages:
            issues.append(Issue("empty-group", "32", "the group holds no message", gplace))
        declared = _count(group.trailer.value(1))
        if declared is not None and declared != len(group.messages):
            issues.append(
                Issue(
                    "une-message-count",
                    "29",
                    f"UNE says {declared} messages, the group has {len(group.messages)}",
                    gplace.at(tag="UNE", element=1),
                )
            )
        if group.trailer.value(2) != group.reference:
            issues.append(
                Issue(
                    "une-reference",
                    "28",
                    f"UNE reference {group.trailer.value(2)!r} does not match UNG {group.reference!r}",
                    gplace.at(tag="UNE", element=2),
                )
            )
    for message in interchange.messages:
        issues.extend(check_message(interchange, None, message))
    if interchange.trailer is not None:
        issues.extend(check_segment(interchange.trailer, place.at(tag="UNZ"), decimal))
        expected = len(interchange.groups) if interchange.groups else len(interchange.messages)
        declared = _count(interchange.trailer.value(1))
        if declared is not None and declared != expected:
            what = "groups" if interchange.groups else "messages"
            issues.append(
                Issue(
                    "unz-count",
                    "29",
                    f"UNZ says {declared}, the interchange has {expected} {what}",
                    place.at(tag="UNZ", element=1),
                )
            )
        if interchange.trailer.value(2) != interchange.reference:
            issues.append(
                Issue(
                    "unz-reference",
                    "28",
                    f"UNZ reference {interchange.trailer.value(2)!r} does not match UNB {interchange.reference!r}",
                    place.at(tag="UNZ", element=2),
                )
            )
    return issues


def errors(issues: Iterable[Issue]) -> list[Issue]:
    return [issue for issue in issues if issue.severity is Severity.ERROR]


def validate(interchange: Interchange, leniency: reader.Leniency = reader.STRICT) -> Interchange:
    """The interchange with its warnings added; raises EdifactValidationError listing every error."""
    issues = check_interchange(interchange)
    if leniency.wrong_segment_count:
        issues = [
            replace(issue, severity=Severity.WARNING) if issue.rule == "unt-segment-count" else issue
            for issue in issues
        ]
    found = errors(issues)
    if found:
        raise EdifactValidationError(found)
    warnings = [issue for issue in issues if issue.severity is Severity.WARNING]
    return replace(interchange, warnings=(*interchange.warnings, *warnings))


def parse(data: bytes | str, leniency: reader.Leniency = reader.STRICT) -> tuple[Interchange, ...]:
    """Read and validate: the interchanges of a file, or an EdifactError naming the rule and the place."""
    return tuple(validate(interchange, leniency) for interchange in reader.read(data, leniency))


def parse_one(data: bytes | str, leniency: reader.Leniency = reader.STRICT) -> Interchange:
    return validate(reader.read_one(data, leniency), leniency)
