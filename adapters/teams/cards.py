"""Adaptive Cards 1.5 from the platform-neutral views (bot/views/): all Teams wording lives here.

Plain JSON, no SDK: the cards outlive the Bot Framework SDK (the Agents SDK takes them as they
are). Buttons are Universal Actions (`Action.Execute`); their `data` names the run, the approval
and the alert, so the bot can answer any click with the card as it stands now.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from opslayer.adapters.chat.links import OPEN_TEXT
from opslayer.bot.views.alerts import (
    BUTTON_TEXT,
    PING_TEXT,
    button_text,
    deadline_text,
    unsafe_sentence,
)
from opslayer.bot.views.forms import EditForm, FormField, field_id
from opslayer.bot.views.model import (
    AlertView,
    DigestView,
    Fact,
    Mention,
    MessageView,
    Note,
    is_digest,
)

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
VERSION = "1.5"
MAX_CARD_BYTES = 27_000  # Teams refuses messages over ~28 KB
MAX_DIGEST_GROUPS = 40
_STYLE = {"approve": "positive", "accept": "positive", "reject": "destructive"}
MAX_ACTIONS = 5  # what hosts render side by side; any more go under "More…"


def safe(text: Any) -> str:
    """Text from an agent or a person, shown as written: a markdown link would let it dress up
    any address as a harmless label, so `](` is broken with a zero-width space."""
    return str(text).replace("](", "]\u200b(")


def _card(
    body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    if actions:
        card["actions"] = actions
    return card


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": safe(text), "wrap": True, **style}


def action_data(view: AlertView, **extra: Any) -> dict[str, Any]:
    """What every button of a view carries back: which run, approval and alert it is about."""
    data = {
        "run_id": view["run_id"],
        "approval_id": view["approval"]["id"] if "approval" in view else "",
        "alert_id": view.get("alert_id", ""),
    }
    return {**data, **extra}


def execute(
    verb: str, title: str, data: dict[str, Any], style: str | None = None
) -> dict[str, Any]:
    """An `Action.Execute`: arrives as an `adaptiveCard/action` invoke with this verb and data."""
    action: dict[str, Any] = {"type": "Action.Execute", "title": title, "verb": verb, "data": data}
    if style:
        action["style"] = style
    return action


def _entity(mention: Mention) -> tuple[str, dict[str, Any] | None]:
    """A person as an @mention when their Teams id is known, else their name."""
    name = mention["name"]
    if not mention["teams_user_id"]:
        return name, None
    tag = f"<at>{name}</at>"
    return tag, {
        "type": "mention",
        "text": tag,
        "mentioned": {"id": mention["teams_user_id"], "name": name},
    }


def when(at: str) -> str:
    """A moment Teams shows in the reader's own time zone (Adaptive Cards' DATE and TIME)."""
    moment = datetime.fromisoformat(at).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{{{{DATE({moment}, SHORT)}}}} {{{{TIME({moment})}}}}"


def _fact(fact: Fact) -> str:
    parts = [safe(fact["text"])] if fact["text"] else []
    if "at" in fact:
        parts.append(when(fact["at"]))
    return " · ".join(parts) or "-"


def _note(note: Note | str) -> str:
    if isinstance(note, str):  # written before notes carried their moment
        return note
    return f"{note['text']} · {when(note['at'])}"


def alert_card(view: AlertView, *, notice: str | None = None) -> dict[str, Any]:
    """An alert or approval: headline and whom it is for, what to decide on, the facts, its
    state, and buttons while open.

    `notice` is a line for the person who clicked (why nothing changed, what was sent)."""
    owner, entity = _entity(view["mention"])
    entities = [entity] if entity else []
    body: list[dict[str, Any]] = []
    ping = view.get("ping")
    if ping in PING_TEXT:
        body.append(_text(PING_TEXT[ping], color="Warning", weight="Bolder"))
    body.append(_text(view["headline"], weight="Bolder", size="Medium"))
    if owner:
        body.append(_text(f"For {owner}", isSubtle=True, spacing="None"))
    if "approval" in view:
        approval = view["approval"]
        body.append(_text(approval["title"], weight="Bolder"))
        if approval["details"]:
            body.append(_text(approval["details"][:3000]))
        if "arguments" in approval:
            more = (
                "\n\n(the whole of it under Details)" if approval["arguments"].endswith("…") else ""
            )
            body.append(_text(approval["arguments"] + more, fontType="Monospace", size="Small"))
        names = []
        for mention in approval.get("approvers", []):
            tag, extra = _entity(mention)
            names.append(tag)
            if extra and extra not in entities:
                entities.append(extra)
        if names:
            body.append(_text("Approvers: " + ", ".join(names), isSubtle=True))
        if "progress" in approval:
            body.append(_text(approval["progress"], weight="Bolder"))
        deadline = (
            deadline_text(approval, when(approval["expires_at"]), ping=bool(ping))
            if "expires_at" in approval
            else None
        )
        if deadline:
            body.append(_text(deadline, isSubtle=True))
        if approval.get("risk") == "high":
            body.append(_text("High risk: a yes is confirmed a second time", color="Warning"))
    if "error" in view:
        body.append(_text("Error", weight="Bolder"))
        body.append(_text(view["error"], fontType="Monospace", color="Attention"))
    if "offered_by" in view:
        why = f": {view['reason']}" if view.get("reason") else ""
        body.append(_text(f"Offered by {view['offered_by']}{why}", isSubtle=True))
    facts = [{"title": f["label"], "value": _fact(f)} for f in view["facts"]]
    if facts:
        body.append({"type": "FactSet", "facts": facts})
    if "said" in view:
        body.append(_text(f"Last message: {view['said']}", isSubtle=True))
    if view.get("unsafe"):
        body.append(_text(unsafe_sentence(view["unsafe"]), color="Warning"))
    for note in (view.get("resolution"), view.get("acknowledged"), view.get("confirmed")):
        if note:
            body.append(_text(_note(note), isSubtle=True))
    if notice:
        body.append(_text(notice, color="Attention", weight="Bolder"))
    actions: list[dict[str, Any]] = []
    if view.get("state") != "resolved":
        data = action_data(view)
        actions = [
            execute(verb, button_text(verb, view), data, _STYLE.get(verb))
            for verb in view["actions"]
            if verb in BUTTON_TEXT
        ]
    if "link" in view:
        actions.append({"type": "Action.OpenUrl", "title": OPEN_TEXT, "url": view["link"]})
    if len(actions) > MAX_ACTIONS:
        keep, rest = actions[: MAX_ACTIONS - 1], actions[MAX_ACTIONS - 1 :]
        more_card = {"type": "AdaptiveCard", "body": [], "actions": rest}
        actions = [*keep, {"type": "Action.ShowCard", "title": "More…", "card": more_card}]
    card = _card(body, actions)
    if entities:
        card["msteams"]["entities"] = entities
    # Universal Actions' refresh: when someone who must act looks at the card, Teams asks the
    # bot for the card as it is now, so a card posted hours ago never offers a stale decision.
    refresh = view.get("refresh_for") or [e["mentioned"]["id"] for e in entities[:1]]
    if refresh:
        card["refresh"] = {
            "action": execute("refresh", "Refresh", action_data(view)),
            "userIds": refresh[:60],
        }
    return card


def digest_card(view: DigestView) -> dict[str, Any]:
    """A digest: the counts, then runs by section and owner; what does not fit is counted."""
    body: list[dict[str, Any]] = [
        _text(f"{view['headline']} · {view['day']}", weight="Bolder", size="Medium"),
    ]
    counts = [{"title": k, "value": str(v)} for k, v in view["counts"].items() if v]
    if counts:
        body.append({"type": "FactSet", "facts": counts})
    groups = [
        (section, owner, runs)
        for section, owners in view["sections"].items()
        for owner, runs in owners.items()
    ]
    shown = 0
    for section, owner, runs in groups[:MAX_DIGEST_GROUPS]:
        lines = "\n".join(
            f"- {r['title']} ({r['run_id']}, {r['status']}, {r['since']})" for r in runs
        )
        block = _text(f"**{section}** · {owner}\n\n{lines}", separator=True)
        if len(json.dumps(body)) + len(json.dumps(block)) > MAX_CARD_BYTES - 500:
            break
        body.append(block)
        shown += 1
    if shown < len(groups):
        more = len(groups) - shown
        body.append(
            _text(f"…and {more} more groups of runs: `agent status all` lists them", isSubtle=True)
        )
    return _card(body)


def notice_card(text: str) -> dict[str, Any]:
    """A card that only says something (an answer to a click that has no card behind it)."""
    return _card([_text(text, color="Attention", weight="Bolder")])


def _back(view: AlertView) -> dict[str, Any]:
    return execute("refresh", "Back", action_data(view))


def reject_form(view: AlertView) -> dict[str, Any]:
    """The reason goes to the agent with the rejection."""
    body = [
        _text(f"Reject: {view['approval']['title'] if 'approval' in view else view['run_title']}"),
        {
            "type": "Input.Text",
            "id": "reason",
            "label": "Reason",
            "isMultiline": True,
            "isRequired": True,
            "maxLength": 2000,
            "errorMessage": "Say why, so the agent (and its owner) can act on it",
        },
    ]
    actions = [
        execute("reject", "Reject", action_data(view, submit=True), "destructive"),
        _back(view),
    ]
    return _card(body, actions)


def respond_form(view: AlertView) -> dict[str, Any]:
    """An answer in words instead of a yes or no: the agent takes it as the human's reply."""
    body = [
        _text(f"Answer: {view['approval']['title'] if 'approval' in view else view['run_title']}"),
        {
            "type": "Input.Text",
            "id": "answer",
            "label": "Your answer",
            "isMultiline": True,
            "isRequired": True,
            "maxLength": 2000,
            "errorMessage": "Write the answer the agent should act on",
        },
    ]
    actions = [execute("respond", "Send", action_data(view, submit=True), "positive"), _back(view)]
    return _card(body, actions)


