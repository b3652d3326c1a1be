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


class Fact(TypedDict):
    """One fact of a message: a label and its value in words (`text`), and/or a moment (`at`,
    ISO 8601 in UTC) each platform shows in the reader's own time zone."""

    label: str
    text: str
    at: NotRequired[str]


class Note(TypedDict):
    """A sentence that tells how an alert went ("Approved by Alice"), and when."""

    text: str
    at: str  # ISO 8601, UTC


class ApprovalView(TypedDict):
    """The approval a message's buttons decide, with what the approver decides on."""

    id: str
    title: str  # the question
    details: str | None
    approvers: NotRequired[list[Mention]]  # named by the agent; mentioned
    expires_at: NotRequired[str]  # ISO 8601: the deadline
    arguments: NotRequired[str]  # the arguments (or state), pretty JSON, cut with "…"
    progress: NotRequired[str]  # a quorum being gathered: "1 of 2 approvals (Alice)"
    at_deadline: NotRequired[str]  # what the deadline does: "Rejects automatically"
    remaining: NotRequired[str]  # the time left to the deadline when the view was made: "20 min"
    risk: NotRequired[str]  # low, medium, high (high: a yes is confirmed a second time)
    always: NotRequired[str]  # the "approve, and always approve" button's words


# What an approval message carried before views were typed: still readable from old rows.
ApprovalRef = ApprovalView


class AlertView(TypedDict):
    """One alert as people see it: headline, the facts they decide on, and its buttons."""

    kind: str  # an AlertKind value
    headline: str
    run_id: str
    run_title: str
    facts: list[Fact]  # in order
    actions: list[str]  # the buttons, in order (verbs: approve, retry, ...)
    mention: Mention  # whom the message is for (the owner; the new owner of a handoff)
    approval: NotRequired[ApprovalView]
    error: NotRequired[str]  # what the agent said went wrong (a failure)
    said: NotRequired[str]  # the agent's last message
    unsafe: NotRequired[list[str]]  # non-idempotent side effects a retry might replay
    offered_by: NotRequired[str]  # a handoff: who offered it
    reason: NotRequired[str | None]  # a handoff: why
    refresh_for: NotRequired[list[str]]  # Teams ids of who must act (their card stays current)
    # Added when rendered from the ledger (bot.alerts.ledger):
    state: NotRequired[str]  # open, acknowledged, resolved
    alert_id: NotRequired[str]
    resolution: NotRequired[Note]  # how it ended ("Approved by Alice, waiting for the agent")
    confirmed: NotRequired[Note]  # the agent's confirmation ("the agent reported running")
    acknowledged: NotRequired[Note]  # who took it
    ping: NotRequired[str]  # a follow-up of the first message: reminder, escalation, handoff
    link: NotRequired[str]  # the run's console page (with OPSLAYER_PUBLIC_URL): "Open in opslayer"


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


class Handoff(TypedDict):
    """What a handoff alert remembers of the offer."""

    to: Mention  # the new owner, who must accept
    by: str  # who offered it
    reason: str | None
    until: str  # ISO 8601: when the offer lapses


class AlertPayload(TypedDict):
    """What the ledger keeps with an alert, besides its state: the view as first rendered (the
    surfaces render the run as it is now; this is the fallback, and a digest's content), its
    follow-ups, the sentences that tell how it went, and what a kind needs to remember."""

    view: MessageView
    pings: list[Ping]
    resolution: NotRequired[Note]
    confirmed: NotRequired[Note]
    acknowledged: NotRequired[Note]
    handoff: NotRequired[Handoff]
    note_for_owner: NotRequired[bool]  # a handoff's note to the old owner (no Accept button)
