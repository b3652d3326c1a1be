"""Operator commands (pure): which run statuses allow which command, what a retry would
replay, and when a failed delivery is tried again."""

from __future__ import annotations

from dataclasses import dataclass

from opslayer.bot.commands.model import CommandKind
from opslayer.bot.errors import InvalidTransition, ValidationFailed
from opslayer.bot.runs.model import TERMINAL, Checkpoint, Health, Run, RunStatus, SideEffect

S = RunStatus
_OPEN = frozenset(RunStatus) - TERMINAL

# Which statuses each command may be sent from; anything else is refused and changes nothing.
ALLOWED: dict[CommandKind, frozenset[RunStatus]] = {
    # A pending approval stays decidable while the run is open, whatever the agent reported
    # meanwhile (queued, running, paused, waiting for auth): the agent gets the decision when it
    # next listens. Ending the run closes its approvals.
    CommandKind.APPROVE: _OPEN,
    CommandKind.REJECT: _OPEN,
    CommandKind.CANCEL: _OPEN,
    CommandKind.PAUSE: frozenset({S.QUEUED, S.RUNNING, S.WAITING_APPROVAL, S.WAITING_AUTH}),
    CommandKind.RESUME: frozenset({S.PAUSED}),
    CommandKind.RETRY: frozenset({S.FAILED}),  # and stuck runs, see check_command
    CommandKind.REASSIGN: frozenset(RunStatus),
}


def check_command(run: Run, kind: CommandKind) -> None:
    """Raise InvalidTransition when the run's status does not allow the command.

    A stuck run may be retried too: its agent stopped answering, so starting over is the way out.
    """
    if run.status in ALLOWED[kind]:
        return
    if (
        kind is CommandKind.RETRY
        and Health.STUCK in run.health
        and run.status in (S.QUEUED, S.RUNNING)
    ):
        return
    raise InvalidTransition(run_id=run.id, status=run.status, event=kind.value)


@dataclass(frozen=True, slots=True)
class RetryPlan:
    """What a retry from a checkpoint means for the outside world."""

    from_checkpoint: Checkpoint | None  # None: from the start
    committed: tuple[SideEffect, ...]  # done after that point: the agent should skip them
    unsafe: tuple[SideEffect, ...]  # the non-idempotent ones among them: confirm before replay

    @property
    def skip_keys(self) -> list[str]:
        return [e.key for e in self.committed]


def plan_retry(checkpoints: list[Checkpoint], from_checkpoint_id: str | None) -> RetryPlan:
    """The side effects recorded after the named checkpoint (oldest first), or after the start.

    A checkpoint's own side effects happened before it was taken, so they belong to its state.
    Raises ValidationFailed for an unknown checkpoint or one the agent marked not resumable.
    """
    start: Checkpoint | None = None
    if from_checkpoint_id is not None:
        start = next((c for c in checkpoints if c.checkpoint_id == from_checkpoint_id), None)
        if start is None:
            known = ", ".join(c.checkpoint_id for c in checkpoints) or "none"
            raise ValidationFailed(f"no checkpoint {from_checkpoint_id!r} (known: {known})")
        if not start.resumable:
            raise ValidationFailed(f"checkpoint {from_checkpoint_id!r} is not resumable")
    after = [c for c in checkpoints if start is None or c.seq > start.seq]
    committed = tuple(e for c in sorted(after, key=lambda c: c.seq) for e in c.side_effects)
    return RetryPlan(start, committed, tuple(e for e in committed if not e.idempotent))


def retry_default(checkpoints: list[Checkpoint]) -> Checkpoint | None:
    """Where a retry starts unless a person says otherwise: the latest resumable checkpoint,
    which replays the least (None: there is none, so from the start)."""
    resumable = [c for c in checkpoints if c.resumable]
    return max(resumable, key=lambda c: c.seq) if resumable else None


def retry_delay(
    attempts: int, schedule: tuple[float, ...], *, retry_after_s: float | None, jitter: float
) -> float | None:
    """Seconds until the next delivery attempt after `attempts` failed ones; None: give up.

    `schedule[n]` is the delay before attempt n + 1 (the first is immediate), spread by
    `jitter` (a factor near 1) so agents recovering from an outage are not hit all at once,
    and never sooner than the agent's Retry-After.
    """
    if attempts >= len(schedule):
        return None
    delay = schedule[attempts] * jitter
    return max(delay, retry_after_s or 0.0)
