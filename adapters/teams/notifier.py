"""The chat port for Teams: proactive cards with `continue_conversation`, updated in place."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from botbuilder.core import CloudAdapterBase, TurnContext
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    Attachment,
    ChannelAccount,
    ConversationParameters,
    ConversationReference,
)

from opslayer.adapters.chat.links import with_link
from opslayer.adapters.chat.pacing import ChannelPacer
from opslayer.adapters.teams.cards import CARD_TYPE, card_for, notification_text
from opslayer.bot.ports import Conversation, MessageRef, Store, UnitOfWork
from opslayer.bot.views.model import MessageView, Target

log = logging.getLogger("opslayer.teams")
T = TypeVar("T")
SURFACE = "teams"
_GONE = frozenset({403, 404})  # not a member any more, or no such conversation
_REFUSED = frozenset({400, 413})  # malformed or too large: the same again is refused again


def card_activity(card: dict[str, Any], *, summary: str | None = None) -> Activity:
    """A message carrying one Adaptive Card; `summary` is what notifications show."""
    return Activity(
        type=ActivityTypes.message,
        summary=summary,
        attachments=[Attachment(content_type=CARD_TYPE, content=card)],
    )


def _status(error: BaseException) -> int | None:
    """The HTTP status of a Bot Connector error (msrest hands over the transport's response:
    aiohttp's says `status`, requests' `status_code`)."""
    response = getattr(error, "response", None)
    status = getattr(response, "status", None) or getattr(response, "status_code", None)
    return int(status) if status is not None else None


def _retry_after(error: BaseException, attempt: int) -> float:
    headers = getattr(getattr(error, "response", None), "headers", None) or {}
    try:
        return min(float(headers.get("Retry-After", "")), 60.0)
    except ValueError:
        return float(2**attempt)


class TeamsNotifier:
    """Posts to the target's Teams channel, else to the owner's personal chat with the bot.

    The bot can only speak where it was installed: the conversation references it stored then
    (and on every message since) are where it posts. Posts to one conversation are spaced a
    second apart; a 429 from the Bot Connector is retried after its Retry-After."""

    name = SURFACE

    def __init__(
        self,
        adapter: CloudAdapterBase,
        *,
        app_id: str,
        store: Store,
        spacing_s: float = 1.0,
        retries: int = 3,
        public_url: str | None = None,
    ) -> None:
        self._adapter = adapter
        self._public_url = public_url
        self.app_id = app_id
        self._store = store
        self._pacer = ChannelPacer(spacing_s)
        self._retries = retries

    async def _place(self, target: Target) -> Conversation | None:
        channel, user = target.get("teams"), target.get("teams_user")
        async with self._store.read() as uow:
            if channel:
                return await uow.conversations.get(SURFACE, channel)
            if not user:
                return None
            personal = await uow.conversations.personal(SURFACE, user)
            anchor = await uow.conversations.latest(SURFACE) if personal is None else None
        if personal is None and anchor is not None:
            personal = await self._open_personal_chat(anchor, user)
        return personal

    async def _open_personal_chat(self, anchor: Conversation, user: str) -> Conversation | None:
        """Start a personal chat with a person the bot has not talked to yet, by their Entra
        object id (Teams allows it once the app is installed for them), in the tenant and
        through the service URL of the conversation heard from last."""
        known = ConversationReference().deserialize(anchor.reference)
        tenant = known.conversation.tenant_id
        parameters = ConversationParameters(
            is_group=False,
            bot=known.bot,
            members=[ChannelAccount(id=user)],
            tenant_id=tenant,
            channel_data={"tenant": {"id": tenant}},
        )
        opened: list[ConversationReference] = []

        async def remember(turn: TurnContext) -> None:
            opened.append(TurnContext.get_conversation_reference(turn.activity))

        try:
            await self._adapter.create_conversation(
                self.app_id,
                remember,
                parameters,
                channel_id=known.channel_id,
                service_url=known.service_url,
            )
        except Exception as refused:  # not installed for them, another tenant…
            log.warning(
                "Teams: cannot open a personal chat with %s (%s); they need the app installed "
                "for themselves, or a channel (agent subscribe)",
                user,
                refused,
            )
            return None
        reference = opened[0]
        reference.user = ChannelAccount(id=user, aad_object_id=user)
        reference.activity_id = None
        conversation = Conversation(
            surface=SURFACE,
            conversation_id=reference.conversation.id,
            kind="personal",
            reference=reference.serialize(),
            user_id=user,
        )

        async def store(uow: UnitOfWork) -> None:
            await uow.conversations.remember(conversation)

        await self._store.run(store)
        return conversation

    async def post(
        self, target: Target, view: MessageView, *, thread: MessageRef | None = None
    ) -> MessageRef | None:
        place = await self._place(target)
        if place is None:
            if target.get("teams"):
                log.warning(
                    "Teams: the bot is not in %s; add the app there so it can post",
                    target["teams"],
                )
            return None
        activity = card_activity(
            card_for(with_link(view, self._public_url)), summary=notification_text(view)
        )
        # A follow-up to the same channel is a reply in the card's thread (channels have
        # threads; personal chats do not).
        root = (
            thread.get("activity_id")
            if thread
            and thread.get("conversation") == place.conversation_id
            and place.kind == "channel"
            else None
        )

        async def send(turn: TurnContext) -> str:
            # Not turn.send_activity: in a proactive turn it would answer the (made-up)
            # continuation event, i.e. reply in a thread; an alert starts its own.
            reference = TurnContext.get_conversation_reference(turn.activity)
            reference.activity_id = None
            TurnContext.apply_conversation_reference(activity, reference)
            if root:
                activity.conversation.id = f"{place.conversation_id};messageid={root}"
                activity.reply_to_id = root
            [sent] = await turn.adapter.send_activities(turn, [activity])
            return str(sent.id) if sent is not None and sent.id else ""

        try:
            async with self._pacer.turn(place.conversation_id):
                activity_id = await self._in(place, send)
        except Exception as error:
            status = _status(error)
            if status in _REFUSED:
                log.warning(
                    "Teams refused a card for %s (HTTP %s): given up, so the posts behind it go on",
                    place.conversation_id,
                    status,
                )
                return {}
            if status not in _GONE:
                raise  # the alert stays behind and is tried again on the next round
            await self._forget(place, error)
            return None
        return {"conversation": place.conversation_id, "activity_id": activity_id}

    async def _forget(self, place: Conversation, error: BaseException) -> None:
        """The bot was removed from the conversation (or it was deleted): stop posting there."""
        log.warning(
            "Teams: %s refused the bot (%s); forgetting it: add the app there again to post",
            place.conversation_id,
            _status(error),
        )

        async def forget(uow: UnitOfWork) -> None:
            await uow.conversations.forget(SURFACE, place.conversation_id)

        await self._store.run(forget)

    async def update(self, ref: MessageRef, view: MessageView) -> None:
        async with self._store.read() as uow:
            place = await uow.conversations.get(SURFACE, ref["conversation"])
        if place is None or not ref.get("activity_id"):
            return
        activity = card_activity(
            card_for(with_link(view, self._public_url)), summary=notification_text(view)
        )
        activity.id = ref["activity_id"]

        async def replace(turn: TurnContext) -> None:
            await turn.update_activity(activity)

        try:
            await self._in(place, replace)
        except Exception as error:
            if _status(error) in _REFUSED:
                log.warning("Teams refused an update of card %s: given up", ref["activity_id"])
                return
            if _status(error) not in _GONE:
                raise
            # Deleted, or the bot was removed: there is nothing left to update, and trying
            # again every round would not change that.
            log.info("Teams: card %s is gone (%s); not updated", ref["activity_id"], _status(error))

    async def _in(self, place: Conversation, work: Callable[[TurnContext], Awaitable[T]]) -> T:
        """Run `work` in a proactive turn of the conversation, retrying what Teams throttles."""
        reference = ConversationReference().deserialize(place.reference)
        reference.activity_id = None  # a new post, not a reply in the thread we last heard from
        done: list[T] = []

        async def turn(context: TurnContext) -> None:
            done.append(await work(context))

        for attempt in range(self._retries + 1):
            try:
                await self._adapter.continue_conversation(reference, turn, self.app_id)
                return done[-1]
            except Exception as error:
                if _status(error) != 429 or attempt == self._retries:
                    raise
                delay = _retry_after(error, attempt)
                log.info("Teams throttled a post; retrying in %.1f s", delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")
