"""The form an approver edits arguments in, platform-neutral: one input per field where the
approval's JSON Schema is simple (strings, numbers, integers, booleans, enums), else the whole
arguments as JSON text. Slack's modals and Teams' cards render it; `read_edit` turns what was
submitted back into arguments (the schema then judges them)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict

from opslayer.bot.approvals.model import Approval
from opslayer.bot.errors import ValidationFailed

FieldKind = Literal["text", "number", "integer", "boolean", "choice"]
MAX_FIELDS = 20  # more than this is easier to edit as JSON
JSON_TEXT_LIMIT = 3000  # what a text input holds on both platforms
_SCALARS: dict[str, FieldKind] = {
    "string": "text",
    "number": "number",
    "integer": "integer",
    "boolean": "boolean",
}


class Choice(TypedDict):
    title: str
    value: str  # the choice as JSON text, so 1 and "1" stay apart


class FormField(TypedDict):
    """One input of the edit form."""

    name: str
    label: str
    kind: FieldKind
    required: bool
    value: NotRequired[str]  # the current value as the input shows it ("" for none)
    choices: NotRequired[list[Choice]]
    hint: NotRequired[str]  # the schema's description


class EditForm(TypedDict):
    """Fields (a simple schema), or the arguments as JSON text (anything else)."""

    fields: NotRequired[list[FormField]]
    json: NotRequired[str]
    too_large: NotRequired[bool]  # the JSON does not fit a text input: edit from the CLI


def _field(name: str, spec: Any, value: Any, required: bool) -> FormField | None:
    if not isinstance(spec, dict):
        return None
    label = str(spec.get("title") or name)
    field: FormField = {"name": name, "label": label[:100], "kind": "text", "required": required}
    if isinstance(spec.get("description"), str):
        field["hint"] = spec["description"][:150]
    enum = spec.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(v, str | int | float) for v in enum):
        field["kind"] = "choice"
        field["choices"] = [{"title": str(v)[:75], "value": json.dumps(v)} for v in enum[:100]]
        if value is not None:
            field["value"] = json.dumps(value)
        return field
    declared = spec.get("type")
    kind = _SCALARS.get(declared) if isinstance(declared, str) else None
    if kind is None:
        return None
    field["kind"] = kind
    if value is not None:
        field["value"] = ("true" if value else "false") if kind == "boolean" else str(value)
    return field


def edit_form(approval: Approval) -> EditForm:
    """The form for editing this approval's arguments."""
    arguments = approval.arguments or {}
    schema = approval.arguments_schema
    fields = _simple_fields(schema, arguments) if schema is not None else None
    if fields is not None:
        return {"fields": fields}
    text = json.dumps(arguments, indent=2, ensure_ascii=False)
    if len(text) > JSON_TEXT_LIMIT:
        text = json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))
    if len(text) > JSON_TEXT_LIMIT:
        return {"json": "", "too_large": True}
    return {"json": text}


def _simple_fields(schema: dict[str, Any], arguments: dict[str, Any]) -> list[FormField] | None:
    properties = schema.get("properties")
    if schema.get("type", "object") != "object" or not isinstance(properties, dict):
        return None
    if not 0 < len(properties) <= MAX_FIELDS:
        return None
    required = set(schema.get("required") or [])
    fields = []
    for name, spec in properties.items():
        field = _field(name, spec, arguments.get(name), name in required)
        if field is None:
            return None  # one field that is not simple: the whole of it as JSON
        fields.append(field)
    return fields


def field_id(index: int) -> str:
    """The input id of the form's `index`th field, on every surface (names may hold any
    character; ids must not)."""
    return f"arg_{index}"


def by_name(form: EditForm, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """What a surface sent back by input id (`arg_0`…, `json`), keyed as `read_edit` reads it."""
    values = {"json": inputs.get("json")}
    for index, field in enumerate(form.get("fields", [])):
        values[field["name"]] = inputs.get(field_id(index))
    return values


def read_edit(approval: Approval, submitted: dict[str, Any]) -> dict[str, Any]:
    """The edited arguments from what the form sent back: `{"json": text}` for the JSON form,
    else each field's raw value by name (text, or a bool for a checkbox). Fields left empty
    are dropped; arguments the form did not show are kept as they were."""
    form = edit_form(approval)
    if "fields" not in form:
        text = str(submitted.get("json") or "").strip()
        try:
            edited = json.loads(text)
        except RecursionError:
            raise ValidationFailed("the arguments nest too deeply to read") from None
        except json.JSONDecodeError as wrong:
            raise ValidationFailed(
                f"the arguments are not JSON: {wrong.msg} (line {wrong.lineno}, column"
                f" {wrong.colno})"
            ) from None
        if not isinstance(edited, dict):
            raise ValidationFailed("the arguments must be a JSON object: {…}")
        return edited
    edited = dict(approval.arguments or {})
    for field in form["fields"]:
        raw = submitted.get(field["name"])
        value = _parse(field, raw)
        if value is None:
            edited.pop(field["name"], None)
        else:
            edited[field["name"]] = value
    return edited


def _parse(field: FormField, raw: Any) -> Any:
    kind = field["kind"]
    if kind == "boolean":
        if raw is None:
            return False
        return raw is True or str(raw).lower() in ("true", "yes", "on", "1")
    text = "" if raw is None else str(raw).strip()
    if text == "":
        return None
    if kind == "choice":
        allowed = {c["value"] for c in field.get("choices", [])}
        if text not in allowed:
            raise ValidationFailed(f"{field['label']}: choose one of the listed values")
        return json.loads(text)
    if kind in ("number", "integer"):
        try:
            number = float(text)
        except ValueError:
            raise ValidationFailed(f"{field['label']}: {text!r} is not a number") from None
        if not math.isfinite(number):
            raise ValidationFailed(f"{field['label']}: {text!r} is not a number")
        if kind == "integer":
            if not number.is_integer():
                raise ValidationFailed(f"{field['label']}: {text!r} is not a whole number")
            return int(number)
        return int(number) if number.is_integer() and "." not in text else number
    return text


class Change(TypedDict):
    """One argument a person's edit changed: its name, and the value before and after as JSON
    text ("" where it was absent, or was removed)."""

    name: str
    before: str
    after: str


def changes(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[Change]:
    """What an edit changed, argument by argument, in the order the agent gave them."""
    old, new = dict(before or {}), dict(after or {})
    shown = list(dict.fromkeys([*old, *new]))

    def text(found: dict[str, Any], name: str) -> str:
        return json.dumps(found[name], ensure_ascii=False) if name in found else ""

    return [
        {"name": name, "before": text(old, name), "after": text(new, name)}
        for name in shown
        if old.get(name, _ABSENT) != new.get(name, _ABSENT)
    ]


_ABSENT = object()
