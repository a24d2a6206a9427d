"""Fuzzing the X12 engine with mutated sample files: reading gives interchanges and issues, never another
exception; whatever is accepted writes back and parses equal; a 997 can be built for whatever was read.

`make test` runs a few hundred cases; `make fuzz` (CROSSDOCK_LONG=1) runs 100,000."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossdock.connectors import x12
from tests.conftest import SAMPLES

LONG = os.environ.get("CROSSDOCK_LONG") == "1"
FILES = [p.read_bytes() for p in sorted(SAMPLES.glob("x12-*/*"))]
# Characters that matter to X12: separators of the samples, padding, line ends, the BOM and envelope letters.
SPECIAL = [c.encode() for c in "*~>^|:`\n\r\t U0 SIAGEN"] + ["\ufeff".encode(), "\xa0".encode()]
AT = dt.datetime(2026, 11, 1, 12, 0)

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
