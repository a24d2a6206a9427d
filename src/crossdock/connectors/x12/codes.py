"""The X12 code lists this engine checks: envelope values (ISA, GS, ST), the 997's acknowledgement codes, and the
syntax notes of the segments the mappings lean on. Data only; it must not grow into a segment dictionary.

Sources: ASC X12 control segments (ISA/IEA, GS/GE, ST/SE; simple data elements I01-I16, 479, 455, 143), the 997
Functional Acknowledgment (data elements 715-723) and the TA1 interchange note codes (I18), versions 004010 and
005010; syntax notes from the 004010 segment dictionary (PO1, PO4, IT1, LIN)."""

from __future__ import annotations

# I01 Authorization Information Qualifier (ISA01) and I03 Security Information Qualifier (ISA03).
AUTHORIZATION_QUALIFIERS = frozenset({"00", "01", "02", "03", "04", "05", "06"})
SECURITY_QUALIFIERS = frozenset({"00", "01"})
# I05 Interchange ID Qualifier (ISA05, ISA07): 01 DUNS, 02 SCAC, 08 UCC EDI Comm ID, 12 phone, 14 DUNS+suffix,
# 16 DUNS+4, ZZ mutually defined, and the rest of the published list.
INTERCHANGE_ID_QUALIFIERS = frozenset({f"{n:02d}" for n in range(1, 39)} | {"AM", "NR", "SA", "SN", "ZZ"})
# I10 Interchange Control Standards Identifier (ISA11 before 00402, where it is not yet the repetition separator).
STANDARDS_IDENTIFIERS = frozenset({"U"})
# I11 Interchange Control Version Number (ISA12).
INTERCHANGE_VERSIONS = frozenset(
    {"00200", "00201", "00204", "00300", "00301", "00302", "00303", "00304", "00305", "00306", "00307"}
    | {"00400", "00401", "00402", "00403", "00404", "00405", "00406"}
    | {"00500", "00501", "00502", "00503", "00504", "00505", "00600", "00601", "00602", "00603", "00604"}
    | {"00605", "00700", "00701", "00702", "00703", "00704", "00705", "00706", "00800", "00801"}
)
ACKNOWLEDGMENT_REQUESTED = frozenset({"0", "1"})  # I13 (ISA14)
USAGE_INDICATORS = frozenset({"P", "T", "I"})  # I14 (ISA15): production, test, information
RESPONSIBLE_AGENCIES = frozenset({"X", "T"})  # 455 (GS07): ASC X12, TDCC

# 479 Functional Identifier Code (GS01) of the transaction sets (143, ST01) a distributor exchanges. A set absent
# from this table is not checked against its group.
FUNCTIONAL_GROUP_OF = {
    "180": "AN",  # return merchandise authorization
    "204": "SM",  # motor carrier load tender
    "210": "IM",  # motor carrier freight invoice
    "214": "QM",  # shipment status
    "810": "IN",  # invoice
    "812": "CD",  # credit/debit adjustment
    "820": "RA",  # payment order / remittance advice
    "824": "AG",  # application advice
    "830": "PS",  # planning schedule
    "832": "SC",  # price/sales catalog
    "846": "IB",  # inventory inquiry/advice
    "850": "PO",  # purchase order
    "852": "PD",  # product activity data
    "855": "PR",  # purchase order acknowledgment
    "856": "SH",  # ship notice/manifest
    "860": "PC",  # purchase order change (buyer)
    "861": "RC",  # receiving advice
    "864": "TX",  # text message
    "865": "CA",  # purchase order change acknowledgment (seller)
    "867": "PT",  # product transfer and resale report
    "940": "OW",  # warehouse shipping order
    "943": "AR",  # warehouse stock transfer shipment advice
    "944": "RE",  # warehouse stock transfer receipt advice
    "945": "SW",  # warehouse shipping advice
    "947": "AW",  # warehouse inventory adjustment advice
    "990": "GF",  # response to a load tender
    "997": "FA",  # functional acknowledgment
    "999": "FA",  # implementation acknowledgment
}

