"""`opslayer runs approve|reject|respond|cancel|pause|resume|retry|reassign|force-cancel` and
`opslayer commands list|redeliver`: operators' actions from a terminal (via=cli)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import Any

from opslayer.adapters.cli_table import table
from opslayer.adapters.settings import Settings
from opslayer.bot.approvals.decisions import Answer, ended_note
from opslayer.bot.approvals.model import DecisionType
from opslayer.bot.approvals.voting import progress
from opslayer.bot.audit import Via
from opslayer.bot.commands.issuing import Decision
from opslayer.bot.commands.model import Command
from opslayer.bot.commands.outbox import Outbox
from opslayer.bot.errors import ValidationFailed
from opslayer.bot.operations import Operations
from opslayer.bot.people.directory import find_person
from opslayer.bot.people.model import Identity, Person
from opslayer.bot.people.rights import Admins
from opslayer.bot.ports import SystemClock
from opslayer.store.uow import SqlStore


def identity_of(value: str) -> Identity:
    """`alice@example.com`, `slack:U0123` or `teams:<aad object id>`."""
    kind, sep, rest = value.partition(":")
    if sep and kind == "slack":
        return Identity(slack_user_id=rest)
    if sep and kind == "teams":
        return Identity(teams_user_id=rest)
    return Identity(email=value)


def _operations(store: SqlStore) -> Operations:
    return Operations.build(store, SystemClock(), admins=Admins.parse(Settings().admins))


async def _me(args: argparse.Namespace, store: SqlStore) -> Person:
    return await find_person(store, identity_of(args.as_))


def _report(decision: Decision) -> int:
    command = decision.command
    if not decision.created:
        print(
            f"{command.kind} is already on its way to the agent as {command.id}; nothing new sent"
        )
        return 0
    where = (
        "its webhook" if command.next_attempt_at else "the agent's next poll (it has no webhook)"
    )
    print(f"queued {command.kind} for run {command.run_id} as command {command.id}")
    print(f"`opslayer serve` delivers it to {where}; see `opslayer commands list`")
    return 0


def _answered(answer: Answer) -> int:
    approval = answer.approval
    if answer.rule is not None:
        rule = answer.rule
        print(f"rule {rule.id}: {rule.action} for {rule.agent} is approved from now on")
    if answer.command is None and approval.pending:
        print(f"counted: {progress(approval)}; it needs someone else's vote")
        return 0
    print(f"approval {approval.id}: {ended_note(approval)}")
    if answer.command is None:
        return 0
    return _report(Decision(answer.command, approval))


def _edited(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except RecursionError:
        raise ValidationFailed("--edit nests too deeply to read") from None
    except json.JSONDecodeError as wrong:
        raise ValidationFailed(
            f"--edit is not JSON: {wrong.msg} at character {wrong.pos}"
        ) from None


async def _decide(args: argparse.Namespace, store: SqlStore) -> int:
    ops = _operations(store)
    approval = await ops.approvals.pending_approval(args.run, args.approval)
    decision = DecisionType(args.verdict)
    arguments = _edited(getattr(args, "edit", None))
    if arguments is not None:
        decision = DecisionType.EDIT
    answer = await ops.approvals.decide(
        approval.id,
        decision,
        person=await _me(args, store),
        via=Via.CLI,
        arguments=arguments,
        message=args.message or args.reason,
        confirmed=getattr(args, "confirm", False),
        always=getattr(args, "always", False),
    )
    return _answered(answer)


async def _run_command(args: argparse.Namespace, store: SqlStore) -> int:
    ops = _operations(store)
    me = await _me(args, store)
    common = {"person": me, "via": Via.CLI, "reason": args.reason}
    actions: dict[str, Callable[[], Awaitable[Decision]]] = {
        "cancel": lambda: ops.commands.cancel(args.run, **common),
        "pause": lambda: ops.commands.pause(args.run, **common),
        "resume": lambda: ops.commands.resume(args.run, **common, confirm_stale=args.confirm),
        "retry": lambda: ops.commands.retry(
            args.run, **common, from_checkpoint_id=args.checkpoint, confirm_replay=args.confirm
        ),
        "accept": lambda: ops.handoffs.accept(args.run, person=me, via=Via.CLI),
        "force-cancel": lambda: ops.commands.force_cancel(args.run, **common),
    }
    return _report(await actions[args.action]())


async def _reassign(args: argparse.Namespace, store: SqlStore) -> int:
    offer = await _operations(store).handoffs.reassign(
        args.run,
        person=await _me(args, store),
        via=Via.CLI,
        new_owner=identity_of(args.to),
        reason=args.reason,
    )
    print(f"run {args.run} is offered to {args.to}; it stays with its owner until they accept")
    print(f"they accept with `opslayer runs accept {args.run} --as {args.to}` (or Accept in chat)")
    print(f"the offer lapses at {offer.next_action_at:%Y-%m-%d %H:%M} UTC")
    return 0


async def _acknowledge(args: argparse.Namespace, store: SqlStore) -> int:
    taken = await _operations(store).alerts.acknowledge(
        args.run, person=await _me(args, store), via=Via.CLI
    )
    kinds = ", ".join(a.kind for a in taken)
    waiting = [a.acked_until for a in taken if a.acked_until is not None]
    if waiting:
        until = f"{min(waiting):%H:%M} UTC"
        print(f"acknowledged {kinds} on run {args.run}; escalation waits until {until}")
    else:
        print(f"acknowledged {kinds} on run {args.run}: settled")
    return 0


def _command_row(command: Command) -> tuple[object, ...]:
    when = command.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S") if command.next_attempt_at else "-"
    return (
        command.id,
        command.run_id,
        command.kind,
        command.status,
        command.attempts,
        when,
        command.last_error,
    )


async def _commands_list(args: argparse.Namespace, store: SqlStore) -> int:
    schedule = Settings().webhook_retry_s
    commands = await Outbox(store, SystemClock(), schedule=schedule).listing(
        undelivered=args.undelivered, limit=args.limit
    )
    headers = ["id", "run", "kind", "status", "attempts", "next attempt", "last error"]
    print(table(headers, [_command_row(c) for c in commands]))
    return 0


async def _commands_redeliver(args: argparse.Namespace, store: SqlStore) -> int:
    command = await _operations(store).commands.redeliver(
        args.command_id, person=await _me(args, store), via=Via.CLI
    )
    print(f"command {command.id} will be delivered again by `opslayer serve`")
    return 0


def _as(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as",
        dest="as_",
        required=True,
        metavar="PERSON",
        help="who acts: an email, slack:USER_ID or teams:AAD_OBJECT_ID of a known person",
    )
    parser.add_argument("--reason", help="why; kept in the audit trail and sent to the agent")


def add_operator_commands(
    runs: argparse._SubParsersAction[argparse.ArgumentParser],
    top: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Attach the operators' actions to `opslayer runs` and the `opslayer commands` group."""
    verdicts = {
        "approve": "approve the run's pending approval (as asked, or --edit its arguments)",
        "reject": "reject the run's pending approval; --message tells the agent why",
        "respond": "answer the run's pending approval in words (--message) instead",
    }
    for verdict, text in verdicts.items():
        p = runs.add_parser(verdict, help=text)
        p.add_argument("run", help="run id")
        p.add_argument("--approval", help="approval id, when the run has several pending")
        _as(p)
        p.add_argument(
            "--message",
            required=verdict == "respond",
            help="your words for the agent (feedback on a rejection, or your answer)",
        )
        if verdict == "approve":
            p.add_argument(
                "--edit",
                metavar="JSON",
                help="approve with changed arguments, a JSON object: '{\"amount\": 40}'",
            )
            p.add_argument(
                "--confirm", action="store_true", help="yes, even though it is high risk"
            )
            p.add_argument(
                "--always",
                action="store_true",
                help="owner or admin: also approve this action for this agent from now on",
            )
        p.set_defaults(handler=_decide, verdict=verdict)
    helps = {
        "cancel": "ask the agent to cancel the run",
        "pause": "ask the agent to pause the run",
        "resume": "ask the agent to resume a paused run",
        "retry": "ask the agent to retry a failed (or stuck) run",
        "accept": "take a run that was offered to you",
        "force-cancel": "admins: mark canceled a run whose agent no longer answers",
    }
    for action, text in helps.items():
        p = runs.add_parser(action, help=text)
        p.add_argument("run", help="run id")
        _as(p)
        if action in ("resume", "retry"):
            p.add_argument(
                "--confirm",
                action="store_true",
                help="yes, even if stale / even if it repeats non-idempotent side effects",
            )
        if action == "retry":
            p.add_argument(
                "--checkpoint", help="retry from this checkpoint id (default: the start)"
            )
        p.set_defaults(handler=_run_command, action=action)
    reassign = runs.add_parser(
        "reassign", help="offer the run to another known person (they accept)"
    )
    reassign.add_argument("run", help="run id")
    _as(reassign)
    reassign.add_argument(
        "--to", required=True, metavar="PERSON", help="the new owner (email, slack:ID, teams:ID)"
    )
    reassign.set_defaults(handler=_reassign)
    ack = runs.add_parser(
        "ack", help="acknowledge the run's alerts: you are on it, escalation waits"
    )
    ack.add_argument("run", help="run id")
    _as(ack)
    ack.set_defaults(handler=_acknowledge)

    commands = top.add_parser("commands", help="commands on their way to agents").add_subparsers(
        dest="commands_command", required=True
    )
    listing = commands.add_parser("list", help="recent commands, newest first")
    listing.add_argument(
        "--undelivered", action="store_true", help="only those whose retries ran out"
    )
    listing.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    listing.set_defaults(handler=_commands_list)
    redeliver = commands.add_parser("redeliver", help="deliver an undelivered command again")
    redeliver.add_argument("command_id", metavar="COMMAND", help="command id")
    redeliver.add_argument(
        "--as",
        dest="as_",
        required=True,
        metavar="PERSON",
        help="who asks (email, slack:ID, teams:ID)",
    )
    redeliver.set_defaults(handler=_commands_redeliver)
