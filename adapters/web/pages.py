"""The console's pages (GET): inbox, runs, a run, agents, an agent, people; and the stamp that
tells an open page it changed."""

from __future__ import annotations

import json
from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from opslayer.adapters.web.checklist import checklist
from opslayer.adapters.web.console import Console
from opslayer.adapters.web.links import chat_links
from opslayer.adapters.web.timeline import timeline
from opslayer.bot.alerts.kinds import AlertKind
from opslayer.bot.alerts.ledger import current_view
from opslayer.bot.approvals.model import ApprovalStatus, DecisionType
from opslayer.bot.audit import Via
from opslayer.bot.commands.model import CommandKind
from opslayer.bot.commands.rules import ALLOWED, plan_retry, retry_default
from opslayer.bot.errors import ValidationFailed
from opslayer.bot.people.model import Person
from opslayer.bot.people.rights import may_act
from opslayer.bot.ports import RunFilter
from opslayer.bot.runs.model import Health, Run, RunStatus
from opslayer.bot.views.alerts import approval_view, handoff_note
from opslayer.bot.views.forms import changes, edit_form
from opslayer.bot.views.model import AlertView, Mention
from opslayer.store.console import ConsoleQueries

router = APIRouter(include_in_schema=False)
PAGE = 50
# Each inbox item is its message as chat shows it now (a few reads): a page is the oldest 25.
INBOX_PAGE = 25


def _is(person: Person, mention: Mention) -> bool:
    """Whether a message's mention names this person (by any identity they have)."""
    return any(
        getattr(person, field) and getattr(person, field) == mention.get(field)
        for field in ("email", "slack_user_id", "teams_user_id")
    )


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def _enum(kind: Any, value: str | None, what: str) -> Any:
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise ValidationFailed(f"{what} {value!r} is not one of: {allowed}") from None