# 715 Functional Group Acknowledge Code (AK901) and 717 Transaction Set Acknowledgment Code (AK501).
GROUP_ACK_STATUSES = frozenset({"A", "E", "M", "P", "R", "W", "X"})
TRANSACTION_ACK_STATUSES = frozenset({"A", "E", "M", "R", "W", "X"})
# 716 Functional Group Syntax Error Code (AK905-AK909).
GROUP_ERROR_CODES = frozenset(
    {"1", "2", "3", "4", "5", "6", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19", "23", "24", "25", "26"}
)
# 718 Transaction Set Syntax Error Code (AK502-AK506).
TRANSACTION_ERROR_CODES = frozenset(
    {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "15", "16", "17", "18", "19", "23"}
    | {"24", "25", "26", "27"}
)
# 720 Segment Syntax Error Code (AK304).
SEGMENT_ERROR_CODES = frozenset({"1", "2", "3", "4", "5", "6", "7", "8"})
# 723 Data Element Syntax Error Code (AK403); 12 and 13 arrived with 005010.
ELEMENT_ERROR_CODES = frozenset({"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "12", "13"})


class Group:
    """716 codes (AK905) this engine reports."""

    TRAILER_MISSING = "3"
    CONTROL_NUMBER_MISMATCH = "4"
    TRANSACTION_COUNT = "5"
    CONTROL_NUMBER_SYNTAX = "6"


class TransactionCode:
    """718 codes (AK502) this engine reports."""

    TRAILER_MISSING = "2"
    CONTROL_NUMBER_MISMATCH = "3"
    SEGMENT_COUNT = "4"
    SEGMENTS_IN_ERROR = "5"
    SET_IDENTIFIER = "6"
    CONTROL_NUMBER = "7"
    CONTROL_NUMBER_NOT_UNIQUE = "23"


class SegmentCode:
    """720 codes (AK304) this engine reports."""

    UNRECOGNIZED = "1"
    HAS_ELEMENT_ERRORS = "8"


class ElementCode:
    """723 codes (AK403) this engine reports."""

    MANDATORY_MISSING = "1"
    CONDITIONAL_MISSING = "2"
    TOO_LONG = "5"
    INVALID_CHARACTER = "6"
    INVALID_CODE = "7"
    INVALID_DATE = "8"
    INVALID_TIME = "9"
    EXCLUSION_VIOLATED = "10"


class Interchange:
    """I18 Interchange Note Codes (TA105) this engine reports."""

    CONTROL_NUMBER_MISMATCH = "001"
    SEGMENT_TERMINATOR = "004"
    SENDER_QUALIFIER = "005"
    SENDER_ID = "006"
    RECEIVER_QUALIFIER = "007"
    RECEIVER_ID = "008"
    AUTHORIZATION_QUALIFIER = "010"
    SECURITY_QUALIFIER = "012"
    DATE = "014"
    TIME = "015"
    STANDARDS_IDENTIFIER = "016"
    VERSION = "017"
    CONTROL_NUMBER = "018"
    ACKNOWLEDGMENT_REQUESTED = "019"
    USAGE = "020"
    GROUP_COUNT = "021"
    CONTROL_STRUCTURE = "022"
    PREMATURE_END = "023"
    CONTENT = "024"
    ELEMENT_SEPARATOR = "026"
    COMPONENT_SEPARATOR = "027"


# Syntax notes (004010 segment dictionary): P = paired (all or none), C = conditional (if the first is present, all
# the others are required), E = exclusion (at most one), R = at least one, L = if the first, then at least one other.
SYNTAX_NOTES: dict[str, tuple[str, ...]] = {
    # Quantity, unit and price go together; product/service id qualifier and id pairs (PO106/PO107 ... PO124/PO125).
    "PO1": ("C0302", "C0504", *(f"P{n:02d}{n + 1:02d}" for n in range(6, 25, 2))),
    "IT1": ("P020304", *(f"P{n:02d}{n + 1:02d}" for n in range(6, 25, 2))),
    "LIN": tuple(f"P{n:02d}{n + 1:02d}" for n in range(4, 31, 2)),
    "PO4": ("C0506", "P0607"),
}
