"""X12 engine: read, validate, write and acknowledge (997) X12 interchanges, versions 00401 to 00501 and on.
Pure code: bytes in, model out, and back; transports and mappings live beside it, not in it."""

from __future__ import annotations

from crossdock.connectors.x12.acknowledgement import (
    ElementError,
    GroupAcknowledgement,
    SegmentError,
    TransactionAcknowledgement,
    acknowledge,
    acknowledgement_for,
    read_acknowledgement,
    read_acknowledgements,
)
from crossdock.connectors.x12.model import (
    Composite,
    Element,
    FunctionalGroup,
    Interchange,
    Interchanges,
    Repeated,
    Segment,
    Trailer,
    Transaction,
)
from crossdock.connectors.x12.reader import Reading, parse, read
from crossdock.connectors.x12.syntax import (
    DEFAULT,
    LENIENT,
    STRICT,
    AckLevel,
    Issue,
    Leniency,
    Place,
    Separators,
    Severity,
    Tolerance,
    X12Error,
    X12Refused,
    X12WriteError,
)
from crossdock.connectors.x12.validation import validate
from crossdock.connectors.x12.writer import render, write

__all__ = [
    "DEFAULT",
    "LENIENT",
    "STRICT",
    "AckLevel",
    "Composite",
    "Element",
    "ElementError",
    "FunctionalGroup",
    "GroupAcknowledgement",
    "Interchange",
    "Interchanges",
    "Issue",
    "Leniency",
    "Place",
    "Reading",
    "Repeated",
    "Segment",
    "SegmentError",
    "Separators",
    "Severity",
    "Tolerance",
    "Trailer",
    "Transaction",
    "TransactionAcknowledgement",
    "X12Error",
    "X12Refused",
    "X12WriteError",
    "acknowledge",
    "acknowledgement_for",
    "parse",
    "read",
    "read_acknowledgement",
    "read_acknowledgements",
    "render",
    "validate",
    "write",
]
