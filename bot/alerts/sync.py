"""Keeping the chat surfaces in step with the ledger: post what is new, update what changed,
send the follow-ups. Only the replica holding the `notify` lease posts, so two replicas never
post the same message twice; a surface that fails keeps its progress and is tried again."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from opslayer.bot.alerts.kinds import AlertKind
from opslayer.bot.alerts.ledger import current_view, ping_view
from opslayer.bot.alerts.model import Alert, AlertStatus
from opslayer.bot.ids import new_id
from opslayer.bot.ports import ChatNotifier, Clock, MessageRef, Store, UnitOfWork
from opslayer.bot.runs.model import Run
from opslayer.bot.views.model import MessageView, is_digest

log = logging.getLogger("opslayer.watch")


class ChatSync:
    """Posts and updates every alert on every surface (Slack, Teams, the log)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        notifiers: list[ChatNotifier],
        holder: str | None = None,
        lease_s: float = 60.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._notifiers = notifiers
        self._holder = holder or new_id("proc")
        self._lease = timedelta(seconds=lease_s)
        self._syncing = asyncio.Lock()  # one sync at a time in this process, too
        self.rounds = 0  # sync rounds this process ran (without the lease too): a metric
        self.last_round_at: datetime | None = None  # when the last round ended: a metric

    async def behind(self) -> int:
        """Alerts the chat surfaces have not caught up with (it grows while one is down)."""
        async with self._store.read() as uow:
            return await uow.alerts.count_to_sync()

    async def sync(self, limit: int = 100) -> int:
        """Bring the surfaces in step with the ledger; return how many alerts were. One a
        surface failed on stays behind and is tried again on the next round."""

        async def leased(uow: UnitOfWork) -> list[Alert]:
            now = self._clock.now()
            if not await uow.alerts.take_lease(
                "notify", holder=self._holder, now=now, until=now + self._lease
            ):
                return []
            return await uow.alerts.to_sync(limit=limit)

        async with self._syncing:
            done = await self._sync(await self._store.run(leased, urgent=True))
            self.rounds += 1
            self.last_round_at = self._clock.now()
            return done

    async def release(self) -> None:
        """At shutdown: let a peer (or this process, restarted) take over at once."""
        await self._store.run(lambda uow: uow.alerts.release_lease("notify", holder=self._holder))

    async def _sync(self, pending: list[Alert]) -> int:
        done = 0
        # A surface that failed once this round is not tried again until the next one: an
        # outage of one (each call timing out and retried) must not hold up the others.
        down: set[str] = set()
        for alert in pending:
            async with self._store.read() as uow:
                view = await current_view(uow, alert, self._clock.now())
                run = await uow.runs.get(alert.run_id) if alert.run_id else None
            refs = dict(alert.message_refs)
            sent = dict(alert.pings_sent)
            failed = False
            for notifier in self._notifiers:
                if notifier.name in down:
                    failed = True
                    continue
                try:
                    await self._sync_one(notifier, alert, view, run, refs, sent)
                except Exception:  # a surface that is down is retried on the next round
                    failed = True
                    down.add(notifier.name)
                    log.exception("%s: could not sync alert %s", notifier.name, alert.id)
            seen = alert.updated_at if not failed else None

            async def job(
                uow: UnitOfWork,
                alert: Alert = alert,
                refs: dict[str, MessageRef] = refs,
                sent: dict[str, int] = sent,
                seen: datetime | None = seen,
            ) -> None:
                await uow.alerts.synced(alert.id, refs=refs, pings_sent=sent, seen_update=seen)

            await self._store.run(job)
            done += not failed
        return done

    async def _sync_one(
        self,
        notifier: ChatNotifier,
        alert: Alert,
        view: MessageView,
        run: Run | None,
        refs: dict[str, MessageRef],
        sent: dict[str, int],
    ) -> None:
        main = refs.get(notifier.name)
        if main is None and (
            alert.status is not AlertStatus.RESOLVED or alert.kind is AlertKind.DIGEST
        ):
            posted = await notifier.post(alert.target, view)
            refs[notifier.name] = main = posted if posted is not None else {}
        elif main:
            await notifier.update(main, view)
        if is_digest(view):
            return  # digests have no follow-ups
        for ping in alert.payload["pings"][sent.get(notifier.name, 0) :]:
            # In the first message's thread where the follow-up goes to the same place (a
            # reminder); elsewhere (an escalation channel, the old owner) as a message of its own.
            await notifier.post(ping["target"], ping_view(view, ping, run), thread=main or None)
            sent[notifier.name] = sent.get(notifier.name, 0) + 1
