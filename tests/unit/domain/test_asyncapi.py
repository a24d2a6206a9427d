"""The AsyncAPI event catalogue: every event type is a channel with its message, every reference resolves inside
the document, and the committed file is what the models generate."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from crossdock.domain.asyncapi import asyncapi_document, channel_id
from crossdock.domain.catalog import CATALOGUE

COMMITTED = Path(__file__).resolve().parents[3] / "schemas" / "asyncapi.yaml"


def references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref} points outside the document"
    node: Any = document
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def test_every_event_type_of_the_catalogue_is_a_channel_with_its_message_and_a_send_operation() -> None:
    document = asyncapi_document("1.2.3")
    for event_type in CATALOGUE.types:
        channel = document["channels"][channel_id(event_type)]
        assert channel["address"] == event_type
        message = document["components"]["messages"][event_type]
        assert message["name"] == event_type and message["summary"], f"{event_type} needs a summary for readers"
        assert document["operations"][f"publish_{channel_id(event_type)}"]["action"] == "send"
    assert len(document["channels"]) == len(CATALOGUE.types)


def test_every_reference_resolves_inside_the_document() -> None:
    document = asyncapi_document("1.2.3")
    found = set(references(document))
    assert found, "payloads share their nested models through references"
    for ref in found:
        resolve(document, ref)


def test_a_message_carries_its_payload_inside_the_cloudevents_envelope() -> None:
    document = asyncapi_document("1.2.3")
    payload = document["components"]["messages"]["crossdock.order.accepted.v1"]["payload"]
    envelope, data = payload["allOf"]
    assert envelope == {"$ref": "#/components/schemas/CloudEventsEnvelope"}
    assert data["properties"]["type"] == {"const": "crossdock.order.accepted.v1"}
    assert set(data["properties"]["data"]["required"]) >= {"order", "customer", "total"}


def test_the_committed_catalogue_is_what_the_models_generate() -> None:
    committed = yaml.safe_load(COMMITTED.read_text(encoding="utf-8"))
    assert committed == asyncapi_document(metadata.version("crossdock")), (
        "schemas/asyncapi.yaml is stale: run `make schemas`"
    )
