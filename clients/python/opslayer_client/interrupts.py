"""A framework's pause for a human as opslayer approvals, and the decisions back in the shape
the framework's own examples expect (pure: no I/O, no framework import).

- LangChain's `HumanInTheLoopMiddleware` batch (`action_requests`, `review_configs`): one
  approval per action request, offering the tool's `allowed_decisions`; resumed with
  `{"decisions": [...]}` in the same order.
- Its per-call request (`{"type": "tool_approval", ...}`): one approval offering what the
  interrupt's `response_schema` allows (an edit's argument schema becomes `arguments_schema`);
  resumed with one decision.
- Agent Inbox's list of `HumanInterrupt` (`action_request`, `config`, `description`): one
  approval per item; `allow_accept` offers approve, `allow_edit` edit, `allow_respond` respond,
  `allow_ignore` reject; resumed with a list of `HumanResponse` (`accept`, `edit` with
  `{"action", "args"}`, `response` with the text, `ignore`).
- A mapping with opslayer's keys (`arguments`, `decisions` or `action`): one approval as the
  keys say (edit only with `arguments`); resumed with `{"type", "approved", "arguments",
  "message"}`.
- Anything else (`interrupt({"question": …, "llm_output": …})`, `interrupt("What is your
  age?")`): one approval, its question as the title and the other keys as details, offering
  approve, reject and respond; resumed with `True`, `False`, or the answer as the person wrote
  it, read as JSON when it is JSON (`25` → 25). When the interrupt declares a `response_schema`
  (`interrupt(..., response_schema=Decision)`), a yes or no takes its shape: the boolean, the
  object with one boolean field (`{"approved": true}`, the person's words in its text field),
  or the word the schema lists.

LangGraph's own examples disagree on approve/reject (`True`/`False` in the interrupts page,
`"approve"` in the older how-to): the booleans are the default, and a `resume=` hook maps a
decision to whatever a graph expects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opslayer_client.contract import CommandBody

ALL_DECISIONS = ("approve", "edit", "reject", "respond")
PREFIX = "int:"  # request ids opslayer keeps: int:<interrupt id>:<index>
_ACTION = re.compile(r"[^\w.:/-]+")
TITLE_LIMIT = 200
DETAILS_LIMIT = 4000
# The keys that say a payload speaks opslayer's approval (and wants its decision object back).
OPSLAYER_KEYS = ("arguments", "decisions", "action")
# The keys a plain payload's question is read from, in this order.
_QUESTION_KEYS = ("title", "question", "message", "task", "description", "prompt", "text")
# Agent Inbox's `config` flag offering each decision (ignore is its "do not do it": reject).
_INBOX_FLAGS = {
    "approve": "allow_accept",
    "edit": "allow_edit",
    "respond": "allow_respond",
    "reject": "allow_ignore",
}


@dataclass(frozen=True, slots=True)
class Decided:
    """What a person decided on one approval, as the framework needs it."""

    type: str  # approve, edit, reject, respond
    arguments: dict[str, Any] | None = None  # an edit's arguments
    message: str | None = None

    @staticmethod
    def of(command: CommandBody) -> Decided:
        if command.decision is not None:
            decision = command.decision
            return Decided(decision.type.value, decision.arguments, decision.message)
        return Decided(command.kind.value, None, command.reason)


# A graph's own mapping from a decision to its resume value: (interrupt value, decision).
Resume = Callable[[Any, Decided], Any]


def request_id(interrupt_id: str, index: int) -> str:
    return f"{PREFIX}{interrupt_id}:{index}"


def parse_request_id(value: str) -> tuple[str, int] | None:
    """(interrupt id, index) of a request id this module made; None for any other."""
    if not value.startswith(PREFIX):
        return None
    interrupt_id, _, index = value[len(PREFIX) :].rpartition(":")
    return (interrupt_id, int(index)) if interrupt_id and index.isdigit() else None


def _is_batch(value: Any) -> bool:
    return isinstance(value, Mapping) and "action_requests" in value


def _is_tool_call(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("type") == "tool_approval"


def _is_inbox(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and bool(value)
        and all(isinstance(v, Mapping) and "action_request" in v for v in value)
    )


def _speaks_opslayer(value: Any) -> bool:
    return isinstance(value, Mapping) and any(k in value for k in OPSLAYER_KEYS)


def is_plain(value: Any) -> bool:
    """Neither a framework's known schema nor opslayer's: resumed by the plain conventions."""
    return not (
        _is_batch(value) or _is_tool_call(value) or _is_inbox(value) or _speaks_opslayer(value)
    )


def _action(name: Any) -> str | None:
    cleaned = _ACTION.sub("_", str(name))[:100] if name else ""
    return cleaned or None


def _plain_json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _arguments(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    plain = _plain_json(dict(value) if isinstance(value, Mapping) else value)
    return plain if isinstance(plain, dict) else {"value": plain}


def _decisions(allowed: Sequence[str] | None, *, editable: bool = True) -> list[str]:
    chosen = [d for d in (allowed or ALL_DECISIONS) if d in ALL_DECISIONS]
    if not editable:  # nothing to edit: offering edit would be refused (and hang the agent)
        chosen = [d for d in chosen if d != "edit"]
    return chosen or ["approve", "reject"]


def _clip(text: str, limit: int = TITLE_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(_plain_json(value), ensure_ascii=False)


def _details(items: Mapping[str, Any]) -> str | None:
    lines = [f"{key}: {_shown(value)}" for key, value in items.items()]
    text = "\n".join(lines)
    if not text:
        return None
    return text if len(text) <= DETAILS_LIMIT else text[: DETAILS_LIMIT - 1] + "…"


def _resolved(node: Any, defs: Mapping[str, Any]) -> Any:
    """A `{"$ref": "#/$defs/X"}` node as the definition it names (anything else as it is)."""
    ref = node.get("$ref") if isinstance(node, Mapping) else None
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return defs.get(ref.removeprefix("#/$defs/"), node)
    return node


def _per_call_review(response_schema: Any) -> tuple[list[str] | None, dict[str, Any] | None]:
    """The decisions a per-call interrupt's `response_schema` allows, and an edit's argument
    schema, when the schema says (None where it does not)."""
    schema = _json_schema(response_schema)
    if schema is None:
        return None, None
    defs = schema.get("$defs") or {}
    allowed: list[str] = []
    edit_schema = None
    for node in schema.get("oneOf") or schema.get("anyOf") or [schema]:
        branch = _resolved(node, defs)
        if not isinstance(branch, Mapping):
            continue
        properties = branch.get("properties") or {}
        kind = (properties.get("type") or {}).get("const")
        if kind in ALL_DECISIONS:
            allowed.append(kind)
        if kind == "edit":
            action = _resolved(properties.get("edited_action") or {}, defs)
            args = _resolved((action.get("properties") or {}).get("args"), defs)
            if isinstance(args, Mapping):
                # Definitions it still refers to travel with it; the rest stay behind.
                edit_schema = {**args, **({"$defs": defs} if "$ref" in json.dumps(args) else {})}
    return allowed or None, edit_schema


def _json_schema(response_schema: Any) -> dict[str, Any] | None:
    if response_schema is None:
        return None
    if isinstance(response_schema, Mapping):
        return dict(response_schema)
    try:  # a Python type, as LangGraph keeps it while the graph runs
        from pydantic import TypeAdapter

        schema: dict[str, Any] = TypeAdapter(response_schema).json_schema()
    except Exception:  # a type pydantic cannot describe: offer the defaults
        return None
    return schema


def approvals_for(
    interrupt_id: str, value: Any, response_schema: Any = None
) -> list[dict[str, Any]]:
    """The approval requests (ApprovalIn bodies) one interrupt becomes."""
    ask: dict[str, Any]
    if _is_batch(value):
        configs = {c.get("action_name"): c for c in value.get("review_configs", [])}
        asks = []
        for index, request in enumerate(value["action_requests"]):
            config = configs.get(request.get("name"), {})
            ask = {
                "request_id": request_id(interrupt_id, index),
                "title": _clip(request.get("description") or f"Run {request.get('name')}?"),
                "action": _action(request.get("name")),
                "arguments": _arguments(request.get("args") or {}),
                "decisions": _decisions(config.get("allowed_decisions")),
            }
            if isinstance(config.get("args_schema"), Mapping):
                ask["arguments_schema"] = dict(config["args_schema"])
            asks.append(ask)
        return asks
    if _is_tool_call(value):
        allowed, edit_schema = _per_call_review(response_schema)
        ask = {
            "request_id": request_id(interrupt_id, 0),
            "title": _clip(value.get("description") or f"Run {value.get('name')}?"),
            "action": _action(value.get("name")),
            "arguments": _arguments(value.get("args") or {}),
            "decisions": _decisions(allowed),
        }
        if edit_schema is not None and "edit" in ask["decisions"]:
            ask["arguments_schema"] = edit_schema
        return [ask]
    if _is_inbox(value):
        return [_inbox_ask(interrupt_id, index, item) for index, item in enumerate(value)]
    if _speaks_opslayer(value):
        title = next((value[k] for k in _QUESTION_KEYS if value.get(k)), None)
        ask = {
            "request_id": request_id(interrupt_id, 0),
            "title": _clip(str(title or "The agent asks for a decision")),
            "decisions": _decisions(value.get("decisions"), editable="arguments" in value),
        }
        if value.get("details"):
            ask["details"] = _clip(_shown(value["details"]), DETAILS_LIMIT)
        if value.get("action"):
            ask["action"] = _action(value["action"])
        if "arguments" in value:
            ask["arguments"] = _arguments(value["arguments"])
        if value.get("risk") in ("low", "medium", "high"):
            ask["risk"] = value["risk"]
        return [ask]
    return [_plain_ask(interrupt_id, value)]


def _inbox_ask(interrupt_id: str, index: int, item: Mapping[str, Any]) -> dict[str, Any]:
    request = item.get("action_request") or {}
    config = item.get("config") or {}
    offered = [d for d, flag in _INBOX_FLAGS.items() if config.get(flag)]
    ask: dict[str, Any] = {
        "request_id": request_id(interrupt_id, index),
        "title": _clip(str(request.get("action") or "The agent asks for a decision")),
        "action": _action(request.get("action")),
        "arguments": _arguments(request.get("args") or {}),
        "decisions": _decisions(offered),
    }
    if item.get("description"):
        ask["details"] = _clip(str(item["description"]), DETAILS_LIMIT)
    return ask


def _plain_ask(interrupt_id: str, value: Any) -> dict[str, Any]:
    ask: dict[str, Any] = {
        "request_id": request_id(interrupt_id, 0),
        "decisions": ["approve", "reject", "respond"],
    }
    if isinstance(value, Mapping):
        key = next((k for k in _QUESTION_KEYS if value.get(k)), None)
        ask["title"] = _clip(_shown(value[key]) if key else "The agent asks for a decision")
        details = _details({k: v for k, v in value.items() if k != key})
    else:
        ask["title"] = _clip(_shown(value) or "The agent asks for a decision")
        details = _shown(value) if len(_shown(value)) > TITLE_LIMIT else None
    if details:
        ask["details"] = details
    return ask


def _middleware_decision(decided: Decided, name: str | None) -> dict[str, Any]:
    if decided.type == "edit":
        return {"type": "edit", "edited_action": {"name": name, "args": decided.arguments or {}}}
    if decided.type in ("reject", "respond"):
        answer: dict[str, Any] = {"type": decided.type}
        if decided.message is not None or decided.type == "respond":
            answer["message"] = decided.message or ""
        return answer
    return {"type": "approve"}


def _inbox_response(decided: Decided, item: Mapping[str, Any]) -> dict[str, Any]:
    """Agent Inbox's `HumanResponse` for one decision."""
    if decided.type == "edit":
        action = (item.get("action_request") or {}).get("action")
        return {"type": "edit", "args": {"action": action, "args": decided.arguments or {}}}
    if decided.type == "respond":
        return {"type": "response", "args": decided.message or ""}
    if decided.type == "reject":
        return {"type": "ignore", "args": None}
    return {"type": "accept", "args": None}


