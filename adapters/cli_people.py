"""`opslayer people update|remove` and `opslayer groups update|remove`: fixing what was added,
checked as when it was added, and audited."""

from __future__ import annotations

import argparse
from typing import Any

from opslayer.adapters.cli_operate import identity_of
from opslayer.adapters.settings import Settings
from opslayer.bot.people.changes import remove_group, remove_person, update_group, update_person
from opslayer.bot.people.model import ROLES
from opslayer.bot.ports import SystemClock
from opslayer.scheduler.cron import digest_trigger
from opslayer.store.uow import SqlStore

CLEARS = " ('' clears it)"


def cron_check(zone: str | None = None) -> Any:
    """Whether the scheduler can read a digest time: APScheduler's own parser, in our zone."""
    timezone = zone or Settings().timezone
    return lambda line: digest_trigger(line, timezone=timezone)


async def _people_update(args: argparse.Namespace, store: SqlStore) -> int:
    changes = {
        "name": args.name,
        "email": args.email,
        "slack_user_id": args.slack,
        "teams_user_id": args.teams,
        "group": args.group,
        "slack_channel": args.slack_channel,
        "teams_channel": args.teams_channel,
        "role": args.role,
    }
    asked = {k: v for k, v in changes.items() if v is not None}
    if not asked:
        print("nothing to change: give at least one option (see --help)")
        return 2
    person = await update_person(store, SystemClock(), identity_of(args.person), changes=asked)
    print(f"updated {person.name} ({person.id})")
    return 0


async def _people_remove(args: argparse.Namespace, store: SqlStore) -> int:
    person = await remove_person(store, SystemClock(), identity_of(args.person))
    print(
        f"removed {person.name} ({person.id}): they can no longer act; runs they own are"
        " reported as unowned until `opslayer runs reassign` hands them over"
    )
    return 0


async def _groups_update(args: argparse.Namespace, store: SqlStore) -> int:
    changes: dict[str, Any] = {
        "slack_channel": args.slack_channel,
        "teams_channel": args.teams_channel,
        "slack_escalation_channel": args.slack_escalation_channel,
        "teams_escalation_channel": args.teams_escalation_channel,
        "digest_cron": args.digest_cron,
        "all_clear": args.all_clear,
    }
    asked = {k: v for k, v in changes.items() if v is not None}
    if not asked:
        print("nothing to change: give at least one option (see --help)")
        return 2
    group = await update_group(
        store, SystemClock(), args.name, changes=asked, check_cron=cron_check()
    )
    print(f"updated group {group.name}; `opslayer serve` reads digest times at start")
    return 0


async def _groups_remove(args: argparse.Namespace, store: SqlStore) -> int:
    members = await remove_group(store, SystemClock(), args.name)
    print(f"removed group {args.name}; its {members} member(s) have no group now")
    return 0


def add_change_commands(
    people: argparse._SubParsersAction[argparse.ArgumentParser],
    groups: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    who = "the person: an email, slack:U0123 or teams:<object id>"
    pupdate = people.add_parser("update", help="change a person (audited)")
    pupdate.add_argument("person", help=who)
    pupdate.add_argument("--name", help="display name")
    pupdate.add_argument("--email", help="email" + CLEARS)
    pupdate.add_argument("--slack", help="Slack member id" + CLEARS)
    pupdate.add_argument("--teams", help="Microsoft Entra object id" + CLEARS)
    pupdate.add_argument("--group", help="their group" + CLEARS)
    pupdate.add_argument("--slack-channel", help="their own Slack alert channel" + CLEARS)
    pupdate.add_argument("--teams-channel", help="their own Teams alert conversation" + CLEARS)
    pupdate.add_argument("--role", choices=ROLES, help="member, admin or viewer")
    pupdate.set_defaults(handler=_people_update)
    premove = people.add_parser(
        "remove", help="remove a person: no more rights; their runs need a new owner (audited)"
    )
    premove.add_argument("person", help=who)
    premove.set_defaults(handler=_people_remove)

    gupdate = groups.add_parser("update", help="change a group's channels or digest (audited)")
    gupdate.add_argument("name")
    gupdate.add_argument("--slack-channel", help="Slack channel id" + CLEARS)
    gupdate.add_argument("--teams-channel", help="Teams conversation id" + CLEARS)
    gupdate.add_argument("--slack-escalation-channel", help="Slack escalation channel" + CLEARS)
    gupdate.add_argument("--teams-escalation-channel", help="Teams escalation channel" + CLEARS)
    gupdate.add_argument("--digest-cron", help="digest time, crontab with day names" + CLEARS)
    gupdate.add_argument(
        "--all-clear",
        type=lambda v: v.lower() in ("1", "true", "yes", "on"),
        metavar="yes|no",
        help="post the digest even when nothing needs attention",
    )
    gupdate.set_defaults(handler=_groups_update)
    gremove = groups.add_parser("remove", help="remove a group; members stay (audited)")
    gremove.add_argument("name")
    gremove.set_defaults(handler=_groups_remove)
