"""Block Kit from the platform-neutral views (bot/views/): all Slack wording lives here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opslayer.adapters.chat.links import OPEN_TEXT
from opslayer.bot.views.alerts import (
    BUTTON_TEXT,
    PING_TEXT,
    button_text,
    clip,
    deadline_text,
    fallback_time,
    unsafe_sentence,
)
from opslayer.bot.views.forms import EditForm, FormField, field_id
from opslayer.bot.views.model import (
    AlertView,
    ApprovalView,
    DigestView,
    Fact,
    Mention,
    MessageView,
    Note,
    is_digest,
)

MAX_BLOCKS = 50
ACTION_PREFIX = "opslayer_"
OPEN_ACTION = "open_in_opslayer"  # a link button: Slack still reports the click, acked and ignored
_STYLE = {"approve": "primary", "accept": "primary", "reject": "danger", "cancel": "danger"}


# Slack's limits (Block Kit reference): what a field, a section or a message may hold.
SECTION_TEXT = 3000
FIELD_TEXT = 2000
MAX_FIELDS = 10
CONTEXT_ELEMENTS = 10
HEADER_TEXT = 150


def safe(text: Any) -> str:
    """Text from an agent or a person, shown as written: Slack reads `<…>` as links and
    mentions (`<!channel>` would ping everyone), so &, < and > are escaped as Slack asks."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(text: str, limit: int) -> str:
    """Escaped text within a Slack limit: cut at a word, never inside an `&…;` escape."""
    if len(text) <= limit:
        return text
    cut = clip(text, limit)
    amp = cut.rfind("&", max(0, len(cut) - 6))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp].rstrip() + "…"
    return cut


def when(at: str, fallback: str) -> str:
    """A moment Slack shows in the reader's own time zone (`<!date^…>`)."""
    unix = int(datetime.fromisoformat(at).timestamp())
    return f"<!date^{unix}^{{date_short_pretty}} {{time}}|{fallback}>"


def _fact(fact: Fact) -> str:
    parts = [safe(fact["text"])] if fact["text"] else []
    if "at" in fact:
        parts.append(when(fact["at"], fallback_time(datetime.fromisoformat(fact["at"]))))
    return " · ".join(parts) or "-"


def _note(note: Note | str) -> str:
    if isinstance(note, str):  # written before notes carried their moment
        return safe(note)
    moment = when(note["at"], fallback_time(datetime.fromisoformat(note["at"])))
    return f"{safe(note['text'])} · {moment}"


def _who(mention: Mention) -> str:
    return f"<@{mention['slack_user_id']}>" if mention["slack_user_id"] else safe(mention["name"])


def _mention(view: AlertView) -> str:
    return _who(view["mention"])


CONFIRMED = "confirmed"  # a button value's mark: Slack asked the person to confirm first
_YES = ("approve", "approve_always")


def button(verb: str, view: AlertView) -> dict[str, Any]:
    """A button whose value names the run (and approval) it acts on. A yes to a high-risk
    approval asks Slack's confirmation dialog first, and says so in its value."""
    approval = view.get("approval")
    text = button_text(verb, view)
    value = f"{view['run_id']}|{approval['id'] if approval else ''}"
    element: dict[str, Any] = {
        "type": "button",
        "action_id": ACTION_PREFIX + verb,
        "text": {"type": "plain_text", "text": text[:75]},
        "value": value,
    }
    if verb in _STYLE:
        element["style"] = _STYLE[verb]
    if verb in _YES and approval and approval.get("risk") == "high":
        element["value"] = f"{value}|{CONFIRMED}"
        element["confirm"] = {
            "title": {"type": "plain_text", "text": "High risk: are you sure?"},
            "text": {"type": "plain_text", "text": clip(f"{text}: {approval['title']}", 300)},
            "confirm": {"type": "plain_text", "text": "Yes, approve"},
            "deny": {"type": "plain_text", "text": "Not yet"},
            "style": "danger",
        }
    return element


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": fit(text, SECTION_TEXT)}}


def _context(*texts: str) -> dict[str, Any]:
    elements = [{"type": "mrkdwn", "text": fit(t, SECTION_TEXT)} for t in texts if t]
    return {"type": "context", "elements": elements[:CONTEXT_ELEMENTS]}


