"""The OpenAI Agents SDK operated from opslayer.

    ops = Opslayer("http://127.0.0.1:8080", token="opl_…", owner={"email": "you@example.com"})
    result = await ops.run(agent, "Refund order 1001", external_id="order-1001")

`run` is `Runner.run` with hooks that register the run, heartbeat at every agent turn and tool
call, and record each tool call as a checkpoint (tools named in `unsafe_tools` as side effects a
retry must not repeat). A tool with `needs_approval` pauses the run: each pending tool call
becomes an approval (the tool's name as `action`, its parsed arguments as `arguments`) whose
`state` carries the serialized `RunState`; when every call is decided (webhook or polling), the
run continues with `state.approve(...)` / `state.reject(...)`. A process that restarted calls
`await ops.resume(agent, external_id=...)`: the state comes back with the decision.

`run_streamed` is `Runner.run_streamed`, operated the same way: its `stream_events()` yields
the SDK's own events of every part of the run, before and after each pause for approval, and
once they end `interruptions` is empty and `final_output` is the run's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

from agents import Agent, RunHooks, Runner, RunResult, RunResultStreaming
from agents.items import ToolApprovalItem
from agents.run_state import RunState

from opslayer_client.client import OpslayerClient
from opslayer_client.contract import TERMINAL, CommandBody
from opslayer_client.functions import Opslayer as _Base
from opslayer_client.interrupts import Decided

__all__ = ["Opslayer"]

STATE_KEY = "openai_agents_run_state"


def _arguments(item: ToolApprovalItem) -> dict[str, Any]:
    try:
        parsed = json.loads(item.arguments or "{}")
    except json.JSONDecodeError:
        return {"raw": item.arguments}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def _call_id(item: ToolApprovalItem) -> str:
    return str(item.call_id or item.tool_name or "call")


class _Hooks(RunHooks[Any]):
    """Tells opslayer what the run is doing, without holding it up."""

    def __init__(self, ops: Opslayer, run_id: str, unsafe: frozenset[str]) -> None:
        self._ops = ops
        self._run_id = run_id
        self._unsafe = unsafe
        self._calls = 0

    async def on_agent_start(self, context: Any, agent: Any) -> None:
        step = f"agent {agent.name}"
        self._ops.runtime.fire(lambda c: c.heartbeat(self._run_id, step=step), "a heartbeat")

    async def on_tool_start(self, context: Any, agent: Any, tool: Any) -> None:
        step = f"tool {tool.name}"
        self._ops.runtime.fire(lambda c: c.heartbeat(self._run_id, step=step), "a heartbeat")

    async def on_tool_end(self, context: Any, agent: Any, tool: Any, result: object) -> None:
        self._calls += 1
        call = getattr(context, "tool_call_id", None) or f"{tool.name}-{self._calls}"
        effects = (
            [{"key": f"{tool.name}:{call}", "idempotent": False}]
            if tool.name in self._unsafe
            else []
        )
        body = {
            "checkpoint_id": f"tool-{self._calls}-{call}"[:200],
            "step": f"tool {tool.name}",
            "summary": str(result)[:500],
            "side_effects": effects,
        }
        self._ops.runtime.fire(lambda c: c.checkpoint(self._run_id, body), "a checkpoint")


class Opslayer(_Base):
    """opslayer for the OpenAI Agents SDK."""

    async def run(
        self,
        agent: Agent[Any],
        input: Any,
        *,
        external_id: str,
        title: str | None = None,
        owner: dict[str, Any] | None = None,
        unsafe_tools: Iterable[str] = (),
        **runner: Any,
    ) -> RunResult:
        """`Runner.run`, operated: registered, heartbeating, paused for approvals, reported."""
        run_id = await self._start(agent, input, external_id, title, owner)
        hooks = _Hooks(self, run_id, frozenset(unsafe_tools))
        return await self._drive(agent, input, run_id, hooks, runner)

    def run_streamed(
        self,
        agent: Agent[Any],
        input: Any,
        *,
        external_id: str,
        title: str | None = None,
        owner: dict[str, Any] | None = None,
        unsafe_tools: Iterable[str] = (),
        **runner: Any,
    ) -> OperatedStream:
        """`Runner.run_streamed`, operated: iterate `stream_events()` as with the SDK's own."""
        return OperatedStream(
            self,
            agent,
            input,
            external_id=external_id,
            title=title,
            owner=owner,
            unsafe=frozenset(unsafe_tools),
            runner=runner,
        )

    async def _start(
        self,
        agent: Agent[Any],
        input: Any,
        external_id: str,
        title: str | None,
        owner: dict[str, Any] | None,
    ) -> str:
        runtime = self.runtime
        name = title or f"{agent.name}: {str(input)[:120]}"

        async def start(client: OpslayerClient) -> str:
            link = {"thread_id": external_id}
            run_id = await runtime.ensure_run(client, external_id, name, owner=owner, context=link)
            if (await client.run(run_id)).status.value in TERMINAL:
                # The same external id again (a conversation's next turn): a new run of it.
                again = f"{external_id}#run-{uuid.uuid4().hex[:12]}"
                run_id = await runtime.ensure_run(client, again, name, owner=owner, context=link)
                runtime.runs[external_id] = run_id
            await runtime.set_status(client, run_id, "running")
            return run_id

        run_id: str = await runtime.wait(start)
        return run_id

    async def resume(
        self,
        agent: Agent[Any],
        *,
        external_id: str,
        unsafe_tools: Iterable[str] = (),
        **runner: Any,
    ) -> RunResult:
        """In a process that did not start the run: wait for its decisions, rebuild the
        `RunState` they carry, and finish the run."""
        runtime = self.runtime

        async def find(client: OpslayerClient) -> str:
            page = await client.list_runs(limit=500)  # newest first: the latest invocation
            for run in page.items:
                thread = run.context.thread_id if run.context else None
                if external_id in (run.external_id, thread) and run.status.value not in TERMINAL:
                    runtime.runs[external_id] = run.id
                    return run.id
            raise LookupError(f"opslayer knows no open run {external_id!r} of this agent")

        run_id: str = await runtime.wait(find)
        hooks = _Hooks(self, run_id, frozenset(unsafe_tools))
        state = await self._decided_state(agent, run_id, None)
        return await self._drive(agent, state, run_id, hooks, runner)

    async def _drive(
        self, agent: Agent[Any], start: Any, run_id: str, hooks: _Hooks, runner: dict[str, Any]
    ) -> RunResult:
        runtime = self.runtime
        current = start
        while True:
            try:
                result = await Runner.run(agent, current, hooks=hooks, **runner)
            except Exception as error:
                failure = f"{type(error).__name__}: {error}"[:4000]
                await runtime.report(run_id, "failed", error=failure)
                raise
            if not result.interruptions:
                await runtime.report(run_id, "succeeded")
                return result
            state = result.to_state()
            await self._ask(run_id, state, result.interruptions)
            current = await self._decided_state(agent, run_id, state)

    async def _ask(
        self, run_id: str, state: RunState[Any], pending: list[ToolApprovalItem]
    ) -> None:
        saved = state.to_string()

        async def ask(client: OpslayerClient) -> None:
            for item in pending:
                await client.request_approval(
                    run_id,
                    {
                        "request_id": f"tool:{_call_id(item)}"[:200],
                        "title": f"Run {item.tool_name}?",
                        "action": item.tool_name,
                        "arguments": _arguments(item),
                        "decisions": ["approve", "reject"],
                        "state": {STATE_KEY: saved, "call_id": _call_id(item)},
                    },
                )

        await self.runtime.wait(ask)

    async def _decided_state(
        self, agent: Agent[Any], run_id: str, state: RunState[Any] | None
    ) -> RunState[Any]:
        """Wait until every pending tool call is decided; apply the decisions to the state."""
        decided: dict[str, tuple[CommandBody, Decided]] = {}
        while True:
            command = await self.runtime.next_command(run_id)
            if command.kind.value == "cancel":
                await self.runtime.ack(command)
                await self.runtime.report(run_id, "canceled", reason=command.reason)
                raise RuntimeError(f"run {run_id} was canceled by {command.actor.name}")
            carried = command.state if isinstance(command.state, dict) else {}
            if command.kind.value not in ("approve", "reject") or STATE_KEY not in carried:
                await self.runtime.ack(command, done=False, message="not waiting for that here")
                continue
            if state is None:
                state = await RunState.from_string(agent, carried[STATE_KEY])
            decided[str(carried.get("call_id"))] = (command, Decided.of(command))
            pending = {_call_id(item): item for item in state.get_interruptions()}
            if not set(pending) <= set(decided):
                continue
            for call_id, item in pending.items():
                each, decision = decided[call_id]
                if decision.type in ("approve", "edit"):
                    state.approve(item)
                else:
                    state.reject(item, rejection_message=decision.message)
                await self.runtime.ack(each)
            await self.runtime.report(run_id, "running")
            return state


