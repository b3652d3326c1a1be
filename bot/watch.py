"""The watch: scan due runs for trouble, raise and resolve alerts, follow them up (reminders,
escalation), expire approvals, build digests, and keep the chat surfaces in step."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from opslayer.bot.audience import target_of
from opslayer.bot.domain.alerts import (
    Alert,
    AlertKind,
    AlertStatus,
    FollowUp,
    digest_key,
    finding_key,
    first_action_at,
    follow_up,
    resolve,
)
from opslayer.bot.domain.models import SYSTEM, AuditEvent, Run
from opslayer.bot.domain.policy import detect, health_of, next_check_at
from opslayer.bot.domain.status import ApprovalStatus, RunStatus
from opslayer.bot.ids import new_id
from opslayer.bot.ports import ChatNotifier, Clock, Store, UnitOfWork
from opslayer.bot.run_writes import save_run
from opslayer.bot.views import DigestLine, alert_view, digest_view

log = logging.getLogger("opslayer.watch")
SCAN_BATCH = 500


@dataclass(frozen=True, slots=True)
class ScanReport:
    """What one scan did."""

    scanned: int = 0
    raised: int = 0
    resolved: int = 0
    skipped: bool = False  # another replica holds the scan lease


def render(alert: Alert) -> dict[str, Any]:
    """The alert's view as the surfaces show it now: content plus its state."""
    view = dict(alert.payload.get("view", {}))
    view["state"] = alert.status.value
    view["alert_id"] = alert.id  # a surface's buttons name it, to answer with the card as it is
    for extra in ("resolution", "confirmed", "acknowledged"):
        if extra in alert.payload:
            view[extra] = alert.payload[extra]
    return view


def new_alert(
    kind: AlertKind,
    key: str,
    run: Run,
    *,
    target: dict[str, Any],
    view: dict[str, Any],
    now: datetime,
) -> Alert:
    """A fresh ledger row, to be posted at once and followed up on the run's policy."""
    return Alert(
        id=new_id("ntf"),
        key=key,
        kind=kind,
        status=AlertStatus.OPEN,
        target=target,
        payload={"view": view, "pings": []},
        created_at=now,
        updated_at=now,
        run_id=run.id,
        next_action_at=first_action_at(run, now),
    )


