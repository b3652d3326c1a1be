"""The chat port for Slack: post and update messages with the Web API."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from opslayer.adapters.chat.links import with_link
from opslayer.adapters.chat.pacing import ChannelPacer
from opslayer.adapters.slack.blocks import alert_blocks, digest_messages, fallback_text
from opslayer.bot.ports import MessageRef
from opslayer.bot.views.model import AlertView, Mention, MessageView, Target, is_digest

log = logging.getLogger("opslayer.slack")
_UNREACHABLE = frozenset({"channel_not_found", "not_in_channel", "is_archived"})
_GONE = _UNREACHABLE | {"message_not_found", "cant_update_message"}
# Refused for good: sending the same again would be refused again. Logged and given up.
_REFUSED = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "no_text",
        "invalid_arguments",
        "too_many_attachments",
        "invalid_attachments",
    }
)


class SlackNotifier:
    """Posts to the target's Slack channel, else to the owner directly; updates in place.

    Owners known only by email are found with users.lookupByEmail (remembered), so they are
    mentioned and reached all the same. Posts to one channel are spaced a second apart, as
    Slack allows; rate-limit answers are retried by the client after Retry-After."""

    name = "slack"

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        spacing_s: float = 1.0,
        command: str = "/agent",
        public_url: str | None = None,
    ) -> None:
        self._client = client
        self._public_url = public_url
        self._command = command
        self._pacer = ChannelPacer(spacing_s)
        self._users: dict[str, str | None] = {}

    async def _user_for(self, email: str | None) -> str | None:
        if not email:
            return None
        if email not in self._users:
            try:
                answer = await self._client.users_lookupByEmail(email=email)
                self._users[email] = answer["user"]["id"]
            except SlackApiError:  # not in this workspace: remember that too
                self._users[email] = None
        return self._users[email]

    async def _found(self, mention: Mention) -> Mention:
        """The mention with its Slack user, found by email when opslayer has no Slack id."""
        if mention["slack_user_id"]:
            return mention
        return {**mention, "slack_user_id": await self._user_for(mention["email"])}

    async def _with_user(self, view: AlertView) -> AlertView:
        found: AlertView = {**view, "mention": await self._found(view["mention"])}
        if "approval" in view and view["approval"].get("approvers"):
            approvers = [await self._found(m) for m in view["approval"]["approvers"]]
            found["approval"] = {**view["approval"], "approvers": approvers}
        return found

    async def _blocks(self, view: MessageView) -> list[list[dict[str, Any]]]:
        """The message (a digest may take several: the rest go in the first one's thread)."""
        if is_digest(view):
            return digest_messages(view, command=self._command)
        linked = with_link(view, self._public_url)
        assert not is_digest(linked)
        return [alert_blocks(await self._with_user(linked))]

    async def post(
        self, target: Target, view: MessageView, *, thread: MessageRef | None = None
    ) -> MessageRef | None:
        channel = (
            target.get("slack")
            or target.get("slack_user")
            or await self._user_for(target.get("email"))
        )
        if not channel:
            return None
        # A follow-up to the same place goes in the first message's thread.
        thread_ts = (
            thread["ts"]
            if thread and channel in (thread.get("channel"), thread.get("to")) and "ts" in thread
            else None
        )
        messages = await self._blocks(view)
        text = fallback_text(view)
        try:
            async with self._pacer.turn(channel):
                answer = await self._client.chat_postMessage(
                    channel=channel, text=text, blocks=messages[0], thread_ts=thread_ts
                )
                for more in messages[1:]:
                    await self._client.chat_postMessage(
                        channel=answer["channel"], text=text, blocks=more, thread_ts=answer["ts"]
                    )
        except SlackApiError as error:
            reason = error.response.get("error")
            if reason in _REFUSED:
                log.warning(
                    "Slack refused a message to %s (%s): given up, so the posts behind it go on",
                    channel,
                    reason,
                )
                return {}
            if reason not in _UNREACHABLE:
                raise  # the alert stays behind and is tried again on the next round
            log.warning(
                "Slack: cannot post in %s (%s): invite the bot there (/invite @opslayer) "
                "for the next alerts",
                channel,
                reason,
            )
            return None
        return {"channel": answer["channel"], "ts": answer["ts"], "to": channel}

    async def update(self, ref: MessageRef, view: MessageView) -> None:
        # Sending text without blocks would remove the blocks: always send both.
        try:
            await self._client.chat_update(
                channel=ref["channel"],
                ts=ref["ts"],
                text=fallback_text(view),
                blocks=(await self._blocks(view))[0],
            )
        except SlackApiError as error:
            reason = error.response.get("error")
            if reason in _REFUSED:
                log.warning("Slack refused an update of %s (%s): given up", ref["ts"], reason)
                return
            if reason not in _GONE:
                raise
            # Deleted, archived, or the bot was removed: nothing to update, now or later.
            log.info("Slack: message %s is gone (%s); not updated", ref["ts"], reason)
