"""Whatever a partner puts in an element, a mapping returns a document or raises X12MappingError naming the place:
never a ValidationError, a KeyError or a crash."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossdock.connectors import x12
from crossdock.connectors.x12 import mapping
from tests.unit.connectors.x12.mapping.helpers import rules, transactions

PARTNER = rules("VN", "VP", "UP", "EN", "BP", "UA", "IN", "N4", "SK", transit_days=2)
MAPPINGS: list[tuple[str, str, Callable[[x12.Transaction, mapping.PartnerRules], object]]] = [
    ("x12-850/nodex12_850_xyzretail_4010vics_tilde-lf.edi", "850", mapping.sales_order_from_850),
    ("x12-850/vscodeedi_850_sln-subline_n9.edi", "850", mapping.purchase_order_from_850),
    ("x12-855/nodex12_855_book-distributor_ack-lines.edi", "855", mapping.acknowledgement_from_855),
    ("x12-856/ediengine_856_crossdock_sotpi_newline-terminated.edi", "856", mapping.ship_notices_from_856),
    ("x12-856/vscodex12_856_amerisourcebergen_pipe-separated.edi", "856", mapping.shipment_from_856),
    ("x12-810/edinet_810a_ariba-style_bom_unpadded-isa.edi", "810", mapping.supplier_invoice_from_810),
    ("x12-810/staedi_810_two-invoices_one-group.edi", "810", mapping.invoice_from_810),
    ("x12-940/ediengine_940_3-lines_newline-terminated.edi", "940", mapping.warehouse_order_from_940),
]
# Values that break a rule somewhere: empty, zero, negative, not a number, an impossible date, a lower-case unit.
ODD = ["", "0", "-1", "1.5", "ABC", "20240231", "99999999", "ea", "ZZ", "N", "IR", "IQ", "P", "1"]
VALUES = st.sampled_from(ODD) | st.text(max_size=6)


@pytest.mark.parametrize(("relative", "set_id", "read"), MAPPINGS, ids=[m[2].__name__ for m in MAPPINGS])
@settings(deadline=None, max_examples=150)
@given(data=st.data())
def test_a_mutated_set_maps_or_fails_with_a_mapping_error(
    relative: str, set_id: str, read: Callable[[x12.Transaction, mapping.PartnerRules], object], data: st.DataObject
) -> None:
    tx = transactions(relative, set_id)[0]
    segments = list(tx.segments)
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(segments) - 1))
        segment = segments[index]
        if data.draw(st.booleans()) or not segment.elements:
            segments.pop(index)
            if not segments:
                break
            continue
        position = data.draw(st.integers(0, len(segment.elements) - 1))
        elements = list(segment.elements)
        elements[position] = data.draw(VALUES)
        segments[index] = segment._replace(elements=tuple(elements))
    try:
        read(replace(tx, segments=tuple(segments)), PARTNER)
    except mapping.X12MappingError as error:
        assert error.set_id == set_id
        assert str(error).startswith(f"{set_id} {tx.control_number}")