def _field_input(index: int, field: FormField) -> dict[str, Any]:
    value = field.get("value", "")
    common: dict[str, Any] = {
        "id": field_id(index),
        "label": field["label"],
        "isRequired": field["required"] and field["kind"] != "boolean",
    }
    if field["required"]:
        common["errorMessage"] = f"{field['label']} is required"
    kind = field["kind"]
    if kind == "boolean":
        return {
            **common,
            "type": "Input.Toggle",
            "title": field.get("hint", field["label"]),
            "valueOn": "true",
            "valueOff": "false",
            "value": value or "false",
        }
    if kind == "choice":
        choices = [{"title": c["title"], "value": c["value"]} for c in field.get("choices", [])]
        return {**common, "type": "Input.ChoiceSet", "choices": choices, "value": value}
    if kind in ("number", "integer"):
        number: dict[str, Any] = {**common, "type": "Input.Number"}
        if value:
            number["value"] = float(value) if kind == "number" else int(float(value))
        return number
    text: dict[str, Any] = {**common, "type": "Input.Text", "value": value, "maxLength": 3000}
    if "hint" in field:
        text["placeholder"] = field["hint"]
    return text


def confirm_toggle() -> dict[str, Any]:
    return {
        "type": "Input.Toggle",
        "id": "confirmed",
        "title": "Yes: this is high risk, and I approve it",
        "valueOn": "true",
        "valueOff": "false",
        "value": "false",
    }


