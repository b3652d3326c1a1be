"""What a person's or a group's stored values must look like, checked when they are written
(pure): a value that passes here never stops `opslayer serve` later, and the mistakes people
make (a channel's name for its id, a handle for a member id) are named with the fix."""

from __future__ import annotations

import re

from opslayer.bot.errors import ValidationFailed

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ID = re.compile(r"^[^\s#@<>]{2,400}$")  # platform ids: one word, no name or handle marks
_CONVERSATION = re.compile(r"^[^\s#<>]{2,400}$")  # Teams': 19:…@thread.tacv2 has an @
_GROUP = re.compile(r"^[\w.-]{1,64}$")


def _refuse(value: str, what: str, fix: str) -> None:
    raise ValidationFailed(f"{value!r} is not {what}: {fix}")


def check_email(value: str | None) -> None:
    if value is not None and not _EMAIL.match(value):
        _refuse(value, "an email address", "write it as alice@example.com")


def check_slack_user(value: str | None) -> None:
    if value is not None and not _ID.match(value):
        _refuse(
            value,
            "a Slack member id",
            "use the id (U0123ABCD: profile › ⋮ › Copy member ID), not the @handle",
        )


def check_slack_channel(value: str | None) -> None:
    if value is not None and not _ID.match(value):
        _refuse(
            value,
            "a Slack channel id",
            "use the id (C0123ABCD: channel details › About), not the #name;"
            " or run /agent subscribe in the channel",
        )


def check_teams_user(value: str | None) -> None:
    if value is not None and not _ID.match(value):
        _refuse(
            value,
            "a Microsoft Entra object id",
            "use the user's object id (a GUID), or --email with their sign-in address",
        )


def check_teams_channel(value: str | None) -> None:
    if value is not None and not _CONVERSATION.match(value):
        _refuse(
            value,
            "a Teams conversation id",
            "use the id (19:…@thread.tacv2), or run `agent subscribe` in the channel",
        )


def check_group_name(value: str) -> None:
    if not _GROUP.match(value):
        _refuse(value, "a group name", "letters, digits and . _ - only (payments, team-ops)")
