"""What every integration shares: one background thread that talks to opslayer in order (so a
framework's own threads and loops never wait on the network, and a down opslayer never breaks
the agent), the runs it registered, and where decisions come from: signed webhooks or polling.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

from opslayer_client.client import OpslayerClient, OpslayerError, parse_command
from opslayer_client.contract import CommandBody, CommandMessage, RunStatus
from opslayer_client.handled import HandledCommands, default_path
from opslayer_client.signing import InvalidSignature, signed_id

log = logging.getLogger("opslayer_client")
T = TypeVar("T")
Job = Callable[[OpslayerClient], Awaitable[Any]]
# A command is a few kilobytes; anything far larger is refused before it is read.
MAX_WEBHOOK_BODY = 1024 * 1024


class Runtime:
    """A thread with its own event loop and client; jobs run one after another."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        webhook_secret: str | None = None,
        owner: Mapping[str, Any] | None = None,
        webhook_url: str | None = None,
        poll_s: float = 1.0,
        http: httpx.AsyncClient | None = None,
        handled_path: Path | None = None,
    ) -> None:
        self.url = url
        self.webhook_secret = webhook_secret
        self.owner = dict(owner or {})
        self.webhook_url = webhook_url
        self.poll_s = poll_s
        self.runs: dict[str, str] = {}  # external id → run id
        self._token = token
        self._http = http
        self._decisions: dict[str, asyncio.Queue[CommandBody]] = {}  # run id → its commands
        # With a webhook, the commands acted on survive a restart (see HandledCommands).
        if handled_path is None and webhook_secret:
            handled_path = default_path(webhook_secret)
        self._handled = HandledCommands(handled_path)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="opslayer", daemon=True)
        self._thread.start()
        self._ready.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self.client = OpslayerClient(self.url, self._token, http=self._http)
        self._queue: asyncio.Queue[tuple[Job, concurrent.futures.Future[Any]]] = asyncio.Queue()
        self._loop.create_task(self._consume())
        self._ready.set()
        self._loop.run_forever()

    async def _consume(self) -> None:
        while True:
            job, done = await self._queue.get()
            try:
                result = await job(self.client)
            except Exception as error:  # reported to whoever waits; logged for fire-and-forget
                if not done.cancelled():
                    done.set_exception(error)
            else:
                if not done.cancelled():
                    done.set_result(result)
            finally:
                self._queue.task_done()

    def call(self, job: Job) -> concurrent.futures.Future[Any]:
        """Run `job` after every job queued before it; its future holds the result."""
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._loop.call_soon_threadsafe(self._queue.put_nowait, (job, done))
        return done

    def fire(self, job: Job, what: str) -> None:
        """Queue `job`; if it fails, log it (the agent goes on: opslayer is not in its way)."""

        def logged(done: concurrent.futures.Future[Any]) -> None:
            error = done.exception()
            if error is not None:
                log.warning("opslayer: %s failed: %s", what, error)

        self.call(job).add_done_callback(logged)

    def later(self, delay_s: float, callback: Callable[[], None]) -> None:
        """Call `callback` on this runtime's thread after `delay_s` (from any thread)."""
        self._loop.call_soon_threadsafe(self._loop.call_later, delay_s, callback)

    async def wait(self, job: Job) -> Any:
        """`call`, awaited from any event loop."""
        return await asyncio.wrap_future(self.call(job))

    def flush(self, timeout_s: float = 30.0) -> None:
        """Block until everything queued so far reached opslayer (or failed)."""

        async def drained(_client: OpslayerClient) -> None:
            return None

        self.call(drained).result(timeout=timeout_s)

    async def aflush(self) -> None:
        await self.wait(lambda _client: asyncio.sleep(0))

    def close(self) -> None:
        """Send what is queued, then stop the thread and everything running on it."""
        try:
            self.flush()
        finally:

            async def shut() -> None:
                current = asyncio.current_task()
                others = [t for t in asyncio.all_tasks() if t is not current]
                for task in others:
                    task.cancel()
                await asyncio.gather(*others, return_exceptions=True)
                await self.client.aclose()

            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    # -- runs ---------------------------------------------------------------------------------

    async def ensure_run(
        self, client: OpslayerClient, external_id: str, title: str, **fields: Any
    ) -> str:
        """The run of `external_id`, registered on first use (registering is idempotent, so a
        restarted process finds its runs again)."""
        if external_id not in self.runs:
            owner = fields.pop("owner", None) or self.owner
            body: dict[str, Any] = {"external_id": external_id, "title": title, "owner": owner}
            if self.webhook_url:
                body["webhook_url"] = self.webhook_url
            run = await client.register_run({**body, **fields})
            self.runs[external_id] = run.id
        return self.runs[external_id]

    async def set_status(
        self, client: OpslayerClient, run_id: str, status: RunStatus | str, **why: Any
    ) -> None:
        """Report a status; one the run is already in, or cannot move to, is not an error."""
        try:
            await client.report_status(run_id, status, **why)
        except OpslayerError as refused:
            if refused.status != 409:
                raise
            log.debug("opslayer: %s not reported for %s: %s", status, run_id, refused.detail)

    async def report(self, run_id: str, status: RunStatus | str, **why: Any) -> None:
        """`set_status`, awaited from any event loop."""
        await self.wait(lambda client: self.set_status(client, run_id, status, **why))

    async def beat(self, run_id: str, step: str | None = None) -> None:
        """A heartbeat, awaited from any event loop."""
        await self.wait(lambda client: client.heartbeat(run_id, step=step))

    # -- decisions ----------------------------------------------------------------------------

    def _inbox(self, run_id: str) -> asyncio.Queue[CommandBody]:
        return self._decisions.setdefault(run_id, asyncio.Queue())

    def deliver(self, command: CommandBody) -> bool:
        """A command for one of our runs (from the webhook or a poll); False when seen before."""
        if not self._handled.first_time(command.id):
            return False
        self._loop.call_soon_threadsafe(self._inbox(command.run_id).put_nowait, command)
        return True

    async def next_command(self, run_id: str) -> CommandBody:
        """The run's next command, from the webhook or, without one, by polling opslayer."""

        async def take() -> CommandBody:
            inbox = self._inbox(run_id)
            while True:
                if self.webhook_url is None:
                    for pending in await self.client.pending_commands(run_id):
                        self.deliver(CommandMessage.model_validate(pending.payload).command)
                try:
                    return await asyncio.wait_for(inbox.get(), timeout=self.poll_s)
                except TimeoutError:
                    continue

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(take(), self._loop))

    async def ack(
        self, command: CommandBody, *, done: bool = True, message: str | None = None
    ) -> None:
        await self.wait(lambda c: c.ack(command.id, done=done, message=message))

    def asgi(
        self, on_command: Callable[[CommandBody], Coroutine[Any, Any, None]] | None = None
    ) -> Any:
        """An ASGI app for the webhook: verifies each signed delivery (401 otherwise), answers
        204 at once, and hands the command on (to `on_command`, else to whoever waits)."""
        if not self.webhook_secret:
            raise ValueError("a webhook needs the agent's webhook_secret (whsec_…)")
        secret = self.webhook_secret
        tasks: set[asyncio.Task[None]] = set()

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                while True:
                    event = (await receive())["type"]
                    if event == "lifespan.startup":
                        await send({"type": "lifespan.startup.complete"})
                    elif event == "lifespan.shutdown":
                        await send({"type": "lifespan.shutdown.complete"})
                        return
            if scope["type"] != "http" or scope["method"] != "POST":
                await _answer(send, 405)
                return
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            try:  # headers first: an unsigned or stale request is refused before its body
                signed_id(headers)
            except InvalidSignature:
                await _answer(send, 401)
                return
            body = await _bounded_body(receive, headers)
            if body is None:
                await _answer(send, 413)
                return
            try:
                message = parse_command(secret, headers, body)
            except (InvalidSignature, ValueError):
                await _answer(send, 401)
                return
            await _answer(send, 204)
            if not self.deliver(message.command) or on_command is None:
                return
            task = asyncio.get_running_loop().create_task(on_command(message.command))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        return app


async def _bounded_body(receive: Any, headers: Mapping[str, str]) -> bytes | None:
    """The request's body, or None once it is larger than MAX_WEBHOOK_BODY (said by its
    Content-Length, or counted as it arrives)."""
    declared = {k.lower(): v for k, v in headers.items()}.get("content-length", "0")
    if not declared.isdigit() or int(declared) > MAX_WEBHOOK_BODY:
        return None
    parts: list[bytes] = []
    size = 0
    while True:
        part = await receive()
        chunk = part.get("body", b"")
        size += len(chunk)
        if size > MAX_WEBHOOK_BODY:
            return None
        parts.append(chunk)
        if not part.get("more_body"):
            return b"".join(parts)


async def _answer(send: Any, status: int) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b""})
