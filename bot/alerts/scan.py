"""The scanner: looks at every run that is due, raises what is new, resolves what cleared, and
follows open alerts up (reminds, escalates, reopens). Every effect is a ledger row first; the
chat surfaces catch up with the ledger afterwards (bot.alerts.sync)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from opslayer.bot.alerts.keys import alert_key
from opslayer.bot.alerts.kinds import SCANNED, AlertKind, cleared
from opslayer.bot.alerts.ledger import new_alert, with_ping
from opslayer.bot.alerts.model import Alert, FollowUp, follow_up, resolve
from opslayer.bot.approvals.model import ApprovalStatus
from opslayer.bot.audit import SYSTEM, AuditEvent
from opslayer.bot.ids import new_id
from opslayer.bot.people.audience import target_of
from opslayer.bot.ports import Clock, Store, UnitOfWork
from opslayer.bot.runs.health import Detected, detect, health_of, next_check_at
from opslayer.bot.runs.model import Run, RunStatus
from opslayer.bot.views.alerts import alert_view
from opslayer.bot.views.model import Escalation, escalation_target, is_digest

SCAN_BATCH = 500


@dataclass(frozen=True, slots=True)
class ScanReport:
    """What one scan did."""

    scanned: int = 0
    raised: int = 0
    resolved: int = 0
    skipped: bool = False  # another replica holds the scan lease


def _key(run: Run, detected: Detected) -> str:
    return alert_key(detected.kind, run_id=run.id, since=detected.since)


class Scanner:
    """Raises and resolves the scanner's alerts, and follows every open alert up. Only the
    replica holding the scan lease scans; keys make a race harmless anyway."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        admins: Escalation | None = None,
        holder: str | None = None,
        lease_s: float = 60.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._admins: Escalation = admins or {}
        self._holder = holder or new_id("proc")
        self._lease = timedelta(seconds=lease_s)
        self.last_scan_s = 0.0  # how long the last scan took (a metric)
        self.scans = 0  # scans this process ran (skipped ones too: the lease was elsewhere)
        self.last_scan_at: datetime | None = None  # when the last one ended: a metric

    async def release(self) -> None:
        """At shutdown: let a peer (or this process, restarted) take over at once."""
        await self._store.run(lambda uow: uow.alerts.release_lease("scan", holder=self._holder))

    async def scan(self) -> ScanReport:
        """Look at every run that is due (the index, not a sweep), raise what is new, resolve
        what cleared.

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
            detected = {run.id: detect(run, now) for run in due}
            keys = {run.id: {_key(run, d): d for d in detected[run.id]} for run in due}
            open_alerts = await uow.alerts.open_for_runs([run.id for run in due])
            existing = await uow.alerts.existing_keys([k for ks in keys.values() for k in ks])
            owners = await uow.people.by_ids(list({run.owner.id for run in due}))
            groups = {g.name: g for g in await uow.people.groups()}
            fresh: list[Alert] = []
            assessments = []
            resolved = 0
            for run in due:
                for alert in open_alerts.get(run.id, []):
                    if alert.kind in SCANNED and alert.key not in keys[run.id]:
                        done = resolve(alert, now=now, resolution=cleared(alert.kind, run))
                        await uow.alerts.update(done)
                        resolved += 1
                # An approval's own message reminds and escalates: an "overdue" alert beside it
                # would only say the same twice.
                asking = any(a.kind is AlertKind.APPROVAL for a in open_alerts.get(run.id, []))
                new = {
                    k: d
                    for k, d in keys[run.id].items()
                    if k not in existing and not (asking and d.kind is AlertKind.APPROVAL_OVERDUE)
                }
                if new:
                    owner = owners.get(run.owner.id)
                    group = groups.get(owner.group) if owner is not None and owner.group else None
                    target = target_of(run, owner, group, admins=self._admins)
                for key, found in new.items():
                    where = (
                        escalation_target(self._admins, target["mention"])
                        if found.kind is AlertKind.UNOWNED
                        else target
                    )
                    view = alert_view(found.kind, run, now=now)
                    fresh.append(new_alert(found.kind, key, run, target=where, view=view, now=now))
                    detail = {"finding": found.kind.value, "since": found.since.isoformat()}
                    await uow.audit.add(AuditEvent("alert.raised", now, SYSTEM, run.id, detail))
                health = health_of(detected[run.id])
                moment = next_check_at(run, now)
                if moment == now and run.auth_expires_at is not None:
                    moment = run.auth_expires_at  # warned (now or before): next, the expiry
                if health != run.health or moment != run.next_check_at:
                    assessed = dataclasses.replace(run, health=health, next_check_at=moment)
                    assessments.append((assessed, run.version))
            await uow.alerts.add_many(fresh)
            await uow.runs.set_assessments(assessments)
            return ScanReport(scanned=len(due), raised=len(fresh), resolved=resolved)

        began = time.perf_counter()
        report = await self._store.run(job, urgent=True)
        self.last_scan_s = time.perf_counter() - began
        self.scans += 1
        self.last_scan_at = self._clock.now()
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
                    resolution = cleared(alert.kind, run)
                    await uow.alerts.update(resolve(alert, now=now, resolution=resolution))
                    continue
                action, after = follow_up(alert, run, now)
                view = alert_view(alert.kind, run, now=now)
                if action is FollowUp.REMIND:
                    after = with_ping(after, "reminder", after.target, view)
                elif action is FollowUp.ESCALATE:
                    escalation = alert.target.get("escalation") or self._admins
                    where = escalation_target(escalation)
                    after = with_ping(after, "escalation", where, view)
                    detail = {"alert": alert.kind.value, "to": {**where}}
                    await uow.audit.add(AuditEvent("alert.escalated", now, SYSTEM, run.id, detail))
                await uow.alerts.update(after)
                done += action is not None
            return done

        return await self._store.run(job, urgent=True)


async def _still_true(uow: UnitOfWork, alert: Alert, run: Run, now: datetime) -> bool:
    if alert.kind in SCANNED:
        return alert.key in {_key(run, d) for d in detect(run, now)}
    if alert.kind is AlertKind.HANDOFF:
        return run.pending_owner_id is not None
    if alert.kind is AlertKind.FAILED:
        return alert.key == alert_key(AlertKind.FAILED, run_id=run.id, attempt=run.attempt) and (
            run.status is RunStatus.FAILED
        )
    if alert.kind is AlertKind.APPROVAL:
        view = alert.payload["view"]
        approval_id = "" if is_digest(view) or "approval" not in view else view["approval"]["id"]
        approval = await uow.approvals.get(approval_id)
        return approval is not None and approval.status is ApprovalStatus.PENDING
    return not run.status.terminal
