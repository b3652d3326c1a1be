"""The error tree of opslayer's core.

    OpsError
     ├── NotFound                 an id that does not exist (or is not visible to the caller)
     │    ├── RunNotFound
     │    ├── ApprovalNotFound
     │    └── CommandNotFound
     ├── Forbidden                the caller may not touch this resource (another agent's run)
     ├── NotAuthorized            a person lacks the right for an action (audited)
     │    └── NotLinked           a chat user (or --as) is nobody opslayer knows yet
     ├── InvalidTransition        the run's status does not allow the event
     ├── Conflict                 the state moved on (already decided, version mismatch)
     ├── ConfirmationRequired     the action is allowed but risky: ask the person, then repeat
     ├── ValidationFailed         input that parses but makes no sense in the domain
     └── StorageUnavailable       the database cannot be reached or written: try again later

Constructors take the context and build the message; adapters map the tree to their surface
(HTTP status, ephemeral chat reply) in one function each.
"""

from __future__ import annotations


class OpsError(Exception):
    """Base of every error the core raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(OpsError):
    """Something addressed by id does not exist."""


class RunNotFound(NotFound):
    """No run with this id."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id!r} not found")
        self.run_id = run_id


class ApprovalNotFound(NotFound):
    """No approval with this id."""

    def __init__(self, approval_id: str) -> None:
        super().__init__(f"approval {approval_id!r} not found")
        self.approval_id = approval_id


class CommandNotFound(NotFound):
    """No command with this id."""

    def __init__(self, command_id: str) -> None:
        super().__init__(f"command {command_id!r} not found")
        self.command_id = command_id


class Forbidden(OpsError):
    """An agent addressed a resource that belongs to another agent."""

    def __init__(self, *, agent: str, resource: str) -> None:
        super().__init__(f"{resource} belongs to another agent, not to {agent!r}")
        self.agent = agent
        self.resource = resource


class NotAuthorized(OpsError):
    """A person tried an action they have no right to."""

    def __init__(
        self,
        *,
        actor: str,
        action: str,
        target: str,
        who_may: str = "its owner, approvers and admins",
    ) -> None:
        super().__init__(f"{actor} may not {action} {target}: only {who_may} may")
        self.actor = actor
        self.action = action
        self.target = target


class NotLinked(NotAuthorized):
    """Someone opslayer does not know (yet) tried to act: the message says how to get linked."""

    def __init__(
        self,
        *,
        slack_user_id: str | None = None,
        teams_user_id: str | None = None,
        email: str | None = None,
    ) -> None:
        if slack_user_id:
            how = f"opslayer people add --slack {slack_user_id} --email <your email>"
            who = "You're"
        elif teams_user_id:
            how = f"opslayer people add --teams {teams_user_id} --email <your email>"
            who = "You're"
        else:
            how = f"opslayer people add --email {email or '<email>'}"
            who = f"{email or 'This person'} is"
        OpsError.__init__(self, f"{who} not linked to opslayer yet: ask an admin to run `{how}`")
        self.actor = slack_user_id or teams_user_id or email or "unknown"
        self.action = "act"
        self.target = "runs"


class InvalidTransition(OpsError):
    """The run's current status does not allow the requested event."""

    def __init__(self, *, run_id: str, status: str, event: str) -> None:
        super().__init__(f"run {run_id} is {status}: {event} is not allowed from {status}")
        self.run_id = run_id
        self.status = status
        self.event = event


class Conflict(OpsError):
    """The state moved on since the caller looked (already decided, concurrent change)."""


class ConfirmationRequired(OpsError):
    """A risky action (replaying unsafe side effects, resuming stale work) needs a yes first."""

    def __init__(self, *, action: str, risks: list[str]) -> None:
        super().__init__(f"{action} needs confirmation: " + "; ".join(risks))
        self.action = action
        self.risks = risks


class ValidationFailed(OpsError):
    """Input that is well-formed but makes no sense for the domain."""


class StorageUnavailable(OpsError):
    """The database cannot be reached or written (down, disk full): nothing was changed."""

    def __init__(self, cause: str) -> None:
        super().__init__(f"storage is unavailable ({cause}); nothing was changed, try again")
        self.cause = cause


class LimitReached(OpsError):
    """An agent reached one of its limits (open runs, pending approvals): nothing was changed."""

    def __init__(self, *, agent: str, limit: str, allowed: int, setting: str) -> None:
        super().__init__(
            f"agent {agent!r} has {allowed} {limit} already, its limit: finish or cancel some"
            f" first, or raise {setting}"
        )
        self.agent = agent
        self.limit = limit
