"""The X12 sample files, by folder: valid ones must parse in the default mode, `x12-bad` ones must be refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SAMPLES

VALID = sorted(p for p in SAMPLES.glob("x12-*/*") if p.parent.name != "x12-bad")
BAD = sorted(SAMPLES.glob("x12-bad/*"))
# Filed as valid, but its IEA02 (000000001) is not its ISA13 (000000055): refused by default, read when lenient.
MISFILED = {"edinet_850a_multiparty_bom_tab-indented.edi"}


def ids(paths: list[Path]) -> list[str]:
    return [f"{p.parent.name}/{p.name}" for p in paths]


def sample(relative: str) -> bytes:
    return (SAMPLES / relative).read_bytes()


def valid_params() -> list[object]:
    return [pytest.param(p, id=f"{p.parent.name}/{p.name}") for p in VALID if p.name not in MISFILED]
