"""Every operator action, by concept, for the surfaces people act through (Slack, Teams, the
CLI): each checks rights, records the decision with its audit event and command in one
transaction, and audits a refusal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from opslayer.bot.alerts.acknowledgements import Acknowledgements
from opslayer.bot.approvals.decisions import ApprovalDecisions
from opslayer.bot.commands.issuing import RunCommands
from opslayer.bot.people.acting import Acting
from opslayer.bot.people.handoffs import Handoffs
from opslayer.bot.people.rights import Admins
from opslayer.bot.ports import Clock, Store


@dataclass(frozen=True, slots=True)
class Operations:
    """What a person may do to runs and approvals, grouped by concept."""

    acting: Acting  # rights, the run under lock, refusals (also those of strangers)
    approvals: ApprovalDecisions  # approve, reject, expire
    commands: RunCommands  # cancel, pause, resume, retry, force-cancel, redeliver
    handoffs: Handoffs  # reassign, accept, lapse
    alerts: Acknowledgements  # acknowledge

    @staticmethod
    def build(
        store: Store,
        clock: Clock,
        *,
        admins: Admins,
        on_command: Callable[[], None] | None = None,
    ) -> Operations:
        """The operations over one store; `on_command` is called after every decision."""
        acting = Acting(store, clock, admins=admins, on_command=on_command)
        return Operations(
            acting=acting,
            approvals=ApprovalDecisions(acting),
            commands=RunCommands(acting),
            handoffs=Handoffs(acting),
            alerts=Acknowledgements(acting),
        )
