"""What a chat surface acts through: the use cases and the store, handed over as one."""

from __future__ import annotations

from dataclasses import dataclass

from bot.operations import Operations
from bot.ports import Clock, Store
from bot.service import RunService
from bot.subscriptions import Subscriptions


@dataclass(frozen=True, slots=True)
class UseCases:
    store: Store
    clock: Clock
    service: RunService
    operations: Operations
    subscriptions: Subscriptions
