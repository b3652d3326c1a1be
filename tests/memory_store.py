"""The Store port in memory, for fast use-case tests (tests/bot): the same contract the SQL store
keeps (unique keys, versions, one transaction per job that commits whole or not at all), with
no database. tests/store runs the real SQLite and PostgreSQL stores; this one lets a test of a
use case take milliseconds.

A transaction works on a copy of the state and replaces it on success: a job that raises leaves
nothing behind, as a rolled-back transaction would.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from opslayer.bot.alerts.model import Alert, AlertStatus
from opslayer.bot.approvals.model import Approval, ApprovalStatus
from opslayer.bot.approvals.rules import Rule
from opslayer.bot.audit import AuditEvent
from opslayer.bot.commands.model import Attempt, Command, CommandStatus, Delivery
from opslayer.bot.errors import Conflict
from opslayer.bot.ids import new_id
from opslayer.bot.people.model import Group, Identity, Person, Role
from opslayer.bot.ports import (
    Agent,
    BeatUpdate,
    Conversation,
    MessageRef,
    RunFilter,
    SignInLink,
    TokenRow,
    UnitOfWork,
    WebSession,
)
from opslayer.bot.runs.model import Checkpoint, Health, Run, RunStatus

T = TypeVar("T")
_OPEN = (CommandStatus.PENDING, CommandStatus.DELIVERED)


@dataclass
class State:
    """Every table, as dicts keyed by their primary key."""

    agents: dict[str, Agent] = field(default_factory=dict)
    tokens: dict[str, tuple[str, bool]] = field(default_factory=dict)  # hash → (agent, revoked)
    people: dict[str, Person] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    checkpoints: dict[tuple[str, str], Checkpoint] = field(default_factory=dict)
    approvals: dict[str, Approval] = field(default_factory=dict)
    commands: dict[str, Command] = field(default_factory=dict)
    claimed: dict[str, datetime] = field(default_factory=dict)  # command → lease
    audit: list[AuditEvent] = field(default_factory=list)
    alerts: dict[str, Alert] = field(default_factory=dict)
    leases: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    conversations: dict[tuple[str, str], Conversation] = field(default_factory=dict)
    seen: dict[str, datetime] = field(default_factory=dict)
    rules: dict[str, tuple[Rule, datetime | None]] = field(default_factory=dict)  # → removed at
    links: dict[str, SignInLink] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    sessions: dict[str, WebSession] = field(default_factory=dict)


class _Repo:
    def __init__(self, state: State, now: datetime) -> None:
        self.s = state
        self.now = now


class Agents(_Repo):
    async def add(
        self,
        *,
        name: str,
        token_hash: str,
        webhook_secret: str,
        previous_until: datetime | None = None,
    ) -> Agent:
        existing = self.s.agents.get(name)
        agent = Agent(
            id=existing.id if existing else new_id("agt"), name=name, webhook_secret=webhook_secret
        )
        self.s.agents[name] = agent
        self.s.tokens[token_hash] = (name, False)
        return agent

    async def by_token_hash(self, token_hash: str) -> Agent | None:
        found = self.s.tokens.get(token_hash)
        return self.s.agents[found[0]] if found and not found[1] else None

    async def by_name(self, name: str) -> Agent | None:
        return self.s.agents.get(name)

    async def tokens(self) -> list[TokenRow]:
        return [
            TokenRow(agent, self.now, self.now if revoked else None, None, None, token_hash)
            for token_hash, (agent, revoked) in self.s.tokens.items()
        ]

    async def used(self, token_hash: str, *, at: datetime) -> None:
        return None

    async def revoke(self, name: str, *, token_hash: str | None = None) -> int:
        live = [
            h
            for h, (agent, revoked) in self.s.tokens.items()
            if agent == name and not revoked and token_hash in (None, h)
        ]
        for token_hash in live:
            self.s.tokens[token_hash] = (name, True)
        return len(live)


_FIELDS = ("email", "slack_user_id", "teams_user_id")


class People(_Repo):
    async def find(self, identity: Identity) -> Person | None:
        held = await self.holders(identity)
        return next(iter(held.values()), None)

    async def holders(self, identity: Identity) -> dict[str, Person]:
        found = {}
        for name in _FIELDS:
            wanted = getattr(identity, name)
            if name == "email" and wanted:
                wanted = wanted.lower()
            for person in self.s.people.values():
                if wanted and getattr(person, name) == wanted:
                    found[name] = person
        return found

    async def get(self, person_id: str) -> Person | None:
        return self.s.people.get(person_id)

    async def by_ids(self, person_ids: Sequence[str]) -> dict[str, Person]:
        return {i: self.s.people[i] for i in person_ids if i in self.s.people}

    async def add(self, person: Person) -> Person:
        stored = dataclasses.replace(person, email=person.email.lower() if person.email else None)
        for name in _FIELDS:
            value = getattr(stored, name)
            if value and any(getattr(p, name) == value for p in self.s.people.values()):
                raise Conflict(f"{name} {value} belongs to someone already")
        self.s.people[person.id] = stored
        return person

    async def everyone(self) -> Sequence[Person]:
        return sorted(self.s.people.values(), key=lambda p: p.name)

    async def update_person(self, person: Person) -> None:
        self.s.people[person.id] = person

    async def remove_person(self, person_id: str, *, at: datetime) -> None:
        self.s.people[person_id] = dataclasses.replace(self.s.people[person_id], removed=True)

    async def update_group(self, group: Group) -> None:
        self.s.groups[group.name] = group

    async def remove_group(self, name: str) -> int:
        self.s.groups.pop(name, None)
        members = [p for p in self.s.people.values() if p.group == name]
        for person in members:
            self.s.people[person.id] = dataclasses.replace(person, group=None)
        return len(members)

    async def set_role(self, person_id: str, role: Role) -> None:
        self.s.people[person_id] = dataclasses.replace(self.s.people[person_id], role=role)

    async def member_ids(self, group: str) -> list[str]:
        return [p.id for p in self.s.people.values() if p.group == group]

    async def add_group(self, group: Group) -> Group:
        self.s.groups[group.name] = group
        return group

    async def groups(self) -> Sequence[Group]:
        return sorted(self.s.groups.values(), key=lambda g: g.name)

    async def group(self, name: str) -> Group | None:
        return self.s.groups.get(name)

    async def link_chat_user(self, person_id: str, surface: str, user_id: str) -> bool:
        person = self.s.people[person_id]
        if getattr(person, f"{surface}_user_id"):
            return False
        linked: dict[str, Any] = {f"{surface}_user_id": user_id}
        self.s.people[person_id] = dataclasses.replace(person, **linked)
        return True

    async def bind_channel(
        self, surface: str, channel: str, *, person_id: str | None = None, group: str | None = None
    ) -> bool:
        bound: dict[str, Any] = {f"{surface}_channel": channel}
        if person_id is not None and person_id in self.s.people:
            self.s.people[person_id] = dataclasses.replace(self.s.people[person_id], **bound)
            return True
        if group is not None and group in self.s.groups:
            self.s.groups[group] = dataclasses.replace(self.s.groups[group], **bound)
            return True
        return False


class Runs(_Repo):
    def _whole(self, run: Run | None) -> Run | None:
        """The run with its owner as the directory has them now (the SQL store joins)."""
        if run is None:
            return None
        return dataclasses.replace(run, owner=self.s.people.get(run.owner.id, run.owner))

    async def get(self, run_id: str, *, for_update: bool = False) -> Run | None:
        return self._whole(self.s.runs.get(run_id))

    async def by_external_id(self, agent: str, external_id: str) -> Run | None:
        found = (
            r for r in self.s.runs.values() if (r.agent, r.external_id) == (agent, external_id)
        )
        return self._whole(next(found, None))

    async def add(self, run: Run) -> None:
        if await self.by_external_id(run.agent, run.external_id) is not None:
            raise Conflict(f"run {run.external_id} of {run.agent} exists")
        self.s.runs[run.id] = run

    async def update(self, run: Run, *, expected_version: int) -> bool:
        stored = self.s.runs.get(run.id)
        if stored is None or stored.version != expected_version:
            return False
        self.s.runs[run.id] = run
        return True

    async def count_open(self, agent: str) -> int:
        return sum(1 for r in self.s.runs.values() if r.agent == agent and not r.status.terminal)

    async def page(self, query: RunFilter) -> tuple[list[Run], str | None]:
        runs = [r for r in map(self._whole, self.s.runs.values()) if r is not None]
        runs = [
            r
            for r in sorted(runs, key=lambda r: r.id, reverse=True)
            if (query.status is None or r.status is query.status)
            and (query.agent is None or r.agent == query.agent)
            and (query.owner is None or query.owner in (r.owner.id, r.owner.email))
            and (query.health is None or query.health in r.health)
            and (query.cursor is None or r.id < query.cursor)
            and (query.group is None or r.owner.group == query.group)
            and (
                query.visible_to is None
                or r.owner.id in query.visible_to
                or r.pending_owner_id in query.visible_to
            )
            and (
                not query.search
                or query.search.lower() in r.title.lower()
                or query.search.lower() in r.external_id.lower()
                or query.search == r.id
            )
        ]
        more = len(runs) > query.limit
        items = runs[: query.limit]
        return items, (items[-1].id if more and items else None)

    async def apply_beats(self, beats: Sequence[BeatUpdate]) -> list[str]:
        missed = []
        for beat in beats:
            stored = self.s.runs.get(beat.run.id)
            if stored is None or stored.version != beat.version:
                missed.append(beat.run.id)
                continue
            self.s.runs[stored.id] = dataclasses.replace(
                stored,
                last_heartbeat_at=beat.run.last_heartbeat_at,
                step=beat.run.step,
                progress=beat.run.progress,
                message=beat.run.message,
                health=beat.run.health,
                next_check_at=beat.run.next_check_at,
            )
        return missed

    async def count_by_status(self) -> dict[RunStatus, int]:
        counts: dict[RunStatus, int] = {}
        for run in self.s.runs.values():
            counts[run.status] = counts.get(run.status, 0) + 1
        return counts

    async def count_by_health(self) -> dict[Health, int]:
        counts: dict[Health, int] = {}
        for run in self.s.runs.values():
            for flag in run.health:
                counts[flag] = counts.get(flag, 0) + 1
        return counts

    async def due(self, now: datetime, *, limit: int) -> list[Run]:
        due = [r for r in self.s.runs.values() if r.next_check_at and r.next_check_at <= now]
        ordered = sorted(due, key=lambda r: r.next_check_at or now)[:limit]
        return [r for r in map(self._whole, ordered) if r is not None]

    async def lapsed_handoffs(self, now: datetime) -> list[Run]:
        return [
            r
            for r in map(self._whole, self.s.runs.values())
            if r is not None and r.pending_owner_id and r.handoff_until and r.handoff_until <= now
        ]

    async def set_assessments(self, pairs: Sequence[tuple[Run, int]]) -> None:
        for run, version in pairs:
            stored = self.s.runs.get(run.id)
            if stored is not None and stored.version == version:
                self.s.runs[run.id] = dataclasses.replace(
                    stored, health=run.health, next_check_at=run.next_check_at
                )

    async def needing_attention(
        self, owner_ids: Sequence[str], *, failed_since: datetime
    ) -> list[Run]:
        waiting = (RunStatus.WAITING_APPROVAL, RunStatus.WAITING_AUTH)
        return [
            r
            for r in map(self._whole, sorted(self.s.runs.values(), key=lambda r: r.id))
            if r is not None
            and r.owner.id in owner_ids
            and (
                (not r.status.terminal and r.health)
                or r.status in waiting
                or (r.status is RunStatus.FAILED and r.status_changed_at >= failed_since)
            )
        ]


class Checkpoints(_Repo):
    async def get(self, run_id: str, checkpoint_id: str) -> Checkpoint | None:
        return self.s.checkpoints.get((run_id, checkpoint_id))

    async def add(self, checkpoint: Checkpoint) -> bool:
        key = (checkpoint.run_id, checkpoint.checkpoint_id)
        if key in self.s.checkpoints:
            return False
        self.s.checkpoints[key] = checkpoint
        return True

    async def for_run(self, run_id: str) -> list[Checkpoint]:
        found = [c for (run, _), c in self.s.checkpoints.items() if run == run_id]
        return sorted(found, key=lambda c: c.seq)


class Approvals(_Repo):
    async def get(self, approval_id: str) -> Approval | None:
        return self.s.approvals.get(approval_id)

    async def by_request_id(self, run_id: str, request_id: str) -> Approval | None:
        return next(
            (
                a
                for a in self.s.approvals.values()
                if (a.run_id, a.request_id) == (run_id, request_id)
            ),
            None,
        )

    async def add(self, approval: Approval) -> None:
        if await self.by_request_id(approval.run_id, approval.request_id) is not None:
            raise Conflict(f"approval {approval.request_id} exists")
        self.s.approvals[approval.id] = approval

    async def for_run(self, run_id: str, *, status: ApprovalStatus | None = None) -> list[Approval]:
        return sorted(
            (
                a
                for a in self.s.approvals.values()
                if a.run_id == run_id and (status is None or a.status is status)
            ),
            key=lambda a: a.id,
        )

    async def close_pending(self, run_id: str, *, status: ApprovalStatus, at: datetime) -> int:
        pending = await self.for_run(run_id, status=ApprovalStatus.PENDING)
        for approval in pending:
            self.s.approvals[approval.id] = dataclasses.replace(
                approval, status=status, decided_at=at
            )
        return len(pending)

    async def decide(self, approval: Approval) -> bool:
        stored = self.s.approvals.get(approval.id)
        if stored is None or stored.status is not ApprovalStatus.PENDING:
            return False
        self.s.approvals[approval.id] = approval
        return True

    async def count_pending(self, agent: str) -> int:
        return sum(
            1
            for a in self.s.approvals.values()
            if a.status is ApprovalStatus.PENDING
            and a.run_id in self.s.runs
            and self.s.runs[a.run_id].agent == agent
        )

    async def pending(self, *, limit: int = 500) -> list[Approval]:
        waiting = [a for a in self.s.approvals.values() if a.status is ApprovalStatus.PENDING]
        return sorted(waiting, key=lambda a: a.created_at)[:limit]

    async def past_deadline(self, now: datetime, *, limit: int = 500) -> list[Approval]:
        due = [
            a
            for a in self.s.approvals.values()
            if a.status is ApprovalStatus.PENDING and a.expires_at and a.expires_at <= now
        ]
        return sorted(due, key=lambda a: a.expires_at or now)[:limit]


class Rules(_Repo):
    async def add(self, rule: Rule) -> None:
        self.s.rules[rule.id] = (rule, None)

    async def live(self, agent: str | None = None) -> list[Rule]:
        found = [
            rule
            for rule, removed in self.s.rules.values()
            if removed is None and (agent is None or rule.agent in (agent, "*"))
        ]
        return sorted(found, key=lambda r: r.created_at or self.now)

    async def remove(self, rule_id: str, *, at: datetime) -> Rule | None:
        rule, removed = self.s.rules.get(rule_id, (None, None))
        if rule is None or removed is not None:
            return None
        self.s.rules[rule_id] = (rule, at)
        return rule


class Commands(_Repo):
    async def get(self, command_id: str, *, for_update: bool = False) -> Command | None:
        return self.s.commands.get(command_id)

    async def for_run(self, run_id: str, *, status: CommandStatus | None = None) -> list[Command]:
        return sorted(
            (
                c
                for c in self.s.commands.values()
                if c.run_id == run_id and (status is None or c.status is status)
            ),
            key=lambda c: c.id,
        )

    async def update(self, command: Command) -> None:
        key = command.open_key if command.status in _OPEN else None
        self.s.commands[command.id] = dataclasses.replace(command, open_key=key)
        self.s.claimed.pop(command.id, None)

    async def add(self, command: Command) -> None:
        if command.open_key and await self.open_with_key(command.open_key):
            raise Conflict(f"a command holds {command.open_key} already")
        self.s.commands[command.id] = command

    async def listing(
        self, *, status: CommandStatus | None = None, limit: int = 100
    ) -> list[Command]:
        ordered = sorted(self.s.commands.values(), key=lambda c: c.id, reverse=True)
        return [c for c in ordered if status is None or c.status is status][:limit]

    async def open_with_key(self, key: str) -> Command | None:
        return next((c for c in self.s.commands.values() if c.open_key == key), None)

    async def claim_due(
        self, *, now: datetime, lease_until: datetime, limit: int
    ) -> list[Delivery]:
        found = []
        for command in sorted(self.s.commands.values(), key=lambda c: c.next_attempt_at or now):
            run = self.s.runs[command.run_id]
            lease = self.s.claimed.get(command.id)
            if (
                command.status is CommandStatus.PENDING
                and command.next_attempt_at is not None
                and command.next_attempt_at <= now
                and run.webhook_url
                and (lease is None or lease < now)
            ):
                self.s.claimed[command.id] = lease_until
                secret = self.s.agents[run.agent].webhook_secret
                found.append(Delivery(command, run.webhook_url, secret))
        return found[:limit]

    async def release_claims(self) -> int:
        count = len(self.s.claimed)
        self.s.claimed.clear()
        return count

    async def mark_delivered(self, command_id: str, *, at: datetime) -> bool:
        command = self.s.commands.get(command_id)
        if command is None or command.status is not CommandStatus.PENDING:
            return False
        self.s.commands[command_id] = dataclasses.replace(
            command,
            status=CommandStatus.DELIVERED,
            attempts=command.attempts + 1,
            delivered_at=at,
            next_attempt_at=None,
            last_error=None,
        )
        self.s.claimed.pop(command_id, None)
        return True

    async def record_attempt(self, attempt: Attempt) -> None:
        self.s.attempts.append(attempt)

    async def attempts_for_run(self, run_id: str) -> list[Attempt]:
        return [a for a in self.s.attempts if a.run_id == run_id]

    async def count_by_status(self) -> dict[CommandStatus, int]:
        counts: dict[CommandStatus, int] = {}
        for command in self.s.commands.values():
            counts[command.status] = counts.get(command.status, 0) + 1
        return counts


class Audit(_Repo):
    async def add(self, event: AuditEvent) -> None:
        self.s.audit.append(dataclasses.replace(event, id=len(self.s.audit) + 1))

    async def for_run(self, run_id: str) -> list[AuditEvent]:
        return [e for e in self.s.audit if e.run_id == run_id]

    async def listing(self, *, after_id: int = 0, limit: int = 1000) -> list[AuditEvent]:
        return [e for e in self.s.audit if (e.id or 0) > after_id][:limit]


class Alerts(_Repo):
    async def add(self, alert: Alert) -> bool:
        if any(a.key == alert.key for a in self.s.alerts.values()):
            return False
        self.s.alerts[alert.id] = alert
        return True

    async def add_many(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            await self.add(alert)

    async def open_for_runs(self, run_ids: list[str]) -> dict[str, list[Alert]]:
        found: dict[str, list[Alert]] = {}
        for alert in self.s.alerts.values():
            if alert.run_id in run_ids and alert.status is not AlertStatus.RESOLVED:
                found.setdefault(alert.run_id, []).append(alert)
        return found

    async def existing_keys(self, keys: list[str]) -> set[str]:
        return {a.key for a in self.s.alerts.values() if a.key in keys}

    async def get(self, alert_id: str) -> Alert | None:
        return self.s.alerts.get(alert_id)

    async def by_key(self, key: str) -> Alert | None:
        return next((a for a in self.s.alerts.values() if a.key == key), None)

    async def update(self, alert: Alert) -> None:
        self.s.alerts[alert.id] = alert

    async def for_run(self, run_id: str) -> list[Alert]:
        found = (a for a in self.s.alerts.values() if a.run_id == run_id)
        return sorted(found, key=lambda a: a.created_at)

    async def open_for_run(self, run_id: str) -> list[Alert]:
        return sorted(
            (
                a
                for a in self.s.alerts.values()
                if a.run_id == run_id and a.status is not AlertStatus.RESOLVED
            ),
            key=lambda a: a.created_at,
        )

    async def due_follow_ups(self, now: datetime, *, limit: int) -> list[Alert]:
        due = [
            a
            for a in self.s.alerts.values()
            if a.next_action_at and a.next_action_at <= now and a.status is not AlertStatus.RESOLVED
        ]
        return sorted(due, key=lambda a: a.next_action_at or now)[:limit]

    async def to_sync(self, *, limit: int) -> list[Alert]:
        return sorted(
            (a for a in self.s.alerts.values() if a.needs_sync), key=lambda a: a.updated_at
        )[:limit]

    async def count_to_sync(self) -> int:
        return sum(a.needs_sync for a in self.s.alerts.values())

    async def synced(
        self,
        alert_id: str,
        *,
        refs: dict[str, MessageRef],
        pings_sent: dict[str, int],
        seen_update: datetime | None,
    ) -> None:
        alert = self.s.alerts[alert_id]
        in_step = seen_update is not None and alert.updated_at == seen_update
        self.s.alerts[alert_id] = dataclasses.replace(
            alert,
            message_refs=refs,
            pings_sent=pings_sent,
            needs_sync=alert.needs_sync and not in_step,
        )

    async def release_lease(self, name: str, *, holder: str) -> None:
        if name in self.s.leases and self.s.leases[name][0] == holder:
            del self.s.leases[name]

    async def take_lease(self, name: str, *, holder: str, now: datetime, until: datetime) -> bool:
        current = self.s.leases.get(name)
        if current is not None and current[0] != holder and current[1] >= now:
            return False
        self.s.leases[name] = (holder, until)
        return True


class Conversations(_Repo):
    async def remember(self, conversation: Conversation) -> None:
        key = (conversation.surface, conversation.conversation_id)
        self.s.conversations[key] = dataclasses.replace(conversation, seen_at=self.now)

    async def get(self, surface: str, conversation_id: str) -> Conversation | None:
        return self.s.conversations.get((surface, conversation_id))

    async def personal(self, surface: str, user_id: str) -> Conversation | None:
        return next(
            (
                c
                for c in self.s.conversations.values()
                if c.surface == surface and c.user_id == user_id and c.kind == "personal"
            ),
            None,
        )

    async def latest(self, surface: str) -> Conversation | None:
        found = [c for c in self.s.conversations.values() if c.surface == surface]
        return max(found, key=lambda c: c.seen_at or self.now, default=None)

    async def forget(self, surface: str, conversation_id: str) -> None:
        self.s.conversations.pop((surface, conversation_id), None)

    async def listing(self, surface: str) -> list[Conversation]:
        return [c for c in self.s.conversations.values() if c.surface == surface]


class Seen(_Repo):
    async def remember(self, key: str, *, at: datetime) -> bool:
        if key in self.s.seen:
            return False
        self.s.seen[key] = at
        return True

    async def forget_before(self, moment: datetime) -> int:
        old = [k for k, at in self.s.seen.items() if at < moment]
        for key in old:
            del self.s.seen[key]
        return len(old)


class Sessions(_Repo):
    async def add_link(self, link: SignInLink) -> None:
        self.s.links[link.token_hash] = link

    async def link(self, token_hash: str) -> SignInLink | None:
        return self.s.links.get(token_hash)

    async def take_link(self, token_hash: str, *, now: datetime) -> SignInLink | None:
        link = self.s.links.get(token_hash)
        if link is None or link.used_at is not None or link.expires_at <= now:
            return None
        self.s.links[token_hash] = dataclasses.replace(link, used_at=now)
        return self.s.links[token_hash]

    async def add_session(self, session: WebSession) -> None:
        self.s.sessions[session.token_hash] = session

    async def session(self, token_hash: str) -> WebSession | None:
        return self.s.sessions.get(token_hash)

    async def end(self, token_hash: str, *, at: datetime) -> None:
        if token_hash in self.s.sessions:
            self.s.sessions[token_hash] = dataclasses.replace(
                self.s.sessions[token_hash], ended_at=at
            )


class Retention(_Repo):
    async def ended_before(self, moment: datetime, *, limit: int) -> list[str]:
        return [
            r.id for r in self.s.runs.values() if r.status.terminal and r.status_changed_at < moment
        ][:limit]

    async def count_ended_before(self, moment: datetime) -> dict[str, int]:
        return {"runs": len(await self.ended_before(moment, limit=10**9))}

    async def purge(self, run_ids: Sequence[str], *, audit: bool) -> dict[str, int]:
        for run_id in run_ids:
            self.s.runs.pop(run_id, None)
        return {"runs": len(run_ids)}


class MemoryUnitOfWork:
    def __init__(self, state: State, now: datetime) -> None:
        self.agents = Agents(state, now)
        self.people = People(state, now)
        self.runs = Runs(state, now)
        self.checkpoints = Checkpoints(state, now)
        self.approvals = Approvals(state, now)
        self.commands = Commands(state, now)
        self.audit = Audit(state, now)
        self.alerts = Alerts(state, now)
        self.conversations = Conversations(state, now)
        self.seen = Seen(state, now)
        self.rules = Rules(state, now)
        self.sessions = Sessions(state, now)
        self.retention = Retention(state, now)


class MemoryStore:
    """The Store port over `State`; each job commits whole (its copy replaces the state)."""

    def __init__(self, clock: Any) -> None:
        self.state = State()
        self._clock = clock

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[UnitOfWork]:
        working = copy.deepcopy(self.state)
        yield MemoryUnitOfWork(working, self._clock.now())
        self.state = working  # reached only when the block did not raise

    @asynccontextmanager
    async def read(self) -> AsyncIterator[UnitOfWork]:
        yield MemoryUnitOfWork(copy.deepcopy(self.state), self._clock.now())

    async def run(self, job: Callable[[UnitOfWork], Awaitable[T]], *, urgent: bool = False) -> T:
        async with self.transaction() as uow:
            return await job(uow)