def answer_value(message: str | None) -> Any:
    """An answer in words as a plain interrupt gets it: JSON when the whole answer is JSON
    (`25` → 25, `true`, `{"a": 1}`), else the text as written."""
    text = (message or "").strip()
    try:
        return json.loads(text)
    except ValueError:
        return message or ""


def _is_text(schema: Any) -> bool:
    if not isinstance(schema, Mapping):
        return False
    if schema.get("type") == "string":
        return True
    return any(_is_text(s) for s in schema.get("anyOf") or [])


def _fitted(decided: Decided, schema: Mapping[str, Any]) -> Any:
    """A yes or no in the shape the interrupt's `response_schema` declares: a boolean, an
    object with one boolean (and the person's words in its text field, if any), or one of the
    words `approve`/`reject`; None when the schema says none of these."""
    yes = decided.type == "approve"
    kind = schema.get("type")
    if kind == "boolean":
        return yes
    if kind == "string" and decided.type in (schema.get("enum") or ()):
        return decided.type
    properties = schema.get("properties") or {}
    flags = [
        k for k, p in properties.items() if isinstance(p, Mapping) and p.get("type") == "boolean"
    ]
    if kind != "object" or len(flags) != 1:
        return None
    answer: dict[str, Any] = {flags[0]: yes}
    words = [k for k, p in properties.items() if k != flags[0] and _is_text(p)]
    if decided.message and words:
        answer[words[0]] = decided.message
    return answer


