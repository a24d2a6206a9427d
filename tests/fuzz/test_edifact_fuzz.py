"""Fuzzing the EDIFACT engine: whatever bytes arrive (mutated samples, service characters in odd places), reading,
validating, mapping, acknowledging and writing end in a result or an EdifactError, never another exception. What
suppliers send (ORDRSP, DESADV, INVOIC through `from_supplier`, and their CONTRL reports) goes through the mappers
and a supplier's intake adapter too: documents or a MappingError naming the rule.

`make test` runs a few hundred cases per test; `make fuzz` (CROSSDOCK_LONG=1) runs 100,000 per test."""

from __future__ import annotations

import os
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossdock.config import PartnerSettings
from crossdock.connectors import edifact
from crossdock.connectors.edi.inbound import EdiInbound
from crossdock.connectors.edi.profiles import Profile
from crossdock.connectors.edifact import contrl, mapping, writer
from crossdock.hub.errors import MappingError
from tests.conftest import SAMPLES
from tests.e2e.procure_to_pay_estate import acknowledgement, purchase_order, ship_notice, supplier_invoice
from tests.unit.factories import make_stored_message

LONG = os.environ.get("CROSSDOCK_LONG") == "1"
AT = datetime(2026, 1, 1)


def _from_supplier(*messages: edifact.Message, decimal: str = ".") -> bytes:
    built = writer.interchange(
        "77",
        sender=("5400000000003", "14"),
        recipient=("4000000000006", "14"),
        prepared=AT,
        messages=messages,
        delimiters=edifact.Delimiters(decimal=decimal),
    )
    return edifact.render(built)


_ORDER = purchase_order()
# What suppliers send, as our writers write it for them, with both decimal marks, and a CONTRL rejecting a message
# of ours: besides the samples, the seeds the supplier-side mutations start from.
SUPPLIER_SEEDS = [
    _from_supplier(
        mapping.acknowledgement_message(acknowledgement(line_1=10), "1", _ORDER, decimal_mark=mark),
        mapping.ship_notice_message(ship_notice(), "2", decimal_mark=mark),
        mapping.supplier_invoice_message(supplier_invoice(tax="20.60", line_1=(10, "10.30")), "3", decimal_mark=mark),
        decimal=mark,
    )
    for mark in (".", ",")
] + [
    edifact.render(
        contrl.acknowledge(
            edifact.parse(_from_supplier(mapping.purchase_order_message(_ORDER, "1")))[0],
            [
                edifact.Issue(
                    "invalid-value", "12", "bad", edifact.Place(message="1", segment=4, element=1, component=2)
                )
            ],
            reference="88",
            prepared=AT,
        )
    )
]
CORPUS = sorted(p.read_bytes() for p in SAMPLES.glob("edifact-*/*")) + SUPPLIER_SEEDS
SUPPLIER_CORPUS = [
    p.read_bytes() for p in sorted(SAMPLES.glob("edifact-desadv/*")) + sorted(SAMPLES.glob("edifact-invoic/*"))
] + SUPPLIER_SEEDS
AS_BUYER = mapping.MappingOptions(item_ids=mapping.BUYER_ITEM_IDS, currency="EUR")
SUPPLIER_INTAKE = EdiInbound(
    "edi-acme",
    Profile(
        "acme",
        PartnerSettings.model_validate(
            {
                "standard": "edifact",
                "role": "supplier",
                "id": "5400000000003",
                "our_id": "4000000000006",
                "supplier": "SUP-1",
                "currency": "EUR",
                "transit_days": 2,
            }
        ),
    ),
)
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
def mutated(draw: st.DrawFn, corpus: list[bytes] = CORPUS) -> bytes:
    data = bytearray(draw(st.sampled_from(corpus)))
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


@pytest.mark.fuzz
@FUZZ
@given(data=mutated(SUPPLIER_CORPUS), lenient=st.booleans())
def test_mutated_supplier_messages_map_to_procurement_documents_or_an_edifact_error(data: bytes, lenient: bool) -> None:
    try:
        interchanges = edifact.parse(data, edifact.LENIENT if lenient else edifact.STRICT)
    except edifact.EdifactError:
        return
    for interchange in interchanges:
        for _, message in interchange.all_messages():
            if message.type == "CONTRL":
                try:
                    contrl.read_contrl(message)
                except edifact.EdifactValidationError as error:
                    assert error.rule == "contrl-expected"
            if message.type not in mapping.FROM_SUPPLIERS:
                continue
            try:
                mapping.from_supplier(message, interchange, AS_BUYER, supplier="SUP-1", transit_days=2)
            except edifact.EdifactMappingError as error:
                assert error.issues


@pytest.mark.fuzz
@FUZZ
@given(data=mutated(SUPPLIER_CORPUS))
def test_a_suppliers_intake_gives_events_or_a_mapping_error_for_any_mutated_file(data: bytes) -> None:
    message = make_stored_message(source="edi-acme", body=data)
    try:
        events = SUPPLIER_INTAKE.to_events(message)
    except MappingError as error:
        assert str(error), "a refusal names the rule and the place"
        assert SUPPLIER_INTAKE.answer_refusal(message, str(error)) is not None
    else:
        assert events, "a file taken in says at least what its CONTRL must say"
