"""Changing and removing people and groups after the fact (from the CLI), checked as when they
were added and audited: whoever fixes a typo leaves a trace."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from opslayer.bot.audit import Actor, AuditEvent, Via
from opslayer.bot.errors import Conflict, NotFound, ValidationFailed
from opslayer.bot.people.directory import check_group, check_person
from opslayer.bot.people.model import Group, Identity, Person
from opslayer.bot.ports import Clock, Store, UnitOfWork

COMMAND_LINE = Actor(id="cli", name="command line", via=Via.CLI)
UNSET = ""  # an empty value clears a field (`--group ''`)
T = TypeVar("T", Person, Group)


def _changed(before: Any, after: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {
        f: {"from": getattr(before, f), "to": getattr(after, f)}
        for f in fields
        if getattr(before, f) != getattr(after, f)
    }


def _changed_to(before: T, changes: dict[str, Any]) -> T:
    """`before` with the given fields changed (`""` clears one, None leaves it)."""
    values: dict[str, Any] = {
        k: (None if v == UNSET else v) for k, v in changes.items() if v is not None
    }
    return dataclasses.replace(before, **values)


async def _person(uow: UnitOfWork, who: Identity) -> Person:
    person = await uow.people.find(who)
    if person is None:
        raise NotFound(f"nobody is known as {who.display_name()}; see `opslayer people list`")
    return person


async def update_person(
    store: Store,
    clock: Clock,
    who: Identity,
    *,
    changes: dict[str, str | None],
    actor: Actor = COMMAND_LINE,
) -> Person:
    """Change a person's name, identities, group, channels or role (`""` clears a field)."""
    fields = tuple(changes)

    async def job(uow: UnitOfWork) -> Person:
        before = await _person(uow, who)
        after = _changed_to(before, changes)
        if after.role not in ("member", "admin", "viewer"):
            raise ValidationFailed(f"role {after.role!r}: member, admin or viewer")
        check_person(
            Identity(after.email, after.slack_user_id, after.teams_user_id),
            slack_channel=after.slack_channel,
            teams_channel=after.teams_channel,
        )
        if not (after.email or after.slack_user_id or after.teams_user_id):
            raise ValidationFailed("a person keeps at least an email, a Slack or a Teams id")
        if after.group is not None and await uow.people.group(after.group) is None:
            raise ValidationFailed(f"no group {after.group!r}; `opslayer groups add` makes one")
        taken = await uow.people.holders(
            Identity(after.email, after.slack_user_id, after.teams_user_id)
        )
        clash = [name for name, holder in taken.items() if holder.id != before.id]
        if clash:
            raise Conflict(f"{', '.join(clash)} belongs to someone else already")
        diff = _changed(before, after, fields)
        if not diff:
            return before
        await uow.people.update_person(after)
        detail = {"person": before.id, "changes": diff}
        await uow.audit.add(AuditEvent("person.updated", clock.now(), actor, None, detail))
        return after

    return await store.run(job)


async def remove_person(
    store: Store, clock: Clock, who: Identity, *, actor: Actor = COMMAND_LINE
) -> Person:
    """Remove a person: they can no longer act, and their runs are reported as unowned until
    handed over. The record stays, so the audit trail keeps its names."""

    async def job(uow: UnitOfWork) -> Person:
        person = await _person(uow, who)
        if person.removed:
            return person
        now = clock.now()
        await uow.people.remove_person(person.id, at=now)
        detail = {"person": person.id, "name": person.name}
        await uow.audit.add(AuditEvent("person.removed", now, actor, None, detail))
        return dataclasses.replace(person, removed=True)

    return await store.run(job)


GROUP_FIELDS = (
    "slack_channel",
    "teams_channel",
    "slack_escalation_channel",
    "teams_escalation_channel",
    "digest_cron",
    "all_clear",
)


async def update_group(
    store: Store,
    clock: Clock,
    name: str,
    *,
    changes: dict[str, Any],
    check_cron: Callable[[str], None] | None = None,
    actor: Actor = COMMAND_LINE,
) -> Group:
    """Change a group's channels, digest time or all-clear (`""` clears a field)."""

    async def job(uow: UnitOfWork) -> Group:
        before = await uow.people.group(name)
        if before is None:
            raise NotFound(f"no group {name!r}; see `opslayer groups list`")
        after = _changed_to(before, changes)
        check_group(after, check_cron)
        diff = _changed(before, after, GROUP_FIELDS)
        if not diff:
            return before
        await uow.people.update_group(after)
        detail = {"group": name, "changes": diff}
        await uow.audit.add(AuditEvent("group.updated", clock.now(), actor, None, detail))
        return after

    return await store.run(job)


async def remove_group(
    store: Store, clock: Clock, name: str, *, actor: Actor = COMMAND_LINE
) -> int:
    """Remove a group; its members stay, without a group. Returns how many there were."""

    async def job(uow: UnitOfWork) -> int:
        if await uow.people.group(name) is None:
            raise NotFound(f"no group {name!r}; see `opslayer groups list`")
        members = await uow.people.remove_group(name)
        detail = {"group": name, "members": members}
        await uow.audit.add(AuditEvent("group.removed", clock.now(), actor, None, detail))
        return members

    return await store.run(job)
