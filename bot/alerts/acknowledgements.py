"""Taking a run's alerts: someone is on it, so escalation waits until the acknowledgement times
out (PagerDuty's rule); the message says who took it."""

from __future__ import annotations

import dataclasses

from opslayer.bot.alerts.kinds import AlertKind
from opslayer.bot.alerts.model import Alert, AlertStatus, acknowledge, resolve
from opslayer.bot.audit import AuditEvent, Via, actor_of
from opslayer.bot.errors import Conflict
from opslayer.bot.people.acting import Acting
from opslayer.bot.people.model import Person
from opslayer.bot.ports import UnitOfWork
from opslayer.bot.views.alerts import stamp
from opslayer.bot.views.model import AlertPayload, Note


class Acknowledgements:
    """Acknowledge a run's open alerts (approval requests are decided, not acknowledged)."""

    def __init__(self, acting: Acting) -> None:
        self._acting = acting

    async def acknowledge(self, run_id: str, *, person: Person, via: Via) -> list[Alert]:
        """Take the run's open alerts: escalation waits until the acknowledgement times out."""
        acting = self._acting
        actor = actor_of(person, via)

        async def job(uow: UnitOfWork) -> list[Alert]:
            now = acting.clock.now()
            run = await acting.locked_run(uow, run_id)
            acting.allow(person, run, "acknowledge")
            taken = []
            for alert in await uow.alerts.open_for_run(run_id):
                if alert.status is AlertStatus.OPEN and alert.kind is not AlertKind.APPROVAL:
                    if alert.kind is AlertKind.FAILED:  # a failure someone took is settled
                        acked = resolve(alert, now=now, resolution=f"Acknowledged by {person.name}")
                    else:
                        acked = acknowledge(alert, person_id=person.id, now=now)
                        note: Note = {"text": f"Acknowledged by {person.name}", "at": stamp(now)}
                        payload: AlertPayload = {**acked.payload, "acknowledged": note}
                        acked = dataclasses.replace(acked, payload=payload)
                    await uow.alerts.update(acked)
                    taken.append(acked)
            if not taken:
                raise Conflict(f"run {run_id} has no open alert to acknowledge")
            detail = {"alerts": [a.kind.value for a in taken]}
            await uow.audit.add(AuditEvent("alert.acknowledged", now, actor, run_id, detail))
            return taken

        return await acting.audited(
            person=person, via=via, action="acknowledge", run_id=run_id, job=job
        )