def _approval_blocks(approval: ApprovalView, *, ping: bool = False) -> list[dict[str, Any]]:
    text = f"*{safe(approval['title'])}*"
    if approval["details"]:
        text += f"\n{safe(approval['details'])}"
    blocks = [_section(text)]
    if "arguments" in approval:
        shown = approval["arguments"]
        more = "\n_(the whole of it under Details)_" if shown.endswith("…") else ""
        blocks.append(_section(f"```{safe(shown)}```{more}"))
    who = []
    if approval.get("approvers"):
        who.append("Approvers: " + ", ".join(_who(m) for m in approval["approvers"]))
    if "progress" in approval:
        who.append(f"*{safe(approval['progress'])}*")
    deadline = None
    if "expires_at" in approval:
        at = approval["expires_at"]
        moment = when(at, fallback_time(datetime.fromisoformat(at)))
        deadline = deadline_text(approval, moment, ping=ping)
    if deadline:
        who.append(deadline)
    if approval.get("risk") == "high":
        who.append(":warning: High risk: a yes is confirmed a second time")
    if who:
        blocks.append(_context(*who))
    return blocks


def alert_blocks(view: AlertView) -> list[dict[str, Any]]:
    """An alert or approval: headline and whom it is for, what to decide on, the facts, its
    state, and buttons while open. Every field within Slack's limits."""
    blocks: list[dict[str, Any]] = []
    if view.get("ping") in PING_TEXT:
        blocks.append(_context(f":bell: *{PING_TEXT[view['ping']]}*"))
    blocks.append(_section(f"*{safe(view['headline'])}*  {_mention(view)}"))
    if "approval" in view:
        blocks.extend(_approval_blocks(view["approval"], ping="ping" in view))
    if "error" in view:
        blocks.append(_section(f"*Error*\n```{safe(view['error'])}```"))
    if "offered_by" in view:
        why = f": {safe(view['reason'])}" if view.get("reason") else ""
        blocks.append(_context(f"Offered by {safe(view['offered_by'])}{why}"))
    fields = [
        {"type": "mrkdwn", "text": fit(f"*{safe(f['label'])}*\n{_fact(f)}", FIELD_TEXT)}
        for f in view["facts"]
    ][:MAX_FIELDS]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    said = [f"Last message: {safe(view['said'])}"] if "said" in view else []
    if view.get("unsafe"):
        said.append(f":warning: {safe(unsafe_sentence(view['unsafe']))}")
    if said:
        blocks.append(_context(*said))
    notes = [
        _note(note)
        for note in (view.get("resolution"), view.get("acknowledged"), view.get("confirmed"))
        if note
    ]
    if notes:
        blocks.append(_context(*notes))
    buttons = []
    if view.get("state") != "resolved":
        buttons = [button(verb, view) for verb in view["actions"] if verb in BUTTON_TEXT][:24]
    if "link" in view:
        buttons.append(
            {
                "type": "button",
                "action_id": OPEN_ACTION,
                "text": {"type": "plain_text", "text": OPEN_TEXT},
                "url": view["link"],
            }
        )
    if buttons:
        blocks.append({"type": "actions", "block_id": f"run|{view['run_id']}", "elements": buttons})
    return blocks[:MAX_BLOCKS]


def digest_messages(view: DigestView, *, command: str = "/agent") -> list[list[dict[str, Any]]]:
    """A digest as one or more messages of at most 50 blocks each (the first posted, the rest
    in its thread): every group of runs is shown, none cut mid-word."""
    header = {
        "type": "header",
        "text": {"type": "plain_text", "text": f"{view['headline']} · {view['day']}"[:HEADER_TEXT]},
    }
    counts = [f"*{k}*: {v}" for k, v in view["counts"].items() if v]
    first: list[dict[str, Any]] = [header]
    if counts:
        first.append(_context(" · ".join(counts)))
    sections = []
    for section, owners in view["sections"].items():
        for owner, runs in owners.items():
            lines = [
                f"• {safe(r['title'])} (`{r['run_id']}`, {r['status']}, {r['since']})" for r in runs
            ]
            title = f"*{section}* · {safe(owner)}"
            # A group too long for one section goes on in the next: lines are never cut.
            chunk: list[str] = []
            for line in lines:
                if len("\n".join([title, *chunk, line])) > SECTION_TEXT:
                    sections.append(_section("\n".join([title, *chunk])))
                    chunk = []
                chunk.append(fit(line, SECTION_TEXT - len(title) - 1))
            sections.append(_section("\n".join([title, *chunk])))
    messages = [first]
    for block in sections:
        if len(messages[-1]) >= MAX_BLOCKS:
            messages.append([])
        messages[-1].append(block)
    if len(messages) > 1:
        messages[0].append(
            _context(f"Continued in the thread · `{command} status all` lists every run")
        )
        if len(messages[0]) > MAX_BLOCKS:  # the note takes the place of the last group
            messages[1].insert(0, messages[0].pop(-2))
    return messages


