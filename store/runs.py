"""The run repository: runs with their owner and memory references."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    and_,
    bindparam,
    func,
    insert,
    literal_column,
    or_,
    select,
    union_all,
    update,
)

from opslayer.bot.people.model import OwnerClaim, Person
from opslayer.bot.ports import BeatUpdate, RunFilter
from opslayer.bot.runs.model import (
    Channel,
    Context,
    Health,
    MemoryRef,
    MemoryScope,
    Policy,
    Run,
    RunStatus,
)
from opslayer.store.db import Db
from opslayer.store.tables import agents, groups, memory_refs, people, runs

_SELECT = select(
    runs,
    agents.c.name.label("agent_name"),
    people.c.name.label("owner_name"),
    people.c.email.label("owner_email"),
    people.c.slack_user_id.label("owner_slack"),
    people.c.teams_user_id.label("owner_teams"),
    people.c.removed_at.label("owner_removed_at"),
).select_from(
    runs.join(agents, runs.c.agent_id == agents.c.id).join(people, runs.c.owner_id == people.c.id)
)


_MUTABLE = (
    "title",
    "status",
    "owner_id",
    "channel_slack",
    "channel_teams",
    "webhook_url",
    "step",
    "progress",
    "message",
    "reason",
    "error",
    "attempt",
    "last_heartbeat_at",
    "auth_expires_at",
    "health",
    "next_check_at",
    "updated_at",
    "status_changed_at",
    "version",
    "pending_owner_id",
    "handoff_until",
    "decided_at",
)
# Built once: a statement built per call costs more to cache-key than to run.
_BY_ID = _SELECT.where(runs.c.id == bindparam("run_id"))
_BY_ID_LOCKED = _BY_ID.with_for_update(of=runs)
_MEMORY = (
    select(memory_refs)
    .where(memory_refs.c.run_id.in_(bindparam("run_ids", expanding=True)))
    .order_by(memory_refs.c.key)
)
_UPDATE = (
    update(runs)
    .where(runs.c.id == bindparam("b_id"), runs.c.version == bindparam("b_expected"))
    .values({name: bindparam(name) for name in _MUTABLE})
)
_BEAT = (
    update(runs)
    .where(runs.c.id == bindparam("b_id"), runs.c.version == bindparam("b_expected"))
    .values(
        {
            name: bindparam(name)
            for name in (
                "last_heartbeat_at",
                "step",
                "progress",
                "message",
                "health",
                "next_check_at",
            )
        }
    )
)


# Bound parameters per statement stay far below SQLite's and asyncpg's limits (32,766).
_BEATS_PER_STATEMENT = 500


def _beat_values(beat: BeatUpdate) -> dict[str, Any]:
    run = beat.run
    return {
        "b_id": run.id,
        "b_expected": beat.version,
        "last_heartbeat_at": run.last_heartbeat_at,
        "step": run.step,
        "progress": run.progress,
        "message": run.message,
        "health": [h.value for h in run.health],
        "next_check_at": run.next_check_at,
    }


_HEALTH_TEXT = func.cast(runs.c.health, type_=runs.c.title.type)
# A member's page walks each visible person's runs (owned, offered) up to this many people.
_WALKS_AT_MOST = 100
# Runs with any health flag: few, even among millions (only open runs carry flags), and read
# through the partial index of them, whose condition this is, word for word (a literal, so
# both databases see that the index applies).
_HAS_FLAGS = _HEALTH_TEXT != literal_column("'[]'")  # noqa: SIM300 (the index's own order)
FLAGGED = runs.c.id.in_(select(runs.c.id).where(_HAS_FLAGS))
_ASSESSMENT = (
    update(runs)
    .where(runs.c.id == bindparam("b_id"), runs.c.version == bindparam("b_expected"))
    .values(health=bindparam("health"), next_check_at=bindparam("next_check_at"))
)


def _filters(query: RunFilter) -> list[ColumnElement[bool]]:
    """The query's filters as conditions on `runs` alone (names resolved in subqueries), so
    each can be met through an index on runs that is ordered by id."""
    where: list[ColumnElement[bool]] = []
    if query.status is not None:
        where.append(runs.c.status == query.status.value)
    if query.agent is not None:
        agent = select(agents.c.id).where(agents.c.name == query.agent).scalar_subquery()
        where.append(runs.c.agent_id == agent)
    if query.owner is not None:
        owner = select(people.c.id).where(
            or_(people.c.id == query.owner, people.c.email == query.owner.lower())
        )
        where.append(runs.c.owner_id.in_(owner))
    if query.health is not None:
        # health is a short JSON list of flag names; every flag is a distinct word. Asked
        # apart from the page's order (by id), so the database reads the flagged runs' index
        # instead of walking every run for a rare flag.
        flag = _HEALTH_TEXT.like(f'%"{query.health.value}"%')
        flagged = select(runs.c.id).where(_HAS_FLAGS, flag)
        where.append(runs.c.id.in_(flagged))
    if query.group is not None:
        members = (
            select(people.c.id)
            .join(groups, people.c.group_id == groups.c.id)
            .where(groups.c.name == query.group)
        )
        where.append(runs.c.owner_id.in_(members))
    if query.search:
        pattern = "%" + query.search.replace("\\", "").replace("%", "").replace("_", "") + "%"
        # A run id pasted from chat or a log finds its run too.
        where.append(
            or_(
                runs.c.title.ilike(pattern),
                runs.c.external_id.ilike(pattern),
                runs.c.id == query.search,
            )
        )
    return where


def _run_from_row(row: Row[Any], memory: tuple[MemoryRef, ...]) -> Run:
    m = row._mapping
    return Run(
        id=m["id"],
        external_id=m["external_id"],
        agent=m["agent_name"],
        title=m["title"],
        status=RunStatus(m["status"]),
        owner=Person(
            id=m["owner_id"],
            name=m["owner_name"],
            email=m["owner_email"],
            slack_user_id=m["owner_slack"],
            teams_user_id=m["owner_teams"],
            removed=m["owner_removed_at"] is not None,
        ),
        channel=Channel(slack=m["channel_slack"], teams=m["channel_teams"]),
        webhook_url=m["webhook_url"],
        policy=Policy(**m["policy"]),
        context=Context(thread_id=m["thread_id"], memory=memory),
        labels=dict(m["labels"]),
        step=m["step"],
        progress=m["progress"],
        message=m["message"],
        reason=m["reason"],
        error=m["error"],
        attempt=m["attempt"],
        last_heartbeat_at=m["last_heartbeat_at"],
        auth_expires_at=m["auth_expires_at"],
        health=tuple(Health(h) for h in m["health"]),
        next_check_at=m["next_check_at"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        status_changed_at=m["status_changed_at"],
        version=m["version"],
        pending_owner_id=m["pending_owner_id"],
        handoff_until=m["handoff_until"],
        decided_at=m["decided_at"],
        owner_claim=_claim(m["owner_claim"]),
    )


def _claim(stored: dict[str, Any] | None) -> OwnerClaim | None:
    if stored is None:
        return None
    return OwnerClaim(
        email=stored.get("email"),
        slack_user_id=stored.get("slack_user_id"),
        teams_user_id=stored.get("teams_user_id"),
        name=stored.get("name"),
        unverified=tuple(stored.get("unverified", ())),
    )


def _claim_column(claim: OwnerClaim | None) -> dict[str, Any] | None:
    if claim is None:
        return None
    return {
        "email": claim.email,
        "slack_user_id": claim.slack_user_id,
        "teams_user_id": claim.teams_user_id,
        "name": claim.name,
        "unverified": list(claim.unverified),
    }


def _mutable_columns(run: Run) -> dict[str, Any]:
    return {
        "title": run.title,
        "status": run.status.value,
        "owner_id": run.owner.id,
        "channel_slack": run.channel.slack,
        "channel_teams": run.channel.teams,
        "webhook_url": run.webhook_url,
        "step": run.step,
        "progress": run.progress,
        "message": run.message,
        "reason": run.reason,
        "error": run.error,
        "attempt": run.attempt,
        "last_heartbeat_at": run.last_heartbeat_at,
        "auth_expires_at": run.auth_expires_at,
        "health": [h.value for h in run.health],
        "next_check_at": run.next_check_at,
        "updated_at": run.updated_at,
        "status_changed_at": run.status_changed_at,
        "version": run.version,
        "pending_owner_id": run.pending_owner_id,
        "handoff_until": run.handoff_until,
        "decided_at": run.decided_at,
    }


class SqlRunRepository:
    """Runs in SQL; reads join the agent and owner so a Run comes back whole."""

    def __init__(self, conn: Db) -> None:
        self._conn = conn

    async def _memory(self, run_ids: Sequence[str]) -> dict[str, tuple[MemoryRef, ...]]:
        if not run_ids:
            return {}
        rows = await self._conn.execute(_MEMORY, {"run_ids": list(run_ids)})
        found: dict[str, list[MemoryRef]] = {}
        for r in rows:
            ref = MemoryRef(key=r.key, scope=MemoryScope(r.scope), updated_at=r.updated_at)
            found.setdefault(r.run_id, []).append(ref)
        return {k: tuple(v) for k, v in found.items()}

    async def _whole(self, row: Row[Any] | None) -> Run | None:
        if row is None:
            return None
        memory = await self._memory([row.id])
        return _run_from_row(row, memory.get(row.id, ()))

    async def get(self, run_id: str, *, for_update: bool = False) -> Run | None:
        query = _BY_ID_LOCKED if for_update else _BY_ID
        return await self._whole((await self._conn.execute(query, {"run_id": run_id})).first())

    async def by_external_id(self, agent: str, external_id: str) -> Run | None:
        query = _SELECT.where(agents.c.name == agent, runs.c.external_id == external_id)
        return await self._whole((await self._conn.execute(query)).first())

    async def add(self, run: Run) -> None:
        agent_id = (
            await self._conn.execute(select(agents.c.id).where(agents.c.name == run.agent))
        ).scalar_one()
        await self._conn.execute(
            insert(runs).values(
                id=run.id,
                agent_id=agent_id,
                external_id=run.external_id,
                created_at=run.created_at,
                policy={
                    "heartbeat_timeout_s": run.policy.heartbeat_timeout_s,
                    "stale_after_s": run.policy.stale_after_s,
                    "approval_reminder_s": run.policy.approval_reminder_s,
                    "escalate_after_s": run.policy.escalate_after_s,
                },
                thread_id=run.context.thread_id,
                labels=run.labels,
                owner_claim=_claim_column(run.owner_claim),
                **_mutable_columns(run),
            )
        )
        if run.context.memory:
            await self._conn.execute(
                insert(memory_refs),
                [
                    {
                        "run_id": run.id,
                        "key": m.key,
                        "scope": m.scope.value,
                        "updated_at": m.updated_at,
                    }
                    for m in run.context.memory
                ],
            )

    async def update(self, run: Run, *, expected_version: int) -> bool:
        """Write the run if it is still at `expected_version`; False when it moved on."""
        values = _mutable_columns(run)
        values.update(b_id=run.id, b_expected=expected_version)
        return (await self._conn.execute(_UPDATE, values)).rowcount == 1

    async def apply_beats(self, beats: Sequence[BeatUpdate]) -> list[str]:
        """Write coalesced heartbeats; return the ids whose run moved on since (not written).

        Two statements per chunk, whatever its size: the versions read (locked) at once, then one
        executemany. One statement per beat would await the driver once per beat, and on a busy
        event loop each await waits its turn: 100 beats took a second under load."""
        missed: list[str] = []
        for start in range(0, len(beats), _BEATS_PER_STATEMENT):
            chunk = beats[start : start + _BEATS_PER_STATEMENT]
            rows = await self._conn.execute(
                select(runs.c.id, runs.c.version)
                .where(runs.c.id.in_([beat.run.id for beat in chunk]))
                .order_by(runs.c.id)  # rows locked in one order by every replica: no deadlock
                .with_for_update()
            )
            versions: dict[str, int] = {row.id: row.version for row in rows}
            fit = [beat for beat in chunk if versions.get(beat.run.id) == beat.version]
            missed += [beat.run.id for beat in chunk if versions.get(beat.run.id) != beat.version]
            if fit:
                await self._conn.execute(_BEAT, [_beat_values(beat) for beat in fit])
        return missed

    async def needing_attention(
        self, owner_ids: Sequence[str], *, failed_since: datetime
    ) -> list[Run]:
        """The owners' runs a digest lists: open with a problem or waiting, or failed lately."""
        if not owner_ids:
            return []
        waiting = [s.value for s in (RunStatus.WAITING_APPROVAL, RunStatus.WAITING_AUTH)]
        open_statuses = [s.value for s in RunStatus if not s.terminal]
        query = _SELECT.where(
            runs.c.owner_id.in_(list(owner_ids)),
            or_(
                and_(
                    runs.c.status.in_(open_statuses),
                    func.cast(runs.c.health, type_=runs.c.title.type) != "[]",
                ),
                runs.c.status.in_(waiting),
                and_(
                    runs.c.status == RunStatus.FAILED.value,
                    runs.c.status_changed_at >= failed_since,
                ),
            ),
        ).order_by(runs.c.id)
        rows = list(await self._conn.execute(query))
        return [_run_from_row(r, ()) for r in rows]

    async def set_assessments(self, pairs: Sequence[tuple[Run, int]]) -> None:
        """Write health and next check of many runs, each only if still at its version."""
        if pairs:
            await self._conn.execute(
                _ASSESSMENT,
                [
                    {
                        "b_id": r.id,
                        "b_expected": v,
                        "health": [h.value for h in r.health],
                        "next_check_at": r.next_check_at,
                    }
                    for r, v in pairs
                ],
            )

    async def lapsed_handoffs(self, now: datetime) -> list[Run]:
        """Runs offered to a new owner who did not accept in time."""
        query = _SELECT.where(runs.c.handoff_until <= now, runs.c.pending_owner_id.is_not(None))
        return [_run_from_row(r, ()) for r in await self._conn.execute(query)]

    async def due(self, now: datetime, *, limit: int) -> list[Run]:
        """Runs some policy may fire for by now, through the next_check_at index."""
        query = (
            _SELECT.where(runs.c.next_check_at <= now).order_by(runs.c.next_check_at).limit(limit)
        )
        rows = list(await self._conn.execute(query))
        memory = await self._memory([r.id for r in rows])
        return [_run_from_row(r, memory.get(r.id, ())) for r in rows]

    async def page(self, query: RunFilter) -> tuple[list[Run], str | None]:
        """Newest first, from `query.cursor` on: a keyset page that costs the same at a
        million runs whatever the filters (each walks an index in id order), but a search."""
        where = _filters(query)
        if query.cursor is not None:
            where.append(runs.c.id < query.cursor)
        stmt = _SELECT.order_by(runs.c.id.desc()).limit(query.limit + 1)
        if query.visible_to is None:
            stmt = stmt.where(*where)
        elif len(query.visible_to) > _WALKS_AT_MOST:
            # A group this large: one walk, newest first (SQLite takes 500 SELECTs in a UNION).
            stmt = stmt.where(
                or_(
                    runs.c.owner_id.in_(query.visible_to),
                    runs.c.pending_owner_id.in_(query.visible_to),
                ),
                *where,
            )
        else:
            # What a member sees: runs owned by or offered to a few people. Asked as one OR,
            # both databases walk every run newest first, and for someone with few runs that
            # is every run; so each person's newest runs are read through their own index,
            # and the page is the newest of those.
            newest = [
                select(runs.c.id)
                .where(column == person, *where)
                .order_by(runs.c.id.desc())
                .limit(query.limit + 1)
                .subquery()
                for column in (runs.c.owner_id, runs.c.pending_owner_id)
                for person in query.visible_to
            ]
            stmt = stmt.where(runs.c.id.in_(union_all(*(select(n.c.id) for n in newest))))
        rows = list(await self._conn.execute(stmt))
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        memory = await self._memory([r.id for r in rows])
        items = [_run_from_row(r, memory.get(r.id, ())) for r in rows]
        return items, (items[-1].id if more and items else None)

    async def count_by_health(self) -> dict[Health, int]:
        """How many runs carry each health flag (reads only those, through their index)."""
        counts: dict[Health, int] = {}
        for row in await self._conn.execute(select(runs.c.health).where(FLAGGED)):
            for flag in row.health:
                counts[Health(flag)] = counts.get(Health(flag), 0) + 1
        return counts

    async def count_open(self, agent: str) -> int:
        query = (
            select(func.count())
            .select_from(runs.join(agents, runs.c.agent_id == agents.c.id))
            .where(
                agents.c.name == agent,
                runs.c.status.in_([s.value for s in RunStatus if not s.terminal]),
            )
        )
        return int((await self._conn.execute(query)).scalar_one())

    async def count_by_status(self) -> dict[RunStatus, int]:
        query = select(runs.c.status, func.count().label("n")).group_by(runs.c.status)
        rows = await self._conn.execute(query)
        return {RunStatus(row.status): int(row.n) for row in rows}
