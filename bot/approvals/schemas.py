"""An agent's `arguments_schema` is close to code the server runs: vetted when it arrives, so
that judging an edit can never reach the network, recurse without end or backtrack for seconds.

- References stay inside the document (`$ref` starting with `#`); the validator's registry
  retrieves nothing, so even a reference that slipped through would fail, not fetch.
- No cycle of references that never descends into the arguments (`{"$ref": "#"}`, two
  definitions naming each other): such a schema would recurse forever on any edit.
- Patterns are RE2's, which matches in linear time: a pattern RE2 cannot compile (lookaround,
  backreferences) is refused, and `pattern`, `patternProperties` and `additionalProperties`
  match through RE2, never through Python's backtracking `re`.
- Work is bounded: judging one edit may take at most WORK_LIMIT keyword evaluations (schemas
  whose references fan out, `anyOf` of two `$ref`s thirty times over, would take 2^30), and
  `uniqueItems` compares by hashing, not pair by pair.
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

import threading
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

import re2
from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator
from referencing import Registry

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


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is the agent's error, not the server's log
    return options


_OPTIONS = _re2_options()


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> Any:
    return re2.compile(pattern, _OPTIONS)


def _searches(pattern: str, text: str) -> bool:
    return _compiled(pattern).search(text) is not None


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
                _compiled(pattern)
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


# ---- the validator: Draft 2020-12 with RE2 where the standard one uses `re` ---------------


def _pattern(validator: Validator, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not _searches(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Validator, patterns: dict[str, Any], instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _searches(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional(instance: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    return [
        key
        for key in instance
        if key not in properties and not any(_searches(p, key) for p in patterns)
    ]


def _additional_properties(
    validator: Validator, allowed: Any, instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    extras = _additional(instance, schema)
    if validator.is_type(allowed, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], allowed, path=extra)
    elif not allowed and extras:
        named = ", ".join(repr(extra) for extra in sorted(extras))
        yield ValidationError(f"Additional properties are not allowed ({named} unexpected)")


def _unique_items(validator: Validator, unique: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[Any] = set()
    for item in instance:
        key = _comparable(item)
        if key in seen:
            yield ValidationError(f"has non-unique elements ({_short(item)} repeats)")
            return
        seen.add(key)


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:79] + "…"


def _comparable(value: Any) -> Any:
    """A hashable stand-in equal exactly when JSON Schema calls two values equal (1 and 1.0
    are; true and 1 are not)."""
    if isinstance(value, bool) or value is None:
        return ("literal", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, list):
        return ("array", tuple(_comparable(v) for v in value))
    return ("object", frozenset((k, _comparable(v)) for k, v in value.items()))


# Keyword evaluations one edit may take: hundreds for an honest schema, a fraction of a second
# of CPU at the limit.
WORK_LIMIT = 50_000
_work = threading.local()


class TooMuchWork(Exception):
    """Judging an edit needed more than WORK_LIMIT keyword evaluations."""


Keyword = Callable[[Validator, Any, Any, Any], Any]


def _counted(keyword: Keyword) -> Keyword:
    def counted(validator: Validator, value: Any, instance: Any, schema: Any) -> Any:
        left: int | None = getattr(_work, "left", None)
        if left is not None:
            if left <= 0:
                raise TooMuchWork
            _work.left = left - 1
        return keyword(validator, value, instance, schema)

    return counted


_KEYWORDS: dict[str, Keyword] = {
    **Draft202012Validator.VALIDATORS,
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
    "uniqueItems": _unique_items,
}
_Linear = validators.extend(
    Draft202012Validator,
    validators={name: _counted(keyword) for name, keyword in _KEYWORDS.items()},
)
# Nothing is ever retrieved: a reference the vetting missed fails instead of fetching.
_NO_RETRIEVAL: Registry[Any] = Registry()


def validation_errors(schema: dict[str, Any], instance: Any) -> list[ValidationError]:
    """The errors of `instance` against a vetted schema, in path order: local references only,
    linear-time patterns, at most WORK_LIMIT keyword evaluations (TooMuchWork beyond)."""
    # Without its $schema: jsonschema picks a validator class by it, even for "#" references.
    validator: Validator = _Linear(
        {k: v for k, v in schema.items() if k != "$schema"}, registry=_NO_RETRIEVAL
    )
    _work.left = WORK_LIMIT
    try:
        return sorted(validator.iter_errors(instance), key=lambda e: e.path)
    finally:
        _work.left = None
