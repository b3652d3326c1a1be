"""Who hears about a run: its channel, else its owner's group channel, else the owner directly;
escalations go to the group's escalation channel, and runs nobody owns to the admins."""

from __future__ import annotations

from typing import Any

from opslayer.bot.domain.models import Group, Person, Run
from opslayer.bot.ports import UnitOfWork


async def audience(uow: UnitOfWork, run: Run, *, admins: dict[str, Any]) -> dict[str, Any]:
    """The target of a run's alerts (loading its owner and their group)."""
    owner = await uow.people.get(run.owner.id)
    group = await uow.people.group(owner.group) if owner is not None and owner.group else None
    return target_of(run, owner, group, admins=admins)


def target_of(
    run: Run, owner: Person | None, group: Group | None, *, admins: dict[str, Any]
) -> dict[str, Any]:
    """The target of a run's alerts: the run's channel, else the owner's own, else their group's,
    else a direct message (`slack`/`teams` channels or `*_user` ids),
    with the owner to mention and where escalations go."""
    mention = {
        "name": run.owner.name,
        "email": run.owner.email,
        "slack_user_id": run.owner.slack_user_id,
        "teams_user_id": run.owner.teams_user_id,
    }
    escalation = dict(admins)
    if group is not None and (group.slack_escalation_channel or group.teams_escalation_channel):
        escalation = {
            "slack": group.slack_escalation_channel,
            "teams": group.teams_escalation_channel,
        }
    if owner is None or owner.removed:
        return {**admins, "mention": mention, "escalation": admins}
    if run.channel.slack or run.channel.teams:
        where: dict[str, Any] = {"slack": run.channel.slack, "teams": run.channel.teams}
    elif owner.slack_channel or owner.teams_channel:
        where = {"slack": owner.slack_channel, "teams": owner.teams_channel}
    elif group is not None and (group.slack_channel or group.teams_channel):
        where = {"slack": group.slack_channel, "teams": group.teams_channel}
    else:
        # The owner directly; a chat id the agent claimed routes the message when the owner
        # has none on that platform (it grants nothing: rights follow the person only).
        claim = run.owner_claim
        where = {
            "slack_user": run.owner.slack_user_id or (claim.slack_user_id if claim else None),
            "teams_user": run.owner.teams_user_id or (claim.teams_user_id if claim else None),
            "email": run.owner.email,  # a surface may find the user by it (Slack: lookupByEmail)
        }
    return {**where, "mention": mention, "escalation": escalation}
