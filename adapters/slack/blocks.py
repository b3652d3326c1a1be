"""Block Kit from the platform-neutral views (bot/views/): all Slack wording lives here."""

from __future__ import annotations

from typing import Any

from opslayer.bot.views.alerts import BUTTON_TEXT
from opslayer.bot.views.model import AlertView, DigestView, MessageView

MAX_BLOCKS = 50
ACTION_PREFIX = "opslayer_"
_STYLE = {"approve": "primary", "accept": "primary", "reject": "danger", "cancel": "danger"}


def safe(text: Any) -> str:
    """Text from an agent or a person, shown as written: Slack reads `<…>` as links and
    mentions (`<!channel>` would ping everyone), so &, < and > are escaped as Slack asks."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mention(view: AlertView) -> str:
    who = view["mention"]
    return f"<@{who['slack_user_id']}>" if who["slack_user_id"] else safe(who["name"])


def button(verb: str, view: AlertView) -> dict[str, Any]:
    """A button whose value names the run (and approval) it acts on."""
    approval = view["approval"]["id"] if "approval" in view else ""
    element: dict[str, Any] = {
        "type": "button",
        "action_id": ACTION_PREFIX + verb,
        "text": {"type": "plain_text", "text": BUTTON_TEXT[verb]},
        "value": f"{view['run_id']}|{approval}",
    }
    if verb in _STYLE:
        element["style"] = _STYLE[verb]
    return element


def alert_blocks(view: AlertView) -> list[dict[str, Any]]:
    """An alert or approval: headline and owner, the facts, its state, and buttons while open."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*{safe(view['headline'])}*  {_mention(view)}"},
        }
    ]
    if "approval" in view:
        approval = view["approval"]
        text = f"*{safe(approval['title'])}*" + (
            f"\n{safe(approval['details'])}" if approval["details"] else ""
        )
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}})
    facts = [
        {
            "type": "mrkdwn",
            "text": f"*{k}*\n{safe(', '.join(v) if isinstance(v, list) else v or '-')}",
        }
        for k, v in view["facts"].items()
    ][:10]
    if facts:
        blocks.append({"type": "section", "fields": facts})
    notes = [
        note
        for note in (view.get("resolution"), view.get("acknowledged"), view.get("confirmed"))
        if note
    ]
    if notes:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": safe(n)} for n in notes]}
        )
    if view.get("state") != "resolved" and view["actions"]:
        buttons = [button(verb, view) for verb in view["actions"] if verb in BUTTON_TEXT]
        blocks.append(
            {"type": "actions", "block_id": f"run|{view['run_id']}", "elements": buttons[:25]}
        )
    return blocks


def digest_blocks(view: DigestView, *, command: str = "/agent") -> list[dict[str, Any]]:
    """A digest in at most 50 blocks: the rest is counted, with the command that lists it."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"{view['headline']} · {view['day']}"},
        }
    ]
    lines: list[str] = []
    for section, owners in view["sections"].items():
        for owner, runs in owners.items():
            listed = "\n".join(
                f"• {safe(r['title'])} (`{r['run_id']}`, {r['status']}, {r['since']})" for r in runs
            )
            lines.append(f"*{section}* · {safe(owner)}\n{listed}")
    room = MAX_BLOCKS - 2
    for line in lines[:room]:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": line[:3000]}})
    if len(lines) > room:
        more = len(lines) - room
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"…and {more} more groups of runs: `{command} status all` "
                        "lists them",
                    }
                ],
            }
        )
    return blocks


def fallback_text(view: MessageView) -> str:
    """The notification text (and what screen readers read)."""
    return safe(view["headline"])


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


def reassign_modal(run_id: str) -> dict[str, Any]:
    """Pick the new owner (a people picker) and say why; they are asked to accept."""
    picker = {
        "type": "input",
        "block_id": "user",
        "label": {"type": "plain_text", "text": "New owner"},
        "element": {"type": "users_select", "action_id": "value"},
    }
    return _modal(
        "opslayer_reassign", "Reassign run", [picker, _reason(optional=True)], run_id, "Offer"
    )


def reject_modal(run_id: str, approval_id: str) -> dict[str, Any]:
    """The agent receives the reason with the rejection."""
    return _modal(
        "opslayer_reject", "Reject", [_reason(optional=False)], f"{run_id}|{approval_id}", "Reject"
    )


def retry_modal(run_id: str, checkpoints: list[dict[str, Any]]) -> dict[str, Any]:
    """Where to retry from, and a yes for replaying side effects that are not idempotent."""
    options = [
        {
            "text": {"type": "plain_text", "text": f"{c['checkpoint_id']} · {c['step']}"[:75]},
            "value": c["checkpoint_id"][:150],
        }
        for c in checkpoints[-100:]
    ]
    blocks: list[dict[str, Any]] = []
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


def details_modal(run_id: str, lines: list[str]) -> dict[str, Any]:
    """The run's timeline: status changes, checkpoints, approvals, commands, who did what."""
    text = "\n".join(lines) or "Nothing recorded yet."
    chunks = [text[i : i + 2900] for i in range(0, len(text), 2900)][:MAX_BLOCKS]
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in chunks]
    return _modal("opslayer_details", "Run details", blocks, run_id, None)
