"""Sample interchanges from the shared samples folder, by short name."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import SAMPLES

ORDERS_146 = SAMPLES / "edifact-orders" / "phpedifact_orders_d01b_ean010_146-lines_mojibake.edi"
ORDERS_NO_UNZ = SAMPLES / "edifact-orders" / "pydifact_orders_d96a_ean008_una-decimal-comma_no-unz.edi"
ORDERS_GROUP = SAMPLES / "edifact-orders" / "staedi_orders_d96b_ean008b_with-ung-group.edi"
ORDERS_PLACEHOLDERS = SAMPLES / "edifact-orders" / "vscodeedi_orders_d96a_ean008_placeholder-glns.edifact"
DESADV_BOOKS = SAMPLES / "edifact-desadv" / "phpedifact_desadv_d96a_books.edi"
DESADV_GMI = SAMPLES / "edifact-desadv" / "vscodeedi_desadv_d07a_gmi021.edifact"
DESADV_MULTI = SAMPLES / "edifact-desadv" / "vscodeedi_desadv_multi-unb_ung-groups.edifact"
INVOIC_COMMA = SAMPLES / "edifact-invoic" / "staedi_invoic_d93a_decimal-comma_german.edi"
INVOIC_UNA = SAMPLES / "edifact-invoic" / "staedi_invoic_d97b_una-custom-delims.edi"
INVOIC_UTF8 = SAMPLES / "edifact-invoic" / "staedi_invoic_d97b_utf8-umlaut.edi"
INVOIC_BASIS = SAMPLES / "edifact-invoic" / "pydifact_invoic_d97a_unoa1.edi"
BAD_INVOIC = SAMPLES / "edifact-bad" / "staedi_invoic_d97b_bad-qualifiers-values.edi"
BAD_ORDERS = SAMPLES / "edifact-bad" / "phpedifact_orders_d01b_unescaped-colon.edi"

VALID = sorted(
    p for folder in ("edifact-orders", "edifact-desadv", "edifact-invoic") for p in (SAMPLES / folder).iterdir()
)
BAD = sorted((SAMPLES / "edifact-bad").iterdir())
# Valid-folder files that break ISO 9735 in a way the default mode refuses; the partner leniency accepts them.
NEEDS_LENIENCY = {ORDERS_NO_UNZ.name: "unz-missing", ORDERS_GROUP.name: "unt-segment-count"}


def sample(path: Path) -> bytes:
    return path.read_bytes()
