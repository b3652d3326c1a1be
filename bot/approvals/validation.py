"""The validator of a vetted arguments_schema: Draft 2020-12, with RE2 wherever the standard
one uses Python's backtracking `re` (`pattern`, `patternProperties`, `additionalProperties`),
`uniqueItems` compared by hashing instead of pair by pair, a registry that retrieves nothing,
and a budget: at most WORK_LIMIT keyword evaluations for one edit (a schema whose references
fan out, `anyOf` of two `$ref`s thirty times over, would take 2^30)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

import re2
from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema.protocols import Validator
from referencing import Registry


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is the agent's error, not the server's log
    return options


_OPTIONS = _re2_options()


@lru_cache(maxsize=512)
def compiled_pattern(pattern: str) -> Any:
    """The pattern compiled by RE2 (re2.error when RE2 cannot match it in linear time)."""
    return re2.compile(pattern, _OPTIONS)


def _searches(pattern: str, text: str) -> bool:
    return compiled_pattern(pattern).search(text) is not None


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
