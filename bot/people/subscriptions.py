"""Binding a chat channel as someone's (or a group's) alert channel: `agent subscribe`."""

from __future__ import annotations

from opslayer.bot.audit import Actor, AuditEvent, Via
from opslayer.bot.errors import NotAuthorized, NotFound, OpsError, ValidationFailed
from opslayer.bot.people.model import Person
from opslayer.bot.people.rights import Admins
from opslayer.bot.ports import Clock, Store, UnitOfWork

SURFACES = ("slack", "teams")


class Subscriptions:
    """A person binds a channel to their own alerts, or to their group's; an admin to any
    group's. Every binding, and every refusal, is in the audit trail."""

    def __init__(self, store: Store, clock: Clock, *, admins: Admins) -> None:
        self._store = store
        self._clock = clock
        self._admins = admins

    async def subscribe(
        self, channel: str, *, surface: str, person: Person, via: Via, group: str | None = None
    ) -> str:
        """Bind `channel` and say, in a sentence, what now arrives there."""
        if surface not in SURFACES:
            raise ValidationFailed(f"unknown surface {surface!r}: expected slack or teams")
        actor = Actor(id=person.id, name=person.name, via=via)
        detail = {"surface": surface, "channel": channel, "group": group}

        async def bind(uow: UnitOfWork) -> str:
            now = self._clock.now()
            if group is None:
                await uow.people.bind_channel(surface, channel, person_id=person.id)
                told = f"{person.name}'s alerts now come to this channel"
            else:
                if await uow.people.group(group) is None:
                    raise NotFound(f"no group {group!r}; 'opslayer groups list' shows them")
                if person.group != group and not self._admins.includes(person):
                    raise NotAuthorized(
                        actor=person.name,
                        action="bind",
                        target=f"group {group}'s channel",
                        who_may="its members and admins",
                    )
                await uow.people.bind_channel(surface, channel, group=group)
                told = f"alerts and digests of group {group} now come to this channel"
            await uow.audit.add(AuditEvent("channel.subscribed", now, actor, None, detail))
            return told

        try:
            return await self._store.run(bind)
        except OpsError as refused:
            event = AuditEvent(
                "action.refused",
                self._clock.now(),
                actor,
                None,
                {**detail, "action": "subscribe"},
                refused.message,
            )

            async def record(uow: UnitOfWork) -> None:
                await uow.audit.add(event)

            await self._store.run(record)
            raise
