"""What a chat surface acts through: the use cases and the store, handed over as one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from opslayer.bot.audit import Via
from opslayer.bot.errors import NotAuthorized
from opslayer.bot.operations import Operations
from opslayer.bot.people.directory import find_person
from opslayer.bot.people.model import Identity, Person
from opslayer.bot.people.sign_in import SignIn
from opslayer.bot.people.subscriptions import Subscriptions
from opslayer.bot.ports import Clock, Store
from opslayer.bot.runs.reads import RunReads


@dataclass(frozen=True, slots=True)
class UseCases:
    store: Store
    clock: Clock
    reads: RunReads
    operations: Operations
    subscriptions: Subscriptions
    sign_in: SignIn | None = None  # `agent login`: a link into the console
    console_url: str = ""  # where sign-in links point
    public_url: str | None = None  # OPSLAYER_PUBLIC_URL: chat messages link to run pages

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
            await self.operations.acting.record_refusal(
                who=who, via=via, action=action, run_id=run_id, reason=stranger.message
            )
            raise
