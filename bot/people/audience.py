"""Who hears about a run: its channel, else its owner's own channel, else their group's channel,
else the owner directly; escalations go to the group's escalation channel, runs nobody owns to
the admins."""

from __future__ import annotations

from opslayer.bot.people.model import Group, Person
from opslayer.bot.ports import UnitOfWork
from opslayer.bot.runs.model import Run
from opslayer.bot.views.alerts import mention_of
from opslayer.bot.views.model import Escalation, Target, escalation_target


async def audience(uow: UnitOfWork, run: Run, *, admins: Escalation) -> Target:
    """The target of a run's alerts (loading its owner and their group)."""
    owner = await uow.people.get(run.owner.id)
    group = await uow.people.group(owner.group) if owner is not None and owner.group else None
    return target_of(run, owner, group, admins=admins)


def target_of(run: Run, owner: Person | None, group: Group | None, *, admins: Escalation) -> Target:
    """The target of a run's alerts: the run's channel, else the owner's own, else their group's,
    else a direct message, with the owner to mention and where escalations go."""
    mention = mention_of(run.owner)
    escalation: Escalation = {**admins}
    if group is not None and (group.slack_escalation_channel or group.teams_escalation_channel):
        escalation = {
            "slack": group.slack_escalation_channel,
            "teams": group.teams_escalation_channel,
        }
    if owner is None or owner.removed:
        return {**escalation_target(admins, mention), "escalation": admins}
    if run.channel.slack or run.channel.teams:
        return {
            "slack": run.channel.slack,
            "teams": run.channel.teams,
            "mention": mention,
            "escalation": escalation,
        }
    if owner.slack_channel or owner.teams_channel:
        return {
            "slack": owner.slack_channel,
            "teams": owner.teams_channel,
            "mention": mention,
            "escalation": escalation,
        }
    if group is not None and (group.slack_channel or group.teams_channel):
        return {
            "slack": group.slack_channel,
            "teams": group.teams_channel,
            "mention": mention,
            "escalation": escalation,
        }
    # The owner directly; a chat id the agent claimed routes the message when the owner has
    # none on that platform (it grants nothing: rights follow the person only).
    claim = run.owner_claim
    return {
        "slack_user": run.owner.slack_user_id or (claim.slack_user_id if claim else None),
        "teams_user": run.owner.teams_user_id or (claim.teams_user_id if claim else None),
        "email": run.owner.email,  # a surface may find the user by it (Slack: lookupByEmail)
        "mention": mention,
        "escalation": escalation,
    }
