"""What the operator console reads that no use case needs: its inbox, per-agent figures, and a
stamp that changes whenever a run (or anything) does, for live pages. Reads only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, select

from opslayer.bot.alerts.kinds import AlertKind
from opslayer.bot.alerts.model import AlertStatus
from opslayer.bot.commands.model import CommandKind, CommandStatus
from opslayer.bot.runs.model import LIVE, TERMINAL, RunStatus
from opslayer.store.db import Db
from opslayer.store.runs import FLAGGED
from opslayer.store.tables import (
    agent_tokens,
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
_LIVE_RUNS = tuple(s.value for s in LIVE)
_TERMINAL_RUNS = tuple(s.value for s in TERMINAL)
# An agent's checklist is read from its latest runs: what it does now, at a bounded cost.
RECENT_RUNS = 1000


@dataclass(frozen=True, slots=True)
class AgentSummary:
    """One agent's line on /agents."""

    name: str
    runs: int
    by_status: dict[str, int]
    flagged: int  # open runs with any health flag
    last_seen_at: datetime | None  # a request carried its token (to the minute)


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
class Outcomes:
    """Runs that something happened to, and how they ended since."""

    runs: int
    succeeded: int = 0
    ended_otherwise: int = 0  # failed or canceled

    @property
    def still_open(self) -> int:
        return self.runs - self.succeeded - self.ended_otherwise


@dataclass(frozen=True, slots=True)
class AgentFacts:
    """What opslayer has observed of one agent, for its page and the operator checklist: its
    run counts and open runs' health over all its runs, the rest over its latest runs."""

    summary: AgentSummary
    window: int  # how many of its latest runs the rest is read from
    deliveries: Deliveries
    heartbeating_runs: int  # runs that sent at least one heartbeat
    heartbeat_gaps_s: list[float]  # seconds since the last beat, of runs still going
    silences: Outcomes  # runs that went silent past their heartbeat timeout (stuck alerts)
    runs_with_checkpoints: int
    checkpoints: int
    side_effects: int
    unsafe_side_effects: int
    unowned_runs: int  # owner removed, or the owner claim unverified
    recovered: Outcomes  # runs flagged stuck or stale
    retried: Outcomes  # runs a retry was issued for
    overridden: Outcomes  # runs canceled, paused or force-canceled from outside the agent
    decided_automatically: int  # approvals decided by a deadline or a rule
    by_health: dict[str, int] = field(default_factory=dict)  # open runs
    example_runs: dict[str, str] = field(default_factory=dict)  # evidence → a run id


