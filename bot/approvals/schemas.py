"""An agent's `arguments_schema` is close to code the server runs: vetted when it arrives, so
that judging an edit can never reach the network, recurse without end or backtrack for seconds.

- References stay inside the document (`$ref` starting with `#`); the validator's registry
  retrieves nothing, so even a reference that slipped through would fail, not fetch.
- No cycle of references that never descends into the arguments (`{"$ref": "#"}`, two
  definitions naming each other): such a schema would recurse forever on any edit.
- Patterns are RE2's, which matches in linear time: a pattern RE2 cannot compile (lookaround,
  backreferences) is refused, and `pattern`, `patternProperties` and `additionalProperties`
  match through RE2, never through Python's backtracking `re`.
- Work is bounded (`validation`): at most WORK_LIMIT keyword evaluations per edit, and
  `uniqueItems` compared by hashing.
- Nesting is bounded by the wire models' depth limit before a schema gets here, and size here:
  at most MAX_NODES subschemas, property names of at most MAX_NAME characters, patterns of at
  most MAX_PATTERN.
- One dialect: `$schema` only at the root, and only 2020-12's (a `$schema` deeper down made
  jsonschema judge that part with another validator class: Python's `re`, no budget), and no
  `unevaluated*` keywords (jsonschema walks them with references it does not count).
- Judging runs in a process of its own that is killed at its time budget (`editing`): the
  budgets above bound what an honest schema costs, the kill bounds what any schema costs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import re2
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from opslayer.bot.approvals.validation import compiled_pattern
from opslayer.bot.errors import ValidationFailed

# Keywords whose value is one schema, a list of schemas, or a map of names to schemas; the
# first set applies to the same instance as the schema holding it (a cycle through only these
# and `$ref` never ends), the others descend into a part of it.
_IN_PLACE_ONE = ("not", "if", "then", "else")
_IN_PLACE_LIST = ("allOf", "anyOf", "oneOf")
_IN_PLACE_MAP = ("dependentSchemas",)
_DESCENDING_ONE = (
    "additionalProperties",
    "items",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "additionalItems",
)
_DESCENDING_LIST = ("prefixItems",)
_DESCENDING_MAP = ("properties", "patternProperties", "$defs", "definitions")
# Dynamic scopes need more than one document to mean anything; nothing an approval asks
# needs them, and each is another way for a reference to leave the document. The unevaluated
# keywords make jsonschema walk references outside the keywords it counts.
_UNSUPPORTED = (
    "$dynamicRef",
    "$dynamicAnchor",
    "$recursiveRef",
    "$recursiveAnchor",
    "unevaluatedProperties",
    "unevaluatedItems",
)
DIALECT = "https://json-schema.org/draft/2020-12/schema"
MAX_NODES = 1_000
MAX_NAME = 200
MAX_PATTERN = 1_000


def _node(schema: Any, pointer: str) -> Iterator[tuple[str, Any, bool]]:
    """The subschemas of one schema: (pointer, subschema, applies to the same instance)."""
    if not isinstance(schema, dict):
        return
    for key in (*_IN_PLACE_ONE, *_DESCENDING_ONE):
        if key in schema:
            yield f"{pointer}/{key}", schema[key], key in _IN_PLACE_ONE
    for key in (*_IN_PLACE_LIST, *_DESCENDING_LIST):
        if isinstance(schema.get(key), list):
            for index, sub in enumerate(schema[key]):
                yield f"{pointer}/{key}/{index}", sub, key in _IN_PLACE_LIST
    for key in (*_IN_PLACE_MAP, *_DESCENDING_MAP):
        if isinstance(schema.get(key), dict):
            for name, sub in schema[key].items():
                escaped = str(name).replace("~", "~0").replace("/", "~1")
                yield f"{pointer}/{key}/{escaped}", sub, key in _IN_PLACE_MAP


def _walk(schema: Any) -> dict[str, Any]:
    """Every subschema by its JSON pointer, refused past MAX_NODES or a name past MAX_NAME
    (iterative, and checked before a pointer is built: a schema is an attacker's input)."""
    nodes: dict[str, Any] = {}
    pending = [("", schema)]
    while pending:
        pointer, node = pending.pop()
        nodes[pointer] = node
        if len(nodes) > MAX_NODES:
            raise ValidationFailed(f"arguments_schema: more than {MAX_NODES:,} subschemas")
        if isinstance(node, dict):
            for key in (*_DESCENDING_MAP, *_IN_PLACE_MAP):
                names = node.get(key)
                if isinstance(names, dict) and any(len(str(n)) > MAX_NAME for n in names):
                    raise ValidationFailed(
                        f"arguments_schema: a name under {key} (#{pointer[:100]}) is longer than"
                        f" {MAX_NAME} characters"
                    )
        pending.extend((sub_pointer, sub) for sub_pointer, sub, _ in _node(node, pointer))
    return nodes


def _target(ref: str, nodes: Mapping[str, Any], anchors: Mapping[str, str]) -> str:
    """The pointer a local `$ref` names, or a refusal saying why it names nothing."""
    if "%" in ref:
        raise ValidationFailed(
            f"arguments_schema: $ref {ref!r} is percent-encoded; write it as a plain pointer"
        )
    if not ref.startswith("#"):
        raise ValidationFailed(
            f"arguments_schema: $ref {ref!r} points outside the schema; opslayer never fetches"
            " schemas, so put what it names under $defs and refer to it as '#/$defs/…'"
        )
    fragment = ref[1:]
    if fragment and not fragment.startswith("/"):
        if fragment not in anchors:
            raise ValidationFailed(f"arguments_schema: $ref {ref!r} names no $anchor")
        return anchors[fragment]
    if fragment not in nodes:
        raise ValidationFailed(
            f"arguments_schema: $ref {ref!r} points to no schema inside the document"
        )
    return fragment


def _refuse_endless_references(nodes: Mapping[str, Any], anchors: Mapping[str, str]) -> None:
    edges: dict[str, list[str]] = {}
    for pointer, schema in nodes.items():
        if not isinstance(schema, dict):
            continue
        same_instance = [p for p, _, in_place in _node(schema, pointer) if in_place]
        if isinstance(schema.get("$ref"), str):
            same_instance.append(_target(schema["$ref"], nodes, anchors))
        edges[pointer] = same_instance
    done: set[str] = set()
    for start in edges:
        if start in done:
            continue
        # Iterative depth-first search: a schema may be deep, the stack need not be.
        path: list[str] = [start]
        on_path = {start}
        pending = [iter(edges.get(start, []))]
        while pending:
            following = next(pending[-1], None)
            if following is None:
                pending.pop()
                done.add(path[-1])
                on_path.discard(path.pop())
                continue
            if following in on_path:
                cycle = " → ".join(f"#{p}" for p in [*path[path.index(following) :], following])
                raise ValidationFailed(
                    f"arguments_schema: its references go round without end ({cycle});"
                    " a recursive schema must descend into properties or items before"
                    " referring back"
                )
            if following not in done:
                path.append(following)
                on_path.add(following)
                pending.append(iter(edges.get(following, [])))


def vet_schema(schema: dict[str, Any]) -> None:
    """Refuse a schema that is not one, reaches outside itself, recurses in place, or holds a
    pattern RE2 cannot match in linear time."""
    # Sizes first: the meta-schema check costs a fraction of a millisecond per subschema.
    nodes = _walk(schema)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as wrong:
        raise ValidationFailed(f"arguments_schema is not a JSON Schema: {wrong.message}") from wrong
    anchors: dict[str, str] = {}
    if schema.get("$schema", DIALECT).rstrip("#") != DIALECT:
        raise ValidationFailed(
            f"arguments_schema: $schema {schema['$schema']!r} is not JSON Schema 2020-12"
            f" ({DIALECT})"
        )
    for pointer, node in nodes.items():
        if not isinstance(node, dict):
            continue
        if pointer and ("$schema" in node or "id" in node and isinstance(node["id"], str)):
            raise ValidationFailed(
                f"arguments_schema: $schema (or a draft-04 id) is allowed at the root only"
                f" (#{pointer[:100]})"
            )
        for keyword in _UNSUPPORTED:
            if keyword in node:
                raise ValidationFailed(f"arguments_schema: {keyword} is not supported (#{pointer})")
        if pointer and "$id" in node:
            raise ValidationFailed(
                f"arguments_schema: an embedded $id (#{pointer}) is not supported; the schema is"
                " one document"
            )
        if isinstance(node.get("$anchor"), str):
            anchors[node["$anchor"]] = pointer
        patterns = list(node.get("patternProperties", {}))
        if isinstance(node.get("pattern"), str):
            patterns.append(node["pattern"])
        for pattern in patterns:
            if len(pattern) > MAX_PATTERN:
                raise ValidationFailed(
                    f"arguments_schema: a pattern (#{pointer[:100]}) is longer than"
                    f" {MAX_PATTERN:,} characters"
                )
            try:
                compiled_pattern(pattern)
            except re2.error as wrong:
                raise ValidationFailed(
                    f"arguments_schema: pattern {pattern!r} (#{pointer}) is not one opslayer"
                    " can match in linear time (RE2 syntax: no lookaround or backreferences):"
                    f" {_reason(wrong)}"
                ) from wrong
    _refuse_endless_references(nodes, anchors)


def _reason(error: Exception) -> str:
    reason = error.args[0] if error.args else error
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
