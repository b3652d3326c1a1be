"""Edited arguments and the JSON Schema they must satisfy: an edit that fails it changes nothing,
and says which field is wrong and why.

An agent wrote the schema, so judging an edit runs in a process of its own (`python -m
opslayer.bot.approvals.editing`), at most JUDGES at a time, killed when it passes its time
budget: whatever the schema makes the validator do, the server's event loop never waits on it
and no CPU is spent after the person got their answer. The schema was vetted when the agent
asked (`schemas.vet_schema`) and is vetted again here.
"""

from __future__ import annotations

import asyncio
import json
import sys
import weakref
from typing import Any

from opslayer.bot.approvals.schemas import vet_schema
from opslayer.bot.approvals.validation import WORK_LIMIT, TooMuchWork, validation_errors
from opslayer.bot.errors import OpsError, ValidationFailed
from opslayer_client.contract import MAX_JSON_DEPTH

# Long enough for any honest schema (milliseconds, plus a tenth of a second to start the
# process), short enough that a person waits for a refusal, not for the server.
EDIT_BUDGET_S = 2.0
JUDGES = 2  # edits judged at once; more wait their turn (within their budget)
MAX_EDIT_DEPTH = MAX_JSON_DEPTH  # a person's edit is held to the limit of the agent's JSON
_judges: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def check_schema(schema: dict[str, Any] | None) -> None:
    """Refuse a schema that is not one, or that could make judging an edit fetch, loop or
    backtrack (at request time, so every later edit is checkable)."""
    if schema is not None:
        vet_schema(schema)


def _depth(value: Any) -> int:
    deepest, level = 0, [(value, 1)]
    while level:
        item, depth = level.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_EDIT_DEPTH:
                return depth
            inside = item.values() if isinstance(item, dict) else item
            level.extend((v, depth + 1) for v in inside)
    return deepest


def check_edit(arguments: Any, schema: dict[str, Any] | None) -> dict[str, Any]:
    """The edited arguments, when they are an object that satisfies the schema (if any)."""
    if not isinstance(arguments, dict):
        raise ValidationFailed("the edited arguments must be a JSON object")
    if _depth(arguments) > MAX_EDIT_DEPTH:
        raise ValidationFailed(f"the edited arguments nest deeper than {MAX_EDIT_DEPTH} levels")
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


def _refused(why: str) -> ValidationFailed:
    return ValidationFailed(f"{why}; nothing was changed (ask the agent for a simpler schema)")


async def judge_edit(
    arguments: Any, schema: dict[str, Any] | None, *, budget_s: float = EDIT_BUDGET_S
) -> dict[str, Any]:
    """`check_edit` in a process of its own, killed past the budget (see the module)."""
    if schema is None or not isinstance(arguments, dict) or _depth(arguments) > MAX_EDIT_DEPTH:
        return check_edit(arguments, schema)  # refused (or nothing to judge) right here
    loop = asyncio.get_running_loop()
    judges = _judges.setdefault(loop, asyncio.Semaphore(JUDGES))
    asked = json.dumps({"arguments": arguments, "schema": schema}).encode()
    process: asyncio.subprocess.Process | None = None
    try:
        async with asyncio.timeout(budget_s), judges:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                __name__,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
            answer, _ = await process.communicate(asked)
    except TimeoutError:
        raise _refused(
            f"judging this edit against the arguments_schema took longer than {budget_s:g} s"
        ) from None
    except OSError as cannot:  # no process could be started (limits of the host)
        raise ValidationFailed(f"this edit cannot be judged now ({cannot}); try again") from None
    finally:
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()
    try:
        verdict = json.loads(answer)
    except ValueError:
        raise _refused("the arguments_schema could not judge this edit") from None
    if "refused" in verdict:
        raise ValidationFailed(str(verdict["refused"]))
    edited: dict[str, Any] = verdict["edited"]
    return edited


def _judge_from_stdin() -> None:
    """The judging process: an edit and its schema on stdin, the verdict on stdout."""
    asked = json.load(sys.stdin)
    try:
        verdict: dict[str, Any] = {"edited": check_edit(asked["arguments"], asked["schema"])}
    except OpsError as wrong:
        verdict = {"refused": wrong.message}
    except Exception as broken:  # whatever the validator raised on an agent's schema
        verdict = {"refused": f"the arguments_schema could not judge this edit ({broken!r:.200})"}
    json.dump(verdict, sys.stdout)


if __name__ == "__main__":
    _judge_from_stdin()