def digest_blocks(view: DigestView, *, command: str = "/agent") -> list[dict[str, Any]]:
    """The digest's first message (see digest_messages for the rest)."""
    return digest_messages(view, command=command)[0]


def fallback_text(view: MessageView) -> str:
    """The notification text (what a phone shows, and what screen readers read): the headline,
    and an approval's question."""
    if is_digest(view):
        return safe(view["headline"])
    text = view["headline"]
    if view.get("ping") in PING_TEXT:
        text = f"{PING_TEXT[view['ping']]}: {text}"
    if "approval" in view:
        text = f"{text}: {view['approval']['title']}"
    return fit(safe(text), SECTION_TEXT)


def _modal(
    callback_id: str, title: str, blocks: list[dict[str, Any]], metadata: str, submit: str | None
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id,
        "title": {"type": "plain_text", "text": title[:24]},
        "close": {"type": "plain_text", "text": "Close" if submit is None else "Cancel"},
        "private_metadata": metadata,
        "blocks": blocks,
    }
    if submit is not None:
        view["submit"] = {"type": "plain_text", "text": submit}
    return view


def _reason(optional: bool, label: str = "Reason") -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": "reason",
        "optional": optional,
        "label": {"type": "plain_text", "text": label},
        "element": {
            "type": "plain_text_input",
            "action_id": "value",
            "multiline": True,
            "max_length": 2000,
        },
    }


def _about(subject: str) -> dict[str, Any]:
    """What a modal acts on (the run, and the approval), named at its top."""
    return _context(safe(subject))


def reassign_modal(run_id: str, subject: str = "") -> dict[str, Any]:
    """Pick the new owner (a people picker) and say why; they are asked to accept."""
    picker = {
        "type": "input",
        "block_id": "user",
        "label": {"type": "plain_text", "text": "New owner"},
        "element": {"type": "users_select", "action_id": "value"},
    }
    blocks = [_about(subject)] if subject else []
    blocks += [picker, _reason(optional=True)]
    return _modal("opslayer_reassign", "Reassign run", blocks, run_id, "Offer")


def reject_modal(run_id: str, approval_id: str, subject: str = "") -> dict[str, Any]:
    """The agent receives the reason with the rejection."""
    blocks = [_about(subject)] if subject else []
    blocks.append(_reason(optional=False))
    return _modal("opslayer_reject", "Reject", blocks, f"{run_id}|{approval_id}", "Reject")


def retry_modal(
    run_id: str,
    checkpoints: list[dict[str, Any]],
    *,
    unsafe: list[str] | None = None,
    subject: str = "",
) -> dict[str, Any]:
    """Where to retry from, and a yes for replaying side effects that are not idempotent
    (`unsafe` names those the run has recorded, as on Teams)."""
    options = [
        {
            "text": {"type": "plain_text", "text": f"{c['checkpoint_id']} · {c['step']}"[:75]},
            "value": c["checkpoint_id"][:150],
        }
        for c in checkpoints[-100:]
    ]
    blocks: list[dict[str, Any]] = [_about(subject)] if subject else []
    if unsafe:
        blocks.append(_section(f":warning: {safe(unsafe_sentence(unsafe[-20:]))}"))
    if options:
        blocks.append(
            {
                "type": "input",
                "block_id": "checkpoint",
                "optional": True,
                "label": {"type": "plain_text", "text": "From checkpoint (empty: from the start)"},
                "element": {"type": "static_select", "action_id": "value", "options": options},
            }
        )
    blocks.append(
        {
            "type": "input",
            "block_id": "confirm",
            "optional": True,
            "label": {"type": "plain_text", "text": "Side effects"},
            "element": {
                "type": "checkboxes",
                "action_id": "value",
                "options": [
                    {
                        "text": {
                            "type": "plain_text",
                            "text": "Replay non-idempotent side effects if needed",
                        },
                        "value": "yes",
                    }
                ],
            },
        }
    )
    return _modal("opslayer_retry", "Retry run", blocks, run_id, "Retry")


