"""The EDIFACT connector's engine: reading, validating and writing interchanges (ISO 9735 syntax versions 1-4),
CONTRL acknowledgements, and ORDERS / DESADV / INVOIC mapped to and from the canonical documents.

Pure code over bytes and models: transport and intake adapters build on it and must not be imported here.
"""

from crossdock.connectors.edifact.reader import LENIENT, STRICT, Leniency, read, read_one
from crossdock.connectors.edifact.syntax import (
    Delimiters,
    EdifactError,
    EdifactMappingError,
    EdifactSyntaxError,
    EdifactValidationError,
    Group,
    Interchange,
    Issue,
    Message,
    Place,
    Segment,
    Severity,
)
from crossdock.connectors.edifact.validation import parse, parse_one, validate
from crossdock.connectors.edifact.writer import render, render_many

__all__ = [
    "LENIENT",
    "STRICT",
    "Delimiters",
    "EdifactError",
    "EdifactMappingError",
    "EdifactSyntaxError",
    "EdifactValidationError",
    "Group",
    "Interchange",
    "Issue",
    "Leniency",
    "Message",
    "Place",
    "Segment",
    "Severity",
    "parse",
    "parse_one",
    "read",
    "read_one",
    "render",
    "render_many",
    "validate",
]
