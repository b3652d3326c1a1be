"""The `opslayer` command: serve the bot, migrate, mint tokens, manage people, inspect runs."""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from opslayer.adapters.cli_console import add_console_commands
from opslayer.adapters.cli_directory import add_directory_commands
from opslayer.adapters.cli_operate import add_operator_commands
from opslayer.adapters.cli_retention import add_retention_commands
from opslayer.adapters.cli_rules import add_rule_commands
from opslayer.adapters.cli_runs import add_run_commands
from opslayer.adapters.demo.run import add_demo_command
from opslayer.adapters.listening import bind, cannot_listen
from opslayer.adapters.settings import Settings
from opslayer.adapters.terminal import EscapingFormatter, printable
from opslayer.bot.errors import ConfirmationRequired, OpsError
from opslayer.bot.ports import SystemClock
from opslayer.store import migrate
from opslayer.store.engine import create_engine, is_sqlite
from opslayer.store.uow import SqlStore

Handler = Callable[[argparse.Namespace, SqlStore], Awaitable[int]]


async def _db_upgrade(_args: argparse.Namespace, store: SqlStore) -> int:
    await migrate.upgrade(store.engine)
    print(f"database is at revision {await migrate.current_revision(store.engine)}")
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
    # The port is bound before the app starts, so "opslayer is up" is only ever said when it is.
    try:
        listening = bind(host, port)
    except OSError as why:
        print(f"opslayer: {cannot_listen(host, port, why)}", file=sys.stderr)
        return 2
    # log_config=None: uvicorn's own lines go through the escaping handler above too.
    config = uvicorn.Config(app, log_level=settings.log_level, access_log=False, log_config=None)
    uvicorn.Server(config).run(sockets=[listening])
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

    add_directory_commands(sub)
    runs = sub.add_parser("runs", help="inspect runs").add_subparsers(
        dest="runs_command", required=True
    )
    add_run_commands(runs)
    add_operator_commands(runs, sub)
    add_rule_commands(sub)
    add_console_commands(sub)
    add_demo_command(sub)
    add_retention_commands(sub)
    parser.epilog = "every command, with its arguments (`opslayer COMMAND --help` says more):\n" + (
        "\n".join(f"  {line}" for line in _every_command(parser))
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def _every_command(parser: argparse.ArgumentParser) -> list[str]:
    """One usage line per command at the bottom of the tree (`opslayer runs approve RUN …`)."""
    lines: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases share a parser
                lines.extend(_every_command(sub))
    if lines:
        return lines
    usage = " ".join(parser.format_usage().removeprefix("usage: ").split())
    return [usage.replace(" [-h]", "")]


class NoDatabase(Exception):
    """The command would read a database that does not exist (and only serve or `db upgrade`
    create one)."""


def _existing_database(url: str) -> None:
    """Refuse a SQLite file that is not there: run from another folder, the default
    `./opslayer.db` would otherwise be a new, empty database that answers "not found"."""
    parsed = make_url(url)
    if is_sqlite(url) and parsed.get_driver_name() != "aiosqlite":
        raise NoDatabase(
            f"cannot use the database {_shown(url)}: opslayer needs the asyncio driver, as in"
            f" {parsed.set(drivername='sqlite+aiosqlite').render_as_string()}"
        )
    if not is_sqlite(url) or parsed.database in (None, "", ":memory:"):
        return
    path = Path(parsed.database).resolve()
    if not path.exists():
        raise NoDatabase(
            f"no database at {path}. Point OPSLAYER_DATABASE_URL at the one `opslayer serve`"
            " uses (e.g. sqlite+aiosqlite:////srv/opslayer/opslayer.db), or create one here"
            " with `opslayer db upgrade`."
        )


async def _with_store(handler: Handler, args: argparse.Namespace, settings: Settings) -> int:
    if handler is not _db_upgrade:
        _existing_database(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        if handler is not _db_upgrade:
            await migrate.upgrade(engine)
        return await handler(args, SqlStore(engine, SystemClock(), read_engine=None))
    finally:
        await engine.dispose()


def _shown(url: str) -> str:
    """A database URL as it may be printed: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(url)


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
    except NoDatabase as missing:
        print(f"opslayer: {missing}", file=sys.stderr)
        return 2
    except (SQLAlchemyError, OSError) as unusable:
        first = str(unusable).strip().splitlines()[0] if str(unusable).strip() else repr(unusable)
        print(
            f"opslayer: cannot use the database {_shown(settings.database_url)}: {first}. Check"
            " OPSLAYER_DATABASE_URL (sqlite+aiosqlite:///./opslayer.db, or"
            " postgresql+asyncpg://user@host/db with the server running).",
            file=sys.stderr,
        )
        return 2
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
