"""What a person does from the console (POST, each with its session's CSRF token): decide an
approval, command a run, hand it over, acknowledge. The same use cases as chat, via=web; a
refusal is explained on the page and audited by the use case."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from opslayer.adapters.web.console import Console
from opslayer.adapters.web.session import flash, require_csrf
from opslayer.bot.approvals.decisions import Answer, ended_note
from opslayer.bot.approvals.model import DecisionType
from opslayer.bot.approvals.voting import progress
from opslayer.bot.audit import Via
from opslayer.bot.commands.issuing import Decision
from opslayer.bot.commands.rules import retry_default
from opslayer.bot.errors import ConfirmationRequired, OpsError, ValidationFailed
from opslayer.bot.people.model import Identity, Person
from opslayer.bot.views.forms import by_name, edit_form, read_edit

router = APIRouter(include_in_schema=False)

DECISIONS = {d.value: d for d in DecisionType}
COMMANDS = ("cancel", "pause", "resume", "retry")
VERBS = (*DECISIONS, *COMMANDS, "reassign", "acknowledge", "accept")


def _issued(decision: Decision) -> str:
    if not decision.created:
        return f"{decision.command.kind} was already on its way to the agent; nothing new sent"
    return f"{decision.command.kind} sent to the agent (command {decision.command.id})"


def _answered(answer: Answer) -> str:
    if answer.command is None and answer.approval.pending:
        return f"your vote counts: {progress(answer.approval)}"
    return f"approval {answer.approval.id}: {ended_note(answer.approval)}"


def _arguments(text: str | None) -> Any:
    if text is None or not text.strip():
        raise ValidationFailed("an edit needs the changed arguments, as JSON")
    try:
        return json.loads(text)
    except RecursionError:
        raise ValidationFailed("the edited arguments nest too deeply to read") from None
    except json.JSONDecodeError as error:
        raise ValidationFailed(f"the edited arguments are not JSON: {error}") from None


async def _retry_from(console: Console, run_id: str, form: dict[str, str]) -> str | None:
    """The checkpoint picked on the run page ("" is the start), or, from a button that picks
    none (the inbox's), the latest resumable one: never the start by default, which would
    replay what cannot safely be done twice."""
    if "checkpoint" in form:
        return form["checkpoint"] or None
    async with console.store.read() as uow:
        default = retry_default(await uow.checkpoints.for_run(run_id))
    return default.checkpoint_id if default is not None else None


async def _edited(console: Console, approval_id: str, form: dict[str, str]) -> Any:
    """The edited arguments: from the typed form's inputs (one per field, as Slack's modal and
    Teams' card have them) when the page showed one, else from the JSON text."""
    if "arguments" in form or "arg_0" not in form:
        return _arguments(form.get("arguments"))
    async with console.store.read() as uow:
        approval = await uow.approvals.get(approval_id)
    if approval is None:
        raise ValidationFailed(f"no approval {approval_id!r}")
    shown = edit_form(approval)
    return read_edit(approval, by_name(shown, form))


async def _act(
    console: Console, person: Person, run_id: str, verb: str, form: dict[str, str]
) -> str:
    ops = console.core.operations
    message = form.get("message") or None
    confirmed = form.get("confirm") == "yes"
    if verb in DECISIONS:
        approval_id = form.get("approval_id") or ((await ops.approvals.pending_approval(run_id)).id)
        decision = DECISIONS[verb]
        answer = await ops.approvals.decide(
            approval_id,
            decision,
            person=person,
            via=Via.WEB,
            arguments=await _edited(console, approval_id, form)
            if decision is DecisionType.EDIT
            else None,
            message=message,
            confirmed=confirmed,
            always=form.get("always") == "yes",
        )
        return _answered(answer)
    if verb == "cancel":
        return _issued(
            await ops.commands.cancel(run_id, person=person, via=Via.WEB, reason=message)
        )
    if verb == "pause":
        return _issued(await ops.commands.pause(run_id, person=person, via=Via.WEB, reason=message))
    if verb == "resume":
        return _issued(
            await ops.commands.resume(
                run_id, person=person, via=Via.WEB, reason=message, confirm_stale=confirmed
            )
        )
    if verb == "retry":
        return _issued(
            await ops.commands.retry(
                run_id,
                person=person,
                via=Via.WEB,
                reason=message,
                from_checkpoint_id=await _retry_from(console, run_id, form),
                confirm_replay=confirmed,
            )
        )
    if verb == "reassign":
        to = (form.get("to") or "").strip()
        if not to:
            raise ValidationFailed("reassign to whom? Pick a person")
        await ops.handoffs.reassign(
            run_id, person=person, via=Via.WEB, new_owner=Identity(email=to), reason=message
        )
        return f"offered to {to}; the run stays with its owner until they accept"
    if verb == "acknowledge":
        taken = await ops.alerts.acknowledge(run_id, person=person, via=Via.WEB)
        return f"acknowledged {len(taken)} alert(s): escalation waits"
    if verb == "accept":
        await ops.handoffs.accept(run_id, person=person, via=Via.WEB)
        return "the run is yours now; the agent is told"
    raise ValidationFailed(f"{verb!r} is not something the console does")


@router.post("/runs/{run_id}/{verb}")
async def act(
    request: Request,
    run_id: str,
    verb: str,
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    console: Console = request.app.state.console
    session = await console.signed_in(request)
    require_csrf(session, csrf)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    back = RedirectResponse(f"/runs/{run_id}", status_code=303)
    if verb not in VERBS:
        flash(back, request, f"{verb!r} is not an action", error=True)
        return back
    try:
        done = await _act(console, session.person, run_id, verb, form)
    except ConfirmationRequired as ask:
        fields = {k: v for k, v in form.items() if k not in ("csrf", "confirm")}
        async with console.store.read() as uow:
            asked_about = await uow.runs.get(run_id)
        return console.render(
            request,
            "confirm.html",
            session,
            status_code=409,
            run_id=run_id,
            verb=verb,
            risks=ask.risks,
            action=ask.action,
            fields=fields,
            run_title=asked_about.title if asked_about is not None else None,
        )
    except OpsError as refusal:
        flash(back, request, f"{verb} refused: {refusal.message}", error=True)
        return back
    flash(back, request, done)
    return back
