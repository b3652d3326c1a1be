"""The bot's parts over one store, wired once: what the HTTP routes, the chat surfaces, the CLI
and the scheduler act through. Typed, so nothing reaches into `app.state` by guesswork."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass

from opslayer.adapters.settings import Settings
from opslayer.bot.alerts.digest import Digests
from opslayer.bot.alerts.scan import Scanner
from opslayer.bot.alerts.sync import ChatSync
from opslayer.bot.approvals.requests import ApprovalRequests
from opslayer.bot.commands.acks import CommandAcks
from opslayer.bot.commands.egress import Egress
from opslayer.bot.commands.outbox import Outbox
from opslayer.bot.operations import Operations
from opslayer.bot.people.rights import Admins
from opslayer.bot.people.subscriptions import Subscriptions
from opslayer.bot.people.tokens import TokenAuthenticator
from opslayer.bot.ports import ChatNotifier, Clock, Store
from opslayer.bot.replays import ReplayGuard
from opslayer.bot.runs.cache import RunCache
from opslayer.bot.runs.limits import AgentLimits
from opslayer.bot.runs.reads import RunReads
from opslayer.bot.runs.service import RunService


@dataclass(frozen=True, slots=True)
class Core:
    """Every use case of the bot, over one store and one clock."""

    store: Store
    clock: Clock
    cache: RunCache  # this replica's run snapshots and unwritten heartbeats
    runs: RunService  # the agent's writes: register, status, checkpoint, heartbeat
    reads: RunReads  # runs and their history, for agents, chat and the CLI
    approval_requests: ApprovalRequests  # the agent asks a human
    acks: CommandAcks  # the agent confirms a command
    operations: Operations  # what people do: decide, command, hand over, acknowledge
    subscriptions: Subscriptions  # `agent subscribe`
    scanner: Scanner  # scan and follow-ups
    digests: Digests
    sync: ChatSync  # the chat surfaces catch up with the ledger
    outbox: Outbox
    replays: ReplayGuard
    authenticator: TokenAuthenticator

    @staticmethod
    def build(
        settings: Settings,
        store: Store,
        clock: Clock,
        *,
        notifiers: list[ChatNotifier],
        on_alert: Callable[[], None] = lambda: None,
        on_command: Callable[[], None] = lambda: None,
        holder: str | None = None,
    ) -> Core:
        """Everything, wired; `on_alert`/`on_command` wake the chat sync and the deliverer;
        `holder` names this process in the leases it takes (a fresh name by default)."""
        admins = Admins.parse(settings.admins)
        admin_channels = settings.admins_target
        # The leases name where this process serves, so a restarted process (a deploy, a crash)
        # takes its own leases back at once instead of waiting for them to lapse.
        holder = holder or f"{socket.gethostname()}:{settings.port}"
        # A peer takes over a dead holder's leases within a few scan intervals.
        lease_s = max(10.0, 3 * settings.scan_interval_s)
        cache = RunCache(store, clock, ttl_s=settings.run_cache_ttl_s)
        limits = AgentLimits(
            open_runs=settings.max_open_runs_per_agent,
            pending_approvals=settings.max_pending_approvals_per_agent,
        )
        return Core(
            store=store,
            clock=clock,
            cache=cache,
            runs=RunService(
                store,
                clock,
                cache=cache,
                egress=Egress.parse(settings.webhook_deny),
                admins=admin_channels,
                on_alert=on_alert,
                limits=limits,
            ),
            reads=RunReads(store, cache=cache),
            approval_requests=ApprovalRequests(
                store,
                clock,
                cache=cache,
                admins=admin_channels,
                on_alert=on_alert,
                on_command=on_command,
                limits=limits,
            ),
            acks=CommandAcks(store, clock),
            operations=Operations.build(store, clock, admins=admins, on_command=on_command),
            subscriptions=Subscriptions(store, clock, admins=admins),
            scanner=Scanner(store, clock, admins=admin_channels, holder=holder, lease_s=lease_s),
            digests=Digests(store, clock),
            sync=ChatSync(store, clock, notifiers=notifiers, holder=holder, lease_s=lease_s),
            outbox=Outbox(
                store, clock, schedule=settings.webhook_retry_s, lease_s=settings.delivery_lease_s
            ),
            replays=ReplayGuard(store, clock),
            authenticator=TokenAuthenticator(store, ttl_s=settings.token_cache_ttl_s),
        )
