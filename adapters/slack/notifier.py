"""The chat port for Slack: post and update messages with the Web API."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import alert_blocks, digest_blocks, fallback_text


class SlackNotifier:
    """Posts to the target's Slack channel, else to the owner directly; updates in place."""

    name = "slack"

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def post(self, target: dict[str, Any], view: dict[str, Any]) -> dict[str, Any] | None:
        channel = target.get("slack") or target.get("slack_user")
        if not channel:
            return None
        answer = await self._client.chat_postMessage(
            channel=channel, text=fallback_text(view), blocks=_blocks(view)
        )
        return {"channel": answer["channel"], "ts": answer["ts"]}

    async def update(self, ref: dict[str, Any], view: dict[str, Any]) -> None:
        # Sending text without blocks would remove the blocks: always send both.
        await self._client.chat_update(
            channel=ref["channel"], ts=ref["ts"], text=fallback_text(view), blocks=_blocks(view)
        )


def _blocks(view: dict[str, Any]) -> list[dict[str, Any]]:
    return digest_blocks(view) if view.get("kind") == "digest" else alert_blocks(view)
