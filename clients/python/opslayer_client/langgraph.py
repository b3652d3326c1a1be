"""LangGraph (and LangChain agents, which run on it) operated from opslayer.

    ops = Opslayer("http://127.0.0.1:8080", token="opl_…", webhook_secret="whsec_…",
                   owner={"email": "you@example.com"})
    graph = builder.compile(checkpointer=ops.watch(InMemorySaver()))

Every thread (`configurable.thread_id`) is an opslayer run whose external id is the thread id,
registered on its first checkpoint (titled from the run's config `metadata.title`, else the
graph's name). Each checkpoint is reported with its LangGraph id and the nodes that wrote it,
and with the side effects those nodes declared (`ops.side_effect(...)`); the run is `running`
while the graph works (heartbeats included), `waiting_approval` on an `interrupt(...)`,
`succeeded` when nothing is left to run and `failed` with a node's error.

Decisions come back through `ops.webhook(graph)` (an ASGI app for `webhook_url`) or
`await ops.serve(graph)` (polling): approve / edit / reject / respond resume the graph with
`Command(resume=...)` in the shape its interrupt expects; cancel ends the run; pause and resume
hold and continue it; retry replays from the LangGraph checkpoint named, and nodes learn which
side effects to skip with `ops.skipping(key)`. The saver holds the graph's state, so a process
that restarts resumes from the saver's checkpoint when the decision arrives.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.config import get_config
from langgraph.types import Command
from pydantic import ValidationError

from opslayer_client.client import OpslayerClient, OpslayerError
from opslayer_client.contract import TERMINAL, CommandBody, CommandMessage
from opslayer_client.functions import Opslayer as _Base
from opslayer_client.interrupts import (
    Decided,
    Resume,
    approvals_for,
    parse_request_id,
    resume_for,
)

__all__ = ["Opslayer", "WatchedSaver"]

log = logging.getLogger("opslayer_client.langgraph")
P = ParamSpec("P")
R = TypeVar("R")
INTERRUPT = "__interrupt__"
ERROR = "__error__"
# How long an approval waits for the report of the checkpoint its interrupt paused at, should
# LangGraph's background save of it never come (it normally follows within milliseconds).
_HOLD_S = 5.0
# What triggers a node in the next superstep (LangGraph writes edges as `branch:to:NODE`).
_TRIGGERS = ("branch:to:", "__pregel_tasks", "__start__")


def _pending(checkpoint: Checkpoint) -> bool:
    """Does a node still have to run after this checkpoint?"""
    updated = checkpoint.get("updated_channels") or ()
    return any(channel.startswith(_TRIGGERS) for channel in updated)


def _thread(config: Mapping[str, Any]) -> str | None:
    """The thread of a root-graph checkpoint (subgraphs' checkpoints are theirs, not runs)."""
    configurable = config.get("configurable", {})
    if configurable.get("checkpoint_ns"):
        return None
    thread = configurable.get("thread_id")
    return str(thread) if thread is not None else None


def _node_thread() -> str | None:
    """The thread a node runs for (inside a node the namespace is the node's task)."""
    thread = get_config().get("configurable", {}).get("thread_id")
    return str(thread) if thread is not None else None


def _node_step() -> tuple[str, str] | None:
    """(thread, the checkpoint the running node started from): what its effects belong to."""
    configurable = get_config().get("configurable", {})
    thread = configurable.get("thread_id")
    parent = (configurable.get("checkpoint_map") or {}).get("")
    return (str(thread), str(parent)) if thread is not None and parent else None


RUN_MARK = "#run-"  # <thread>#run-<checkpoint>: a later invocation's run on the same thread


def thread_of(external_id: str) -> str:
    """The LangGraph thread a run's external id belongs to."""
    thread, mark, _ = external_id.rpartition(RUN_MARK)
    return thread if mark else external_id


def _parent(config: Mapping[str, Any]) -> str:
    """The checkpoint a write (or a new checkpoint) follows."""
    return str(config.get("configurable", {}).get("checkpoint_id") or "")


class Opslayer(_Base):
    """opslayer for LangGraph: `watch(saver)` to report, `webhook(graph)`/`serve(graph)` to
    act on decisions."""

    def __init__(
        self,
        url: str,
        *,
        heartbeat_s: float = 15.0,
        resume: Resume | None = None,
        **options: Any,
    ) -> None:
        super().__init__(url, **options)
        self._resume_hook = resume
        self._lock = threading.Lock()
        # thread → the external id of its current run: the thread itself for its first run,
        # `<thread>#run-<input checkpoint>` for each later invocation on the same thread.
        self._external: dict[str, str] = {}
        # (thread, checkpoint) → the nodes that ran from it, and the side effects they declared:
        # both belong to the checkpoint that follows it. Keyed by checkpoint, because LangGraph
        # saves in the background: the next step's nodes may run before a save is reported.
        self._nodes: dict[tuple[str, str], list[str]] = {}
        self._effects: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._skip: dict[str, set[str]] = {}  # thread → side effects a retry must not repeat
        self._state: dict[str, str] = {}  # thread → what we last told opslayer
        # thread → the checkpoint its interrupt paused at. LangGraph may save that checkpoint
        # (and those before it) after the interrupt's writes; reporting them then must not undo
        # `waiting_approval`. Checkpoint ids are time-ordered (uuid6), so "before" is `<=`.
        self._paused_at: dict[str, str] = {}
        # An interrupt's writes may reach the saver before the checkpoint it paused at: its
        # approval waits for that checkpoint's report, so the run's timeline reads in order.
        self._saved: dict[str, str] = {}  # thread → the newest checkpoint id reported
        self._held: dict[tuple[str, str], Callable[[], None]] = {}  # (thread, checkpoint) → ask
        self._graph_name: str | None = None
        self._heartbeat_s = heartbeat_s
        self._beating: dict[str, str] = {}  # thread → run id, while the graph works on it
        # thread → what its last graph.invoke returned, for the threads `invoke` waits on
        self._outputs: dict[str, Any] = {}
        asyncio.run_coroutine_threadsafe(self._heartbeats(), self.runtime._loop)

    # -- reporting (called from LangGraph's threads: queue, never wait) ------------------------

    def watch(self, saver: BaseCheckpointSaver[Any]) -> WatchedSaver:
        """The saver, unchanged, with every checkpoint also reported to opslayer."""
        return WatchedSaver(saver, self)

    def follow(self, graph: Any) -> Any:
        """Name runs after this graph (webhook and serve do this too)."""
        self._graph_name = getattr(graph, "name", None) or self._graph_name
        return graph

    def side_effect(
        self, key: str, *, idempotent: bool = False, description: str | None = None
    ) -> None:
        """Inside a node: it did something to the outside world; reported with the next
        checkpoint, so a retry knows what it would repeat."""
        step = _node_step()
        if step is None:
            return
        effect: dict[str, Any] = {"key": key, "idempotent": idempotent}
        if description:
            effect["description"] = description
        with self._lock:
            self._effects.setdefault(step, []).append(effect)

    def declares(
        self, key: str, *, idempotent: bool = False, description: str | None = None
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """A decorator: the function's side effect, declared when it returns."""

        def decorate(function: Callable[P, R]) -> Callable[P, R]:
            @functools.wraps(function)
            def declared(*args: P.args, **kwargs: P.kwargs) -> R:
                result = function(*args, **kwargs)
                self.side_effect(key, idempotent=idempotent, description=description)
                return result

            return declared

        return decorate

    def skipping(self, key: str) -> bool:
        """Inside a node during a retry: True when the side effect `key` was committed before
        the checkpoint the retry starts from (do not do it again)."""
        thread = _node_thread()
        with self._lock:
            return thread is not None and key in self._skip.get(thread, set())

    def ended(self, thread: str) -> bool:
        """True once the thread's run succeeded, failed or was canceled (as far as we know)."""
        return self._state.get(thread) in TERMINAL

    def _title(self, config: Mapping[str, Any], thread: str) -> str:
        metadata = config.get("metadata") or {}
        title = metadata.get("title") or self._graph_name or f"LangGraph thread {thread}"
        return str(title)[:200]

    def _wrote(
        self, config: Mapping[str, Any], writes: Sequence[tuple[str, Any]], path: str
    ) -> None:
        thread = _thread(config)
        if thread is None:
            return
        node = path.rsplit(", ", 1)[-1] if path else ""
        data = [(channel, value) for channel, value in writes]
        if node and not node.startswith("__") and not any(c == INTERRUPT for c, _ in data):
            with self._lock:
                self._nodes.setdefault((thread, _parent(config)), []).append(node)
        for channel, value in data:
            if channel == INTERRUPT:
                self._interrupted(config, thread, value)
            elif channel == ERROR:
                self._failed(config, thread, value)

    def _interrupted(self, config: Mapping[str, Any], thread: str, interrupts: Any) -> None:
        asks = [
            ask
            for interrupt in (interrupts if isinstance(interrupts, list | tuple) else [interrupts])
            for ask in approvals_for(
                str(interrupt.id), interrupt.value, getattr(interrupt, "response_schema", None)
            )
        ]
        title = self._title(config, thread)
        runtime = self.runtime
        paused_at = str((config.get("configurable") or {}).get("checkpoint_id") or "")

        async def ask(client: OpslayerClient) -> None:
            run_id = await self._current_run(client, thread, title)
            self._beating.pop(thread, None)
            await runtime.set_status(client, run_id, "running")
            self._state[thread] = "waiting"
            self._paused_at[thread] = paused_at
            for body in asks:
                try:
                    await client.request_approval(run_id, body)
                except (OpslayerError, ValidationError) as refused:
                    # Never silent: the graph would wait for a decision nobody can make.
                    await self._refused(client, run_id, thread, body, refused)
                    return

        def asking() -> None:
            runtime.fire(ask, f"asking for approval on thread {thread}")

        held = (thread, paused_at)
        with self._lock:
            if paused_at and paused_at > self._saved.get(thread, ""):
                self._held[held] = asking
                runtime.later(_HOLD_S, functools.partial(self._release, held))
                return
        asking()

    async def _refused(
        self,
        client: OpslayerClient,
        run_id: str,
        thread: str,
        body: Mapping[str, Any],
        refused: OpslayerError | ValidationError,
    ) -> None:
        # The wire models check on this side what the server would (a ValidationError).
        detail = refused.detail if isinstance(refused, OpslayerError) else _said(refused)
        reason = f"opslayer refused the approval {body.get('title')!r}: {detail}"
        log.error("opslayer: thread %s cannot wait for a decision: %s", thread, reason)
        await self.runtime.set_status(client, run_id, "failed", error=reason[:4000])
        self._state[thread] = "failed"

    async def _current_run(
        self, client: OpslayerClient, thread: str, title: str, *, fresh_from: str | None = None
    ) -> str:
        """The run of the thread's current invocation; `fresh_from` (the checkpoint of a new
        input) starts the next one when the thread's run has ended or was left waiting."""
        runtime = self.runtime
        external = self._external.get(thread, thread)
        context = {"thread_id": thread}
        if fresh_from is None:
            return await runtime.ensure_run(client, external, title, context=context)
        known = external in runtime.runs
        run_id = await runtime.ensure_run(client, external, title, context=context)
        status = self._state.get(thread)
        if status is None and not known:  # first sight in this process: ask opslayer
            status = (await client.run(run_id)).status.value
            status = None if status in ("queued", "running") else status
        if status is None or status == "running":
            return run_id
        if status not in TERMINAL:  # left waiting or paused: this input replaces it
            reason = "the thread was invoked again with new input"
            await runtime.set_status(client, run_id, "canceled", reason=reason)
        external = f"{thread}{RUN_MARK}{fresh_from}"
        self._external[thread] = external
        self._state.pop(thread, None)
        self._paused_at.pop(thread, None)
        return await runtime.ensure_run(client, external, title, context=context)

    def _release(self, held: tuple[str, str]) -> None:
        """Ask the approval held for this (thread, checkpoint), if any (once)."""
        with self._lock:
            asking = self._held.pop(held, None)
        if asking is not None:
            asking()

    def _failed(self, config: Mapping[str, Any], thread: str, error: Any) -> None:
        title = self._title(config, thread)
        runtime = self.runtime

        async def fail(client: OpslayerClient) -> None:
            run_id = await self._current_run(client, thread, title)
            self._beating.pop(thread, None)
            await runtime.set_status(client, run_id, "running")
            await runtime.set_status(client, run_id, "failed", error=str(error)[:4000])
            self._state[thread] = "failed"

        runtime.fire(fail, f"reporting the failure of thread {thread}")

    def _checkpointed(
        self, config: Mapping[str, Any], checkpoint: Checkpoint, metadata: CheckpointMetadata
    ) -> None:
        thread = _thread(config)
        if thread is None:
            return
        with self._lock:
            nodes = self._nodes.pop((thread, _parent(config)), [])
            effects = self._effects.pop((thread, _parent(config)), [])
        done = not _pending(checkpoint)
        source = metadata.get("source", "loop")
        step = ", ".join(dict.fromkeys(nodes)) or str(source)
        body: dict[str, Any] = {
            "checkpoint_id": checkpoint["id"],
            "step": step[:200],
            "summary": f"LangGraph step {metadata.get('step')} ({source})",
            "side_effects": effects,
        }
        title = self._title(config, thread)
        runtime = self.runtime

        fresh = checkpoint["id"] if source == "input" else None

        async def report(client: OpslayerClient) -> None:
            run_id = await self._current_run(client, thread, title, fresh_from=fresh)
            if checkpoint["id"] <= self._paused_at.get(thread, ""):  # saved late: still waiting
                await client.checkpoint(run_id, body)
                return
            if self._state.get(thread) != "running" and not done:
                await runtime.set_status(client, run_id, "running")
                self._state[thread] = "running"
            await client.checkpoint(run_id, body)
            await client.heartbeat(run_id, step=step[:200])
            if done:
                self._beating.pop(thread, None)
                if self._state.get(thread) != "running":
                    await runtime.set_status(client, run_id, "running")
                await runtime.set_status(client, run_id, "succeeded")
                self._state[thread] = "succeeded"
            else:
                self._beating[thread] = run_id

        runtime.fire(report, f"reporting checkpoint {checkpoint['id']} of thread {thread}")
        with self._lock:
            self._saved[thread] = max(self._saved.get(thread, ""), checkpoint["id"])
        self._release((thread, checkpoint["id"]))

    def close(self) -> None:
        """Ask what is still held, send everything queued, stop."""
        with self._lock:  # LangGraph's threads may still be adding to it
            waiting = list(self._held)
        for held in waiting:
            self._release(held)
        super().close()

    async def _heartbeats(self) -> None:
        """While a graph works on a thread, opslayer hears from it even inside a long node."""
        while True:
            await asyncio.sleep(self._heartbeat_s)
            for run_id in list(self._beating.values()):
                try:
                    await self.runtime.client.heartbeat(run_id)
                except Exception as error:  # the next beat may get through
                    log.debug("heartbeat for %s failed: %s", run_id, error)

    # -- acting on decisions -----------------------------------------------------------------

    def webhook(self, graph: Any = None) -> Any:
        """The ASGI app for `webhook_url`: verifies each signed command and acts on `graph`."""
        if graph is None:
            return super().webhook()
        self.follow(graph)
        return self.runtime.asgi(lambda command: self.act(graph, command))

    async def invoke(self, graph: Any, value: Any, config: Mapping[str, Any]) -> Any:
        """`graph.invoke(value, config)`, then every decision its interrupts wait for, until
        the thread has nothing left to run (or its run ended): the final state's values.

        Decisions arrive by polling, or through `webhook(graph)` when `webhook_url` is set
        (serve that app beside this call)."""
        self.follow(graph)
        thread = str(config["configurable"]["thread_id"])
        self._outputs[thread] = await asyncio.to_thread(graph.invoke, value, config)
        stop = asyncio.Event()
        polling = None
        if self.runtime.webhook_url is None:
            polling = asyncio.create_task(self.serve(graph, stop=stop))
        try:
            while True:
                await self.runtime.aflush()
                state = await asyncio.to_thread(graph.get_state, config)
                if not (state.next or state.interrupts) or self.ended(thread):
                    # What the last graph.invoke returned, as graph.invoke itself would.
                    return self._outputs.pop(thread, state.values)
                await asyncio.sleep(self.runtime.poll_s)
        finally:
            self._outputs.pop(thread, None)
            stop.set()
            if polling is not None:
                await polling

    async def serve(self, graph: Any, *, stop: asyncio.Event | None = None) -> None:
        """Poll opslayer for commands to this agent's runs and act on them, until `stop`."""
        self.follow(graph)
        stop = stop or asyncio.Event()
        while not stop.is_set():
            for command in await self.runtime.wait(_pending_commands):
                if self.runtime.deliver(command):
                    await self.act(graph, command)
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.runtime.poll_s)
            except TimeoutError:
                continue

    async def act(self, graph: Any, command: CommandBody) -> None:
        """Do what the command says to the graph's thread, then acknowledge it."""
        thread = thread_of(command.external_id)
        config: dict[str, Any] = {"configurable": {"thread_id": thread}}
        runtime = self.runtime
        self.runtime.runs.setdefault(command.external_id, command.run_id)
        self._external.setdefault(thread, command.external_id)
        kind = command.kind.value
        try:
            if kind in ("approve", "reject"):
                # Resumes once every approval of the interrupt is decided; acks what it used.
                await self._resume(graph, command, config)
                return
            if kind == "cancel":
                self._beating.pop(thread, None)
                await runtime.report(command.run_id, "canceled", reason=command.reason)
                self._state[thread] = "canceled"
            elif kind == "pause":
                self._beating.pop(thread, None)
                await runtime.report(command.run_id, "paused")
                self._state[thread] = "paused"
            elif kind in ("resume", "retry"):
                if kind == "retry" and command.from_checkpoint_id:
                    config["configurable"]["checkpoint_id"] = command.from_checkpoint_id
                with self._lock:
                    self._skip[thread] = set(command.skip_side_effects or [])
                await runtime.ack(command)
                await self._run(graph, None, config)
                return
            await runtime.ack(command)
        except Exception as error:
            log.exception("opslayer: acting on %s for thread %s failed", kind, thread)
            await runtime.ack(command, done=False, message=f"{type(error).__name__}: {error}"[:500])

    async def _resume(self, graph: Any, command: CommandBody, config: dict[str, Any]) -> None:
        """Resume the thread once every approval its interrupts became is decided."""
        state = await asyncio.to_thread(graph.get_state, config)
        interrupts = {str(i.id): i for i in state.interrupts}
        decided: dict[tuple[str, int], tuple[CommandBody, Decided]] = {}
        # Decided siblings may be pending (polled) or delivered (webhook): any not acknowledged.
        for each in [command, *await self.runtime.wait(_open_for(command.run_id))]:
            if each.kind.value not in ("approve", "reject") or each.approval_id is None:
                continue
            approval = await self.runtime.wait(_approval(each.approval_id))
            where = parse_request_id(approval.request_id)
            if where is not None and where[0] in interrupts:
                decided[where] = (each, Decided.of(each))
        resume: dict[str, Any] = {}
        for interrupt_id, interrupt in interrupts.items():
            schema = getattr(interrupt, "response_schema", None)
            count = len(approvals_for(interrupt_id, interrupt.value, schema))
            keys = [(interrupt_id, n) for n in range(count)]
            if not all(k in decided for k in keys):
                return  # other approvals of this interrupt are still open
            resume[interrupt_id] = resume_for(
                interrupt.value, [decided[k][1] for k in keys], self._resume_hook, schema
            )
        if not resume:
            await self.runtime.ack(command, done=False, message="nothing waits for this decision")
            return
        for each, _ in decided.values():
            await self.runtime.ack(each)
        with self._lock:
            self._skip.pop(thread_of(command.external_id), None)
        value = next(iter(resume.values())) if len(resume) == 1 else resume
        await self._run(graph, Command(resume=value), config)

    async def _run(self, graph: Any, value: Any, config: dict[str, Any]) -> None:
        """Run the graph on the thread (in a worker thread: graphs and savers may be sync)."""
        thread = str(config["configurable"]["thread_id"])
        self._state[thread] = "resuming"
        try:
            output = await asyncio.to_thread(graph.invoke, value, config)
            if thread in self._outputs:  # `invoke` waits for it
                self._outputs[thread] = output
        except Exception as error:  # the saver reported it (an __error__ write); say it anyway
            log.warning("opslayer: thread %s stopped with %s", thread, error)
        await self.runtime.aflush()


def _pending_commands(client: OpslayerClient) -> Any:
    async def listing() -> list[CommandBody]:
        commands: list[CommandBody] = []
        for run in (await client.list_runs(limit=200)).items:
            if run.status.value in ("succeeded", "canceled"):
                continue
            for pending in await client.pending_commands(run.id):
                commands.append(CommandMessage.model_validate(pending.payload).command)
        return commands

    return listing()


def _said(error: ValidationError) -> str:
    return "; ".join(str(e["msg"]) for e in error.errors(include_url=False))[:2000]


def _open_for(run_id: str) -> Callable[[OpslayerClient], Any]:
    async def open_commands(client: OpslayerClient) -> list[CommandBody]:
        return [
            CommandMessage.model_validate(c.payload).command
            for c in await client.commands(run_id)
            if c.status.value in ("pending", "delivered")
        ]

    return open_commands


def _approval(approval_id: str) -> Callable[[OpslayerClient], Any]:
    return lambda client: client.approval(approval_id)


class WatchedSaver(BaseCheckpointSaver[Any]):
    """A checkpoint saver that does exactly what the saver it wraps does, and tells opslayer."""

    def __init__(self, saver: BaseCheckpointSaver[Any], ops: Opslayer) -> None:
        super().__init__(serde=saver.serde)
        self.saver = saver
        self._ops = ops

    def with_allowlist(self, extra_allowlist: Any) -> WatchedSaver:
        return WatchedSaver(self.saver.with_allowlist(extra_allowlist), self._ops)

    @property
    def config_specs(self) -> list[Any]:
        return self.saver.config_specs

    def get_tuple(self, config: Any) -> CheckpointTuple | None:
        return self.saver.get_tuple(config)

    def list(self, config: Any, **kwargs: Any) -> Iterator[CheckpointTuple]:
        return self.saver.list(config, **kwargs)

    def put(
        self,
        config: Any,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> Any:
        saved = self.saver.put(config, checkpoint, metadata, new_versions)
        self._ops._checkpointed(config, checkpoint, metadata)
        return saved

    def put_writes(
        self, config: Any, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        self.saver.put_writes(config, writes, task_id, task_path)
        self._ops._wrote(config, writes, task_path)

    def delete_thread(self, thread_id: str) -> None:
        self.saver.delete_thread(thread_id)

    async def aget_tuple(self, config: Any) -> CheckpointTuple | None:
        return await self.saver.aget_tuple(config)

    async def alist(self, config: Any, **kwargs: Any) -> AsyncIterator[CheckpointTuple]:
        async for item in self.saver.alist(config, **kwargs):
            yield item

    async def aput(
        self,
        config: Any,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> Any:
        saved = await self.saver.aput(config, checkpoint, metadata, new_versions)
        self._ops._checkpointed(config, checkpoint, metadata)
        return saved

    async def aput_writes(
        self, config: Any, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        await self.saver.aput_writes(config, writes, task_id, task_path)
        self._ops._wrote(config, writes, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await self.saver.adelete_thread(thread_id)

    def get_next_version(self, current: Any, channel: Any) -> Any:
        return self.saver.get_next_version(current, channel)

    def __getattr__(self, name: str) -> Any:
        # Anything else the wrapped saver offers (setup, its connection, …), untouched.
        return getattr(self.saver, name)
