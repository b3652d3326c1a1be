"""The agent API v1 (DESIGN §3): thin routes from HTTP to the bot's use cases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, TypeAdapter

from opslayer.adapters.core import Core
from opslayer.adapters.http.auth import CurrentAgent
from opslayer.adapters.http.read_cache import ReadCache, answer_key
from opslayer.bot.commands.model import CommandStatus
from opslayer.bot.ports import RunFilter
from opslayer.bot.runs.model import Health, RunStatus
from opslayer_client.contract import (
    ApprovalIn,
    ApprovalOut,
    AuditOut,
    CheckpointIn,
    CheckpointOut,
    CommandAck,
    CommandOut,
    ErrorOut,
    Heartbeat,
    RunCreate,
    RunDetailOut,
    RunOut,
    RunPage,
    StatusReport,
)

# Ids and filters are text the database compares: NUL (which PostgreSQL refuses) is a 422.
_NO_NUL = r"^[^\x00]*$"
RunId = Annotated[str, Path(max_length=200, pattern=_NO_NUL)]
ApprovalId = Annotated[str, Path(max_length=200, pattern=_NO_NUL)]
CommandId = Annotated[str, Path(max_length=200, pattern=_NO_NUL)]

# Every answer a route may give is in the document: 400 (a body that is not JSON), 429 (an
# agent over its rate or limits, with Retry-After) and 503 (the database takes no writes).
_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 422, 429, 503)
}
# Creating routes are idempotent: the same request again answers 200 with what exists.
_COMMANDS = TypeAdapter(list[CommandOut])
_AGAIN: dict[int | str, dict[str, object]] = {200: {"description": "Already there: the same again"}}
router = APIRouter(prefix="/v1", tags=["agents"], responses=_ERRORS)


async def _core(request: Request) -> Core:
    core: Core = request.app.state.core
    return core


Bot = Annotated[Core, Depends(_core)]


def _answers(request: Request) -> ReadCache:
    cache: ReadCache = request.app.state.read_cache
    return cache


async def _remembered(
    request: Request,
    agent: str,
    run_id: str | None,
    load: Callable[[], Awaitable[bytes]],
    *,
    commands: bool = False,
) -> Response:
    key = answer_key(request.scope)
    body = await _answers(request).answer(agent, key, load, run_id=run_id, commands=commands)
    return Response(body, media_type="application/json")


def _wrote(request: Request, agent: str, run_id: str | None) -> None:
    _answers(request).forget_run(agent, run_id)


def _json(model: BaseModel, *, created: bool = False) -> Response:
    """Serialize once, straight from the model: FastAPI would validate the answer again."""
    return Response(
        model.model_dump_json(), status_code=201 if created else 200, media_type="application/json"
    )


@router.post(
    "/runs",
    status_code=201,
    response_model=RunOut,
    responses=_AGAIN,
    summary="Register a run (idempotent)",
)
async def register_run(
    request: Request, body: RunCreate, agent: CurrentAgent, bot: Bot
) -> Response:
    run, created = await bot.runs.register_run(agent.name, body)
    _wrote(request, agent.name, run.id)
    return _json(RunOut.model_validate(run), created=created)


@router.get("/runs", response_model=RunPage, summary="List this agent's runs, newest first")
async def list_runs(
    request: Request,
    agent: CurrentAgent,
    bot: Bot,
    status: RunStatus | None = None,
    health: Health | None = None,
    owner: Annotated[
        str | None, Query(max_length=320, pattern=_NO_NUL, description="person id or email")
    ] = None,
    agent_name: Annotated[str | None, Query(alias="agent", max_length=200, pattern=_NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=64, pattern=_NO_NUL)] = None,
) -> Response:
    if agent_name is not None and agent_name != agent.name:
        raise HTTPException(403, f"an agent token lists only its own runs ({agent.name!r})")
    query = RunFilter(
        status=status, health=health, owner=owner, agent=agent.name, limit=limit, cursor=cursor
    )

    async def load() -> bytes:
        items, next_cursor = await bot.reads.list_runs(query)
        page = RunPage(items=[RunOut.model_validate(r) for r in items], next_cursor=next_cursor)
        return page.model_dump_json().encode()

    return await _remembered(request, agent.name, None, load)


@router.get(
    "/runs/{run_id}",
    response_model=RunDetailOut,
    summary="One run, with open approvals and pending commands",
)
async def get_run(request: Request, run_id: RunId, agent: CurrentAgent, bot: Bot) -> Response:
    async def load() -> bytes:
        detail = await bot.reads.get_run(run_id, agent=agent.name)
        out = RunOut.model_validate(detail.run).model_dump()
        return (
            RunDetailOut(
                **out,
                approvals=[ApprovalOut.model_validate(a) for a in detail.approvals],
                pending_commands=[CommandOut.model_validate(c) for c in detail.pending_commands],
            )
            .model_dump_json()
            .encode()
        )

    return await _remembered(request, agent.name, run_id, load)


async def record_heartbeat(
    bot: Core, answers: ReadCache, agent: str, run_id: str, body: Heartbeat
) -> tuple[int, bytes]:
    """What `POST /v1/runs/{id}/heartbeat` does and answers (here and on the hot path)."""
    run = await bot.runs.heartbeat(agent, run_id, body)
    answers.forget_run(agent, run_id, commands=False)
    return 200, RunOut.model_validate(run).model_dump_json().encode()


async def record_checkpoint(
    bot: Core, answers: ReadCache, agent: str, run_id: str, body: CheckpointIn
) -> tuple[int, bytes]:
    """What `POST /v1/runs/{id}/checkpoints` does and answers: 201, or 200 when it existed."""
    checkpoint, created = await bot.runs.add_checkpoint(agent, run_id, body)
    answers.forget_run(agent, run_id, commands=False)
    answer = CheckpointOut.model_validate(checkpoint).model_dump_json().encode()
    return 201 if created else 200, answer


@router.post(
    "/runs/{run_id}/heartbeat", response_model=RunOut, summary="Report that the run is alive"
)
async def heartbeat(
    request: Request, run_id: RunId, body: Heartbeat, agent: CurrentAgent, bot: Bot
) -> Response:
    status, answer = await record_heartbeat(bot, _answers(request), agent.name, run_id, body)
    return Response(answer, status_code=status, media_type="application/json")


@router.post(
    "/runs/{run_id}/status", response_model=RunOut, summary="Report a new status (409 if illegal)"
)
async def report_status(
    request: Request, run_id: RunId, body: StatusReport, agent: CurrentAgent, bot: Bot
) -> Response:
    run = await bot.runs.report_status(agent.name, run_id, body)
    _wrote(request, agent.name, run_id)
    return _json(RunOut.model_validate(run))


@router.post(
    "/runs/{run_id}/checkpoints",
    status_code=201,
    response_model=CheckpointOut,
    responses=_AGAIN,
    summary="Record a checkpoint",
)
async def add_checkpoint(
    request: Request, run_id: RunId, body: CheckpointIn, agent: CurrentAgent, bot: Bot
) -> Response:
    status, answer = await record_checkpoint(bot, _answers(request), agent.name, run_id, body)
    return Response(answer, status_code=status, media_type="application/json")


@router.get(
    "/runs/{run_id}/checkpoints",
    response_model=list[CheckpointOut],
    summary="Checkpoints, oldest first",
)
async def list_checkpoints(run_id: RunId, agent: CurrentAgent, bot: Bot) -> list[CheckpointOut]:
    return [
        CheckpointOut.model_validate(c)
        for c in await bot.reads.checkpoints(run_id, agent=agent.name)
    ]


@router.post(
    "/runs/{run_id}/approvals",
    status_code=201,
    response_model=ApprovalOut,
    responses=_AGAIN,
    summary="Ask a human to decide",
)
async def request_approval(
    request: Request, run_id: RunId, body: ApprovalIn, agent: CurrentAgent, bot: Bot
) -> Response:
    approval, created = await bot.approval_requests.request_approval(agent.name, run_id, body)
    _wrote(request, agent.name, run_id)
    return _json(ApprovalOut.model_validate(approval), created=created)


@router.get(
    "/approvals/{approval_id}", response_model=ApprovalOut, summary="One approval and its decision"
)
async def get_approval(approval_id: ApprovalId, agent: CurrentAgent, bot: Bot) -> Response:
    return _json(
        ApprovalOut.model_validate(await bot.reads.approval(approval_id, agent=agent.name))
    )


@router.get(
    "/runs/{run_id}/commands",
    response_model=list[CommandOut],
    summary="Commands for agents that poll",
)
async def list_commands(
    request: Request,
    run_id: RunId,
    agent: CurrentAgent,
    bot: Bot,
    status: CommandStatus | None = None,
) -> Response:

    async def load() -> bytes:
        commands = await bot.reads.commands(run_id, agent=agent.name, status=status)
        return _COMMANDS.dump_json([CommandOut.model_validate(c) for c in commands])

    return await _remembered(request, agent.name, run_id, load, commands=True)


@router.post(
    "/commands/{command_id}/ack",
    response_model=CommandOut,
    summary="Confirm a command was acted on",
)
async def ack_command(
    request: Request, command_id: CommandId, body: CommandAck, agent: CurrentAgent, bot: Bot
) -> Response:
    command = await bot.acks.ack_command(agent.name, command_id, body)
    _wrote(request, agent.name, command.run_id)
    return _json(CommandOut.model_validate(command))


@router.get(
    "/runs/{run_id}/audit",
    response_model=list[AuditOut],
    summary="The run's audit trail, oldest first",
)
async def audit(run_id: RunId, agent: CurrentAgent, bot: Bot) -> list[AuditOut]:
    return [
        AuditOut.model_validate(e) for e in await bot.reads.audit_trail(run_id, agent=agent.name)
    ]