def _plain_resume(decided: Decided, response_schema: Any = None) -> Any:
    if decided.type in ("approve", "reject"):
        schema = _json_schema(response_schema)
        fitted = _fitted(decided, schema) if schema is not None else None
        if fitted is not None:
            return fitted
    if decided.type == "approve":
        return True
    if decided.type == "reject":
        return False
    if decided.type == "edit":
        return decided.arguments or {}
    return answer_value(decided.message)


def resume_for(
    value: Any,
    decisions: Sequence[Decided],
    hook: Resume | None = None,
    response_schema: Any = None,
) -> Any:
    """The value to resume an interrupt with, from one decision per approval it became (in
    the order `approvals_for` gave them); `hook` maps a single decision its own way, and a
    plain interrupt's `response_schema` (LangGraph checks answers against it) shapes a yes or
    no."""
    if _is_batch(value):
        names = [r.get("name") for r in value["action_requests"]]
        return {
            "decisions": [
                _middleware_decision(d, name) for d, name in zip(decisions, names, strict=True)
            ]
        }
    if _is_inbox(value):
        return [_inbox_response(d, item) for d, item in zip(decisions, value, strict=True)]
    [decided] = decisions
    if hook is not None:
        return hook(value, decided)
    if _is_tool_call(value):
        return _middleware_decision(decided, value.get("name"))
    if _speaks_opslayer(value):
        asked = value.get("arguments")
        return {
            "type": decided.type,
            "approved": decided.type in ("approve", "edit"),
            "arguments": decided.arguments if decided.type == "edit" else asked,
            "message": decided.message,
        }
    return _plain_resume(decided, response_schema)
