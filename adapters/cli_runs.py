"""`opslayer runs list|show`: what agents wrote, as an operator reads it in a terminal."""

from __future__ import annotations

import argparse
import json
from datetime import datetime

from opslayer.adapters.cli_table import table
from opslayer.adapters.terminal import printable
from opslayer.bot.approvals.model import Approval, Risk
from opslayer.bot.approvals.voting import progress
from opslayer.bot.ports import RunFilter
from opslayer.bot.runs.model import Health, Run, RunStatus
from opslayer.bot.runs.reads import RunReads
from opslayer.store.uow import SqlStore


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


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
    # Which database answered, first: a list from the wrong one looks like an empty one.
    print(f"# database: {store.engine.url.render_as_string(hide_password=True)}")
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
        headers = ["id", "title", "since", "decide", "votes", "deadline"]
        print(table(headers, [_approval_row(a) for a in detail.approvals]))
        for a in detail.approvals:
            if a.arguments is not None:
                shown = json.dumps(a.arguments, ensure_ascii=False, sort_keys=True)
                print(printable(f"  {a.id} {a.action or 'arguments'}: {shown}"))
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


def _approval_row(approval: Approval) -> tuple[object, ...]:
    """An open approval: what may be decided, the quorum so far, and what the deadline does."""
    decide = "/".join(d.value for d in approval.decisions)
    if approval.risk is Risk.HIGH:
        decide += " · high risk"
    deadline = approval.expires_at
    return (
        approval.id,
        approval.title,
        _when(approval.created_at),
        decide,
        progress(approval) or "-",
        f"{_when(deadline)} → {approval.on_timeout}" if deadline else "-",
    )


def add_run_commands(runs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`opslayer runs list` and `opslayer runs show`."""
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
