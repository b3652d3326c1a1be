"""Daily digests: per group channel, the runs that need attention, once per channel and day."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from opslayer.bot.alerts.keys import alert_key
from opslayer.bot.alerts.kinds import AlertKind
from opslayer.bot.alerts.model import Alert, AlertStatus
from opslayer.bot.ids import new_id
from opslayer.bot.ports import Clock, Store, UnitOfWork
from opslayer.bot.views.digest import digest_sections, digest_view


class Digests:
    """Queues each group's digest in the ledger; the chat sync posts it."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def queue(self, *, groups: set[str] | None = None, zone: str = "UTC") -> int:
        """Queue today's digest for each group channel (or the named groups); at most one per
        channel and day, whichever replica gets there first. Returns how many were queued."""

        async def job(uow: UnitOfWork) -> int:
            now = self._clock.now()
            day = now.astimezone(ZoneInfo(zone)).date().isoformat()
            people = await uow.people.everyone()
            queued = 0
            for group in await uow.people.groups():
                channel = group.slack_channel or group.teams_channel
                if channel is None or (groups is not None and group.name not in groups):
                    continue
                members = {p.id: p.name for p in people if p.group == group.name}
                runs = await uow.runs.needing_attention(
                    list(members), failed_since=now - timedelta(days=1)
                )
                if not runs and not group.all_clear:
                    continue
                view = digest_view(group.name, day, digest_sections(runs, members, now))
                alert = Alert(
                    id=new_id("alr"),
                    key=alert_key(AlertKind.DIGEST, channel=channel, day=day),
                    kind=AlertKind.DIGEST,
                    status=AlertStatus.RESOLVED,
                    target={"slack": group.slack_channel, "teams": group.teams_channel},
                    payload={"view": view, "pings": []},
                    created_at=now,
                    updated_at=now,
                    resolved_at=now,
                )
                queued += await uow.alerts.add(alert)
            return queued

        return await self._store.run(job)
