"""What the operator console reads that no use case needs: its inbox, per-agent figures, and a
stamp that changes whenever a run (or anything) does, for live pages. Reads only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select

from opslayer.bot.alerts.kinds import AlertKind
from opslayer.bot.alerts.model import AlertStatus
from opslayer.bot.commands.model import CommandKind, CommandStatus
from opslayer.store.db import Db
from opslayer.store.tables import (
    agents,
    alerts,
    audit_events,
    checkpoints,
    commands,
    delivery_attempts,
    people,
    runs,
)

_OPEN = (AlertStatus.OPEN.value, AlertStatus.ACKNOWLEDGED.value)


@dataclass(frozen=True, slots=True)
class AgentSummary:
    """One agent's line on /agents."""

    name: str
    runs: int
    by_status: dict[str, int]
    flagged: int  # runs with any health flag
    last_heartbeat_at: datetime | None


@dataclass(frozen=True, slots=True)
class Deliveries:
    """How an agent's webhook has answered."""

    attempts: int
    delivered: int
    last_error: str | None
    last_error_at: datetime | None
    undelivered_commands: int

    @property
    def success_rate(self) -> float | None:
        return self.delivered / self.attempts if self.attempts else None


@dataclass(frozen=True, slots=True)
class AgentFacts:
    """What opslayer has observed of one agent, for its page and the operator checklist."""

    summary: AgentSummary
    deliveries: Deliveries
    heartbeating_runs: int  # runs that sent at least one heartbeat
    heartbeat_gaps_s: list[float]  # seconds since the last beat, of runs still going
    runs_with_checkpoints: int
    checkpoints: int
    side_effects: int
    unsafe_side_effects: int
    unowned_runs: int  # owner removed, or the owner claim unverified
    retried: int  # retry commands issued
    retried_ok: int  # runs retried that then succeeded
    overridden: int  # force-cancels and approvals decided by someone other than the owner
    recovered: int  # runs flagged stuck or stale that later succeeded
    by_health: dict[str, int] = field(default_factory=dict)
    example_runs: dict[str, str] = field(default_factory=dict)  # evidence → a run id


