"""Any Python function behind a human's approval, and what every integration shares.

    ops = Opslayer("http://127.0.0.1:8080", token="opl_…", owner={"email": "you@example.com"})

    @ops.requires_approval(action="refund")
    async def refund(order: int, amount_eur: int) -> str: ...

A call registers a run, asks for approval with the call's arguments, and waits (on the webhook
when `webhook_url` is given and `ops.webhook()` is mounted, else by polling) for the decision:
approve runs the function (with the edited arguments after an edit), reject raises
ApprovalRejected with the approver's message.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import httpx

from opslayer_client._runtime import Runtime
from opslayer_client.client import OpslayerClient
from opslayer_client.contract import CommandBody
from opslayer_client.interrupts import Decided

log = logging.getLogger("opslayer_client")
P = ParamSpec("P")
R = TypeVar("R")


class ApprovalRejected(Exception):
    """The call was not approved: rejected, answered in words, or the run canceled."""

    def __init__(self, decision: str, message: str | None, by: str | None) -> None:
        said = f": {message}" if message else ""
        super().__init__(f"{decision} by {by or 'opslayer'}{said}")
        self.decision = decision
        self.message = message
        self.by = by


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class Opslayer:
    """A connection to opslayer for an agent: its token, its webhook secret, the default owner
    of its runs, and (optionally) the URL where opslayer delivers its commands."""

    def __init__(
        self,
        url: str,
        *,
        token: str,
        webhook_secret: str | None = None,
        owner: Mapping[str, Any] | None = None,
        webhook_url: str | None = None,
        poll_s: float = 1.0,
        http: httpx.AsyncClient | None = None,
        handled_path: Path | None = None,
    ) -> None:
        self.runtime = Runtime(
            url,
            token,
            webhook_secret=webhook_secret,
            owner=owner,
            webhook_url=webhook_url,
            poll_s=poll_s,
            http=http,
            handled_path=handled_path,
        )
        # What is queued reaches opslayer even when a script ends without `close()`.
        atexit.register(self._flush_at_exit)

    def close(self) -> None:
        """Send what is queued and stop the background thread."""
        atexit.unregister(self._flush_at_exit)
        self.runtime.close()

    def _flush_at_exit(self) -> None:
        try:
            self.runtime.flush(timeout_s=10)
        except Exception as error:  # opslayer away at exit: say so, never fail the exit
            log.warning("opslayer: reports still queued at exit were not sent: %s", error)

    def webhook(self) -> Any:
        """The ASGI app opslayer delivers signed commands to (mount it at `webhook_url`)."""
        return self.runtime.asgi()

    async def decision(self, run_id: str, approval_id: str) -> CommandBody:
        """Wait for the command that decides `approval_id` (or ends the run)."""
        while True:
            command = await self.runtime.next_command(run_id)
            if command.approval_id == approval_id or command.kind.value == "cancel":
                return command
            await self.runtime.ack(command, done=False, message="not waiting for that here")

    def requires_approval(
        self,
        *,
        action: str,
        owner: Mapping[str, Any] | None = None,
        title: str | None = None,
        risk: str | None = None,
        timeout_s: int | None = None,
        decisions: tuple[str, ...] = ("approve", "edit", "reject"),
    ) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
        """Ask a human before each call of the decorated async function."""

        def decorate(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
            signature = inspect.signature(function)

            @functools.wraps(function)
            async def asked(*args: P.args, **kwargs: P.kwargs) -> R:
                call = signature.bind(*args, **kwargs)
                call.apply_defaults()
                arguments = _jsonable(dict(call.arguments))
                shown = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
                external_id = f"{action}-{uuid.uuid4().hex[:12]}"
                runtime = self.runtime

                async def ask(client: OpslayerClient) -> tuple[str, str]:
                    run_id = await runtime.ensure_run(
                        client,
                        external_id,
                        title or f"{function.__name__}({shown})"[:200],
                        owner=dict(owner) if owner else None,
                    )
                    await runtime.set_status(client, run_id, "running")
                    body: dict[str, Any] = {
                        "request_id": "call",
                        "title": f"Run {action}({shown})?"[:200],
                        "action": action,
                        "arguments": arguments,
                        "decisions": list(decisions),
                    }
                    if risk:
                        body["risk"] = risk
                    if timeout_s:
                        body["timeout_s"] = timeout_s
                    approval = await client.request_approval(run_id, body)
                    return run_id, approval.id

                run_id, approval_id = await runtime.wait(ask)
                command = await self.decision(run_id, approval_id)
                decided = Decided.of(command)
                await runtime.ack(command)
                if command.kind.value != "approve":
                    await runtime.report(run_id, "canceled", reason=decided.message)
                    raise ApprovalRejected(decided.type, decided.message, command.actor.name)
                by = f"{decided.type} by {command.actor.name}"
                await runtime.report(run_id, "running", reason=by)
                if decided.type == "edit" and decided.arguments:
                    call.arguments.update(decided.arguments)
                try:
                    result = await function(*call.args, **call.kwargs)
                except Exception as error:
                    await runtime.report(run_id, "failed", error=repr(error)[:2000])
                    raise
                effect = {"key": f"{action}:{external_id}", "idempotent": False}
                done = {"checkpoint_id": "done", "step": action, "side_effects": [effect]}

                async def finish(client: OpslayerClient) -> None:
                    await client.checkpoint(run_id, done)
                    await runtime.set_status(client, run_id, "succeeded")

                await runtime.wait(finish)
                return result

            return asked

        return decorate