class OperatedStream:
    """A streamed run through every pause for approval: `stream_events()` as the SDK's own
    `RunResultStreaming` gives them; `interruptions`, `final_output` and `result` once done."""

    def __init__(
        self,
        ops: Opslayer,
        agent: Agent[Any],
        input: Any,
        *,
        external_id: str,
        title: str | None,
        owner: dict[str, Any] | None,
        unsafe: frozenset[str],
        runner: dict[str, Any],
    ) -> None:
        self._ops = ops
        self._agent = agent
        self._input = input
        self._external_id = external_id
        self._title = title
        self._owner = owner
        self._unsafe = unsafe
        self._runner = runner
        self.result: RunResultStreaming | None = None  # the last part of the run

    @property
    def interruptions(self) -> list[ToolApprovalItem]:
        """Empty once the stream ended: opslayer's approvals decided every one."""
        return [] if self.result is None else list(self.result.interruptions)

    @property
    def final_output(self) -> Any:
        return None if self.result is None else self.result.final_output

    async def stream_events(self) -> AsyncIterator[Any]:
        ops, agent = self._ops, self._agent
        run_id = await ops._start(agent, self._input, self._external_id, self._title, self._owner)
        hooks = _Hooks(ops, run_id, self._unsafe)
        current: Any = self._input
        while True:
            streamed = Runner.run_streamed(agent, current, hooks=hooks, **self._runner)
            try:
                async for event in streamed.stream_events():
                    yield event
            except Exception as error:
                failure = f"{type(error).__name__}: {error}"[:4000]
                await ops.runtime.report(run_id, "failed", error=failure)
                raise
            self.result = streamed
            if not streamed.interruptions:
                await ops.runtime.report(run_id, "succeeded")
                return
            state = streamed.to_state()
            await ops._ask(run_id, state, streamed.interruptions)
            current = await ops._decided_state(agent, run_id, state)
