"""Is a card valid Adaptive Card 1.5? Checked twice: by the rules below (types, required and
known properties, what Teams needs of Universal Actions), and by Microsoft's `adaptivecards`
library under Node.js (`make install` puts it in tests/cards; CI requires it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

NODE_CHECK = Path(__file__).parent / "cards"
_COMMON = {"type", "id", "spacing", "separator", "isVisible", "height", "fallback", "requires"}
_ELEMENTS: dict[str, tuple[set[str], set[str]]] = {  # type → (required, allowed) properties
    "TextBlock": (
        {"text"},
        {
            "text",
            "wrap",
            "weight",
            "size",
            "color",
            "isSubtle",
            "fontType",
            "maxLines",
            "horizontalAlignment",
            "style",
        },
    ),
    "FactSet": ({"facts"}, {"facts"}),
    "Input.Text": (
        {"id"},
        {
            "label",
            "isMultiline",
            "isRequired",
            "maxLength",
            "errorMessage",
            "placeholder",
            "value",
            "style",
            "regex",
        },
    ),
    "Input.ChoiceSet": (
        {"id", "choices"},
        {
            "label",
            "choices",
            "style",
            "isMultiSelect",
            "isRequired",
            "errorMessage",
            "value",
            "placeholder",
            "wrap",
        },
    ),
    "Input.Toggle": (
        {"id", "title"},
        {"label", "title", "value", "valueOn", "valueOff", "isRequired", "errorMessage", "wrap"},
    ),
}
_ACTIONS: dict[str, tuple[set[str], set[str]]] = {
    "Action.ShowCard": ({"title", "card"}, {"title", "card", "style", "mode", "tooltip"}),
    # "Open in opslayer": a link to the run's console page (Adaptive Cards 1.0, Teams renders it).
    "Action.OpenUrl": ({"title", "url"}, {"title", "url", "style", "mode", "tooltip", "isEnabled"}),
    "Action.Execute": (
        {"title", "verb"},
        {"title", "verb", "data", "style", "mode", "associatedInputs", "tooltip", "isEnabled"},
    ),
}
_CARD = {"type", "$schema", "version", "body", "actions", "msteams", "refresh", "fallbackText"}
_STYLES = {"default", "positive", "destructive"}
TEAMS_MAX_BYTES = 28_000


def _check_props(
    where: str,
    item: dict[str, Any],
    rules: dict[str, tuple[set[str], set[str]]],
    problems: list[str],
) -> None:
    kind = item.get("type")
    if kind not in rules:
        problems.append(f"{where}: {kind!r} is not an element opslayer's cards may use")
        return
    required, allowed = rules[kind]
    missing = required - item.keys()
    unknown = item.keys() - allowed - _COMMON
    if missing:
        problems.append(f"{where} ({kind}): missing {sorted(missing)}")
    if unknown:
        problems.append(f"{where} ({kind}): unknown {sorted(unknown)}")


def problems_of(card: dict[str, Any], *, nested: bool = False) -> list[str]:
    """What is wrong with a card by the rules above (empty when it is fine)."""
    problems: list[str] = []
    if card.get("type") != "AdaptiveCard" or (card.get("version") != "1.5" and not nested):
        problems.append("not an AdaptiveCard of version 1.5")
    if unknown := card.keys() - _CARD:
        problems.append(f"card: unknown {sorted(unknown)}")
    if len(json.dumps(card).encode()) > TEAMS_MAX_BYTES:
        problems.append("larger than Teams takes")
    if len(card.get("actions") or []) > 5:
        problems.append("more than five actions side by side")
    ids: list[str] = []
    for n, element in enumerate(card.get("body") or []):
        where = f"body[{n}]"
        _check_props(where, element, _ELEMENTS, problems)
        if element.get("type") == "TextBlock" and not isinstance(element.get("text"), str):
            problems.append(f"{where}: text must be a string")
        if element.get("type") == "FactSet":
            for fact in element.get("facts") or []:
                if set(fact) != {"title", "value"} or not all(
                    isinstance(v, str) for v in fact.values()
                ):
                    problems.append(f"{where}: a fact is a string title and value: {fact}")
        if element.get("type") == "Input.ChoiceSet":
            for choice in element["choices"]:
                if set(choice) != {"title", "value"}:
                    problems.append(f"{where}: a choice is a title and value: {choice}")
        if "id" in element:
            ids.append(element["id"])
    if len(ids) != len(set(ids)):
        problems.append(f"input ids repeat: {ids}")
    for n, action in enumerate(card.get("actions") or []):
        where = f"actions[{n}]"
        _check_props(where, action, _ACTIONS, problems)
        if action.get("style", "default") not in _STYLES:
            problems.append(f"{where}: style {action['style']!r}")
        if action.get("type") == "Action.ShowCard":
            problems.extend(f"{where}.card: {p}" for p in problems_of(action["card"], nested=True))
        if not isinstance(action.get("data", {}), dict):
            problems.append(f"{where}: data must be an object (Teams merges the inputs into it)")
    for entity in (card.get("msteams") or {}).get("entities", []):
        text = entity.get("text", "")
        if not any(text in str(e.get("text", "")) for e in card.get("body") or []):
            problems.append(f"mention {text!r} does not appear in the card's text")
    return problems


def _node_problems(cards: list[dict[str, Any]]) -> list[list[str]] | None:
    node = shutil.which("node")
    if node is None or not (NODE_CHECK / "node_modules" / "adaptivecards").is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(
                "CI needs Node.js and tests/cards/node_modules (run `make install`) "
                "to check cards with Microsoft's adaptivecards library"
            )
        return None
    done = subprocess.run(
        [node, str(NODE_CHECK / "validate.js")],
        input=json.dumps(cards),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    found: list[list[str]] = json.loads(done.stdout)
    return found


def assert_valid_cards(cards: list[dict[str, Any]]) -> None:
    """Fail with every problem of every card (and say which card)."""
    assert cards, "no cards to check"
    report = []
    node = _node_problems(cards) or [[] for _ in cards]
    for card, library in zip(cards, node, strict=True):
        found = problems_of(card) + library
        if found:
            report.append(f"{json.dumps(card)[:300]}…: {found}")
    assert not report, "\n".join(report)
