"""`opslayer prune` and `opslayer audit export`: keeping a year of operation in bounds, and the
audit trail in a SIEM."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from opslayer.adapters.cli_console import duration
from opslayer.adapters.terminal import json_line
from opslayer.bot.audit import AuditEvent
from opslayer.bot.people.changes import COMMAND_LINE
from opslayer.bot.ports import SystemClock
from opslayer.bot.runs.retention import Retention
from opslayer.store.uow import SqlStore

PAGE = 1000


def age(text: str) -> timedelta:
    """`90d`, `12h` (a bare number is days). Minutes and seconds are refused: `1m` read as a
    month would keep a month, read as a minute it removes nearly everything."""
    cleaned = text.strip().lower()
    if cleaned.endswith(("m", "s")):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give the age in days or hours (90d, 12h); minutes and seconds are too"
            " easily mistaken for months"
        )
    return duration(cleaned if not cleaned.isdigit() else f"{cleaned}d", limit_days=36500)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {name}" for name, n in counts.items() if n) or "nothing"


async def _prune(args: argparse.Namespace, store: SqlStore) -> int:
    retention = Retention(store, SystemClock())
    if args.dry_run:
        counts = await retention.would_remove(args.older_than)
        if not args.audit:
            counts.pop("audit events", None)
        print(f"would remove {_counts(counts)} (nothing removed: --dry-run)")
        return 0

    def progress(total: dict[str, int]) -> None:
        print(f"  removed {total.get('runs', 0):,} runs so far", file=sys.stderr, flush=True)

    removed = await retention.prune(
        args.older_than, actor=COMMAND_LINE, audit=args.audit, on_progress=progress
    )
    kept = "" if args.audit else " (their audit trail is kept: --audit removes it too)"
    print(f"removed {_counts(removed)}{kept}")
    return 0


def line(event: AuditEvent) -> str:
    """One audit event as one JSON line, with stable field names."""
    record: dict[str, Any] = {
        "id": event.id,
        "at": event.at.isoformat(),
        "action": event.action,
        "run_id": event.run_id,
        "actor": {"id": event.actor.id, "name": event.actor.name, "via": event.actor.via.value},
        "reason": event.reason,
        "detail": event.detail,
    }
    # Readable names stay readable; controls and bidi overrides an agent sent are escaped.
    return json_line(json.dumps(record, ensure_ascii=False, default=str, separators=(",", ":")))


async def _export(args: argparse.Namespace, store: SqlStore) -> int:
    since = datetime.now(UTC) - args.since if args.since else None
    written = 0
    if args.run:
        async with store.read() as uow:
            events = await uow.audit.for_run(args.run)
        for event in events:
            if since is None or event.at >= since:
                print(line(event))
                written += 1
    else:
        after = 0
        while True:
            async with store.read() as uow:
                page = await uow.audit.listing(after_id=after, limit=PAGE)
            if not page:
                break
            for event in page:
                if since is None or event.at >= since:
                    print(line(event))
                    written += 1
            after = page[-1].id or after
    print(f"exported {written:,} events", file=sys.stderr)
    return 0


def add_retention_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    prune = sub.add_parser(
        "prune",
        help="remove ended runs older than an age, with what hangs off them",
        description="Remove runs that ended (succeeded, failed, canceled) more than an age ago,"
        " with their checkpoints, approvals, commands, delivery attempts and alerts. The audit"
        " trail stays unless --audit is given. OPSLAYER_RETENTION_DAYS makes `opslayer serve`"
        " do this every night.",
    )
    prune.add_argument(
        "--older-than", type=age, required=True, metavar="AGE", help="90d, 12h (bare number: days)"
    )
    prune.add_argument("--dry-run", action="store_true", help="only count what would go")
    prune.add_argument("--audit", action="store_true", help="remove their audit events too")
    prune.set_defaults(handler=_prune)
    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(
        dest="audit_command", required=True
    )
    export = audit.add_parser(
        "export",
        help="write the audit trail as JSON lines (one event per line), oldest first",
        description="Stream the audit trail to stdout, one JSON object per line with stable"
        " fields: id, at, action, run_id, actor {id, name, via}, reason, detail.",
    )
    export.add_argument("--since", type=age, metavar="AGE", help="only the last 30d, 12h, …")
    export.add_argument("--run", help="only this run's events")
    export.add_argument("--format", choices=["jsonl"], default="jsonl", help="jsonl (the default)")
    export.set_defaults(handler=_export)
