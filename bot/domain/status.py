"""The enumerations an operator sees: run status, health, approval and command states.

They are the wire contract's own (`opslayer_client.contract`, one source for agents and the
server); the core adds the groupings it decides on.
"""

from __future__ import annotations

from opslayer_client.contract import (
    LIVE,
    TERMINAL,
    WAITING,
    ApprovalStatus,
    CommandKind,
    CommandStatus,
    Health,
    MemoryScope,
    RunStatus,
    Via,
)

__all__ = [
    "LIVE",
    "TERMINAL",
    "WAITING",
    "ApprovalStatus",
    "CommandKind",
    "CommandStatus",
    "Health",
    "MemoryScope",
    "RunStatus",
    "Via",
]
