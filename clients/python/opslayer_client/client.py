"""An async client for the agent API v1, and the check of commands opslayer sends."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from opslayer_client.contract import (
    ApprovalIn,
    ApprovalOut,
    CheckpointIn,
    CheckpointOut,
    CommandAck,
    CommandMessage,
    CommandOut,
    Heartbeat,
    RunCreate,
    RunDetailOut,
    RunOut,
    RunPage,
    RunStatus,
    StatusReport,
)
from opslayer_client.signing import verify

M = TypeVar("M", bound=BaseModel)
_COMMANDS = TypeAdapter(list[CommandOut])


class OpslayerError(Exception):
    """opslayer refused a request; `status` is the HTTP status, `detail` its reason."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"opslayer answered {status}: {detail}")
        self.status = status
        self.detail = detail


def parse_command(secret: str, headers: Mapping[str, str], body: bytes) -> CommandMessage:
    """Verify a webhook delivery's signature and age, then parse it.

    Raises opslayer_client.InvalidSignature for anything forged or older than five minutes. A
    copy replayed within those five minutes verifies (it is the same signed message): act once
    per `message.command.id`, across restarts too (a retried delivery carries the same id).
    `HandledCommands` keeps them in a small file; the SDK's webhooks use it.
    """
    verify(secret, headers, body)
    return CommandMessage.model_validate_json(body)


class OpslayerClient:
    """What an agent calls: register, heartbeat, report, checkpoint, ask, poll and ack."""

    def __init__(self, base_url: str, token: str, *, http: httpx.AsyncClient | None = None) -> None:
        self._http = http or httpx.AsyncClient(timeout=10.0)
        self._owns_http = http is None
        self._base = base_url.rstrip("/") + "/v1"
        self._headers = {"Authorization": f"Bearer {token}"}

    async def __aenter__(self) -> OpslayerClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def _call(self, method: str, path: str, body: BaseModel | None = None) -> httpx.Response:
        content = body.model_dump_json(exclude_none=True) if body is not None else None
        headers = (
            {**self._headers, "content-type": "application/json"} if content else self._headers
        )
        answer = await self._http.request(
            method, self._base + path, content=content, headers=headers
        )
        if answer.status_code >= 400:
            try:
                detail = answer.json().get("detail")
            except ValueError:
                detail = answer.text
            raise OpslayerError(answer.status_code, detail)
        return answer

    async def _model(
        self, model: type[M], method: str, path: str, body: BaseModel | None = None
    ) -> M:
        return model.model_validate_json((await self._call(method, path, body)).content)

    async def register_run(self, run: RunCreate | Mapping[str, Any]) -> RunOut:
        """Register (or find again, by external_id) a run."""
        return await self._model(RunOut, "POST", "/runs", RunCreate.model_validate(run))

    async def list_runs(
        self, *, status: RunStatus | str | None = None, limit: int = 50, cursor: str | None = None
    ) -> RunPage:
        """This agent's runs, newest first (`next_cursor` pages on)."""
        query = f"?limit={limit}" + (f"&status={status}" if status else "")
        query += f"&cursor={cursor}" if cursor else ""
        return await self._model(RunPage, "GET", f"/runs{query}")

    async def run(self, run_id: str) -> RunDetailOut:
        return await self._model(RunDetailOut, "GET", f"/runs/{run_id}")

    async def heartbeat(
        self,
        run_id: str,
        *,
        step: str | None = None,
        progress: float | None = None,
        message: str | None = None,
        at: datetime | None = None,
    ) -> RunOut:
        beat = Heartbeat(at=at, step=step, progress=progress, message=message)
        return await self._model(RunOut, "POST", f"/runs/{run_id}/heartbeat", beat)

    async def report_status(
        self,
        run_id: str,
        status: RunStatus | str,
        *,
        reason: str | None = None,
        error: str | None = None,
        auth_expires_at: datetime | None = None,
    ) -> RunOut:
        report = StatusReport(
            status=RunStatus(status), reason=reason, error=error, auth_expires_at=auth_expires_at
        )
        return await self._model(RunOut, "POST", f"/runs/{run_id}/status", report)

    async def checkpoint(
        self, run_id: str, checkpoint: CheckpointIn | Mapping[str, Any]
    ) -> CheckpointOut:
        body = CheckpointIn.model_validate(checkpoint)
        return await self._model(CheckpointOut, "POST", f"/runs/{run_id}/checkpoints", body)

    async def request_approval(
        self, run_id: str, approval: ApprovalIn | Mapping[str, Any]
    ) -> ApprovalOut:
        body = ApprovalIn.model_validate(approval)
        return await self._model(ApprovalOut, "POST", f"/runs/{run_id}/approvals", body)

    async def approval(self, approval_id: str) -> ApprovalOut:
        return await self._model(ApprovalOut, "GET", f"/approvals/{approval_id}")

    async def pending_commands(self, run_id: str) -> list[CommandOut]:
        """Commands not yet acknowledged, for agents that poll instead of taking webhooks."""
        answer = await self._call("GET", f"/runs/{run_id}/commands?status=pending")
        return _COMMANDS.validate_json(answer.content)

    async def commands(self, run_id: str) -> list[CommandOut]:
        """Every command of the run, oldest first, whatever its status."""
        answer = await self._call("GET", f"/runs/{run_id}/commands")
        return _COMMANDS.validate_json(answer.content)

    async def ack(
        self, command_id: str, *, done: bool = True, message: str | None = None
    ) -> CommandOut:
        body = CommandAck(result="done" if done else "failed", message=message)
        return await self._model(CommandOut, "POST", f"/commands/{command_id}/ack", body)
