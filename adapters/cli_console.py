"""`opslayer login-link`: a one-time link into the console, for a known person."""

from __future__ import annotations

import argparse
import re
from datetime import timedelta

from opslayer.adapters.cli_operate import identity_of
from opslayer.adapters.settings import Settings
from opslayer.bot.audit import Via
from opslayer.bot.people.directory import find_person
from opslayer.bot.people.rights import Admins
from opslayer.bot.people.sign_in import SignIn
from opslayer.bot.ports import SystemClock
from opslayer.store.uow import SqlStore

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str, *, limit_days: float = 7) -> timedelta:
    """`90s`, `15m`, `2h`, `1d` (a bare number is minutes)."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if found is None:
        raise argparse.ArgumentTypeError(f"{text!r}: write a duration like 15m, 2h or 1d")
    seconds = float(found[1]) * _UNITS[found[2] or "m"]
    if not 0 < seconds <= limit_days * 86400:
        raise argparse.ArgumentTypeError(f"{text!r}: between a second and {limit_days:g} days")
    return timedelta(seconds=seconds)


async def _login_link(args: argparse.Namespace, store: SqlStore) -> int:
    settings = Settings()
    person = await find_person(store, identity_of(args.as_))
    sign_in = SignIn(store, SystemClock(), admins=Admins.parse(settings.admins))
    token = await sign_in.link(person, ttl=args.ttl, via=Via.CLI)
    minutes = args.ttl.total_seconds() / 60
    print(f"A one-time sign-in link for {person.name}, valid {minutes:g} min:")
    print(f"{settings.base_url}/login/{token}")
    return 0


def add_console_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    link = sub.add_parser(
        "login-link",
        help="print a one-time link that signs a person in to the console",
        description="Print a one-time link (its last line) that signs a known person in to the"
        " web console. The link's host is OPSLAYER_PUBLIC_URL, else http://HOST:PORT.",
    )
    link.add_argument(
        "--as",
        dest="as_",
        required=True,
        metavar="PERSON",
        help="who signs in: an email, slack:U0123 or teams:<aad object id>",
    )
    link.add_argument(
        "--ttl",
        type=duration,
        default=timedelta(minutes=15),
        help="how long the link stays good: 90s, 15m, 2h, 1d (default 15m)",
    )
    link.set_defaults(handler=_login_link)
