"""Fuzzing the EDIFACT engine: whatever bytes arrive (mutated samples, service characters in odd places), reading,
validating, mapping, acknowledging and writing end in a result or an EdifactError, never another exception.

`make test` runs a few hundred cases; `make fuzz` (CROSSDOCK_LONG=1) runs 100,000."""

from __future__ import annotations

import os
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossdock.connectors import edifact
from crossdock.connectors.edifact import contrl, mapping
from tests.conftest import SAMPLES

LONG = os.environ.get("CROSSDOCK_LONG") == "1"
CORPUS = sorted(p.read_bytes() for p in SAMPLES.glob("edifact-*/*"))
FUZZ = settings(
    max_examples=100_000 if LONG else 300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Bytes that matter to EDIFACT (service characters of both samples' UNAs, digits, tag letters, UTF-8 lead bytes)
# besides any byte at all.
INTERESTING = st.sampled_from(list(b"'+:?*=~ ,.\n\r0123456789UNAZBHTGE")) | st.sampled_from([0xC3, 0xEF, 0xFF, 0x00])
MAPPERS = {"ORDERS": mapping.to_sales_order, "DESADV": mapping.to_shipments, "INVOIC": mapping.to_invoice}
OPTIONS = mapping.MappingOptions(currency="EUR")


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["replace", "insert", "delete", "duplicate", "truncate"]))
        byte = draw(INTERESTING | st.integers(0, 255))
        if kind == "replace":
            data[at] = byte
        elif kind == "insert":
            data.insert(at, byte)
        elif kind == "delete":
            del data[at]
        elif kind == "duplicate":
            end = min(len(data), at + draw(st.integers(1, 40)))
            data[at:at] = data[at:end]
        else:
            del data[at:]
    return bytes(data)


def exercise(data: bytes, leniency: edifact.Leniency) -> None:
    try:
        interchanges = edifact.parse(data, leniency)
    except edifact.EdifactError as error:
        assert error.issues and str(error)
        return
    for interchange in interchanges:
        assert edifact.parse(edifact.render(interchange), edifact.LENIENT)
        try:
            contrl.acknowledge(interchange, (), reference="F1", prepared=datetime(2026, 1, 1))
        except edifact.EdifactValidationError as error:
            assert error.rule == "contrl-unaddressable"
        for _, message in interchange.all_messages():
            mapper = MAPPERS.get(message.type)
            if mapper is None:
                continue
            try:
                mapper(message, interchange, OPTIONS)
            except edifact.EdifactMappingError as error:
                assert error.issues


@pytest.mark.fuzz
@FUZZ
@given(data=mutated(), lenient=st.booleans())
def test_mutated_samples_give_a_result_or_an_edifact_error_never_a_crash(data: bytes, lenient: bool) -> None:
    exercise(data, edifact.LENIENT if lenient else edifact.STRICT)


@pytest.mark.fuzz
@FUZZ
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_give_a_result_or_an_edifact_error(data: bytes) -> None:
    exercise(data, edifact.LENIENT)


@pytest.mark.fuzz
@FUZZ
@given(data=mutated())
def test_contrl_can_be_built_for_whatever_was_read(data: bytes) -> None:
    try:
        acks = contrl.acknowledge_data(data, reference="C", prepared=datetime(2026, 1, 1), leniency=edifact.LENIENT)
    except edifact.EdifactError:
        return
    for ack in acks:
        [read] = edifact.parse(edifact.render(ack))
        contrl.read_contrl(read.messages[0])
