"""`opslayer rules add|list|remove`: which agents' actions need a human at all."""

from __future__ import annotations

import argparse
import getpass

from opslayer.adapters.cli_operate import identity_of
from opslayer.adapters.cli_table import table
from opslayer.bot.approvals.rule_book import RuleBook, new_rule
from opslayer.bot.approvals.rules import Rule, RuleDecision
from opslayer.bot.audit import Actor, Via, actor_of
from opslayer.bot.people.directory import find_person
from opslayer.bot.ports import SystemClock
from opslayer.store.uow import SqlStore


async def _who(args: argparse.Namespace, store: SqlStore) -> Actor:
    """A known person (`--as`), else the account at this terminal."""
    if args.as_:
        return actor_of(await find_person(store, identity_of(args.as_)), Via.CLI)
    user = getpass.getuser()
    return Actor(id=f"cli:{user}", name=f"{user} (terminal)", via=Via.CLI)


def _what(rule: Rule) -> str:
    if rule.decide is not RuleDecision.ASK:
        return f"{rule.decide.value} at once"
    who = ", ".join(rule.approvers) or "the agent's approvers"
    quorum = f", {rule.required_approvals} must approve" if rule.required_approvals else ""
    return f"ask {who}{quorum}"


async def _add(args: argparse.Namespace, store: SqlStore) -> int:
    rule = new_rule(
        agent=args.agent,
        action=args.action,
        decide=RuleDecision(args.decide),
        approvers=args.approver or (),
        required_approvals=args.required_approvals,
    )
    made = await RuleBook(store, SystemClock()).add(rule, by=await _who(args, store))
    print(f"rule {made.id}: {made.agent} · {made.action} → {_what(made)}")
    print("it applies to approvals asked from now on; `opslayer rules remove` takes it away")
    return 0


async def _list(args: argparse.Namespace, store: SqlStore) -> int:
    rules = await RuleBook(store, SystemClock()).listing(args.agent)
    rows = [
        (
            r.id,
            r.agent,
            r.action,
            _what(r),
            r.created_by,
            f"{r.created_at:%Y-%m-%d %H:%M} UTC" if r.created_at else "",
        )
        for r in rules
    ]
    print(table(["id", "agent", "action", "decides", "made by", "made at"], rows))
    if not rows:
        print("No rules: every approval an agent asks goes to a person.")
    return 0


async def _remove(args: argparse.Namespace, store: SqlStore) -> int:
    removed = await RuleBook(store, SystemClock()).remove(args.rule, by=await _who(args, store))
    print(f"removed rule {removed.id} ({removed.agent} · {removed.action}); approvals ask again")
    return 0


def _as(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as",
        dest="as_",
        metavar="PERSON",
        help="who makes the change (email, slack:ID, teams:ID); default: this terminal's user",
    )


def add_rule_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`opslayer rules add|list|remove`."""
    rules = sub.add_parser(
        "rules", help="approval rules: which agents' actions need a human at all"
    ).add_subparsers(dest="rules_command", required=True)
    add = rules.add_parser(
        "add",
        help="approve or reject an agent's action at once, or say who must approve it",
        description=(
            "The most specific rule wins: an agent's own over every agent's (*), a longer"
            " action glob over a shorter, the newest of equals."
        ),
    )
    add.add_argument("--agent", required=True, help="the agent's name, or * for every agent")
    add.add_argument(
        "--action", required=True, help="the approvals' action, or a glob: send_*, refund, *"
    )
    add.add_argument(
        "--decide",
        required=True,
        choices=[d.value for d in RuleDecision],
        help="approve or reject at once (no message), or ask people",
    )
    add.add_argument(
        "--approver",
        action="append",
        metavar="WHO",
        help="with ask: who may decide (email, Slack or Teams user id, group:NAME); repeatable",
    )
    add.add_argument(
        "--required-approvals", type=int, metavar="N", help="with ask: how many must approve"
    )
    _as(add)
    add.set_defaults(handler=_add)
    listing = rules.add_parser("list", help="the rules in force, with who made them and when")
    listing.add_argument("--agent", help="only those that apply to this agent")
    listing.set_defaults(handler=_list)
    remove = rules.add_parser("remove", help="take a rule out of force")
    remove.add_argument("rule", help="rule id (see `opslayer rules list`)")
    _as(remove)
    remove.set_defaults(handler=_remove)
