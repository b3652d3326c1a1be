"""Every chat message about a run carries "Open in opslayer" to its console page, when the
console has a public address (OPSLAYER_PUBLIC_URL)."""

from __future__ import annotations

from opslayer.bot.views.model import MessageView, is_digest

OPEN_TEXT = "Open in opslayer"


def with_link(view: MessageView, public_url: str | None) -> MessageView:
    """The view with its run page's address in `link` (digests and unset URLs: unchanged)."""
    if not public_url or is_digest(view) or not view.get("run_id"):
        return view
    return {**view, "link": f"{public_url.rstrip('/')}/runs/{view['run_id']}"}
