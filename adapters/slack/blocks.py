"""Block Kit from the platform-neutral views (bot/views.py): all Slack wording lives here."""

from __future__ import annotations

from typing import Any

MAX_BLOCKS = 50
ACTION_PREFIX = "opslayer_"
_BUTTON_TEXT = {
    "approve": "Approve",
    "reject": "Reject",
    "acknowledge": "Acknowledge",
    "retry": "Retry",
    "cancel": "Cancel",
    "pause": "Pause",
    "resume": "Resume",
    "reassign": "Reassign",
    "details": "Details",
    "accept": "Accept",
}
_STYLE = {"approve": "primary", "accept": "primary", "reject": "danger", "cancel": "danger"}


def _mention(view: dict[str, Any]) -> str:
    who = view.get("mention") or {}
    return f"<@{who['slack_user_id']}>" if who.get("slack_user_id") else str(who.get("name", ""))


def button(verb: str, view: dict[str, Any]) -> dict[str, Any]:
    """A button whose value names the run (and approval) it acts on."""
    approval = (view.get("approval") or {}).get("id", "")
    element: dict[str, Any] = {
        "type": "button",
        "action_id": ACTION_PREFIX + verb,
        "text": {"type": "plain_text", "text": _BUTTON_TEXT[verb]},
        "value": f"{view['run_id']}|{approval}",
    }
    if verb in _STYLE:
        element["style"] = _STYLE[verb]
    return element


def alert_blocks(view: dict[str, Any]) -> list[dict[str, Any]]:
    """An alert or approval: headline and owner, the facts, its state, and buttons while open."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*{view['headline']}*  {_mention(view)}"},
        }
    ]
    approval = view.get("approval")
    if approval:
        text = f"*{approval['title']}*" + (
            f"\n{approval['details']}" if approval.get("details") else ""
        )
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}})
    facts = [
        {"type": "mrkdwn", "text": f"*{k}*\n{', '.join(v) if isinstance(v, list) else v or '-'}"}
        for k, v in (view.get("facts") or {}).items()
    ][:10]
    if facts:
        blocks.append({"type": "section", "fields": facts})
    notes = [view[k] for k in ("resolution", "acknowledged", "confirmed") if view.get(k)]
    if notes:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": n} for n in notes]}
        )
    if view.get("state") != "resolved" and view.get("actions"):
        buttons = [button(verb, view) for verb in view["actions"] if verb in _BUTTON_TEXT]
        blocks.append(
            {"type": "actions", "block_id": f"run|{view['run_id']}", "elements": buttons[:25]}
        )
    return blocks


def digest_blocks(view: dict[str, Any]) -> list[dict[str, Any]]:
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
                f"• {r['title']} (`{r['run_id']}`, {r['status']}, {r['since']})" for r in runs
            )
            lines.append(f"*{section}* · {owner}\n{listed}")
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
                        "text": f"…and {more} more groups of runs: `/agent status all` lists them",
                    }
                ],
            }
        )
    return blocks


def fallback_text(view: dict[str, Any]) -> str:
    """The notification text (and what screen readers read)."""
    return str(view.get("headline", "opslayer"))
