"""Idempotency keys, spelled once. Each is unique in its table, so a race between two replicas
(or a double click) writes one row, whatever the timing.

The formats of existing keys never change: a deployed database already holds them, and a new
spelling would raise every open alert a second time.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from opslayer.bot.alerts.kinds import AlertKind

T = TypeVar("T")


def alert_key(
    kind: AlertKind,
    *,
    run_id: str | None = None,
    since: datetime | None = None,
    approval_id: str | None = None,
    offer: int | None = None,
    attempt: int | None = None,
    channel: str | None = None,
    day: str | None = None,
) -> str:
    """The one key of an alert:
    - a scanner finding: run + kind + episode (when the situation started);
    - an approval request: the approval;
    - a handoff offer: the run + the version it was offered at (a new offer is a new version);
    - a failure: the run + the attempt that failed;
    - a digest: the channel + the day."""
    if kind is AlertKind.APPROVAL:
        return f"approval:{_given(approval_id)}"
    if kind is AlertKind.HANDOFF:
        return f"handoff:{_given(run_id)}:v{_given(offer)}"
    if kind is AlertKind.FAILED:
        return f"failed:{_given(run_id)}:{_given(attempt)}"
    if kind is AlertKind.DIGEST:
        return f"digest:{_given(channel)}:{_given(day)}"
    return f"{_given(run_id)}:{kind.value}:{_given(since).isoformat()}"


def command_key(
    run_id: str,
    kind: str,
    *,
    episode: datetime | None = None,
    approval_id: str | None = None,
    checkpoint: str | None = None,
) -> str:
    """The key an OPEN command holds (pending or delivered; cleared once it settles): one open
    command per run, kind and episode (the run's last status change), or per approval, so a
    double click or a chat platform's retry issues nothing twice."""
    if approval_id is not None:
        return f"{approval_id}:{kind}"
    start = checkpoint if checkpoint is not None else "-"
    return f"{run_id}:{kind}:{_given(episode).isoformat()}:{start}"


def _given(value: T | None) -> T:
    if value is None:
        raise ValueError("this kind of key needs that part")
    return value
