"""An OpenAI background response (`background=True`) mirrored into an opslayer run.

    response = await client.responses.create(model=..., input=..., background=True)
    await watch(client, response.id, ops=Opslayer(url, token=..., owner={...}))

While it polls the response, the run heartbeats and follows its status: `queued` → queued,
`in_progress` → running, `completed` → succeeded, `failed` / `incomplete` → failed with the
reason, `cancelled` → canceled. A cancel command from opslayer cancels the response.
"""

from __future__ import annotations

import asyncio
from typing import Any

from opslayer_client.client import OpslayerClient
from opslayer_client.functions import Opslayer

__all__ = ["STATUS", "watch"]

# The response's status → the run's.
STATUS = {
    "queued": "queued",
    "in_progress": "running",
    "completed": "succeeded",
    "failed": "failed",
    "incomplete": "failed",
    "cancelled": "canceled",
}
_DONE = {"completed", "failed", "incomplete", "cancelled"}


def _why(response: Any) -> str | None:
    error = getattr(response, "error", None)
    if error is not None:
        return f"{getattr(error, 'code', 'error')}: {getattr(error, 'message', error)}"
    details = getattr(response, "incomplete_details", None)
    if details is not None:
        return f"incomplete: {getattr(details, 'reason', details)}"
    return None


async def watch(
    client: Any,
    response_id: str,
    *,
    ops: Opslayer,
    title: str | None = None,
    owner: dict[str, Any] | None = None,
    poll_s: float = 2.0,
) -> Any:
    """Poll the response until it ends, mirrored into the run `response_id`; returns it."""
    runtime = ops.runtime
    response = await client.responses.retrieve(response_id)
    name = title or f"OpenAI response {response_id} ({getattr(response, 'model', 'model')})"

    async def register(api: OpslayerClient) -> str:
        return await runtime.ensure_run(api, response_id, name[:200], owner=owner)

    run_id: str = await runtime.wait(register)
    told: str | None = None
    cancel: asyncio.Task[Any] = asyncio.ensure_future(_cancel_requested(ops, run_id))
    try:
        while True:
            status = str(response.status)
            if status != told:
                await _report(ops, run_id, status, _why(response))
                told = status
            else:
                await runtime.beat(run_id, step=f"response {status}")
            if status in _DONE:
                return response
            done, _ = await asyncio.wait({cancel}, timeout=poll_s)
            if done:
                command = cancel.result()
                await client.responses.cancel(response_id)
                await runtime.ack(command, message="the response was cancelled")
                cancel = asyncio.ensure_future(asyncio.Event().wait())  # no second cancel
            response = await client.responses.retrieve(response_id)
    finally:
        cancel.cancel()


async def _report(ops: Opslayer, run_id: str, status: str, why: str | None) -> None:
    runtime = ops.runtime
    target = STATUS.get(status)
    if target is None or target == "queued":
        return

    async def report(api: OpslayerClient) -> None:
        if target in ("succeeded", "failed"):
            await runtime.set_status(api, run_id, "running")
        if target == "failed":
            await runtime.set_status(api, run_id, "failed", error=why or status)
        else:
            await runtime.set_status(api, run_id, target, reason=why)

    await runtime.wait(report)


async def _cancel_requested(ops: Opslayer, run_id: str) -> Any:
    while True:
        command = await ops.runtime.next_command(run_id)
        if command.kind.value == "cancel":
            return command
        await ops.runtime.ack(command, done=False, message="a background response only cancels")
