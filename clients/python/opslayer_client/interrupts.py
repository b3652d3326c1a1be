"""A framework's pause for a human as opslayer approvals, and the decisions back in the shape
the framework expects (pure: no I/O, no framework import).

Three shapes of interrupt are understood:
- LangChain's `HumanInTheLoopMiddleware` batch (`action_requests` + `review_configs`): one
  approval per action request, resumed with `{"decisions": [...]}` in the same order;
- its per-call request (`{"type": "tool_approval", "name", "args", ...}`): one approval,
  resumed with one decision;
- anything else: one approval whose `title`/`question`, `details`, `action`, `arguments`,
  `decisions` and `risk` are taken from the payload when present, resumed with
  `{"type": "approve"|"edit"|"reject"|"respond", "arguments": {...}, "message": "..."}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opslayer_client.contract import CommandBody

ALL_DECISIONS = ("approve", "edit", "reject", "respond")
PREFIX = "int:"  # request ids opslayer keeps: int:<interrupt id>:<index>
_ACTION = re.compile(r"[^\w.:/-]+")
TITLE_LIMIT = 200


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


def _action(name: Any) -> str | None:
    cleaned = _ACTION.sub("_", str(name))[:100] if name else ""
    return cleaned or None


def _arguments(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    plain = json.loads(
        json.dumps(dict(value) if isinstance(value, Mapping) else value, default=str)
    )
    return plain if isinstance(plain, dict) else {"value": plain}


def _decisions(allowed: Sequence[str] | None) -> list[str]:
    chosen = [d for d in (allowed or ALL_DECISIONS) if d in ALL_DECISIONS]
    return chosen or list(ALL_DECISIONS)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TITLE_LIMIT else text[: TITLE_LIMIT - 1] + "…"


def approvals_for(interrupt_id: str, value: Any) -> list[dict[str, Any]]:
    """The approval requests (ApprovalIn bodies) one interrupt becomes."""
    if _is_batch(value):
        configs = {c.get("action_name"): c for c in value.get("review_configs", [])}
        asks = []
        for index, request in enumerate(value["action_requests"]):
            config = configs.get(request.get("name"), {})
            asks.append(
                {
                    "request_id": request_id(interrupt_id, index),
                    "title": _clip(request.get("description") or f"Run {request.get('name')}?"),
                    "action": _action(request.get("name")),
                    "arguments": _arguments(request.get("args")),
                    "decisions": _decisions(config.get("allowed_decisions")),
                }
            )
        return asks
    if _is_tool_call(value):
        return [
            {
                "request_id": request_id(interrupt_id, 0),
                "title": _clip(value.get("description") or f"Run {value.get('name')}?"),
                "action": _action(value.get("name")),
                "arguments": _arguments(value.get("args")),
                "decisions": list(ALL_DECISIONS),
            }
        ]
    if isinstance(value, Mapping):
        title = value.get("title") or value.get("question") or value.get("message")
        ask: dict[str, Any] = {
            "request_id": request_id(interrupt_id, 0),
            "title": _clip(str(title or "The agent asks for a decision")),
            "decisions": _decisions(value.get("decisions")),
        }
        if value.get("details"):
            ask["details"] = str(value["details"])
        if value.get("action"):
            ask["action"] = _action(value["action"])
        if "arguments" in value:
            ask["arguments"] = _arguments(value["arguments"])
        if value.get("risk") in ("low", "medium", "high"):
            ask["risk"] = value["risk"]
        return [ask]
    return [
        {
            "request_id": request_id(interrupt_id, 0),
            "title": _clip(str(value)),
            "decisions": ["approve", "reject", "respond"],
        }
    ]


def _middleware_decision(decided: Decided, name: str | None) -> dict[str, Any]:
    if decided.type == "edit":
        return {"type": "edit", "edited_action": {"name": name, "args": decided.arguments or {}}}
    if decided.type in ("reject", "respond"):
        answer: dict[str, Any] = {"type": decided.type}
        if decided.message is not None or decided.type == "respond":
            answer["message"] = decided.message or ""
        return answer
    return {"type": "approve"}


def resume_for(value: Any, decisions: Sequence[Decided]) -> Any:
    """The value to resume an interrupt with, from one decision per approval it became (in
    the order `approvals_for` gave them)."""
    if _is_batch(value):
        names = [r.get("name") for r in value["action_requests"]]
        return {
            "decisions": [
                _middleware_decision(d, name) for d, name in zip(decisions, names, strict=True)
            ]
        }
    [decided] = decisions
    if _is_tool_call(value):
        return _middleware_decision(decided, value.get("name"))
    asked = value.get("arguments") if isinstance(value, Mapping) else None
    return {
        "type": decided.type,
        "approved": decided.type in ("approve", "edit"),
        "arguments": decided.arguments if decided.type == "edit" else asked,
        "message": decided.message,
    }
