"""The log notifier: with no chat platform configured, alerts and digests go to the log."""

from __future__ import annotations

import logging

from opslayer.adapters.terminal import printable
from opslayer.bot.ids import new_id
from opslayer.bot.ports import MessageRef
from opslayer.bot.views.model import MessageView, Target, is_digest

log = logging.getLogger("opslayer.alerts")


class LogNotifier:
    """Writes one line per post or update, so `make run` shows what Slack or Teams would get."""

    name = "log"

    async def post(
        self, target: Target, view: MessageView, *, thread: MessageRef | None = None
    ) -> MessageRef | None:
        places = {
            "slack": target.get("slack"),
            "teams": target.get("teams"),
            "slack_user": target.get("slack_user"),
            "teams_user": target.get("teams_user"),
            "email": target.get("email"),
        }
        where = ", ".join(f"{k}={v}" for k, v in places.items() if v)
        if not where:  # no channel and no chat identity: say whose it is
            mention = target.get("mention")
            where = f"{mention['name'] if mention else 'nobody'} (no chat channel yet)"
        what = view["kind"] if is_digest(view) else view.get("ping") or view["kind"]
        line = f"[{what} → {where}] {view['headline']} {_state(view)}"
        log.info("%s", printable(line))  # titles are agents' text: never raw into a log
        return {"id": new_id("log")}

    async def update(self, ref: MessageRef, view: MessageView) -> None:
        line = f"[update {ref.get('id')}] {view['headline']} {_state(view)}"
        log.info("%s", printable(line))


def _state(view: MessageView) -> str:
    if is_digest(view):
        return ""
    notes = (view.get("resolution"), view.get("acknowledged"), view.get("confirmed"))
    parts = [note if isinstance(note, str) else note["text"] for note in notes if note]
    return f"({'; '.join(parts)})" if parts else ""
