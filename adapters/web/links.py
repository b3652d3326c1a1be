"""From a run page to its messages in chat: Slack's permalink (chat.getPermalink, remembered)
and the Teams deep link to the card."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from opslayer.bot.alerts.model import Alert

if TYPE_CHECKING:
    from opslayer.adapters.web.console import Console

log = logging.getLogger("opslayer.web")
_PERMALINKS: dict[tuple[str, str], str] = {}  # a message's permalink never changes
_REMEMBERED = 10_000


def teams_link(ref: dict[str, str]) -> str | None:
    conversation, activity = ref.get("conversation"), ref.get("activity_id")
    if not conversation or not activity:
        return None
    return f"https://teams.microsoft.com/l/message/{quote(conversation, safe='')}/{quote(activity)}"


async def slack_link(client: Any, ref: dict[str, str]) -> str | None:
    channel, ts = ref.get("channel"), ref.get("ts")
    if client is None or not channel or not ts:
        return None
    key = (channel, ts)
    if key not in _PERMALINKS:
        try:
            answer = await client.chat_getPermalink(channel=channel, message_ts=ts)
        except Exception as exc:  # a link is a convenience: the page renders without it
            log.info("Slack gave no permalink for %s/%s: %s", channel, ts, exc)
            return None
        if len(_PERMALINKS) >= _REMEMBERED:
            _PERMALINKS.clear()
        _PERMALINKS[key] = str(answer["permalink"])
    return _PERMALINKS[key]


async def chat_links(console: Console, alerts: Sequence[Alert]) -> list[dict[str, str]]:
    """Where the run's open alerts live in chat, newest first."""
    client = console.slack_client
    links: list[dict[str, str]] = []
    for alert in sorted(alerts, key=lambda a: a.created_at, reverse=True):
        slack = alert.message_refs.get("slack")
        url = await slack_link(client, slack) if slack else None
        if url:
            links.append({"surface": "Slack", "url": url, "kind": alert.kind.value})
        teams = alert.message_refs.get("teams")
        url = teams_link(teams) if teams else None
        if url:
            links.append({"surface": "Teams", "url": url, "kind": alert.kind.value})
    return links
