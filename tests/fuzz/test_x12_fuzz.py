"""Fuzzing the X12 engine with mutated sample files: reading gives interchanges and issues, never another
exception; whatever is accepted writes back and parses equal; a 997 can be built for whatever was read. The
supplier's documents (855, 856, 810, and the 850 read back) go through their mappers and through a supplier's
intake adapter: a document or a MappingError naming the rule, never another exception.

`make test` runs a few hundred cases per test; `make fuzz` (CROSSDOCK_LONG=1) runs 100,000 per test."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossdock.config import PartnerSettings
from crossdock.connectors import x12
from crossdock.connectors.edi.inbound import EdiInbound
from crossdock.connectors.edi.profiles import Profile
from crossdock.connectors.x12 import mapping
from crossdock.hub.errors import MappingError
from tests.conftest import SAMPLES
from tests.e2e.procure_to_pay_estate import acknowledgement, purchase_order, ship_notice, supplier_invoice
from tests.unit.factories import make_stored_message

LONG = os.environ.get("CROSSDOCK_LONG") == "1"
FILES = [p.read_bytes() for p in sorted(SAMPLES.glob("x12-*/*"))]
# Characters that matter to X12: separators of the samples, padding, line ends, the BOM and envelope letters.
SPECIAL = [c.encode() for c in "*~>^|:`\n\r\t U0 SIAGEN"] + ["\ufeff".encode(), "\xa0".encode()]
AT = dt.datetime(2026, 11, 1, 12, 0)
# A supplier's rules that read every common item id, so mutated lines get as far into the mappers as they can.
SUPPLIER = mapping.PartnerRules(
    partner_id="ACME",
    our_id="US",
    supplier="SUP-1",
    transit_days=2,
    item_ids=tuple(mapping.ItemId(qualifier=q) for q in ("BP", "IN", "VP", "VN", "UP", "SK", "EN")),
)
# What suppliers send us, written by our own writers (the writers' output is what a conforming supplier sends),
# besides the 855, 856 and 810 samples.
_ORDER = purchase_order()
SUPPLIER_SETS = [
    mapping.acknowledgement_to_855(acknowledgement(line_1=10), SUPPLIER, order=_ORDER),
    mapping.ship_notice_to_856(ship_notice(), SUPPLIER),
    mapping.supplier_invoice_to_810(supplier_invoice(tax="20.60", line_1=(10, "10.30")), SUPPLIER),
    mapping.purchase_order_to_850(_ORDER, SUPPLIER),
]
SUPPLIER_FILES = [
    x12.write(mapping.build_interchange(SUPPLIER, [tx], mapping.ControlNumbers(n, n), AT.replace(tzinfo=dt.UTC)))
    for n, tx in enumerate(SUPPLIER_SETS, start=1)
] + [p.read_bytes() for p in sorted(SAMPLES.glob("x12-8[15]*/*"))]
READERS = {
    "855": mapping.acknowledgement_from_855,
    "856": mapping.ship_notices_from_856,
    "810": mapping.supplier_invoice_from_810,
    "850": mapping.purchase_order_from_850,
}
SUPPLIER_INTAKE = EdiInbound(
    "edi-acme",
    Profile(
        "acme",
        PartnerSettings.model_validate(
            {
                "role": "supplier",
                "id": "ACME",
                "our_id": "US",
                "supplier": "SUP-1",
                "item_ids": [{"qualifier": q} for q in ("BP", "IN", "VP", "UP")],
            }
        ),
    ),
)

mutation = st.one_of(
    st.tuples(st.just("set"), st.integers(0, 10_000), st.sampled_from(SPECIAL) | st.binary(min_size=1, max_size=1)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.sampled_from(SPECIAL) | st.binary(max_size=6)),
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.integers(1, 120)),
    st.tuples(st.just("duplicate"), st.integers(0, 10_000), st.integers(1, 200)),
)


def mutate(data: bytes, edits: list[tuple[str, int, object]]) -> bytes:
    for kind, at, arg in edits:
        at = at % (len(data) + 1)
        if kind == "set":
            assert isinstance(arg, bytes)
            data = data[:at] + arg + data[at + 1 :]
        elif kind == "insert":
            assert isinstance(arg, bytes)
            data = data[:at] + arg + data[at:]
        elif kind == "delete":
            assert isinstance(arg, int)
            data = data[:at] + data[at + arg :]
        else:
            assert isinstance(arg, int)
            data = data[:at] + data[at : at + arg] + data[at:]
    return data


FUZZ = settings(
    max_examples=100_000 if LONG else 300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.fuzz
@FUZZ
@given(
    index=st.integers(0, len(FILES) - 1),
    edits=st.lists(mutation, min_size=1, max_size=4),
    leniency=st.sampled_from([x12.DEFAULT, x12.STRICT, x12.LENIENT, x12.Leniency(repetitions=False)]),
)
def test_mutated_samples_give_a_reading_or_a_clean_refusal_and_nothing_else(
    index: int, edits: list[tuple[str, int, object]], leniency: x12.Leniency
) -> None:
    data = mutate(FILES[index], edits)

    reading = x12.read(data, leniency)

    assert all(isinstance(i, x12.Interchange) for i in reading.interchanges)
    assert all(str(issue) for issue in reading.issues)
    try:
        parsed = x12.parse(data, leniency)
    except x12.X12Refused as refused:
        assert refused.errors or not reading.interchanges
    else:
        try:
            written = x12.write(parsed)
        except x12.X12WriteError:
            pass  # a value holding a line break: refused cleanly rather than written ambiguously
        else:
            again = x12.parse(written, replace(x12.LENIENT, repetitions=leniency.repetitions))
            assert tuple(again) == tuple(parsed)
    for n, interchange in enumerate(reading.interchanges):
        if interchange.groups:
            reply = x12.acknowledge(
                interchange,
                reading.issues,
                interchange_control_number="000000001",
                group_control_number="1",
                at=AT,
                index=n,
            )
            x12.read_acknowledgements([reply])


@pytest.mark.fuzz
@FUZZ
@given(
    index=st.integers(0, len(SUPPLIER_FILES) - 1),
    edits=st.lists(mutation, max_size=4),
    leniency=st.sampled_from([x12.DEFAULT, x12.LENIENT]),
)
def test_mutated_supplier_documents_map_to_documents_or_a_mapping_error_naming_the_rule(
    index: int, edits: list[tuple[str, int, object]], leniency: x12.Leniency
) -> None:
    data = mutate(SUPPLIER_FILES[index], edits)
    try:
        interchanges = x12.parse(data, leniency)
    except x12.X12Refused:
        return
    for interchange in interchanges:
        for _, tx in interchange.transactions():
            reader = READERS.get(tx.set_id)
            if reader is None:
                continue
            try:
                reader(tx, SUPPLIER)
            except MappingError as error:
                assert str(error), "a refusal says why"


@pytest.mark.fuzz
@FUZZ
@given(index=st.integers(0, len(SUPPLIER_FILES) - 1), edits=st.lists(mutation, max_size=4))
def test_a_suppliers_intake_gives_events_or_a_mapping_error_for_any_mutated_file(
    index: int, edits: list[tuple[str, int, object]]
) -> None:
    message = make_stored_message(source="edi-acme", body=mutate(SUPPLIER_FILES[index], edits))
    try:
        events = SUPPLIER_INTAKE.to_events(message)
    except MappingError as error:
        assert str(error), "a refusal names the rule and the place"
        assert SUPPLIER_INTAKE.answer_refusal(message, str(error)) is not None
    else:
        assert events, "a file taken in says at least what its 997 must say"
