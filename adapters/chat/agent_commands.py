"""`agent …` answered the same way on every chat surface; each surface brings its markup.

Slack reaches this through `/agent`, Teams through a message to the bot (`agent status`, or
just `status`). The words, the rights and the wording are here once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from opslayer.adapters.chat.use_cases import UseCases
from opslayer.bot.audit import Via
from opslayer.bot.people.model import Person
from opslayer.bot.ports import RunFilter
from opslayer.bot.runs.model import Health, RunStatus

LIST_LIMIT = 50
# What `answer` understands (any other word gets the help); Teams' manifest lists the same.
COMMAND_WORDS = ("status", "stuck", "waiting", "mine", "ack", "subscribe", "login", "help")


@dataclass(frozen=True, slots=True)
class Markup:
    """How a surface writes emphasis and code."""

    bold: Callable[[str], str]
    code: Callable[[str], str]
    prefix: str  # how the commands are typed there: "/agent " or "agent "
    safe: Callable[[str], str]  # text from agents or people, shown as written


@dataclass(frozen=True, slots=True)
class Asker:
    """Who asks, and from where: `person` resolves them (and refuses strangers)."""

    person: Callable[[], Awaitable[Person]]
    via: Via
    channel: str | None = None  # where they asked, for `subscribe`
    private: bool = False  # only they see the answer (a slash command's, a direct message)


def help_text(m: Markup, *, shared_hint: bool) -> str:
    lines = [
        f"{m.bold(m.prefix.strip())} — opslayer",
        f"• {m.code(m.prefix + 'status')} — your runs by status and health",
        f"• {m.code(m.prefix + 'status RUN')} — one run"
        + (f" (add {m.code('here')} to show it to the channel)" if shared_hint else ""),
        f"• {m.code(m.prefix + 'status stuck|waiting|all')} — runs that are stuck, waiting, "
        "or all of them",
        f"• {m.code(m.prefix + 'stuck')}, {m.code(m.prefix + 'waiting')}, "
        f"{m.code(m.prefix + 'mine')} — the same, shorter",
        f"• {m.code(m.prefix + 'ack RUN')} — take a run's alerts: escalation waits",
        f"• {m.code(m.prefix + 'subscribe')} — your alerts come to this channel "
        f"({m.code(m.prefix + 'subscribe team NAME')}: your group's alerts and digests)",
        f"• {m.code(m.prefix + 'login')} — a one-time link into the web console (only you see it)",
        f"• {m.code(m.prefix + 'help')} — this",
    ]
    return "\n".join(lines)


def _flags(health: tuple[Health, ...]) -> str:
    return " · " + ", ".join(health) if health else ""


async def answer(
    words: list[str],
    asker: Asker,
    *,
    use: UseCases,
    markup: Markup,
    shared_hint: bool = False,
) -> str:
    """The answer to `agent WORDS`; raises OpsError (refusals) for the surface to show.

    Only people opslayer knows may read runs: a workspace or tenant can hold more people than
    the teams that run agents (and a Teams app can be installed in other tenants)."""
    m = markup
    verb = words[0].lower() if words else "status"
    arg = words[1] if len(words) > 1 else None
    if verb not in COMMAND_WORDS or verb == "help":
        return help_text(m, shared_hint=shared_hint)
    person = await asker.person()
    if verb in ("stuck", "waiting"):
        verb, arg = "status", verb
    if verb in ("status", "mine") and arg and arg.startswith("run_"):
        run = (await use.reads.get_run(arg)).run
        health = ", ".join(run.health) or "ok"
        return (
            f"{m.bold(m.safe(run.title))} ({m.code(run.id)}) — {run.status}, {health}, "
            f"owner {m.safe(run.owner.name)}, step {m.safe(run.step or '-')}"
        )
    if verb in ("status", "mine"):
        scope = (arg or "mine").lower()
        if scope == "stuck":
            query = RunFilter(health=Health.STUCK, limit=LIST_LIMIT)
        elif scope == "waiting":
            query = RunFilter(status=RunStatus.WAITING_APPROVAL, limit=LIST_LIMIT)
        elif scope == "all":
            query = RunFilter(limit=LIST_LIMIT)
        else:
            query = RunFilter(owner=person.id, limit=LIST_LIMIT)
        runs, more = await use.reads.list_runs(query)
        if not runs:
            return "No runs here."
        lines = [
            f"• {m.bold(m.safe(r.title))} ({m.code(r.id)}) — {r.status}{_flags(r.health)}"
            for r in runs
        ]
        if more:
            lines.append(f"…and more: {m.code('opslayer runs list')} pages through them all")
        return "\n".join(lines)
    if verb == "ack" and arg:
        await use.operations.alerts.acknowledge(arg, person=person, via=asker.via)
        return f"You took the alerts of {m.code(arg)}; escalation waits."
    if verb == "login":
        if not asker.private or use.sign_in is None:
            return (
                "A sign-in link is for your eyes only: ask with /agent login in Slack, or in a"
                " personal chat with the bot in Teams."
            )
        token = await use.sign_in.link(person, via=asker.via)
        return f"Your one-time sign-in link, good for 15 minutes: {use.console_url}/login/{token}"
    if verb == "subscribe":
        if asker.channel is None:
            return "Run this in the channel that should get the alerts."
        group = words[2] if arg in ("team", "group") and len(words) > 2 else None
        told = await use.subscriptions.subscribe(
            asker.channel,
            surface=asker.via.value,
            person=person,
            via=asker.via,
            group=group,
        )
        return f"Done: {m.safe(told)}."
    return help_text(m, shared_hint=shared_hint)
