"""An approval: a durable request for a human decision, with who may answer it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opslayer_client.contract import ApprovalStatus

__all__ = ["Approval", "ApprovalStatus"]


@dataclass(frozen=True, slots=True)
class Approval:
    """A durable request for a human decision, with who may answer and state to hand back."""

    id: str
    run_id: str
    request_id: str
    title: str
    status: ApprovalStatus
    created_at: datetime
    details: str | None = None
    expires_at: datetime | None = None
    approvers: tuple[str, ...] = ()
    state: Any = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str | None = None
