"""Edited arguments and the JSON Schema they must satisfy: an edit that fails it changes nothing,
and says which field is wrong and why. Judging an edit runs off the event loop, under a time
budget, against a schema vetted by `schemas` (which also vetted it when the agent asked)."""

from __future__ import annotations

import asyncio
from typing import Any

from opslayer.bot.approvals.schemas import WORK_LIMIT, TooMuchWork, validation_errors, vet_schema
from opslayer.bot.errors import ValidationFailed

# Long enough for any honest schema (milliseconds in practice), short enough that a person
# waits for a refusal, not for the server.
EDIT_BUDGET_S = 2.0


def check_schema(schema: dict[str, Any] | None) -> None:
    """Refuse a schema that is not one, or that could make judging an edit fetch, loop or
    backtrack (at request time, so every later edit is checkable)."""
    if schema is not None:
        vet_schema(schema)


def check_edit(arguments: Any, schema: dict[str, Any] | None) -> dict[str, Any]:
    """The edited arguments, when they are an object that satisfies the schema (if any)."""
    if not isinstance(arguments, dict):
        raise ValidationFailed("the edited arguments must be a JSON object")
    if schema is None:
        return arguments
    # Vetted again: a schema stored before the vetting existed is held to it too.
    vet_schema(schema)
    try:
        errors = validation_errors(schema, arguments)
    except TooMuchWork:
        raise ValidationFailed(
            f"judging this edit would take more than {WORK_LIMIT:,} steps of the"
            " arguments_schema (arguments this large, or references that fan out); nothing was"
            " changed. Ask the agent for a simpler schema"
        ) from None
    except RecursionError as deep:
        raise ValidationFailed(
            "the arguments_schema nests too deeply to judge this edit; ask the agent for a"
            " flatter schema"
        ) from deep
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.absolute_path)[:200] or "the arguments"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        said = first.message if len(first.message) <= 300 else first.message[:299] + "…"
        raise ValidationFailed(f"{where}: {said}{more}")
    return arguments


async def judge_edit(
    arguments: Any, schema: dict[str, Any] | None, *, budget_s: float = EDIT_BUDGET_S
) -> dict[str, Any]:
    """`check_edit` in a worker thread, refused when it takes longer than the budget: the
    event loop keeps answering everyone else meanwhile."""
    if schema is None:
        return check_edit(arguments, schema)
    try:
        async with asyncio.timeout(budget_s):
            return await asyncio.to_thread(check_edit, arguments, schema)
    except TimeoutError:
        raise ValidationFailed(
            f"judging this edit against the arguments_schema took longer than {budget_s:g} s;"
            " nothing was changed (ask the agent for a simpler schema)"
        ) from None
