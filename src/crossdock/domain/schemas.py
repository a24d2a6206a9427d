"""JSON Schemas of the envelope and of every event payload, and the rules that say when a schema change breaks.

Owns: generating schemas from the models (as dicts and as file text) and comparing two versions of a schema.
Must not: read or write files; a script and the tests do that with what these functions return.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel

from crossdock.domain.catalog import CATALOGUE, Catalogue
from crossdock.domain.events import Envelope

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ENVELOPE = "envelope"

Schema = Mapping[str, Any]


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema as the hub validates input: decimals accepted as numbers or strings."""
    return {"$schema": JSON_SCHEMA_DIALECT, **model.model_json_schema(mode="validation")}


def current_schemas(catalogue: Catalogue = CATALOGUE) -> dict[str, dict[str, Any]]:
    """Every schema the models define now, by file stem: one per event type, and `envelope`."""
    schemas = {ENVELOPE: schema_of(Envelope)}
    for type_name, model in sorted(catalogue.types.items()):
        schemas[type_name] = schema_of(model)
    return schemas


def render(schema: Schema) -> str:
    """Stable file text: sorted keys, two-space indent, one trailing newline, so a diff shows only real changes."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# Compatibility
#
# A published schema is a promise to every consumer that reads it. Breaking it means: a property they read is
# gone, a property's JSON type changed, a property they never had to send is now required, or an enum value they
# may send or receive is gone. Adding optional properties and adding enum values keep the promise.

_ANY = "any"  # a schema with no type constraint at all


def breaking_changes(old_schema: Schema, new_schema: Schema) -> list[str]:
    """What in `new_schema` breaks readers or writers of `old_schema`, one sentence per problem; empty if nothing."""
    problems: list[str] = []
    _compare(_Side(old_schema, old_schema), _Side(new_schema, new_schema), "", frozenset(), problems)
    return problems


class _Side:
    """A schema node together with the document its `$ref`s point into."""

    def __init__(self, node: Schema, root: Schema) -> None:
        self.root = root
        self.refs: tuple[str, ...] = ()
        # pydantic wraps a described reference in a one-element allOf, and follows `$ref`s into `$defs`.
        while True:
            if "$ref" in node:
                self.refs += (str(node["$ref"]),)
                node = _resolve(root, str(node["$ref"]))
            elif "allOf" in node and len(node["allOf"]) == 1:
                node = node["allOf"][0]
            else:
                break
        self.node = node

    def at(self, node: Schema) -> _Side:
        return _Side(node, self.root)

    def branches(self) -> Iterator[_Side]:
        """The alternatives of a union (anyOf / oneOf), flattened; the node itself when it is not a union."""
        alternatives = self.node.get("anyOf") or self.node.get("oneOf")
        if not alternatives:
            yield self
            return
        for alternative in alternatives:
            yield from self.at(alternative).branches()

    def types(self) -> frozenset[str]:
        found: set[str] = set()
        for branch in self.branches():
            node = branch.node
            if "type" in node:
                declared = node["type"]
                found.update([declared] if isinstance(declared, str) else declared)
            elif "const" in node or "enum" in node:
                values = [node["const"]] if "const" in node else node["enum"]
                found.update(_json_type(value) for value in values)
            elif "properties" in node:
                found.add("object")
            else:
                found.add(_ANY)
        return frozenset(found)

    def enum_values(self) -> list[Any] | None:
        """The values allowed when every alternative lists them; None when any value of the type is allowed."""
        values: list[Any] = []
        for branch in self.branches():
            node = branch.node
            if "const" in node:
                values.append(node["const"])
            elif "enum" in node:
                values.extend(node["enum"])
            elif node.get("type") != "null":
                return None
        return values

    def object_shape(self) -> tuple[dict[str, Schema], set[str]]:
        """Properties and required names of the object alternatives, merged."""
        properties: dict[str, Schema] = {}
        required: set[str] = set()
        for branch in self.branches():
            properties.update(branch.node.get("properties", {}))
            required.update(branch.node.get("required", ()))
        return properties, required

    def items(self) -> _Side | None:
        for branch in self.branches():
            items = branch.node.get("items")
            if isinstance(items, Mapping):
                return self.at(items)
        return None

    def values(self) -> _Side | None:
        for branch in self.branches():
            values = branch.node.get("additionalProperties")
            if isinstance(values, Mapping):
                return self.at(values)
        return None


def _resolve(root: Schema, ref: str) -> Schema:
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are supported, not {ref!r}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    if not isinstance(node, Mapping):
        raise ValueError(f"{ref!r} does not point at a schema")
    return node


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _named(path: str) -> str:
    return path or "(root)"


def _compare(old: _Side, new: _Side, path: str, followed: frozenset[tuple[str, ...]], problems: list[str]) -> None:
    # A recursive model refers to itself; comparing the same pair of definitions again would never end.
    pair = (*old.refs, "->", *new.refs)
    if (old.refs or new.refs) and pair in followed:
        return
    followed = followed | {pair}

    old_types, new_types = old.types(), new.types()
    if old_types != new_types:
        problems.append(f"{_named(path)}: type changed from {_spell(old_types)} to {_spell(new_types)}")

    old_values, new_values = old.enum_values(), new.enum_values()
    if old_values is not None and new_values is not None:
        for value in old_values:
            if value not in new_values:
                problems.append(f"{_named(path)}: enum value {value!r} removed")

    old_properties, old_required = old.object_shape()
    new_properties, new_required = new.object_shape()
    prefix = f"{path}." if path else ""
    for name in sorted(old_properties):
        if name not in new_properties:
            problems.append(f"{prefix}{name}: property removed")
        else:
            _compare(old.at(old_properties[name]), new.at(new_properties[name]), prefix + name, followed, problems)
    for name in sorted(new_required - old_required):
        if name in old_properties:
            problems.append(f"{prefix}{name}: optional property became required")
        else:
            problems.append(f"{prefix}{name}: new required property")

    old_items, new_items = old.items(), new.items()
    if old_items is not None and new_items is not None:
        _compare(old_items, new_items, f"{path}[]", followed, problems)
    old_entries, new_entries = old.values(), new.values()
    if old_entries is not None and new_entries is not None:
        _compare(old_entries, new_entries, f"{path}{{}}", followed, problems)


def _spell(types: frozenset[str]) -> str:
    return " | ".join(sorted(types))
