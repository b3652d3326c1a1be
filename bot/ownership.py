"""Who answers for a run: offering it to someone else, accepting it, taking its alerts."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from opslayer.bot.acting import Acting, Decision, actor_of
from opslayer.bot.audience import audience
from opslayer.bot.domain.alerts import Alert, AlertKind, AlertStatus, acknowledge, resolve
from opslayer.bot.domain.commands import check_command
from opslayer.bot.domain.models import AuditEvent, Identity, Person
from opslayer.bot.domain.status import CommandKind, Via
from opslayer.bot.errors import Conflict, NotAuthorized, ValidationFailed
from opslayer.bot.ports import UnitOfWork
from opslayer.bot.run_writes import save_run_or_conflict
from opslayer.bot.views import alert_view
from opslayer.bot.watch import new_alert


class Ownership(Acting):
    """Reassign (an offer the new owner accepts), accept, and acknowledge a run's alerts."""

    async def reassign(
        self,
        run_id: str,
        *,
        person: Person,
        via: Via,
        new_owner: Identity,
        reason: str | None = None,
    ) -> Alert:
        """Offer the run to another known person; until they accept, the owner stays responsible.

        Both are told: the new owner gets the offer with an Accept button, the old owner a note.
        An offer nobody accepts within the run's escalate_after_s lapses."""
        actor = actor_of(person, via)

        async def job(uow: UnitOfWork) -> Alert:
            now = self._clock.now()
            run = await self._run(uow, run_id)
            self._allow(person, run, "reassign")
            check_command(run, CommandKind.REASSIGN)
            owner = await uow.people.find(new_owner)
            if owner is None or owner.removed:
                raise ValidationFailed(
                    f"{new_owner.display_name()} is not a known person: "
                    "add them with 'opslayer people add'"
                )
            if owner.id == run.owner.id:
                raise ValidationFailed(f"{owner.name} already owns run {run_id}")
            until = now + timedelta(seconds=run.policy.escalate_after_s)
            offered = dataclasses.replace(run, pending_owner_id=owner.id, handoff_until=until)
            await save_run_or_conflict(uow, run, offered, now)
            detail = {"from": run.owner.id, "to": owner.id, "until": until.isoformat()}
            await uow.audit.add(
                AuditEvent("run.handoff_offered", now, actor, run_id, detail, reason)
            )
            as_new_owner = dataclasses.replace(run, owner=owner)
            view = alert_view(AlertKind.HANDOFF, run, now=now)
            view["offered_by"] = person.name
            view["reason"] = reason
            alert = new_alert(
                AlertKind.HANDOFF,
                f"handoff:{run_id}:{now.isoformat()}",
                run,
                target=await audience(uow, as_new_owner, admins={}),
                view=view,
                now=now,
            )
            note = alert_view(AlertKind.HANDOFF, run, now=now)
            note["headline"] = (
                f"{run.title} is offered to {owner.name}; it stays yours until they accept"
            )
            note["actions"] = ["details"]  # the offer is theirs to accept, not the owner's
            old_owner = await audience(uow, run, admins={})
            alert = dataclasses.replace(
                alert,
                next_action_at=until,
                payload={
                    **alert.payload,
                    "pings": [{"kind": "handoff", "target": old_owner, "view": note}],
                },
            )
            await uow.alerts.add(alert)
            return alert

        return await self._audited(
            person=person, via=via, action="reassign", run_id=run_id, job=job
        )

    async def accept_ownership(self, run_id: str, *, person: Person, via: Via) -> Decision:
        """The person a run was offered to takes it; the agent is told who owns it now."""
        actor = actor_of(person, via)

        async def job(uow: UnitOfWork) -> Decision:
            now = self._clock.now()
            run = await self._run(uow, run_id)
            if run.pending_owner_id != person.id:
                raise NotAuthorized(
                    actor=person.name,
                    action="accept",
                    target=f"run {run_id}: it was not offered to them",
                )
            taken = dataclasses.replace(
                run, owner=person, pending_owner_id=None, handoff_until=None
            )
            moved = await save_run_or_conflict(uow, run, taken, now)
            detail = {"from": run.owner.id, "to": person.id}
            await uow.audit.add(AuditEvent("run.reassigned", now, actor, run_id, detail))
            for alert in await uow.alerts.open_for_run(run_id):
                if alert.kind is AlertKind.HANDOFF:
                    await uow.alerts.update(
                        resolve(
                            alert,
                            now=now,
                            resolution=f"Accepted by {person.name} at {now:%H:%M} UTC",
                        )
                    )
            new = {"id": person.id, "name": person.name, "email": person.email}
            command = await self._enqueue(
                uow,
                run=moved,
                kind=CommandKind.REASSIGN,
                actor=actor,
                now=now,
                reason=None,
                new_owner=new,
            )
            return Decision(command)

        return await self._audited(person=person, via=via, action="accept", run_id=run_id, job=job)

    async def acknowledge(self, run_id: str, *, person: Person, via: Via) -> list[Alert]:
        """Take the run's open alerts: escalation waits until the acknowledgement times out."""
        actor = actor_of(person, via)

        async def job(uow: UnitOfWork) -> list[Alert]:
            now = self._clock.now()
            run = await self._run(uow, run_id)
            self._allow(person, run, "acknowledge")
            taken = []
            for alert in await uow.alerts.open_for_run(run_id):
                if alert.status is AlertStatus.OPEN and alert.kind is not AlertKind.APPROVAL:
                    acked = acknowledge(alert, person_id=person.id, now=now)
                    note = f"Acknowledged by {person.name} at {now:%H:%M} UTC"
                    acked = dataclasses.replace(
                        acked, payload={**acked.payload, "acknowledged": note}
                    )
                    await uow.alerts.update(acked)
                    taken.append(acked)
            if not taken:
                raise Conflict(f"run {run_id} has no open alert to acknowledge")
            detail = {"alerts": [a.kind.value for a in taken]}
            await uow.audit.add(AuditEvent("alert.acknowledged", now, actor, run_id, detail))
            return taken

        return await self._audited(
            person=person, via=via, action="acknowledge", run_id=run_id, job=job
        )
