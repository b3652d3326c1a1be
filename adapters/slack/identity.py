"""Linking a Slack user to a person by the email Slack has confirmed for them (`users.info`).

The click's user id is signed by Slack; so is what `users.info` says about that user. An email
an agent merely claimed is never enough: only a Slack account whose confirmed email is the
person's becomes theirs (audited as `person.linked`)."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from opslayer.adapters.chat.use_cases import UseCases
from opslayer.bot.people.directory import link_chat_user
from opslayer.bot.people.model import Person

log = logging.getLogger("opslayer.slack")


async def confirmed_email(client: AsyncWebClient, user_id: str) -> tuple[str, str | None] | None:
    """The email Slack has confirmed for a human, active member, and the name Slack shows for
    them; None otherwise (bots, deleted or unconfirmed accounts, or no `users:read.email`
    scope)."""
    try:
        answer = await client.users_info(user=user_id)
    except SlackApiError as refused:
        log.info("Slack: users.info for %s refused: %s", user_id, refused.response.get("error"))
        return None
    user = answer.get("user") or {}
    if user.get("deleted") or user.get("is_bot") or user.get("is_email_confirmed") is False:
        return None
    profile = user.get("profile") or {}
    email = profile.get("email")
    if not email:
        return None
    name = profile.get("real_name") or user.get("real_name") or profile.get("display_name")
    return str(email), (str(name) if name else None)


async def link_by_email(client: AsyncWebClient, use: UseCases, user_id: str) -> Person | None:
    """The person whose email Slack confirms for `user_id`, now linked to that Slack user."""
    found = await confirmed_email(client, user_id)
    if found is None:
        return None
    email, name = found
    return await link_chat_user(
        use.store, use.clock, surface="slack", email=email, user_id=user_id, name=name
    )