class ConsoleQueries:
    """SQL for the console over one read connection."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def inbox_alert_ids(
        self,
        *,
        visible_to: Sequence[str] | None,
        kind: AlertKind | None = None,
        agent: str | None = None,
        run_ids: frozenset[str] | None = None,
        limit: int = 200,
    ) -> tuple[list[str], int]:
        """Open alerts about runs (not digests), oldest first, and how many there are."""
        where = [alerts.c.status.in_(_OPEN), alerts.c.kind != AlertKind.DIGEST.value]
        if kind is not None:
            where.append(alerts.c.kind == kind.value)
        source = alerts.join(runs, alerts.c.run_id == runs.c.id)
        if agent is not None:
            source = source.join(agents, runs.c.agent_id == agents.c.id)
            where.append(agents.c.name == agent)
        if visible_to is not None:
            where.append(
                or_(runs.c.owner_id.in_(visible_to), runs.c.pending_owner_id.in_(visible_to))
            )
        if run_ids is not None:
            where.append(alerts.c.run_id.in_(run_ids))
        ids = select(alerts.c.id).select_from(source).where(*where)
        total = select(func.count()).select_from(source).where(*where)
        rows = await self._db.execute(ids.order_by(alerts.c.created_at).limit(limit))
        count = (await self._db.execute(total)).scalar_one()
        return [row.id for row in rows], int(count)

    async def stamp(self, run_id: str | None = None) -> str:
        """Changes whenever the run (or, without one, anything audited or alerted) changes."""
        if run_id is not None:
            version = select(runs.c.version).where(runs.c.id == run_id).scalar_subquery()
            last = (
                select(func.max(audit_events.c.id))
                .where(audit_events.c.run_id == run_id)
                .scalar_subquery()
            )
            attempts = (
                select(func.count())
                .select_from(delivery_attempts)
                .where(delivery_attempts.c.run_id == run_id)
                .scalar_subquery()
            )
            row: Any = (await self._db.execute(select(version, last, attempts))).one()
            return f"{row[0]}:{row[1]}:{row[2]}"
        last = select(func.max(audit_events.c.id)).scalar_subquery()
        changed = select(func.max(alerts.c.updated_at)).scalar_subquery()
        latest: Any = (await self._db.execute(select(last, changed))).one()
        return f"{latest[0]}:{latest[1]}"

    async def agent_names(self) -> list[str]:
        """Every agent's name, for the inbox's filter (no runs read)."""
        query = select(agents.c.name).order_by(agents.c.name)
        return [row.name for row in await self._db.execute(query)]

    async def agents(self, name: str | None = None) -> list[AgentSummary]:
        """Each agent's runs by status (only the named agent's, when given)."""
        query = (
            select(
                agents.c.name,
                runs.c.status,
                func.count(runs.c.id).label("n"),
                func.sum(
                    case((func.length(func.cast(runs.c.health, runs.c.title.type)) > 2, 1), else_=0)
                ).label("flagged"),
                func.max(runs.c.last_heartbeat_at).label("beat"),
            )
            .select_from(agents.outerjoin(runs, runs.c.agent_id == agents.c.id))
            .group_by(agents.c.name, runs.c.status)
        )
        if name is not None:
            query = query.where(agents.c.name == name)
        found: dict[str, AgentSummary] = {}
        for row in await self._db.execute(query):
            summary = found.get(row.name) or AgentSummary(row.name, 0, {}, 0, None)
            by_status = dict(summary.by_status)
            if row.status is not None:
                by_status[row.status] = int(row.n)
            beats = [b for b in (summary.last_heartbeat_at, row.beat) if b is not None]
            found[row.name] = AgentSummary(
                name=row.name,
                runs=summary.runs + int(row.n),
                by_status=by_status,
                flagged=summary.flagged + int(row.flagged or 0),
                last_heartbeat_at=max(beats) if beats else None,
            )
        return sorted(found.values(), key=lambda s: s.name)

    async def agent_facts(self, name: str, *, now: datetime) -> AgentFacts | None:
        """Everything the agent page and its checklist show, from what was observed."""
        summary = next(iter(await self.agents(name)), None)
        if summary is None:
            return None
        agent_id = select(agents.c.id).where(agents.c.name == name).scalar_subquery()
        mine = runs.c.agent_id == agent_id
        run_ids = select(runs.c.id).where(mine)

        row: Any = (
            await self._db.execute(
                select(
                    func.count(delivery_attempts.c.id),
                    func.sum(case((delivery_attempts.c.delivered, 1), else_=0)),
                ).where(delivery_attempts.c.run_id.in_(run_ids))
            )
        ).one()
        last_error = (
            await self._db.execute(
                select(delivery_attempts.c.error, delivery_attempts.c.at)
                .where(
                    delivery_attempts.c.run_id.in_(run_ids),
                    delivery_attempts.c.delivered.is_(False),
                )
                .order_by(delivery_attempts.c.id.desc())
                .limit(1)
            )
        ).first()
        undelivered = (
            await self._db.execute(
                select(func.count()).where(
                    commands.c.run_id.in_(run_ids),
                    commands.c.status == CommandStatus.UNDELIVERED.value,
                )
            )
        ).scalar_one()
        deliveries = Deliveries(
            attempts=int(row[0] or 0),
            delivered=int(row[1] or 0),
            last_error=last_error.error if last_error else None,
            last_error_at=last_error.at if last_error else None,
            undelivered_commands=int(undelivered),
        )

        beats = await self._db.execute(
            select(runs.c.id, runs.c.status, runs.c.last_heartbeat_at).where(
                mine, runs.c.last_heartbeat_at.is_not(None)
            )
        )
        heartbeating = 0
        gaps: list[float] = []
        example: dict[str, str] = {}
        for beat in beats:
            heartbeating += 1
            example.setdefault("heartbeat", beat.id)
            if beat.status in ("queued", "running"):
                gaps.append((now - beat.last_heartbeat_at).total_seconds())

        points: Any = (
            await self._db.execute(
                select(
                    func.count(checkpoints.c.id),
                    func.count(func.distinct(checkpoints.c.run_id)),
                    func.min(checkpoints.c.run_id),
                ).where(checkpoints.c.run_id.in_(run_ids))
            )
        ).one()
        if points[2]:
            example["checkpoint"] = points[2]
        effects = 0
        unsafe = 0
        for (declared,) in await self._db.execute(
            select(checkpoints.c.side_effects).where(
                checkpoints.c.run_id.in_(run_ids),
                func.length(func.cast(checkpoints.c.side_effects, runs.c.title.type)) > 2,
            )
        ):
            effects += len(declared)
            unsafe += sum(1 for e in declared if not e.get("idempotent", True))

        unowned_rows = [
            row.id
            for row in await self._db.execute(
                select(runs.c.id, people.c.removed_at, runs.c.owner_claim)
                .select_from(runs.join(people, runs.c.owner_id == people.c.id))
                .where(mine, or_(people.c.removed_at.is_not(None), runs.c.owner_claim.is_not(None)))
            )
            # a claim naming identities that are not the owner's own
            if row.removed_at is not None or (row.owner_claim or {}).get("unverified")
        ]
        if unowned_rows:
            example["unowned"] = unowned_rows[0]

        retry_runs = select(commands.c.run_id).where(
            commands.c.run_id.in_(run_ids), commands.c.kind == CommandKind.RETRY.value
        )
        retried = (
            await self._db.execute(select(func.count()).select_from(retry_runs.subquery()))
        ).scalar_one()
        retried_ok = (
            await self._db.execute(
                select(func.count(func.distinct(runs.c.id))).where(
                    runs.c.id.in_(retry_runs), runs.c.status == "succeeded"
                )
            )
        ).scalar_one()
        first_retry = (await self._db.execute(retry_runs.limit(1))).first()
        if first_retry:
            example["retried"] = first_retry.run_id
        overridden = (
            await self._db.execute(
                select(func.count()).where(
                    audit_events.c.run_id.in_(run_ids),
                    or_(
                        audit_events.c.action == "run.force_canceled",
                        and_(
                            audit_events.c.action.like("approval.%"),
                            audit_events.c.via.in_(("timeout", "rule")),
                        ),
                    ),
                )
            )
        ).scalar_one()
        flagged_then_ok = (
            select(func.count(func.distinct(alerts.c.run_id)))
            .select_from(alerts.join(runs, alerts.c.run_id == runs.c.id))
            .where(
                mine,
                alerts.c.kind.in_((AlertKind.STUCK.value, AlertKind.STALE.value)),
                runs.c.status == "succeeded",
            )
        )
        recovered = (await self._db.execute(flagged_then_ok)).scalar_one()
        health: dict[str, int] = {}
        for (flags,) in await self._db.execute(
            select(runs.c.health).where(
                mine, func.length(func.cast(runs.c.health, runs.c.title.type)) > 2
            )
        ):
            for flag in flags:
                health[flag] = health.get(flag, 0) + 1
        return AgentFacts(
            summary=summary,
            deliveries=deliveries,
            heartbeating_runs=heartbeating,
            heartbeat_gaps_s=gaps,
            runs_with_checkpoints=int(points[1] or 0),
            checkpoints=int(points[0] or 0),
            side_effects=effects,
            unsafe_side_effects=unsafe,
            unowned_runs=len(unowned_rows),
            retried=int(retried),
            retried_ok=int(retried_ok),
            overridden=int(overridden),
            recovered=int(recovered),
            by_health=health,
            example_runs=example,
        )
