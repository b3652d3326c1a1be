"""People and groups: who owns runs and where their alerts go."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from opslayer.bot.audit import SYSTEM, AuditEvent
from opslayer.bot.errors import Conflict, NotLinked, ValidationFailed
from opslayer.bot.ids import new_id
from opslayer.bot.people.model import Group, Identity, Person, Role
from opslayer.bot.people.validation import (
    check_email,
    check_group_name,
    check_slack_channel,
    check_slack_user,
    check_teams_channel,
    check_teams_user,
)
from opslayer.bot.ports import Clock, Store, UnitOfWork


def check_person(
    identity: Identity, *, slack_channel: str | None = None, teams_channel: str | None = None
) -> None:
    """Every value of a person that will be stored, checked (ValidationFailed says the fix)."""
    check_email(identity.email)
    check_slack_user(identity.slack_user_id)
    check_teams_user(identity.teams_user_id)
    check_slack_channel(slack_channel)
    check_teams_channel(teams_channel)


def check_group(group: Group, check_cron: Callable[[str], None] | None = None) -> None:
    """Every value of a group that will be stored, checked, its digest time included."""
    check_group_name(group.name)
    for channel in (group.slack_channel, group.slack_escalation_channel):
        check_slack_channel(channel)
    for channel in (group.teams_channel, group.teams_escalation_channel):
        check_teams_channel(channel)
    if group.digest_cron is not None and check_cron is not None:
        try:
            check_cron(group.digest_cron)
        except ValueError as wrong:
            raise ValidationFailed(
                f"digest time {group.digest_cron!r} is not a crontab line ({wrong}): write five"
                " fields, minute hour day month weekday, e.g. '0 9 * * mon-fri'"
            ) from None


async def add_person(
    store: Store,
    *,
    identity: Identity,
    group: str | None = None,
    slack_channel: str | None = None,
    teams_channel: str | None = None,
    role: Role = "member",
) -> Person:
    """Add a person; refused when any of their identities already belongs to someone."""
    if not (identity.email or identity.slack_user_id or identity.teams_user_id):
        raise ValidationFailed("a person needs an email, a Slack user id or a Teams user id")
    check_person(identity, slack_channel=slack_channel, teams_channel=teams_channel)
    async with store.transaction() as uow:
        if await uow.people.find(identity) is not None:
            raise Conflict(
                f"{identity.display_name()} is already known; see 'opslayer people list'"
            )
        if group is not None and await uow.people.group(group) is None:
            raise ValidationFailed(
                f"no group {group!r}; create it with 'opslayer groups add {group}'"
            )
        person = Person(
            id=new_id("per"),
            name=identity.display_name(),
            email=identity.email,
            slack_user_id=identity.slack_user_id,
            teams_user_id=identity.teams_user_id,
            group=group,
            slack_channel=slack_channel,
            teams_channel=teams_channel,
            role=role,
        )
        return await uow.people.add(person)


async def list_people(store: Store) -> Sequence[Person]:
    """Everyone, by name."""
    async with store.read() as uow:
        return await uow.people.everyone()


async def add_group(
    store: Store,
    *,
    name: str,
    slack_channel: str | None = None,
    teams_channel: str | None = None,
    slack_escalation_channel: str | None = None,
    teams_escalation_channel: str | None = None,
    digest_cron: str | None = None,
    all_clear: bool = False,
    check_cron: Callable[[str], None] | None = None,
) -> Group:
    """Add a group with its alert and escalation channels; `check_cron` refuses a digest time
    the scheduler could not read (ValueError), before it is stored."""
    group = Group(
        id=new_id("grp"),
        name=name,
        slack_channel=slack_channel,
        teams_channel=teams_channel,
        slack_escalation_channel=slack_escalation_channel,
        teams_escalation_channel=teams_escalation_channel,
        digest_cron=digest_cron,
        all_clear=all_clear,
    )
    check_group(group, check_cron)
    async with store.transaction() as uow:
        if await uow.people.group(name) is not None:
            raise Conflict(f"group {name!r} already exists")
        return await uow.people.add_group(group)


async def list_groups(store: Store) -> Sequence[Group]:
    """Every group, by name."""
    async with store.read() as uow:
        return await uow.people.groups()


async def link_chat_user(
    store: Store,
    clock: Clock,
    *,
    surface: str,
    email: str,
    user_id: str,
    name: str | None = None,
) -> Person | None:
    """The person known by `email`, now also by their Slack or Teams identity (`surface`): the
    platform vouched for the pair (Slack's confirmed email, Teams' user principal name). None
    when nobody has that email, or they already have another identity on that surface. A
    person still named by their email (an agent's claim made them) takes the platform's `name`
    for them: the first name anyone vouched for."""

    async def link(uow: UnitOfWork) -> Person | None:
        person = await uow.people.find(Identity(email=email))
        if person is None or person.removed or person.email != email.lower():
            return None
        if not await uow.people.link_chat_user(person.id, surface, user_id):
            return None
        detail = {"person": person.id, f"{surface}_user_id": user_id, "email": email}
        if surface == "slack":
            linked = dataclasses.replace(person, slack_user_id=user_id)
        else:
            linked = dataclasses.replace(person, teams_user_id=user_id)
        platform_name = (name or "").strip()[:200]
        if platform_name and person.name == person.email:
            linked = dataclasses.replace(linked, name=platform_name)
            await uow.people.update_person(linked)
            detail["name"] = platform_name
        await uow.audit.add(AuditEvent("person.linked", clock.now(), SYSTEM, None, detail))
        return linked

    return await store.run(link)


async def find_person(store: Store, identity: Identity) -> Person:
    """The person behind an identity (an email, a Slack or Teams id); refused when unknown."""
    async with store.read() as uow:
        person = await uow.people.find(identity)
    if person is None or person.removed:
        raise NotLinked(
            slack_user_id=identity.slack_user_id,
            teams_user_id=identity.teams_user_id,
            email=identity.email,
        )
    return person