@router.get("/", response_class=HTMLResponse)
async def inbox(
    request: Request,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    agent: Annotated[str | None, Query(max_length=200)] = None,
    start: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    console = _console(request)
    session = await console.signed_in(request)
    sight = await console.sight(session.person)
    alert_kind = _enum(AlertKind, kind, "kind")
    now = console.now()
    async with console.store.read() as uow:
        queries = ConsoleQueries(uow.db)
        ids, total = await queries.inbox_alert_ids(
            visible_to=sight.visible_to,
            approving=sight.approving,
            kind=alert_kind,
            agent=agent or None,
            limit=INBOX_PAGE,
            offset=start,
        )
        items = []
        for alert_id in ids:
            alert = await uow.alerts.get(alert_id)
            if alert is None:
                continue
            view = await current_view(uow, alert, now)
            offered_to_me = False
            if alert.kind is AlertKind.HANDOFF:
                # Offered to someone: for them an offer to accept, for anyone else (the owner,
                # an admin) a note that the run stays the owner's until it is accepted.
                offer = cast(AlertView, view)
                offered_to_me = _is(session.person, offer["mention"])
                run = await uow.runs.get(alert.run_id) if alert.run_id else None
                if not offered_to_me and run is not None:
                    view = handoff_note(offer, run)
            items.append({"alert": alert, "view": view, "offered_to_me": offered_to_me})
        agents = await queries.agent_names()
    kinds = [k.value for k in AlertKind if k is not AlertKind.DIGEST]
    return console.render(
        request,
        "inbox.html",
        session,
        section="inbox",
        stamp_url="/stamp",
        stamp_value=await _stamp(console, None),
        items=items,
        total=total,
        kinds=kinds,
        kind=kind or "",
        agent=agent or "",
        agents=agents,
        everyone=sight.everything,
        start=start,
        page=INBOX_PAGE,
    )


@router.get("/runs", response_class=HTMLResponse)
async def runs(
    request: Request,
    status: Annotated[str | None, Query(max_length=32)] = None,
    health: Annotated[str | None, Query(max_length=32)] = None,
    agent: Annotated[str | None, Query(max_length=200)] = None,
    owner: Annotated[str | None, Query(max_length=320)] = None,
    group: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    after: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    console = _console(request)
    session = await console.signed_in(request)
    sight = await console.sight(session.person)
    query = RunFilter(
        status=_enum(RunStatus, status, "status"),
        health=_enum(Health, health, "health"),
        agent=agent or None,
        owner=owner or None,
        group=group or None,
        search=(q or "").strip() or None,
        cursor=after or None,
        limit=PAGE,
        visible_to=sight.visible_to,
    )
    items, cursor = await console.core.reads.list_runs(query)
    filters = {
        "status": status or "",
        "health": health or "",
        "agent": agent or "",
        "owner": owner or "",
        "group": group or "",
        "q": q or "",
    }
    return console.render(
        request,
        "runs.html",
        session,
        section="runs",
        runs=items,
        cursor=cursor,
        filters=filters,
        statuses=[s.value for s in RunStatus],
        healths=[h.value for h in Health],
        deep=bool(after),
    )


def _commands_allowed(run: Run) -> list[str]:
    allowed = [kind.value for kind, statuses in ALLOWED.items() if run.status in statuses]
    if Health.STUCK in run.health and run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
        allowed.append(CommandKind.RETRY.value)
    return [a for a in allowed if a not in ("approve", "reject")]


async def _current_run(console: Console, run_id: str) -> Run | None:
    async with console.store.read() as uow:
        run = await uow.runs.get(run_id)
    if run is None:
        return None
    return console.core.cache.current(run)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_page(request: Request, run_id: str) -> Response:
    console = _console(request)
    session = await console.signed_in(request)
    run = await _current_run(console, run_id)
    if run is None:
        return console.render(
            request,
            "message.html",
            session,
            status_code=404,
            title="No such run",
            text=f"There is no run {run_id}.",
        )
    if not await console.sees_run(session.person, run):
        await console.refuse_view(session.person, run_id)
        return console.render(
            request,
            "message.html",
            session,
            status_code=403,
            title="Not yours to see",
            text=f"Run {run_id} is neither yours, your group's, nor waiting for your approval."
            " Ask its owner or an admin.",
        )
    now = console.now()
    async with console.store.read() as uow:
        points = await uow.checkpoints.for_run(run_id)
        approvals = await uow.approvals.for_run(run_id)
        commands = await uow.commands.for_run(run_id)
        attempts = await uow.commands.attempts_for_run(run_id)
        events = await uow.audit.for_run(run_id)
        alerts = await uow.alerts.open_for_run(run_id)
        everyone = {p.id: p for p in await uow.people.everyone()}
    # Per place a retry may start from ("" is the start): what it would replay that is not
    # idempotent; the latest resumable checkpoint is chosen unless the person picks another.
    retry: dict[str, list[str]] | None = None
    retry_from = ""
    if CommandKind.RETRY.value in _commands_allowed(run):
        starts = [None, *(c.checkpoint_id for c in points if c.resumable)]
        retry = {start or "": [e.key for e in plan_retry(points, start).unsafe] for start in starts}
        default = retry_default(points)
        retry_from = default.checkpoint_id if default is not None else ""
    by_command: dict[str, list[Any]] = {}
    for attempt in attempts:
        by_command.setdefault(attempt.command_id, []).append(attempt)
    decidable = [a for a in approvals if a.status is ApprovalStatus.PENDING]
    return console.render(
        request,
        "run.html",
        session,
        run=run,
        checkpoints=points,
        approvals=[
            {
                "approval": a,
                "view": approval_view(a, now=now, agent=run.agent),
                "arguments": json.dumps(a.arguments, indent=2, ensure_ascii=False)
                if a.arguments is not None
                else None,
                "state": json.dumps(a.state, indent=2, ensure_ascii=False, default=str)
                if a.state is not None
                else None,
                # An edit, shown as what it changed (the full arguments stay on the command).
                "changes": changes(a.arguments, a.decision.arguments)
                if a.decision is not None and a.decision.type is DecisionType.EDIT
                else [],
            }
            for a in approvals
        ],
        decidable=decidable,
        forms={a.id: edit_form(a) for a in decidable},
        commands=commands,
        attempts=by_command,
        timeline=timeline(events, points, attempts, agent=run.agent),
        allowed=_commands_allowed(run),
        unsafe_on_retry=retry,
        retry_from=retry_from,
        alerts=alerts,
        pending_owner=everyone.get(run.pending_owner_id or ""),
        people=[p for p in everyone.values() if not p.removed and not p.is_viewer],
        chat=await chat_links(console, alerts),
        section="runs",
        stamp_url=f"/stamp?run={run_id}",
        stamp_value=await _stamp(console, run_id),
        may_act=any(
            may_act(session.person, run, console.core.operations.acting.admins, approval)
            for approval in [None, *decidable]
        ),
    )


async def _stamp(console: Console, run_id: str | None) -> str:
    async with console.queries() as queries:
        return await queries.stamp(run_id)


@router.get("/stamp")
async def stamp(
    request: Request, run: Annotated[str | None, Query(max_length=40)] = None
) -> Response:
    """What an open page polls: it reloads itself when the stamp moves."""
    console = _console(request)
    session = await console.session(request)
    if session is None:
        return JSONResponse({"detail": "sign in again"}, status_code=401)
    if run is not None:
        found = await _current_run(console, run)
        if found is None or not await console.sees_run(session.person, found):
            return JSONResponse({"detail": "no such run of yours"}, status_code=404)
    return JSONResponse(
        {"stamp": await _stamp(console, run)}, headers={"Cache-Control": "no-store"}
    )


@router.get("/agents", response_class=HTMLResponse)
async def agents_page(request: Request) -> Response:
    console = _console(request)
    session = await console.signed_in(request)
    async with console.queries() as queries:
        found = await queries.agents()
    return console.render(
        request,
        "agents.html",
        session,
        section="agents",
        agents=found,
        statuses=[s.value for s in RunStatus],
    )


@router.get("/agents/{name}", response_class=HTMLResponse)
async def agent_page(request: Request, name: str) -> Response:
    console = _console(request)
    session = await console.signed_in(request)
    async with console.queries() as queries:
        facts = await queries.agent_facts(name, now=console.now())
    if facts is None:
        return console.render(
            request,
            "message.html",
            session,
            status_code=404,
            title="No such agent",
            text=f"No agent is called {name!r}. `opslayer token create --agent NAME` adds one.",
        )
    return console.render(
        request,
        "agent.html",
        session,
        section="agents",
        facts=facts,
        answers=checklist(facts),
        statuses=[s.value for s in RunStatus],
    )


@router.get("/people", response_class=HTMLResponse)
async def people_page(request: Request) -> Response:
    console = _console(request)
    session = await console.signed_in(request)
    admins = console.core.operations.acting.admins
    if not admins.includes(session.person):
        await console.core.operations.acting.record_refusal(
            who=session.person.id,
            via=Via.WEB,
            action="view people",
            run_id=None,
            reason="only admins see people and groups",
            person=session.person,
            refusal="NotAuthorized",
        )
        return console.render(
            request,
            "message.html",
            session,
            status_code=403,
            title="Admins only",
            text="Only admins see people and groups.",
        )
    async with console.store.read() as uow:
        people = await uow.people.everyone()
        groups = await uow.people.groups()
    return console.render(
        request,
        "people.html",
        session,
        section="people",
        people=people,
        groups=groups,
        admin_of=lambda p: admins.includes(p),
    )
