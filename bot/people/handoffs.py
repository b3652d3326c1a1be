"""Ownership handoffs: a run is offered to someone else, who accepts it (the agent is told); an
offer nobody accepts in time lapses. Until then the owner stays responsible."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from opslayer.bot.alerts.keys import alert_key
from opslayer.bot.alerts.kinds import AlertKind
from opslayer.bot.alerts.ledger import new_alert, with_ping
from opslayer.bot.alerts.model import Alert, resolve
from opslayer.bot.audit import SYSTEM, AuditEvent, Via, actor_of
from opslayer.bot.commands.issuing import Decision, enqueue
from opslayer.bot.commands.model import CommandKind, NewOwner
from opslayer.bot.commands.rules import check_command
from opslayer.bot.errors import NotAuthorized, ValidationFailed
from opslayer.bot.people.acting import Acting
from opslayer.bot.people.audience import audience
from opslayer.bot.people.model import Identity, Person
from opslayer.bot.ports import UnitOfWork
from opslayer.bot.runs.saving import save_run, save_run_or_conflict
from opslayer.bot.views.alerts import alert_view, handoff_note, mention_of, stamp
from opslayer.bot.views.model import Handoff


class Handoffs:
    """Reassign (an offer the new owner accepts), accept, and lapse offers nobody accepted."""

    def __init__(self, acting: Acting) -> None:
        self._acting = acting

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
        acting = self._acting
        actor = actor_of(person, via)

        async def job(uow: UnitOfWork) -> Alert:
            now = acting.clock.now()
            run = await acting.locked_run(uow, run_id)
            acting.allow(person, run, "reassign")
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
            handoff: Handoff = {
                "to": mention_of(owner),
                "by": person.name,
                "reason": reason,
                "until": stamp(until),
            }
            view = alert_view(AlertKind.HANDOFF, run, now=now, handoff=handoff)
            alert = new_alert(
                AlertKind.HANDOFF,
                alert_key(AlertKind.HANDOFF, run_id=run_id, offer=run.version),
                run,
                target=await audience(uow, dataclasses.replace(run, owner=owner), admins={}),
                view=view,
                now=now,
            )
            # The offer is theirs to accept: the owner gets a note, without an Accept button.
            note = handoff_note(view, run)
            alert = with_ping(alert, "handoff", await audience(uow, run, admins={}), note)
            alert = dataclasses.replace(
                alert, next_action_at=until, payload={**alert.payload, "handoff": handoff}
            )
            await uow.alerts.add(alert)
            return alert

        return await acting.audited(
            person=person, via=via, action="reassign", run_id=run_id, job=job
        )

    async def accept(self, run_id: str, *, person: Person, via: Via) -> Decision:
        """The person a run was offered to takes it; the agent is told who owns it now."""
        acting = self._acting
        actor = actor_of(person, via)

        async def job(uow: UnitOfWork) -> Decision:
            now = acting.clock.now()
            run = await acting.locked_run(uow, run_id)
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
                    note = f"Accepted by {person.name}"
                    await uow.alerts.update(resolve(alert, now=now, resolution=note))
            new: NewOwner = {"id": person.id, "name": person.name, "email": person.email}
            return await enqueue(
                uow,
                run=moved,
                kind=CommandKind.REASSIGN,
                actor=actor,
                now=now,
                reason=None,
                new_owner=new,
            )

        return await acting.audited(person=person, via=via, action="accept", run_id=run_id, job=job)

    async def lapse(self) -> int:
        """Offers nobody accepted in time go back to the owner, and the message says so."""
        acting = self._acting

        async def job(uow: UnitOfWork) -> int:
            now = acting.clock.now()
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

        return await acting.store.run(job)
