"""The log notifier: with no chat platform configured, alerts and digests go to the log."""

from __future__ import annotations

import logging
from typing import Any

from opslayer.adapters.terminal import printable
from opslayer.bot.ids import new_id

log = logging.getLogger("opslayer.alerts")


class LogNotifier:
    """Writes one line per post or update, so `make run` shows what Slack or Teams would get."""

    name = "log"

    async def post(self, target: dict[str, Any], view: dict[str, Any]) -> dict[str, Any] | None:
        where = ", ".join(f"{k}={v}" for k, v in target.items() if isinstance(v, str) and v)
        if not where:  # no channel and no chat identity: say whose it is
            where = f"{target.get('mention', {}).get('name', 'nobody')} (no chat channel yet)"
        what = view.get("ping") or view.get("kind")
        line = f"[{what} → {where}] {view.get('headline', '')} {_state(view)}"
        log.info("%s", printable(line))  # titles are agents' text: never raw into a log
        return {"id": new_id("log")}

    async def update(self, ref: dict[str, Any], view: dict[str, Any]) -> None:
        line = f"[update {ref.get('id')}] {view.get('headline', '')} {_state(view)}"
        log.info("%s", printable(line))


def _state(view: dict[str, Any]) -> str:
    parts = [view[k] for k in ("resolution", "acknowledged", "confirmed") if view.get(k)]
    return f"({'; '.join(parts)})" if parts else ""
