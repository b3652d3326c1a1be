"""The shapes of what people are shown, typed: the surfaces render these and nothing else.

TypedDicts rather than dataclasses because they travel as JSON: a view is stored with its
alert in the ledger and rendered later, by any replica, on any surface.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from typing_extensions import TypeIs


class Mention(TypedDict):
    """Whom a message is about and mentions: a run's owner, by the identities opslayer has."""

    name: str
    email: str | None
    slack_user_id: str | None
    teams_user_id: str | None


class Escalation(TypedDict, total=False):
    """Where an escalation goes: a group's escalation channels, else the admins'."""

    slack: str | None
    teams: str | None


def escalation_target(escalation: Escalation, mention: Mention | None = None) -> Target:
    """A target made of an escalation's channels (and whom to mention there)."""
    target: Target = {"slack": escalation.get("slack"), "teams": escalation.get("teams")}
    if mention is not None:
        target["mention"] = mention
    return target


class Target(TypedDict, total=False):
    """Where a message goes: a Slack and/or Teams channel, else direct messages (to a chat user,
    or to whoever the email belongs to); whom it mentions and where it escalates to."""

    slack: str | None  # a Slack channel id
    teams: str | None  # a Teams conversation id
    slack_user: str | None  # a direct message on Slack
    teams_user: str | None  # a personal chat on Teams (Entra object id)
    email: str | None  # a surface may find the user by it (Slack: users.lookupByEmail)
    mention: Mention
    escalation: Escalation


class ApprovalRef(TypedDict):
    """The approval a message's buttons decide."""

    id: str
    title: str
    details: str | None


class AlertView(TypedDict):
    """One alert as people see it: headline, the facts they decide on, and its buttons."""

    kind: str  # an AlertKind value
    headline: str
    run_id: str
    run_title: str
    facts: dict[str, str]  # label → value, in order
    actions: list[str]  # the buttons, in order (verbs: approve, retry, ...)
    mention: Mention
    approval: NotRequired[ApprovalRef]
    offered_by: NotRequired[str]  # a handoff: who offered it
    reason: NotRequired[str | None]  # a handoff: why
    # Added when rendered from the ledger (bot.alerts.ledger.render):
    state: NotRequired[str]  # open, acknowledged, resolved
    alert_id: NotRequired[str]
    resolution: NotRequired[str]  # how it ended ("Approved by Alice at 10:32 UTC")
    confirmed: NotRequired[str]  # the agent's confirmation ("the agent reported running")
    acknowledged: NotRequired[str]  # who took it
    ping: NotRequired[str]  # a follow-up of the first message: reminder, escalation, handoff


class DigestLineView(TypedDict):
    """One run in a digest."""

    run_id: str
    title: str
    status: str
    health: list[str]
    since: str


class DigestView(TypedDict):
    """A channel's daily digest: section → owner → runs, and the counts that head it."""

    kind: str  # "digest"
    channel: str
    day: str
    headline: str
    counts: dict[str, int]
    sections: dict[str, dict[str, list[DigestLineView]]]
    state: NotRequired[str]
    alert_id: NotRequired[str]


MessageView = AlertView | DigestView


def is_digest(view: MessageView) -> TypeIs[DigestView]:
    """True for a digest (the other message views are alerts)."""
    return view["kind"] == "digest"


class Ping(TypedDict):
    """A follow-up message of an alert (a reminder, an escalation, a note to the old owner)."""

    kind: str
    target: Target
    view: AlertView


class AlertPayload(TypedDict):
    """What the ledger keeps with an alert, besides its state: the view as last rendered, its
    follow-ups, and the sentences that tell how it went."""

    view: MessageView
    pings: list[Ping]
    resolution: NotRequired[str]
    confirmed: NotRequired[str]
    acknowledged: NotRequired[str]