class ConsoleQueries:
    """SQL for the console over one read connection."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def inbox_alert_ids(
        self,
        *,
        visible_to: Sequence[str] | None,
        approving: frozenset[str] = frozenset(),
        kind: AlertKind | None = None,
        agent: str | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> tuple[list[str], int]:
        """Open alerts about runs (not digests), oldest first, and how many there are: about
        runs owned by or offered to `visible_to` (everyone's when None) or that `approving`
        names (runs whose approval one may decide)."""
        where = [alerts.c.status.in_(_OPEN), alerts.c.kind != AlertKind.DIGEST.value]
        if kind is not None:
            where.append(alerts.c.kind == kind.value)
        source = alerts.join(runs, alerts.c.run_id == runs.c.id)
        if agent is not None:
            source = source.join(agents, runs.c.agent_id == agents.c.id)
            where.append(agents.c.name == agent)
        if visible_to is not None:
            where.append(
                or_(
                    runs.c.owner_id.in_(visible_to),
                    runs.c.pending_owner_id.in_(visible_to),
                    alerts.c.run_id.in_(approving),
                )
            )
        ids = select(alerts.c.id).select_from(source).where(*where)
        total = select(func.count()).select_from(source).where(*where)
        page = ids.order_by(alerts.c.created_at, alerts.c.id).limit(limit).offset(offset)
        rows = await self._db.execute(page)
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
        """Each agent's runs by status (only the named agent's, when given), counted through
        the (agent, status) index; its flagged runs through theirs."""
        named = [agents.c.name == name] if name is not None else []
        counts = (
            select(agents.c.name, runs.c.status, func.count(runs.c.agent_id).label("n"))
            .select_from(agents.outerjoin(runs, runs.c.agent_id == agents.c.id))
            .where(*named)
            .group_by(agents.c.name, runs.c.status)
        )
        flagged = (
            select(agents.c.name, func.count().label("n"))
            .select_from(agents.join(runs, runs.c.agent_id == agents.c.id))
            .where(*named, FLAGGED)
            .group_by(agents.c.name)
        )
        seen = (
            select(agents.c.name, func.max(agent_tokens.c.last_used_at).label("at"))
            .select_from(agents.join(agent_tokens, agent_tokens.c.agent_id == agents.c.id))
            .where(*named)
            .group_by(agents.c.name)
        )
        by_status: dict[str, dict[str, int]] = {}
        for row in await self._db.execute(counts):
            statuses = by_status.setdefault(row.name, {})
            if row.status is not None:
                statuses[row.status] = int(row.n)
        flags = {row.name: int(row.n) for row in await self._db.execute(flagged)}
        last_seen = {row.name: row.at for row in await self._db.execute(seen)}
        return [
            AgentSummary(
                name=agent,
                runs=sum(statuses.values()),
                by_status=statuses,
                flagged=flags.get(agent, 0),
                last_seen_at=last_seen.get(agent),
            )
            for agent, statuses in sorted(by_status.items())
        ]

    async def agent_facts(self, name: str, *, now: datetime) -> AgentFacts | None:
        """Everything the agent page and its checklist show, from what was observed: counts
        and flags over all its runs, the rest over its latest RECENT_RUNS (what it does now, at
        a cost that does not grow with its history)."""
        summary = next(iter(await self.agents(name)), None)
        if summary is None:
            return None
        agent_id = select(agents.c.id).where(agents.c.name == name).scalar_subquery()
        mine = runs.c.agent_id == agent_id
        latest = (
            select(runs.c.id).where(mine).order_by(runs.c.id.desc()).limit(RECENT_RUNS).subquery()
        )
        run_ids = select(latest.c.id)
        example: dict[str, str] = {}

        deliveries = await self._deliveries(run_ids)

        heartbeating = 0
        gaps: list[float] = []
        for beat in await self._db.execute(
            select(runs.c.id, runs.c.status, runs.c.last_heartbeat_at).where(
                runs.c.id.in_(run_ids), runs.c.last_heartbeat_at.is_not(None)
            )
        ):
            heartbeating += 1
            example.setdefault("heartbeat", beat.id)
            if beat.status in _LIVE_RUNS:
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
                .where(
                    runs.c.id.in_(run_ids),
                    or_(people.c.removed_at.is_not(None), runs.c.owner_claim.is_not(None)),
                )
            )
            # a claim naming identities that are not the owner's own
            if row.removed_at is not None or (row.owner_claim or {}).get("unverified")
        ]
        if unowned_rows:
            example["unowned"] = unowned_rows[0]

        def alerted(*kinds: AlertKind) -> Any:
            return select(alerts.c.run_id).where(
                alerts.c.run_id.in_(run_ids), alerts.c.kind.in_([k.value for k in kinds])
            )

        silences = await self._outcomes(alerted(AlertKind.STUCK), example, "silent")
        recovered = await self._outcomes(
            alerted(AlertKind.STUCK, AlertKind.STALE), example, "flagged"
        )
        retried = await self._outcomes(
            select(commands.c.run_id).where(
                commands.c.run_id.in_(run_ids), commands.c.kind == CommandKind.RETRY.value
            ),
            example,
            "retried",
        )
        overridden = await self._outcomes(
            select(commands.c.run_id)
            .where(
                commands.c.run_id.in_(run_ids),
                commands.c.kind.in_((CommandKind.CANCEL.value, CommandKind.PAUSE.value)),
            )
            .union(
                select(audit_events.c.run_id).where(
                    audit_events.c.run_id.in_(run_ids),
                    audit_events.c.action == "run.force_canceled",
                )
            ),
            example,
            "overridden",
        )
        automatic = (
            await self._db.execute(
                select(func.count()).where(
                    audit_events.c.run_id.in_(run_ids),
                    audit_events.c.action.like("approval.%"),
                    audit_events.c.via.in_(("timeout", "rule")),
                )
            )
        ).scalar_one()
        health: dict[str, int] = {}
        for (flags,) in await self._db.execute(select(runs.c.health).where(mine, FLAGGED)):
            for flag in flags:
                health[flag] = health.get(flag, 0) + 1
        return AgentFacts(
            summary=summary,
            window=min(summary.runs, RECENT_RUNS),
            deliveries=deliveries,
            heartbeating_runs=heartbeating,
            heartbeat_gaps_s=gaps,
            silences=silences,
            runs_with_checkpoints=int(points[1] or 0),
            checkpoints=int(points[0] or 0),
            side_effects=effects,
            unsafe_side_effects=unsafe,
            unowned_runs=len(unowned_rows),
            recovered=recovered,
            retried=retried,
            overridden=overridden,
            decided_automatically=int(automatic),
            by_health=health,
            example_runs=example,
        )

    async def _deliveries(self, run_ids: Any) -> Deliveries:
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
        return Deliveries(
            attempts=int(row[0] or 0),
            delivered=int(row[1] or 0),
            last_error=last_error.error if last_error else None,
            last_error_at=last_error.at if last_error else None,
            undelivered_commands=int(undelivered),
        )

    async def _outcomes(self, run_ids: Any, example: dict[str, str], key: str) -> Outcomes:
        """How the runs `run_ids` selects stand now; one of them kept as evidence."""
        ended = await self._db.execute(
            select(runs.c.status, func.count().label("n"), func.min(runs.c.id).label("one"))
            .where(runs.c.id.in_(run_ids))
            .group_by(runs.c.status)
        )
        total = succeeded = otherwise = 0
        for row in ended:
            total += int(row.n)
            example.setdefault(key, row.one)
            if row.status == RunStatus.SUCCEEDED.value:
                succeeded += int(row.n)
            elif row.status in _TERMINAL_RUNS:
                otherwise += int(row.n)
        return Outcomes(total, succeeded, otherwise)