def edit_form_card(
    view: AlertView, form: EditForm, *, high_risk: bool, notice: str | None = None
) -> dict[str, Any]:
    """Approve with changed arguments: an input each (a simple schema), else the JSON."""
    title = view["approval"]["title"] if "approval" in view else view["run_title"]
    body: list[dict[str, Any]] = []
    if notice:
        body.append(_text(notice, color="Attention", weight="Bolder"))
    body.append(_text(f"Edit and approve: {title}", weight="Bolder"))
    for index, field in enumerate(form.get("fields", [])):
        body.append(_field_input(index, field))
    if "json" in form:
        body.append(
            {
                "type": "Input.Text",
                "id": "json",
                "label": "Arguments (JSON)",
                "isMultiline": True,
                "isRequired": True,
                "maxLength": 3000,
                "value": form["json"],
            }
        )
    if high_risk:
        body.append(confirm_toggle())
    actions = [execute("edit", "Approve", action_data(view, submit=True), "positive"), _back(view)]
    return _card(body, actions)


def confirm_card(view: AlertView, verb: str, why: str) -> dict[str, Any]:
    """A second yes for a high-risk approval: the card again, with a button that confirms."""
    card = alert_card(view, notice=f"{why}. Confirm below, or go back.")
    yes = execute(verb, "Yes, approve", action_data(view, submit=True, confirmed=True), "positive")
    card["actions"] = [yes, _back(view)]
    return card


