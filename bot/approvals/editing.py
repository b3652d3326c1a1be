"""Edited arguments and the JSON Schema they must satisfy: an edit that fails it changes nothing,
and says which field is wrong and why."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from opslayer.bot.errors import ValidationFailed


def check_schema(schema: dict[str, Any] | None) -> None:
    """Refuse a schema that is not one (at request time, so every later edit is checkable)."""
    if schema is None:
        return
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as wrong:
        raise ValidationFailed(f"arguments_schema is not a JSON Schema: {wrong.message}") from wrong


def check_edit(arguments: Any, schema: dict[str, Any] | None) -> dict[str, Any]:
    """The edited arguments, when they are an object that satisfies the schema (if any)."""
    if not isinstance(arguments, dict):
        raise ValidationFailed("the edited arguments must be a JSON object")
    if schema is None:
        return arguments
    errors = sorted(Draft202012Validator(schema).iter_errors(arguments), key=lambda e: e.path)
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.absolute_path) or "the arguments"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ValidationFailed(f"{where}: {first.message}{more}")
    return arguments
