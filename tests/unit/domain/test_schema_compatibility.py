"""Published JSON Schemas: the committed files match the models, and no change breaks a published version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossdock.domain.schemas import ENVELOPE, breaking_changes, current_schemas, render

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
REGENERATE = "run `.venv/bin/python scripts/generate-schemas` and commit schemas/"
PROPERTY = settings(deadline=None, max_examples=200)

CURRENT = current_schemas()


def committed() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(SCHEMAS.glob("*.json"))}


def obj(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or [], **extra}


STRING: dict[str, Any] = {"type": "string"}
INTEGER: dict[str, Any] = {"type": "integer"}
DECIMAL: dict[str, Any] = {"anyOf": [{"type": "number"}, {"type": "string"}]}


# ---------------------------------------------------------------------------------------------------------------
# The committed files


def test_committed_schemas_match_the_models() -> None:
    files = {path.stem: path.read_text(encoding="utf-8") for path in SCHEMAS.glob("*.json")}
    assert sorted(files) == sorted(CURRENT), f"schemas/ and the catalogue list different types: {REGENERATE}"
    stale = [name for name, schema in CURRENT.items() if files[name] != render(schema)]
    assert not stale, f"models changed without regenerating {stale}: {REGENERATE}"


def test_no_published_schema_is_broken() -> None:
    problems = []
    for name, published in committed().items():
        if name not in CURRENT:
            problems.append(f"{name}: published, but no longer in the catalogue")
            continue
        problems.extend(f"{name}: {problem}" for problem in breaking_changes(published, CURRENT[name]))
    assert not problems, "published schemas would break; add a new version and an upcaster instead:\n" + "\n".join(
        problems
    )


def test_there_is_one_schema_per_event_type_and_one_for_the_envelope() -> None:
    assert ENVELOPE in CURRENT
    assert all(name == ENVELOPE or name.startswith("crossdock.") for name in CURRENT)
    assert CURRENT[ENVELOPE]["title"] == "Envelope"


def test_schema_files_have_sorted_keys_and_end_with_one_newline() -> None:
    text = render({"b": 1, "a": {"d": 2, "c": 3}})
    assert text == '{\n  "a": {\n    "c": 3,\n    "d": 2\n  },\n  "b": 1\n}\n'


# ---------------------------------------------------------------------------------------------------------------
# breaking_changes, rule by rule


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # nothing changed
        (obj({"sku": STRING}, ["sku"]), obj({"sku": STRING}, ["sku"]), []),
        # a new optional property: old readers ignore it, old writers need not send it
        (obj({"sku": STRING}, ["sku"]), obj({"sku": STRING, "note": STRING}, ["sku"]), []),
        # a required property became optional: nobody is asked for more
        (obj({"sku": STRING}, ["sku"]), obj({"sku": STRING}), []),
        # only the wording of a description changed
        (obj({"sku": STRING}, description="old words"), obj({"sku": STRING}, description="new words"), []),
        # a property removed: readers of it break
        (obj({"sku": STRING, "note": STRING}), obj({"sku": STRING}), ["note: property removed"]),
        # a property's type changed
        (obj({"line": INTEGER}), obj({"line": STRING}), ["line: type changed from integer to string"]),
        # a decimal became a float-only number: strings that used to fit no longer do
        (
            obj({"price": DECIMAL}),
            obj({"price": {"type": "number"}}),
            ["price: type changed from number | string to number"],
        ),
        # a property became nullable: readers that never saw null may not handle it
        (
            obj({"note": STRING}),
            obj({"note": {"anyOf": [STRING, {"type": "null"}]}}),
            ["note: type changed from string to null | string"],
        ),
        # a new required property: old writers do not send it
        (obj({"sku": STRING}), obj({"sku": STRING, "lot": STRING}, ["lot"]), ["lot: new required property"]),
        # an optional property became required
        (
            obj({"sku": STRING, "lot": STRING}),
            obj({"sku": STRING, "lot": STRING}, ["lot"]),
            ["lot: optional property became required"],
        ),
        # an enum value removed: a writer may still send it
        (
            obj({"stage": {"type": "string", "enum": ["dispatched", "received"]}}),
            obj({"stage": {"type": "string", "enum": ["dispatched"]}}),
            ["stage: enum value 'received' removed"],
        ),
        # an enum value added: widening a set of values is allowed
        (
            obj({"stage": {"type": "string", "enum": ["dispatched"]}}),
            obj({"stage": {"type": "string", "enum": ["dispatched", "received"]}}),
            [],
        ),
        # an enum opened up to any string: every old value still fits
        (obj({"stage": {"type": "string", "enum": ["dispatched"]}}), obj({"stage": STRING}), []),
        # a constant changed (a Literal field): the old value is gone
        (obj({"kind": {"const": "order"}}), obj({"kind": {"const": "invoice"}}), ["kind: enum value 'order' removed"]),
    ],
)
def test_breaking_changes_follow_the_published_rules(
    old: dict[str, Any], new: dict[str, Any], expected: list[str]
) -> None:
    assert breaking_changes(old, new) == expected


def with_defs(root: dict[str, Any], **defs: dict[str, Any]) -> dict[str, Any]:
    return {**root, "$defs": defs}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # a property removed from a referenced model, found through its $ref
        (
            with_defs(obj({"order": {"$ref": "#/$defs/Order"}}), Order=obj({"number": STRING, "note": STRING})),
            with_defs(obj({"order": {"$ref": "#/$defs/Order"}}), Order=obj({"number": STRING})),
            ["order.note: property removed"],
        ),
        # a property removed from the items of an array
        (
            obj({"lines": {"type": "array", "items": obj({"sku": STRING, "lot": STRING})}}),
            obj({"lines": {"type": "array", "items": obj({"sku": STRING})}}),
            ["lines[].lot: property removed"],
        ),
        # a new required property inside an optional nested model (anyOf with null)
        (
            with_defs(
                obj({"money": {"anyOf": [{"$ref": "#/$defs/Money"}, {"type": "null"}]}}), Money=obj({"amount": DECIMAL})
            ),
            with_defs(
                obj({"money": {"anyOf": [{"$ref": "#/$defs/Money"}, {"type": "null"}]}}),
                Money=obj({"amount": DECIMAL, "currency": STRING}, ["currency"]),
            ),
            ["money.currency: new required property"],
        ),
        # an enum value removed from a referenced enum, as pydantic writes a StrEnum
        (
            with_defs(
                obj({"owner": {"$ref": "#/$defs/Owner"}}), Owner={"type": "string", "enum": ["finance", "warehouse"]}
            ),
            with_defs(obj({"owner": {"$ref": "#/$defs/Owner"}}), Owner={"type": "string", "enum": ["finance"]}),
            ["owner: enum value 'warehouse' removed"],
        ),
        # the value type of a mapping changed
        (
            obj({"conversions": {"type": "object", "additionalProperties": DECIMAL}}),
            obj({"conversions": {"type": "object", "additionalProperties": INTEGER}}),
            ["conversions{}: type changed from number | string to integer"],
        ),
        # a reference wrapped in a one-element allOf (how a described reference is written) is the same reference
        (
            with_defs(obj({"total": {"$ref": "#/$defs/Money"}}), Money=obj({"amount": DECIMAL})),
            with_defs(
                obj({"total": {"allOf": [{"$ref": "#/$defs/Money"}], "description": "d"}}),
                Money=obj({"amount": DECIMAL}),
            ),
            [],
        ),
        # a model renamed in $defs, same shape: consumers see the same JSON
        (
            with_defs(obj({"total": {"$ref": "#/$defs/Money"}}), Money=obj({"amount": DECIMAL})),
            with_defs(obj({"total": {"$ref": "#/$defs/Amount"}}), Amount=obj({"amount": DECIMAL})),
            [],
        ),
        # several problems at once are all reported, each with its path
        (
            obj({"a": STRING, "b": INTEGER}, ["a"]),
            obj({"b": STRING, "c": STRING}, ["c"]),
            ["a: property removed", "b: type changed from integer to string", "c: new required property"],
        ),
    ],
)
def test_breaking_changes_are_found_at_any_depth(old: dict[str, Any], new: dict[str, Any], expected: list[str]) -> None:
    assert breaking_changes(old, new) == expected


def test_a_recursive_schema_is_compared_without_looping() -> None:
    tree = with_defs(
        {"$ref": "#/$defs/Node"}, Node=obj({"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}})
    )
    assert breaking_changes(tree, tree) == []
    pruned = with_defs({"$ref": "#/$defs/Node"}, Node=obj({}))
    assert breaking_changes(tree, pruned) == ["children: property removed"]


# ---------------------------------------------------------------------------------------------------------------
# breaking_changes on the real schemas


@pytest.mark.parametrize("name", sorted(CURRENT))
def test_every_schema_is_compatible_with_itself(name: str) -> None:
    assert breaking_changes(CURRENT[name], CURRENT[name]) == []


def object_paths(schema: dict[str, Any]) -> list[tuple[str, ...]]:
    """Where objects with properties sit in a schema: the root and each definition."""
    paths: list[tuple[str, ...]] = [()] if "properties" in schema else []
    return paths + [("$defs", name) for name, node in schema.get("$defs", {}).items() if "properties" in node]


def at(schema: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    node = schema
    for part in path:
        node = node[part]
    return node


@PROPERTY
@given(data=st.data())
def test_adding_an_optional_property_anywhere_never_breaks_and_removing_one_always_does(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(CURRENT)))
    old = CURRENT[name]
    path = data.draw(st.sampled_from(object_paths(old)))

    grown = json.loads(json.dumps(old))
    at(grown, path)["properties"]["added_later"] = {"type": "string"}
    assert breaking_changes(old, grown) == []

    shrunk = json.loads(json.dumps(old))
    target = at(shrunk, path)
    removed = data.draw(st.sampled_from(sorted(target["properties"])))
    del target["properties"][removed]
    target["required"] = [r for r in target.get("required", []) if r != removed]
    found = breaking_changes(old, shrunk)
    assert found, f"removing {removed} from {name} at {path} went unnoticed"
    assert all(problem.endswith(f"{removed}: property removed") for problem in found)
