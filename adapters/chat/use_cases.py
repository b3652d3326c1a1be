"""What a chat surface acts through: the use cases and the store, handed over as one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.directory import find_person
from bot.domain.models import Identity, Person
from bot.domain.status import Via
from bot.errors import NotAuthorized
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

    async def person(
        self,
        identity: Identity,
        *,
        via: Via,
        action: str,
        run_id: str | None = None,
        otherwise: Callable[[], Awaitable[Person | None]] | None = None,
    ) -> Person:
        """The known person behind a chat user (`otherwise` may still find them); a stranger's
        attempt is refused, and the refusal audited."""
        try:
            return await find_person(self.store, identity)
        except NotAuthorized as stranger:
            found = await otherwise() if otherwise is not None else None
            if found is not None:
                return found
            who = identity.slack_user_id or identity.teams_user_id or "unknown"
            await self.operations.record_refusal(
                who=who, via=via, action=action, run_id=run_id, reason=stranger.message
            )
            raise