def details_modal(run_id: str, lines: list[str], subject: str = "") -> dict[str, Any]:
    """The run's timeline: status changes, checkpoints, approvals, commands, who did what."""
    blocks: list[dict[str, Any]] = [_about(subject)] if subject else []
    chunk: list[str] = []
    for line in lines or ["Nothing recorded yet."]:
        if len("\n".join([*chunk, line])) > SECTION_TEXT - 100:  # whole lines per block
            blocks.append(_section("\n".join(chunk)))
            chunk = []
        chunk.append(fit(line, SECTION_TEXT - 100))
    blocks.append(_section("\n".join(chunk)))
    return _modal("opslayer_details", "Run details", blocks[-MAX_BLOCKS:], run_id, None)


def _plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def _input(block_id: str, label: str, element: dict[str, Any], *, optional: bool) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": _plain(label[:2000]),
        "element": {"action_id": "value", **element},
    }


def _field_element(field: FormField) -> dict[str, Any]:
    value = field.get("value", "")
    kind = field["kind"]
    if kind in ("number", "integer"):
        element: dict[str, Any] = {"type": "number_input", "is_decimal_allowed": kind == "number"}
        if value:
            element["initial_value"] = value
        return element
    if kind == "boolean":
        yes = {"text": _plain("Yes"), "value": "true"}
        element = {"type": "checkboxes", "options": [yes]}
        if value == "true":
            element["initial_options"] = [yes]
        return element
    if kind == "choice":
        options = [
            {"text": _plain(c["title"] or " "), "value": c["value"][:150]}
            for c in field.get("choices", [])
        ]
        element = {"type": "static_select", "options": options}
        chosen = next((o for o in options if o["value"] == value), None)
        if chosen is not None:
            element["initial_option"] = chosen
        return element
    element = {"type": "plain_text_input", "max_length": 3000, "multiline": len(value) > 60}
    if value:
        element["initial_value"] = value
    return element


def _confirm_box() -> dict[str, Any]:
    yes = {"text": _plain("Yes: this is high risk, and I approve it"), "value": "yes"}
    return _input("confirm", "Confirm", {"type": "checkboxes", "options": [yes]}, optional=True)


def edit_modal(
    run_id: str, approval_id: str, form: EditForm, *, subject: str, high_risk: bool
) -> dict[str, Any]:
    """Approve with changed arguments: a field each (a simple schema), else the JSON."""
    blocks: list[dict[str, Any]] = [_about(subject)]
    for index, field in enumerate(form.get("fields", [])):
        block = _input(
            field_id(index),
            field["label"],
            _field_element(field),
            optional=not field["required"] or field["kind"] == "boolean",
        )
        if "hint" in field:
            block["hint"] = _plain(field["hint"])
        blocks.append(block)
    if "json" in form:
        element = {
            "type": "plain_text_input",
            "multiline": True,
            "max_length": 3000,
            "initial_value": form["json"],
        }
        block = _input("json", "Arguments (JSON)", element, optional=False)
        block["hint"] = _plain("A JSON object; the agent acts with exactly these arguments")
        blocks.append(block)
    if high_risk:
        blocks.append(_confirm_box())
    return _modal("opslayer_edit", "Edit and approve", blocks, f"{run_id}|{approval_id}", "Approve")


def respond_modal(run_id: str, approval_id: str, subject: str) -> dict[str, Any]:
    """An answer in words instead of a yes or no: the agent takes it as the human's reply."""
    blocks = [_about(subject), _reason(optional=False, label="Your answer")]
    return _modal("opslayer_respond", "Answer", blocks, f"{run_id}|{approval_id}", "Send")
