"""Shared helpers of the X12 mapping tests: partner rules with overrides, the transaction sets of a sample file, and
outbound interchanges written and read back by the engine."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from crossdock.connectors import x12
from crossdock.connectors.x12 import mapping
from tests.unit.connectors.x12.samples import MISFILED, sample

AT = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)


def rules(*qualifiers: str, **overrides: Any) -> mapping.PartnerRules:
    """Rules for a partner whose ids under `qualifiers` (VP when none) are our skus as they are."""
    item_ids = tuple(mapping.ItemId(qualifier=q) for q in qualifiers or ("VP",))
    fields: dict[str, Any] = {"partner_id": "PARTNER", "our_id": "CROSSDOCK", "item_ids": item_ids, **overrides}
    return mapping.PartnerRules.model_validate(fields)


def transactions(relative: str, set_id: str) -> list[x12.Transaction]:
    """The sets of one kind in a sample; a misfiled sample is read leniently, as its partner's setting would."""
    name = relative.rsplit("/", 1)[-1]
    leniency = x12.LENIENT if name in MISFILED else x12.DEFAULT
    return list(mapping.transactions_of(x12.parse(sample(relative), leniency), set_id))


def only(relative: str, set_id: str) -> x12.Transaction:
    found = transactions(relative, set_id)
    assert len(found) == 1, f"{relative} holds {len(found)} {set_id}s"
    return found[0]


def sent(
    partner: mapping.PartnerRules, sets: Sequence[x12.Transaction], *, interchange: int = 7, group: int = 40
) -> str:
    """The text of an interchange of `sets` to the partner."""
    built = mapping.build_interchange(partner, sets, mapping.ControlNumbers(interchange=interchange, group=group), AT)
    return x12.render(built, newline=True)


def read_back(text: str) -> list[x12.Transaction]:
    """The sets of an outbound interchange as the engine reads them in the default mode; fails on any issue."""
    reading = x12.read(text)
    assert reading.issues == (), [str(i) for i in reading.issues]
    return [tx for interchange in reading.interchanges for _, tx in interchange.transactions()]


def through_the_wire(partner: mapping.PartnerRules, tx: x12.Transaction) -> x12.Transaction:
    """A set written in an interchange and read back (so a round trip also crosses the writer and the reader)."""
    (back,) = read_back(sent(partner, [tx]))
    return back


def trailer_counts(text: str) -> dict[str, list[str]]:
    """SE01, GE01 and IEA01 as written."""
    counts: dict[str, list[str]] = {"SE": [], "GE": [], "IEA": []}
    for line in text.split("~"):
        fields = line.strip().split("*")
        if fields[0] in counts:
            counts[fields[0]].append(fields[1])
    return counts