def reassign_form(view: AlertView, people: list[tuple[str, str]]) -> dict[str, Any]:
    """Pick the new owner among the people opslayer knows, and say why; they are asked to accept.

    `people` is (identity, name) pairs; an identity is `teams:ID`, `email:ADDRESS` or `slack:ID`.
    """
    body = [
        _text(f"Reassign {view['run_title']}", weight="Bolder"),
        {
            "type": "Input.ChoiceSet",
            "id": "new_owner",
            "label": "New owner",
            "style": "filtered",
            "isRequired": True,
            "errorMessage": "Choose who should own the run",
            "choices": [{"title": name, "value": identity} for identity, name in people[:500]],
        },
        {"type": "Input.Text", "id": "reason", "label": "Reason", "isMultiline": True},
    ]
    return _card(
        body,
        [execute("reassign", "Offer", action_data(view, submit=True), "positive"), _back(view)],
    )


def retry_form(
    view: AlertView, checkpoints: list[tuple[str, str]], unsafe: list[str]
) -> dict[str, Any]:
    """Where to retry from, and a yes for replaying side effects that are not idempotent
    (`unsafe` names those the run has recorded)."""
    body: list[dict[str, Any]] = [_text(f"Retry {view['run_title']}", weight="Bolder")]
    if checkpoints:
        body.append(
            {
                "type": "Input.ChoiceSet",
                "id": "checkpoint",
                "label": "From checkpoint (none chosen: from the start)",
                "choices": [
                    {"title": f"{cid} · {step}"[:200], "value": cid} for cid, step in checkpoints
                ],
            }
        )
    if unsafe:
        listed = ", ".join(unsafe[-20:])
        body.append(
            _text(
                f"Already done and not idempotent: {listed}. Retrying from before them "
                "replays them unless you say no.",
                color="Warning",
            )
        )
    body.append(
        {
            "type": "Input.Toggle",
            "id": "confirm_replay",
            "title": "Replay non-idempotent side effects if needed",
            "valueOn": "yes",
            "valueOff": "no",
            "value": "no",
        }
    )
    return _card(
        body, [execute("retry", "Retry", action_data(view, submit=True), "positive"), _back(view)]
    )


def details_card(view: AlertView, timeline: list[str]) -> dict[str, Any]:
    """The run's timeline: status changes, checkpoints, approvals, commands, who did what."""
    body: list[dict[str, Any]] = [_text(f"{view['run_title']} ({view['run_id']})", weight="Bolder")]
    text = "\n".join(f"- {line}" for line in timeline[-60:]) or "Nothing recorded yet."
    body.append(_text(text[:20_000], fontType="Monospace", size="Small"))
    return _card(body, [_back(view)])


def notification_text(view: MessageView) -> str:
    """What a notification shows: the headline, marked as a follow-up, with an approval's
    question."""
    if is_digest(view):
        return view["headline"]
    text = view["headline"]
    if view.get("ping") in PING_TEXT:
        text = f"{PING_TEXT[view['ping']]}: {text}"
    if "approval" in view:
        text = f"{text}: {view['approval']['title']}"
    return text[:500]


def card_for(view: MessageView, *, notice: str | None = None) -> dict[str, Any]:
    """The card a view is shown as."""
    return digest_card(view) if is_digest(view) else alert_card(view, notice=notice)


def attachment(card: dict[str, Any]) -> dict[str, Any]:
    """The message attachment that carries a card."""
    return {"contentType": CARD_TYPE, "content": card}
