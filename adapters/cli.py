"""The `opslayer` command: serve the bot, migrate, mint tokens, manage people, inspect runs."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from opslayer.adapters.cli_operate import add_operator_commands
from opslayer.adapters.cli_table import table
from opslayer.adapters.settings import Settings
from opslayer.adapters.terminal import EscapingFormatter, printable
from opslayer.bot.alerts.digest import Digests
from opslayer.bot.errors import ConfirmationRequired, OpsError
from opslayer.bot.people.directory import add_group, add_person, list_groups, list_people
from opslayer.bot.people.model import Identity
from opslayer.bot.people.tokens import mint_token, revoke_tokens
from opslayer.bot.ports import RunFilter, SystemClock
from opslayer.bot.runs.model import Health, Run, RunStatus
from opslayer.bot.runs.reads import RunReads
from opslayer.store import migrate
from opslayer.store.engine import create_engine
from opslayer.store.uow import SqlStore

Handler = Callable[[argparse.Namespace, SqlStore], Awaitable[int]]


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


async def _token_create(args: argparse.Namespace, store: SqlStore) -> int:
    minted = await mint_token(store, args.agent)
    if args.json:
        print(
            json.dumps(
                {
                    "agent": minted.agent,
                    "token": minted.token,
                    "webhook_secret": minted.webhook_secret,
                }
            )
        )
        return 0
    print(f"agent:          {minted.agent}")
    print(f"token:          {minted.token}")
    print(f"webhook secret: {minted.webhook_secret}")
    print("\nBoth are shown once. Agents send 'Authorization: Bearer <token>' and verify commands")
    print("with the webhook secret (Standard Webhooks).")
    return 0


async def _token_revoke(args: argparse.Namespace, store: SqlStore) -> int:
    count = await revoke_tokens(store, args.agent)
    if count == 0:
        print(f"no live tokens for agent {args.agent!r}", file=sys.stderr)
        return 1
    print(f"revoked {count} token(s) of {args.agent}; servers stop accepting them within seconds")
    return 0


async def _db_upgrade(_args: argparse.Namespace, store: SqlStore) -> int:
    await migrate.upgrade(store.engine)
    print(f"database is at revision {await migrate.current_revision(store.engine)}")
    return 0


async def _people_add(args: argparse.Namespace, store: SqlStore) -> int:
    identity = Identity(
        email=args.email, slack_user_id=args.slack, teams_user_id=args.teams, name=args.name
    )
    person = await add_person(
        store,
        identity=identity,
        timezone=args.timezone,
        group=args.group,
        slack_channel=args.slack_channel,
        teams_channel=args.teams_channel,
    )
    print(f"added {person.name} ({person.id})")
    return 0


async def _people_list(_args: argparse.Namespace, store: SqlStore) -> int:
    people = await list_people(store)
    rows = [
        (p.id, p.name, p.email, p.slack_user_id, p.teams_user_id, p.timezone, p.group)
        for p in people
    ]
    print(table(["id", "name", "email", "slack", "teams", "timezone", "group"], rows))
    return 0


async def _groups_add(args: argparse.Namespace, store: SqlStore) -> int:
    group = await add_group(
        store,
        name=args.name,
        slack_channel=args.slack_channel,
        teams_channel=args.teams_channel,
        slack_escalation_channel=args.slack_escalation_channel,
        teams_escalation_channel=args.teams_escalation_channel,
        digest_cron=args.digest_cron,
        all_clear=args.all_clear,
    )
    print(f"added group {group.name} ({group.id})")
    return 0


async def _digest_send(args: argparse.Namespace, store: SqlStore) -> int:
    zone = Settings().timezone
    queued = await Digests(store, SystemClock()).queue(
        groups=set(args.group) if args.group else None, zone=zone
    )
    print(
        f"queued {queued} digest(s); `opslayer serve` posts them"
        if queued
        else "nothing queued: today's digests were sent already, or nothing needs attention"
    )
    return 0


async def _groups_list(_args: argparse.Namespace, store: SqlStore) -> int:
    rows = [
        (
            g.name,
            g.slack_channel,
            g.teams_channel,
            g.slack_escalation_channel,
            g.teams_escalation_channel,
        )
        for g in await list_groups(store)
    ]
    print(table(["name", "slack", "teams", "slack escalation", "teams escalation"], rows))
    return 0


def _run_row(run: Run) -> tuple[object, ...]:
    return (
        run.id,
        run.agent,
        run.status,
        ",".join(run.health) or "ok",
        run.owner.name,
        run.step,
        run.title,
    )


async def _runs_list(args: argparse.Namespace, store: SqlStore) -> int:
    query = RunFilter(
        status=args.status, health=args.health, owner=args.owner, agent=args.agent, limit=args.limit
    )
    runs, cursor = await RunReads(store).list_runs(query)
    print(
        table(
            ["id", "agent", "status", "health", "owner", "step", "title"],
            [_run_row(r) for r in runs],
        )
    )
    if cursor:
        print(f"\n(more: raise --limit to see past {args.limit})")
    return 0


async def _runs_show(args: argparse.Namespace, store: SqlStore) -> int:
    reads = RunReads(store)
    detail = await reads.get_run(args.run)
    run = detail.run
    facts = [
        ("run", f"{run.id}  ({run.agent} / {run.external_id})"),
        ("title", run.title),
        (
            "status",
            f"{run.status}  attempt {run.attempt}"
            + (f"  reason: {run.reason}" if run.reason else ""),
        ),
        ("health", ", ".join(run.health) or "ok"),
        ("owner", f"{run.owner.name}  {run.owner.email or ''}".rstrip()),
        (
            "step",
            f"{run.step or '-'}  progress {run.progress if run.progress is not None else '-'}",
        ),
        ("heartbeat", _when(run.last_heartbeat_at)),
        ("next check", _when(run.next_check_at)),
    ]
    if run.error:
        facts.append(("error", run.error))
    print("\n".join(f"{k:<11} {printable(str(v))}" for k, v in facts))
    checkpoints = await reads.checkpoints(run.id)
    if checkpoints:
        print("\nCheckpoints")
        rows = [
            (
                c.checkpoint_id,
                c.step,
                _when(c.created_at),
                ", ".join(
                    e.key + ("" if e.idempotent else " (not idempotent)") for e in c.side_effects
                )
                or "-",
            )
            for c in checkpoints
        ]
        print(table(["checkpoint", "step", "at", "side effects"], rows))
    if detail.approvals:
        print("\nOpen approvals")
        print(
            table(
                ["id", "title", "since"],
                [(a.id, a.title, _when(a.created_at)) for a in detail.approvals],
            )
        )
    print("\nTimeline")
    events = await reads.audit_trail(run.id)
    timeline = [
        (
            _when(e.at),
            e.action,
            f"{e.actor.name} via {e.actor.via}",
            e.reason or "",
            ", ".join(f"{k}={v}" for k, v in e.detail.items()),
        )
        for e in events
    ]
    print(table(["at", "action", "by", "reason", "detail"], timeline))
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    import uvicorn

    from opslayer.adapters.app import create_app

    host = args.host or settings.host
    port = args.port or settings.port
    settings = settings.model_copy(update={"host": host, "port": port})
    handler = logging.StreamHandler()
    handler.setFormatter(EscapingFormatter("%(levelname)s:     %(message)s"))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler])
    # APScheduler reports every run of every job at INFO: a line every few seconds, all day.
    if settings.log_level.lower() != "debug":
        logging.getLogger("apscheduler").setLevel(logging.WARNING)

    def settled() -> None:
        # Everything allocated while starting lives as long as the process: keep the collector
        # from walking it again and again under load (it showed up as latency spikes).
        gc.collect()
        gc.freeze()

    try:
        app = create_app(settings, on_ready=settled)
    except ValueError as wrong:  # a typo in OPSLAYER_ADMINS or OPSLAYER_WEBHOOK_DENY
        print(f"opslayer: {wrong}", file=sys.stderr)
        return 2
    # log_config=None: uvicorn's own lines go through the escaping handler above too.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=settings.log_level,
        access_log=False,
        log_config=None,
    )
    return 0


async def _teams_conversations(_args: argparse.Namespace, store: SqlStore) -> int:
    async with store.read() as uow:
        places = await uow.conversations.listing("teams")
    rows = [
        (
            p.conversation_id,
            p.kind,
            p.title or "-",
            p.user_id or "-",
            f"{p.seen_at:%Y-%m-%d %H:%M}" if p.seen_at else "-",
        )
        for p in places
    ]
    print(table(["conversation id", "kind", "name", "user", "last heard"], rows))
    if not rows:
        print("The bot has not been added anywhere yet: add the Teams app to a team or chat.")
    return 0


def _teams_package(args: argparse.Namespace, settings: Settings) -> int:
    from opslayer.adapters.teams.package import MANIFESTS, PackageError, build_package

    app_id = args.app_id or settings.microsoft_app_id
    if not app_id:
        print(
            "opslayer: pass --app-id or set MicrosoftAppId (the Azure Bot's app id)",
            file=sys.stderr,
        )
        return 2
    output = Path(args.output)
    try:
        build_package(app_id, output, source=Path(args.source) if args.source else MANIFESTS)
    except PackageError as why:
        print(f"opslayer: {why}", file=sys.stderr)
        return 2
    print(f"wrote {output}: upload it in Teams (Apps > Manage your apps > Upload an app)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree, so `--help` at every level is complete."""
    parser = argparse.ArgumentParser(
        prog="opslayer",
        description="The ops layer for persistent AI agents. Configuration comes from OPSLAYER_* "
        "environment variables (see README); the database is OPSLAYER_DATABASE_URL "
        "(default sqlite+aiosqlite:///./opslayer.db).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="start the bot: agent API, chat surfaces, scheduler")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1, OPSLAYER_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080, OPSLAYER_PORT)")
    serve.set_defaults(serve=True)

    db = sub.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="apply migrations (serve does this on start)").set_defaults(
        handler=_db_upgrade
    )

    token = sub.add_parser("token", help="agent credentials").add_subparsers(
        dest="token_command", required=True
    )
    create = token.add_parser("create", help="mint a token and webhook signing secret for an agent")
    create.add_argument("--agent", required=True, help="the agent's name (created if new)")
    create.add_argument(
        "--json", action="store_true", help='print {"agent", "token", "webhook_secret"}'
    )
    create.set_defaults(handler=_token_create)
    revoke = token.add_parser("revoke", help="revoke every token of an agent")
    revoke.add_argument("--agent", required=True, help="the agent's name")
    revoke.set_defaults(handler=_token_revoke)

    people = sub.add_parser("people", help="people who own and act on runs").add_subparsers(
        dest="people_command", required=True
    )
    padd = people.add_parser("add", help="add a person (at least one of --email, --slack, --teams)")
    padd.add_argument("--name", help="display name")
    padd.add_argument("--email")
    padd.add_argument("--slack", help="Slack user id, e.g. U0123ABCD")
    padd.add_argument("--teams", help="Teams user: their Microsoft Entra (Azure AD) object id")
    padd.add_argument("--timezone", default="UTC", help="IANA zone for digests (default UTC)")
    padd.add_argument("--group", help="the group whose channels alert for this person")
    padd.add_argument("--slack-channel", help="their own Slack alert channel (before the group's)")
    padd.add_argument("--teams-channel", help="their own Teams alert conversation id")
    padd.set_defaults(handler=_people_add)
    people.add_parser("list", help="list people").set_defaults(handler=_people_list)

    groups = sub.add_parser("groups", help="groups and their alert channels").add_subparsers(
        dest="groups_command", required=True
    )
    gadd = groups.add_parser("add", help="add a group")
    gadd.add_argument("name")
    gadd.add_argument("--slack-channel", help="Slack channel id for alerts and digests")
    gadd.add_argument("--teams-channel", help="Teams conversation id for alerts and digests")
    gadd.add_argument("--slack-escalation-channel", help="Slack channel id for escalations")
    gadd.add_argument("--teams-escalation-channel", help="Teams conversation id for escalations")
    gadd.add_argument(
        "--digest-cron",
        help="this group's digest time, crontab with day names (default OPSLAYER_DIGEST_CRON)",
    )
    gadd.add_argument(
        "--all-clear", action="store_true", help="post the digest even when nothing needs attention"
    )
    gadd.set_defaults(handler=_groups_add)
    groups.add_parser("list", help="list groups").set_defaults(handler=_groups_list)
    digest = sub.add_parser("digest", help="daily digests").add_subparsers(
        dest="digest_command", required=True
    )
    dsend = digest.add_parser(
        "send",
        help="queue today's digest now (once per channel and day; `opslayer serve` posts it)",
    )
    dsend.add_argument("--group", action="append", help="only this group (repeatable)")
    dsend.set_defaults(handler=_digest_send)

    teams = sub.add_parser("teams", help="Microsoft Teams app").add_subparsers(
        dest="teams_command", required=True
    )
    package = teams.add_parser(
        "package", help="build the app package (zip) to upload to Teams or the admin center"
    )
    package.add_argument(
        "--app-id", help="the Azure Bot's Microsoft App ID (default: MicrosoftAppId)"
    )
    package.add_argument(
        "--output", default="opslayer-teams.zip", help="where to write it (default %(default)s)"
    )
    package.add_argument(
        "--from",
        dest="source",
        help="a folder with manifest.json and icons (default: the shipped manifests/teams)",
    )
    package.set_defaults(plain=_teams_package)
    teams.add_parser(
        "conversations",
        help="where the bot was added (the ids for groups add --teams-channel), newest first",
    ).set_defaults(handler=_teams_conversations)

    runs = sub.add_parser("runs", help="inspect runs").add_subparsers(
        dest="runs_command", required=True
    )
    rlist = runs.add_parser("list", help="list runs, newest first")
    rlist.add_argument(
        "--status",
        type=RunStatus,
        choices=list(RunStatus),
        metavar="STATUS",
        help="one of: " + ", ".join(RunStatus),
    )
    rlist.add_argument(
        "--health",
        type=Health,
        choices=list(Health),
        metavar="HEALTH",
        help="one of: " + ", ".join(Health),
    )
    rlist.add_argument("--owner", help="person id or email")
    rlist.add_argument("--agent", help="agent name")
    rlist.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    rlist.set_defaults(handler=_runs_list)
    show = runs.add_parser("show", help="one run: status, health, checkpoints, approvals, timeline")
    show.add_argument("run", help="run id")
    show.set_defaults(handler=_runs_show)
    add_operator_commands(runs, sub)
    return parser


async def _with_store(handler: Handler, args: argparse.Namespace, settings: Settings) -> int:
    engine = create_engine(settings.database_url)
    try:
        if handler is not _db_upgrade:
            await migrate.upgrade(engine)
        return await handler(args, SqlStore(engine, SystemClock(), read_engine=None))
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `opslayer` command."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as wrong:
        for error in wrong.errors():
            where = ".".join(str(part) for part in error["loc"])
            name = f"OPSLAYER_{where.upper()}" if where.islower() else where  # or an alias
            print(f"opslayer: {name}: {error['msg']}", file=sys.stderr)
        return 2
    if getattr(args, "serve", False):
        return _serve(args, settings)
    if getattr(args, "plain", None) is not None:
        code: int = args.plain(args, settings)
        return code
    try:
        return asyncio.run(_with_store(args.handler, args, settings))
    except ConfirmationRequired as exc:
        print(
            f"opslayer: {printable(exc.message)}. Repeat with --confirm to go ahead.",
            file=sys.stderr,
        )
        return 2
    except OpsError as exc:
        print(f"opslayer: {printable(exc.message)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
