"""People, the identities they are known by, and their groups."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, or_, select, update

from opslayer.bot.people.model import Group, Identity, Person, Role
from opslayer.store.db import Db
from opslayer.store.tables import groups, people


def _person(row: Row[Any], group_name: str | None = None) -> Person:
    return Person(
        id=row.id,
        name=row.name,
        email=row.email,
        slack_user_id=row.slack_user_id,
        teams_user_id=row.teams_user_id,
        group=group_name,
        removed=row.removed_at is not None,
        slack_channel=row.slack_channel,
        teams_channel=row.teams_channel,
        role=row.role,
    )


def _group(row: Row[Any]) -> Group:
    return Group(
        id=row.id,
        name=row.name,
        slack_channel=row.slack_channel,
        teams_channel=row.teams_channel,
        slack_escalation_channel=row.slack_escalation_channel,
        teams_escalation_channel=row.teams_escalation_channel,
        digest_cron=row.digest_cron,
        all_clear=row.all_clear,
    )


_PEOPLE = select(people, groups.c.name.label("group_name")).select_from(
    people.outerjoin(groups, people.c.group_id == groups.c.id)
)


class SqlPeopleRepository:
    def __init__(self, conn: Db, now: datetime) -> None:
        self._conn = conn
        self._now = now

    async def find(self, identity: Identity) -> Person | None:
        clauses = []
        if identity.email:
            clauses.append(people.c.email == identity.email.lower())
        if identity.slack_user_id:
            clauses.append(people.c.slack_user_id == identity.slack_user_id)
        if identity.teams_user_id:
            clauses.append(people.c.teams_user_id == identity.teams_user_id)
        if not clauses:
            return None
        row = (await self._conn.execute(_PEOPLE.where(or_(*clauses)).limit(1))).first()
        return _person(row, row.group_name) if row else None

    async def holders(self, identity: Identity) -> dict[str, Person]:
        """For each identity field set, the known person holding that identity (if any)."""
        clauses = []
        if identity.email:
            clauses.append(people.c.email == identity.email.lower())
        if identity.slack_user_id:
            clauses.append(people.c.slack_user_id == identity.slack_user_id)
        if identity.teams_user_id:
            clauses.append(people.c.teams_user_id == identity.teams_user_id)
        if not clauses:
            return {}
        found: dict[str, Person] = {}
        for row in await self._conn.execute(_PEOPLE.where(or_(*clauses))):
            person = _person(row, row.group_name)
            if identity.email and row.email == identity.email.lower():
                found["email"] = person
            if identity.slack_user_id and row.slack_user_id == identity.slack_user_id:
                found["slack_user_id"] = person
            if identity.teams_user_id and row.teams_user_id == identity.teams_user_id:
                found["teams_user_id"] = person
        return found

    async def get(self, person_id: str) -> Person | None:
        row = (await self._conn.execute(_PEOPLE.where(people.c.id == person_id))).first()
        return _person(row, row.group_name) if row else None

    async def by_ids(self, person_ids: Sequence[str]) -> dict[str, Person]:
        if not person_ids:
            return {}
        rows = await self._conn.execute(_PEOPLE.where(people.c.id.in_(list(person_ids))))
        return {r.id: _person(r, r.group_name) for r in rows}

    async def add(self, person: Person) -> Person:
        group_id = None
        if person.group is not None:
            group = await self.group(person.group)
            group_id = group.id if group else None
        await self._conn.execute(
            insert(people).values(
                id=person.id,
                name=person.name,
                email=person.email.lower() if person.email else None,
                slack_user_id=person.slack_user_id,
                teams_user_id=person.teams_user_id,
                group_id=group_id,
                slack_channel=person.slack_channel,
                teams_channel=person.teams_channel,
                role=person.role,
                created_at=self._now,
            )
        )
        return person

    async def update_person(self, person: Person) -> None:
        group_id = None
        if person.group is not None:
            found = await self.group(person.group)
            group_id = found.id if found else None
        await self._conn.execute(
            update(people)
            .where(people.c.id == person.id)
            .values(
                name=person.name,
                email=person.email.lower() if person.email else None,
                slack_user_id=person.slack_user_id,
                teams_user_id=person.teams_user_id,
                group_id=group_id,
                slack_channel=person.slack_channel,
                teams_channel=person.teams_channel,
                role=person.role,
            )
        )

    async def remove_person(self, person_id: str, *, at: datetime) -> None:
        await self._conn.execute(
            update(people).where(people.c.id == person_id).values(removed_at=at)
        )

    async def update_group(self, group: Group) -> None:
        await self._conn.execute(
            update(groups)
            .where(groups.c.id == group.id)
            .values(
                slack_channel=group.slack_channel,
                teams_channel=group.teams_channel,
                slack_escalation_channel=group.slack_escalation_channel,
                teams_escalation_channel=group.teams_escalation_channel,
                digest_cron=group.digest_cron,
                all_clear=group.all_clear,
            )
        )

    async def remove_group(self, name: str) -> int:
        found = await self.group(name)
        if found is None:
            return 0
        members = await self._conn.execute(
            update(people).where(people.c.group_id == found.id).values(group_id=None)
        )
        await self._conn.execute(delete(groups).where(groups.c.id == found.id))
        return max(int(members.rowcount), 0)

    async def set_role(self, person_id: str, role: Role) -> None:
        await self._conn.execute(update(people).where(people.c.id == person_id).values(role=role))

    async def member_ids(self, group: str) -> list[str]:
        query = (
            select(people.c.id)
            .select_from(people.join(groups, people.c.group_id == groups.c.id))
            .where(groups.c.name == group)
        )
        return [row.id for row in await self._conn.execute(query)]

    async def everyone(self) -> Sequence[Person]:
        rows = await self._conn.execute(_PEOPLE.order_by(people.c.name))
        return [_person(r, r.group_name) for r in rows]

    async def add_group(self, group: Group) -> Group:
        await self._conn.execute(
            insert(groups).values(
                id=group.id,
                name=group.name,
                slack_channel=group.slack_channel,
                teams_channel=group.teams_channel,
                slack_escalation_channel=group.slack_escalation_channel,
                teams_escalation_channel=group.teams_escalation_channel,
                digest_cron=group.digest_cron,
                all_clear=group.all_clear,
            )
        )
        return group

    async def link_chat_user(self, person_id: str, surface: str, user_id: str) -> bool:
        column = people.c[f"{surface}_user_id"]
        result = await self._conn.execute(
            update(people)
            .where(people.c.id == person_id, column.is_(None))
            .values({column: user_id})
        )
        return bool(result.rowcount)

    async def bind_channel(
        self, surface: str, channel: str, *, person_id: str | None = None, group: str | None = None
    ) -> bool:
        table, key = (
            (people, people.c.id == person_id) if person_id else (groups, groups.c.name == group)
        )
        result = await self._conn.execute(
            update(table).where(key).values({f"{surface}_channel": channel})
        )
        return bool(result.rowcount)

    async def groups(self) -> Sequence[Group]:
        return [_group(r) for r in await self._conn.execute(select(groups).order_by(groups.c.name))]

    async def group(self, name: str) -> Group | None:
        row = (await self._conn.execute(select(groups).where(groups.c.name == name))).first()
        return _group(row) if row else None
