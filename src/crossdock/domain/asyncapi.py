"""The event catalogue as an AsyncAPI 3.0 document: one channel and one message per event type, every payload
schema generated from the same models as schemas/, inside the CloudEvents envelope.

Owns: building the document as a dict. Must not: read or write files (scripts/generate-schemas writes it, the API
serves it).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from crossdock.domain.catalog import CATALOGUE, Catalogue
from crossdock.domain.events import Envelope

ASYNCAPI_VERSION = "3.0.0"
CONTENT_TYPE = "application/json"
_REF = re.compile(r"^#/\$defs/(.+)$")


def channel_id(event_type: str) -> str:
    """AsyncAPI ids are plain words: the type's dots become underscores."""
    return event_type.replace(".", "_")


def message_id(event_type: str) -> str:
    return event_type


def asyncapi_document(version: str, catalogue: Catalogue = CATALOGUE) -> dict[str, Any]:
    """The whole catalogue. Nested models of every payload become shared component schemas, so a reference
    resolves inside this one document."""
    shared: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    envelope = _hoisted(Envelope.model_json_schema(mode="validation"), shared)
    shared["CloudEventsEnvelope"] = envelope
    for event_type, model in sorted(catalogue.types.items()):
        channel = channel_id(event_type)
        payload = _hoisted(model.model_json_schema(mode="validation"), shared)
        messages[message_id(event_type)] = {
            "name": event_type,
            "title": model.__name__,
            "summary": _summary(model),
            "contentType": CONTENT_TYPE,
            "payload": {
                "allOf": [
                    {"$ref": "#/components/schemas/CloudEventsEnvelope"},
                    {
                        "type": "object",
                        "properties": {"type": {"const": event_type}, "data": payload},
                        "required": ["type", "data"],
                    },
                ]
            },
        }
        channels[channel] = {
            "address": event_type,
            "description": f"Every {event_type} event; subscriptions name the type or a prefix with '*'.",
            "messages": {message_id(event_type): {"$ref": f"#/components/messages/{message_id(event_type)}"}},
        }
        operations[f"publish_{channel}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": f"Crossdock publishes {event_type} to every destination subscribed to it.",
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Crossdock event catalogue",
            "version": version,
            "description": (
                "The canonical business events of Crossdock, as CloudEvents 1.0 envelopes. Types are versioned: "
                "a breaking change is a new version with an upcaster; the JSON Schema of each published version is "
                "committed under schemas/."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"schemas": dict(sorted(shared.items())), "messages": messages},
    }


def _summary(model: type[BaseModel]) -> str:
    doc = inspect.getdoc(model) or ""
    return doc.split("\n\n", 1)[0].replace("\n", " ")


def _hoisted(schema: Mapping[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    """The schema with its `$defs` moved into `shared` and its references pointed there. The same name twice must
    be the same schema: models are shared between payloads, not redefined."""
    definitions = dict(schema.get("$defs", {}))
    body = {key: value for key, value in schema.items() if key != "$defs"}
    for name, definition in definitions.items():
        moved = _relinked(definition)
        if name in shared and shared[name] != moved:
            raise ValueError(f"two different schemas are both named {name}: rename one of the models")
        shared[name] = moved
    result: dict[str, Any] = _relinked(body)
    return result


def _relinked(node: Any) -> Any:
    if isinstance(node, dict):
        relinked = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and (match := _REF.match(value)):
                relinked[key] = f"#/components/schemas/{match.group(1)}"
            else:
                relinked[key] = _relinked(value)
        return relinked
    if isinstance(node, list):
        return [_relinked(item) for item in node]
    return node
