"""`opslayer token|people|groups|digest|teams`: agents' credentials, who is who, where alerts go."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path

from opslayer.adapters.cli_people import add_change_commands, cron_check
from opslayer.adapters.cli_table import table
from opslayer.adapters.settings import Settings
from opslayer.bot.alerts.digest import Digests
from opslayer.bot.people.directory import add_group, add_person, list_groups, list_people
from opslayer.bot.people.model import ROLES, Identity
from opslayer.bot.people.tokens import mint_token, revoke_tokens, token_id
from opslayer.bot.ports import SystemClock
from opslayer.store.uow import SqlStore


async def _token_create(args: argparse.Namespace, store: SqlStore) -> int:
    rotate = bool(args.rotate)
    minted = await mint_token(store, args.agent, rotate=rotate, grace_s=args.grace_h * 3600)
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
    if rotate and args.grace_h > 0:
        print(
            f"For {args.grace_h:g} h every command is signed with the old secret too: switch the"
            " agent over by then. Old tokens keep working until `opslayer token revoke`."
        )
    return 0


async def _token_list(_args: argparse.Namespace, store: SqlStore) -> int:
    async with store.read() as uow:
        tokens = await uow.agents.tokens()
    now = SystemClock().now()
    rows = [
        (
            t.agent,
            token_id(t.token_hash),
            f"{t.created_at:%Y-%m-%d %H:%M} UTC",
            _age(now - t.created_at),
            f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "live",
            f"until {t.previous_secret_until:%Y-%m-%d %H:%M} UTC"
            if t.previous_secret_until and t.previous_secret_until > now
            else "-",
            f"{_age(now - t.last_used_at)} ago" if t.last_used_at else "never",
        )
        for t in tokens
    ]
    head = ["agent", "id", "created", "age", "state", "old secret signs", "last use"]
    print(table(head, rows))
    if not rows:
        print("No agents yet: `opslayer token create --agent NAME` makes the first.")
    return 0


def _age(elapsed: timedelta) -> str:
    days = elapsed.days
    return f"{days} days" if days >= 2 else f"{int(elapsed.total_seconds() // 3600)} h"


async def _token_revoke(args: argparse.Namespace, store: SqlStore) -> int:
    count = await revoke_tokens(store, args.agent, token_id=args.token_id, token=args.token)
    if count == 0:
        which = "that token is not a live one" if args.token_id or args.token else "no live tokens"
        print(f"{which} of agent {args.agent!r}; `opslayer token list` shows them", file=sys.stderr)
        return 1
    tokens = "1 token" if count == 1 else f"{count} tokens"
    print(f"revoked {tokens} of {args.agent}; servers stop accepting them within seconds")
    return 0


async def _people_add(args: argparse.Namespace, store: SqlStore) -> int:
    identity = Identity(
        email=args.email, slack_user_id=args.slack, teams_user_id=args.teams, name=args.name
    )
    person = await add_person(
        store,
        identity=identity,
        group=args.group,
        slack_channel=args.slack_channel,
        teams_channel=args.teams_channel,
        role=args.role,
    )
    print(
        f"added {person.name} ({person.id}){'' if person.role == 'member' else ', ' + person.role}"
    )
    return 0


async def _people_list(_args: argparse.Namespace, store: SqlStore) -> int:
    people = await list_people(store)
    rows = [
        (p.id, p.name, p.email, p.slack_user_id, p.teams_user_id, p.group, p.role) for p in people
    ]
    print(table(["id", "name", "email", "slack", "teams", "group", "role"], rows))
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
        check_cron=cron_check(),
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
            g.digest_cron or "default",
        )
        for g in await list_groups(store)
    ]
    headers = ["name", "slack", "teams", "slack escalation", "teams escalation", "digest"]
    print(table(headers, rows))
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


def add_directory_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`opslayer token`, `people`, `groups`, `digest` and `teams`."""
    token = sub.add_parser("token", help="agent credentials").add_subparsers(
        dest="token_command", required=True
    )
    create = token.add_parser("create", help="a new agent: its token and webhook signing secret")
    rotate = token.add_parser(
        "rotate", help="a known agent: a new token and secret; the old secret signs for a while"
    )
    for parser in (create, rotate):
        parser.add_argument("--agent", required=True, help="the agent's name")
        parser.add_argument(
            "--json", action="store_true", help='print {"agent", "token", "webhook_secret"}'
        )
        parser.add_argument(
            "--grace-h",
            type=float,
            default=24.0,
            metavar="HOURS",
            help="after a rotation, hours the old secret keeps signing commands (default 24)",
        )
        parser.set_defaults(handler=_token_create, rotate=parser is rotate)
    create.add_argument(
        "--rotate", action="store_true", help="the agent exists: rotate (as `token rotate`)"
    )
    listing = token.add_parser("list", help="agents, their tokens' ages and state")
    listing.set_defaults(handler=_token_list)
    revoke = token.add_parser(
        "revoke",
        help="revoke an agent's tokens: every one, or one (--id, or --token when it leaked)",
    )
    revoke.add_argument("--agent", required=True, help="the agent's name")
    one = revoke.add_mutually_exclusive_group()
    one.add_argument(
        "--id", dest="token_id", metavar="ID", help="the token's id as `token list` shows it"
    )
    one.add_argument(
        "--token", metavar="TOKEN", help="the token itself (opl_…), e.g. the one that leaked"
    )
    revoke.set_defaults(handler=_token_revoke)

    people = sub.add_parser("people", help="people who own and act on runs").add_subparsers(
        dest="people_command", required=True
    )
    padd = people.add_parser("add", help="add a person (at least one of --email, --slack, --teams)")
    padd.add_argument("--name", help="display name")
    padd.add_argument("--email")
    padd.add_argument("--slack", help="Slack user id, e.g. U0123ABCD")
    padd.add_argument("--teams", help="Teams user: their Microsoft Entra (Azure AD) object id")
    padd.add_argument("--group", help="the group whose channels alert for this person")
    padd.add_argument("--slack-channel", help="their own Slack alert channel (before the group's)")
    padd.add_argument("--teams-channel", help="their own Teams alert conversation id")
    padd.add_argument(
        "--role",
        choices=ROLES,
        default="member",
        help="member (default: their runs, their group's, what they approve), admin (everything)"
        " or viewer (sees every run in the console, acts on none)",
    )
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
    add_change_commands(people, groups)
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