class Watch:
    """The scheduler's jobs, each a thin call here; every effect is a ledger row first."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        notifiers: list[ChatNotifier],
        admins_target: dict[str, Any] | None = None,
        holder: str | None = None,
        lease_s: float = 60.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._notifiers = notifiers
        self._admins = admins_target or {}
        self._holder = holder or new_id("proc")
        self._lease = timedelta(seconds=lease_s)
        self._syncing = asyncio.Lock()  # one sync at a time in this process, too
        self.last_scan_s = 0.0  # how long the last scan took (a metric)

    async def scan(self) -> ScanReport:
        """Look at every run that is due (the index, not a sweep), raise what is new, resolve
        what cleared. Only the replica holding the scan lease works; keys make it safe anyway.

        Everything is read and written in a few set-wide statements, so a scan costs a handful
        of round trips however many runs are due (up to SCAN_BATCH), and none for the rest."""

        async def job(uow: UnitOfWork) -> ScanReport:
            now = self._clock.now()
            if not await uow.alerts.take_lease(
                "scan", holder=self._holder, now=now, until=now + self._lease
            ):
                return ScanReport(skipped=True)
            due = await uow.runs.due(now, limit=SCAN_BATCH)
            if not due:
                return ScanReport()
            findings = {run.id: detect(run, now) for run in due}
            keys = {run.id: {finding_key(run.id, f): f for f in findings[run.id]} for run in due}
            open_alerts = await uow.alerts.open_for_runs([run.id for run in due])
            existing = await uow.alerts.existing_keys([k for ks in keys.values() for k in ks])
            owners = await uow.people.by_ids(list({run.owner.id for run in due}))
            groups = {g.name: g for g in await uow.people.groups()}
            fresh: list[Alert] = []
            assessments = []
            resolved = 0
            for run in due:
                for alert in open_alerts.get(run.id, []):
                    if alert.kind in _FINDING_KINDS and alert.key not in keys[run.id]:
                        await uow.alerts.update(
                            resolve(alert, now=now, resolution=_cleared(alert.kind, run))
                        )
                        resolved += 1
                new = {k: f for k, f in keys[run.id].items() if k not in existing}
                if new:
                    owner = owners.get(run.owner.id)
                    group = groups.get(owner.group) if owner is not None and owner.group else None
                    target = target_of(run, owner, group, admins=self._admins)
                for key, finding in new.items():
                    kind = AlertKind(finding.kind.value)
                    where = (
                        {**self._admins, "mention": target["mention"]}
                        if kind is AlertKind.UNOWNED
                        else target
                    )
                    fresh.append(
                        new_alert(
                            kind,
                            key,
                            run,
                            target=where,
                            view=alert_view(kind, run, now=now),
                            now=now,
                        )
                    )
                    detail = {"finding": kind.value, "since": finding.since.isoformat()}
                    await uow.audit.add(AuditEvent("alert.raised", now, SYSTEM, run.id, detail))
                health = health_of(findings[run.id])
                moment = next_check_at(run, now)
                if health != run.health or moment != run.next_check_at:
                    assessments.append(
                        (dataclasses.replace(run, health=health, next_check_at=moment), run.version)
                    )
            await uow.alerts.add_many(fresh)
            await uow.runs.set_assessments(assessments)
            return ScanReport(scanned=len(due), raised=len(fresh), resolved=resolved)

        began = time.perf_counter()
        report = await self._store.run(job)
        self.last_scan_s = time.perf_counter() - began
        return report

    async def follow_ups(self) -> int:
        """Remind, escalate, or reopen the alerts that are due; resolve those that cleared."""

        async def job(uow: UnitOfWork) -> int:
            now = self._clock.now()
            done = 0
            for alert in await uow.alerts.due_follow_ups(now, limit=SCAN_BATCH):
                run = await uow.runs.get(alert.run_id) if alert.run_id else None
                if run is None:
                    await uow.alerts.update(resolve(alert, now=now, resolution="the run is gone"))
                    continue
                if not await _still_true(uow, alert, run, now):
                    await uow.alerts.update(
                        resolve(alert, now=now, resolution=_cleared(alert.kind, run))
                    )
                    continue
                action, after = follow_up(alert, run, now)
                if action is FollowUp.REMIND:
                    after = _ping(
                        after, "reminder", after.target, alert_view(alert.kind, run, now=now)
                    )
                elif action is FollowUp.ESCALATE:
                    escalation = alert.target.get("escalation") or self._admins
                    after = _ping(
                        after, "escalation", escalation, alert_view(alert.kind, run, now=now)
                    )
                    detail = {"alert": alert.kind.value, "to": escalation}
                    await uow.audit.add(AuditEvent("alert.escalated", now, SYSTEM, run.id, detail))
                await uow.alerts.update(after)
                done += action is not None
            return done

        return await self._store.run(job)

    async def lapse_handoffs(self) -> int:
        """Offers nobody accepted in time go back to the owner, and the message says so."""

        async def job(uow: UnitOfWork) -> int:
            now = self._clock.now()
            lapsed = await uow.runs.lapsed_handoffs(now)
            for run in lapsed:
                back = dataclasses.replace(run, pending_owner_id=None, handoff_until=None)
                if await save_run(uow, run, back, now) is None:
                    continue
                detail = {"offered_to": run.pending_owner_id}
                await uow.audit.add(AuditEvent("run.handoff_lapsed", now, SYSTEM, run.id, detail))
                for alert in await uow.alerts.open_for_run(run.id):
                    if alert.kind is AlertKind.HANDOFF:
                        note = f"not accepted in time: it stays with {run.owner.name}"
                        await uow.alerts.update(resolve(alert, now=now, resolution=note))
            return len(lapsed)

        return await self._store.run(job)

    async def expire_approvals(self) -> int:
        """Approvals past `expires_at` expire; their alerts say so."""

        async def job(uow: UnitOfWork) -> int:
            now = self._clock.now()
            expired = await uow.approvals.expire_due(now)
            for approval in expired:
                detail = {"approval_id": approval.id, "title": approval.title}
                await uow.audit.add(
                    AuditEvent("approval.expired", now, SYSTEM, approval.run_id, detail)
                )
                alert = await uow.alerts.by_key(f"approval:{approval.id}")
                if alert is not None and alert.status is not AlertStatus.RESOLVED:
                    await uow.alerts.update(
                        resolve(alert, now=now, resolution="expired without a decision")
                    )
            return len(expired)

        return await self._store.run(job)

    async def digest(self, *, groups: set[str] | None = None, zone: str = "UTC") -> int:
        """Queue today's digest for each group channel (or the named groups); at most one per
        channel and day, whichever replica gets there first. Returns how many were queued."""

        async def job(uow: UnitOfWork) -> int:
            now = self._clock.now()
            day = now.astimezone(ZoneInfo(zone)).date().isoformat()
            people = await uow.people.everyone()
            queued = 0
            for group in await uow.people.groups():
                channel = group.slack_channel or group.teams_channel
                if channel is None or (groups is not None and group.name not in groups):
                    continue
                members = {p.id: p.name for p in people if p.group == group.name}
                runs = await uow.runs.needing_attention(
                    list(members), failed_since=now - timedelta(days=1)
                )
                sections = digest_sections(runs, members, now)
                if not runs and not group.all_clear:
                    continue
                view = digest_view(group.name, day, sections)
                target = {"slack": group.slack_channel, "teams": group.teams_channel}
                alert = Alert(
                    id=new_id("ntf"),
                    key=digest_key(channel, day),
                    kind=AlertKind.DIGEST,
                    status=AlertStatus.RESOLVED,
                    target=target,
                    payload={"view": view, "pings": []},
                    created_at=now,
                    updated_at=now,
                    resolved_at=now,
                )
                if await uow.alerts.add(alert):
                    queued += 1
            return queued

        return await self._store.run(job)

    async def behind(self) -> int:
        """Alerts the chat surfaces have not caught up with (it grows while one is down)."""
        async with self._store.read() as uow:
            return await uow.alerts.count_to_sync()

    async def sync(self, limit: int = 100) -> int:
        """Bring the chat surfaces in step with the ledger: post, update, send reminders.

        Returns how many alerts were brought in step; one a surface failed on stays behind
        (its progress kept) and is tried again on the next round. Only the replica holding the
        `notify` lease posts, so two replicas never post the same message twice."""

        async def leased(uow: UnitOfWork) -> list[Alert]:
            now = self._clock.now()
            if not await uow.alerts.take_lease(
                "notify", holder=self._holder, now=now, until=now + self._lease
            ):
                return []
            return await uow.alerts.to_sync(limit=limit)

        async with self._syncing:
            return await self._sync(await self._store.run(leased))

    async def _sync(self, pending: list[Alert]) -> int:
        done = 0
        # A surface that failed once this round is not tried again until the next one: an
        # outage of one (each call timing out and retried) must not hold up the others.
        down: set[str] = set()
        for alert in pending:
            refs = dict(alert.message_refs)
            failed = False
            for notifier in self._notifiers:
                if notifier.name in down:
                    failed = True
                    continue
                try:
                    await self._sync_one(notifier, alert, refs)
                except Exception:  # a surface that is down is retried on the next round
                    failed = True
                    down.add(notifier.name)
                    log.exception("%s: could not sync alert %s", notifier.name, alert.id)
            seen = alert.updated_at if not failed else None

            async def job(
                uow: UnitOfWork,
                alert: Alert = alert,
                refs: dict[str, Any] = refs,
                seen: datetime | None = seen,
            ) -> None:
                await uow.alerts.synced(alert.id, refs=refs, seen_update=seen)

            await self._store.run(job)
            done += not failed
        return done

    async def _sync_one(self, notifier: ChatNotifier, alert: Alert, refs: dict[str, Any]) -> None:
        view = render(alert)
        main = refs.get(notifier.name)
        if main is None and (
            alert.status is not AlertStatus.RESOLVED or alert.kind is AlertKind.DIGEST
        ):
            posted = await notifier.post(alert.target, view)
            refs[notifier.name] = posted if posted is not None else {}
        elif main:
            await notifier.update(main, view)
        sent_key = f"{notifier.name}:pings"
        pings = alert.payload.get("pings", [])
        for ping in pings[refs.get(sent_key, 0) :]:
            # The ping's facts are fresher; the alert gives what its buttons act on (approval,
            # alert id), so a click on a reminder works like one on the first message.
            await notifier.post(ping["target"], {**view, **ping["view"], "ping": ping["kind"]})
            refs[sent_key] = refs.get(sent_key, 0) + 1


_FINDING_KINDS = frozenset(
    {
        AlertKind.STUCK,
        AlertKind.APPROVAL_OVERDUE,
        AlertKind.STALE,
        AlertKind.AUTH_EXPIRED,
        AlertKind.AUTH_EXPIRING,
        AlertKind.UNDELIVERED,
        AlertKind.UNOWNED,
    }
)


async def _still_true(uow: UnitOfWork, alert: Alert, run: Run, now: datetime) -> bool:
    if alert.kind in _FINDING_KINDS:
        return alert.key in {finding_key(run.id, f) for f in detect(run, now)}
    if alert.kind is AlertKind.HANDOFF:
        return run.pending_owner_id is not None
    if alert.kind is AlertKind.APPROVAL:
        approval = await uow.approvals.get(
            alert.payload.get("view", {}).get("approval", {}).get("id", "")
        )
        return approval is not None and approval.status is ApprovalStatus.PENDING
    return not run.status.terminal


def _ping(alert: Alert, kind: str, target: dict[str, Any], view: dict[str, Any]) -> Alert:
    pings = [*alert.payload.get("pings", []), {"kind": kind, "target": target, "view": view}]
    return dataclasses.replace(alert, payload={**alert.payload, "pings": pings}, needs_sync=True)


SECTIONS = ("stuck", "stale", "waiting for approval", "auth-blocked", "failed in the last day")


def digest_sections(
    runs: list[Run], owners: dict[str, str], now: datetime
) -> dict[str, dict[str, list[DigestLine]]]:
    """Runs sorted into the digest's sections, each grouped by owner (a run may be in several)."""
    sections: dict[str, dict[str, list[DigestLine]]] = {name: {} for name in SECTIONS}
    for run in runs:
        health = {h.value for h in run.health}
        names = []
        if "stuck" in health:
            names.append("stuck")
        if "stale" in health:
            names.append("stale")
        if run.status is RunStatus.WAITING_APPROVAL:
            names.append("waiting for approval")
        if run.status is RunStatus.WAITING_AUTH or "auth_expired" in health:
            names.append("auth-blocked")
        if run.status is RunStatus.FAILED:
            names.append("failed in the last day")
        line = DigestLine(run.id, run.title, run.status.value, sorted(health), _since(run, now))
        for name in names:
            sections[name].setdefault(owners.get(run.owner.id, run.owner.name), []).append(line)
    return sections


def _since(run: Run, now: datetime) -> str:
    hours = int((now - run.status_changed_at).total_seconds() // 3600)
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"


def _cleared(kind: AlertKind, run: Run) -> str:
    if run.status.terminal:
        return f"the run {run.status.value}"
    return {
        AlertKind.STUCK: "the agent is alive again",
        AlertKind.APPROVAL_OVERDUE: "decided",
        AlertKind.STALE: f"the run is {run.status.value} again",
        AlertKind.AUTH_EXPIRED: "credentials renewed",
        AlertKind.AUTH_EXPIRING: "credentials renewed",
        AlertKind.UNDELIVERED: "the command was delivered",
        AlertKind.UNOWNED: "the run has an owner",
    }.get(kind, "cleared")
