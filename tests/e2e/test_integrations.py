"""The framework integrations with the real libraries against a real `opslayer serve`: LangGraph
(polling, and a restart of the agent process between the interrupt and the decision), a
LangChain `create_agent` with `HumanInTheLoopMiddleware` decided by a signed Slack click and
resumed through the webhook, the OpenAI Agents SDK with a scripted model (and resumed by
another process's Opslayer), an OpenAI background response against a local fake of the
Responses API, and any async function behind `@requires_approval`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest
import uvicorn
from aiohttp import web
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from opslayer_client.functions import ApprovalRejected
from opslayer_client.functions import Opslayer as Plain
from opslayer_client.langgraph import Opslayer as GraphOps
from tests.fake_slack import FakeSlack, fake_slack
from tests.local_server import serving
from tests.real_server import ROOT, Server, free_port
from tests.slack_support import SECRET, buttons, click, signed

OWNER = {"email": "alice@example.com"}


def agent(server: Server, name: str) -> dict[str, str]:
    minted: dict[str, str] = json.loads(server.cli("token", "create", "--agent", name, "--json"))
    return minted


async def until(check: Any, within_s: float = 20.0) -> Any:
    """Poll `check` (sync or async) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        found = check()
        if asyncio.iscoroutine(found):
            found = await found
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still waiting after {within_s} s")
        await asyncio.sleep(0.1)


def api(server: Server, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"{server.url}/v1", headers={"Authorization": f"Bearer {token}"}
    )


async def run_of(server: Server, token: str, external_id: str) -> dict[str, Any] | None:
    async with api(server, token) as client:
        for run in (await client.get("/runs?limit=200")).json()["items"]:
            if run["external_id"] == external_id:
                found: dict[str, Any] = (await client.get(f"/runs/{run['id']}")).json()
                return found
    return None


async def status_of(server: Server, token: str, external_id: str) -> str | None:
    run = await run_of(server, token, external_id)
    return run["status"] if run else None


# -- LangGraph ---------------------------------------------------------------------------------


class Refund(TypedDict, total=False):
    order: int
    amount_eur: int
    refunded_eur: int


def refund_graph(ops: GraphOps, saver: BaseCheckpointSaver[Any] | None = None) -> Any:
    def look_up(state: Refund) -> Refund:
        return {"amount_eur": 42}

    def ask(state: Refund) -> Refund:
        answer = interrupt(
            {
                "title": "Refund 42 EUR?",
                "action": "refund",
                "arguments": {"order": state["order"], "amount_eur": state["amount_eur"]},
                "decisions": ["approve", "edit", "reject"],
                "risk": "medium",
            }
        )
        return {"amount_eur": answer["arguments"]["amount_eur"]} if answer["approved"] else {}

    def pay(state: Refund) -> Refund:
        ops.side_effect(f"refund:{state['order']}", idempotent=False, description="money out")
        return {"refunded_eur": state["amount_eur"]}

    builder = StateGraph(Refund)
    for name, node in (("look_up", look_up), ("ask", ask), ("pay", pay)):
        builder.add_node(name, node)
    builder.add_edge(START, "look_up")
    builder.add_edge("look_up", "ask")
    builder.add_edge("ask", "pay")
    builder.add_edge("pay", END)
    saver = saver if saver is not None else InMemorySaver()
    return builder.compile(checkpointer=ops.watch(saver), name="Refund graph")


async def interrupted(
    server: Server, token: str, ops: GraphOps, graph: Any, order: int
) -> dict[str, Any]:
    """Run the refund graph for `order` until its interrupt: the run as opslayer shows it."""
    config = {"configurable": {"thread_id": f"order-{order}"}}
    paused = await asyncio.to_thread(graph.invoke, {"order": order}, config)
    assert "__interrupt__" in paused
    await ops.runtime.aflush()
    run = await run_of(server, token, f"order-{order}")
    assert run is not None and run["status"] == "waiting_approval"
    return run


async def served_until_succeeded(
    server: Server, token: str, ops: GraphOps, graph: Any, order: int
) -> None:
    """Poll for the decision (`ops.serve`) until the run of `order` succeeded."""
    stop = asyncio.Event()
    serving = asyncio.create_task(ops.serve(graph, stop=stop))
    await until(lambda: _is(status_of(server, token, f"order-{order}"), "succeeded"))
    stop.set()
    await serving


class LateSaver(InMemorySaver):
    """Saves checkpoints late, as LangGraph's background saves sometimes are: the interrupt's
    writes reach the saver before the checkpoint the interrupt paused at."""

    def put(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.3)
        return super().put(*args, **kwargs)


async def test_a_checkpoint_saved_after_its_interrupt_leaves_the_run_waiting_and_in_order(
    server: Server,
) -> None:
    minted = agent(server, "late-refunds")
    ops = GraphOps(server.url, token=minted["token"], owner=OWNER, poll_s=0.2)
    try:
        graph = ops.follow(refund_graph(ops, LateSaver()))
        run = await interrupted(server, minted["token"], ops, graph, 8)
        # The trail reads in order: the approval after the checkpoint it paused at.
        async with api(server, minted["token"]) as client:
            trail = (await client.get(f"/runs/{run['id']}/audit")).json()
        actions = [e["action"] for e in trail]
        asked = actions.index("approval.requested")
        paused_at = graph.get_state({"configurable": {"thread_id": "order-8"}}).config
        recorded = [
            e["detail"]["checkpoint_id"] for e in trail[:asked] if e["detail"].get("checkpoint_id")
        ]
        assert paused_at["configurable"]["checkpoint_id"] in recorded
        assert "checkpoint.recorded" not in actions[asked:]
        server.cli("runs", "approve", run["id"], "--as", "alice@example.com")
        await served_until_succeeded(server, minted["token"], ops, graph, 8)
    finally:
        ops.close()


async def test_a_langgraph_interrupt_is_an_approval_and_an_edit_resumes_the_graph(
    server: Server,
) -> None:
    minted = agent(server, "refunds")
    ops = GraphOps(server.url, token=minted["token"], owner=OWNER, poll_s=0.2)
    try:
        graph = ops.follow(refund_graph(ops))
        config = {"configurable": {"thread_id": "order-7"}}
        run = await interrupted(server, minted["token"], ops, graph, 7)
        assert run["title"] == "Refund graph"
        [approval] = run["approvals"]
        assert approval["arguments"] == {"order": 7, "amount_eur": 42}
        assert approval["action"] == "refund" and approval["risk"] == "medium"
        edit = json.dumps({"order": 7, "amount_eur": 30})
        server.cli("runs", "approve", run["id"], "--as", "alice@example.com", "--edit", edit)
        await served_until_succeeded(server, minted["token"], ops, graph, 7)
        assert graph.get_state(config).values["refunded_eur"] == 30
    finally:
        ops.close()
    shown = server.cli("runs", "show", run["id"])
    saved = list(graph.get_state_history(config))
    for point in saved[:-1]:
        assert point.config["configurable"]["checkpoint_id"] in shown
    assert "ask" in shown and "pay" in shown  # the nodes that wrote each checkpoint
    [paid] = [line for line in shown.splitlines() if "refund:7 (not idempotent)" in line]
    assert " pay " in paid


async def test_an_async_graph_on_an_async_saver_is_watched_and_resumed(
    server: Server, tmp_path: Path
) -> None:
    """`ainvoke` on an async-only saver: the watched saver's async methods report as the sync
    ones do, and the decision resumes the graph (its sync calls reach the saver's own loop)."""
    minted = agent(server, "async-refunds")
    ops = GraphOps(server.url, token=minted["token"], owner=OWNER, poll_s=0.2)
    try:
        async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "graph.sqlite")) as saver:
            graph = ops.follow(refund_graph(ops, saver))
            config: RunnableConfig = {"configurable": {"thread_id": "order-9"}}
            paused = await graph.ainvoke({"order": 9}, config)
            assert "__interrupt__" in paused
            await ops.runtime.aflush()
            run = await run_of(server, minted["token"], "order-9")
            assert run is not None and run["status"] == "waiting_approval"
            [approval] = run["approvals"]
            assert approval["arguments"] == {"order": 9, "amount_eur": 42}
            server.cli("runs", "approve", run["id"], "--as", "alice@example.com")
            await served_until_succeeded(server, minted["token"], ops, graph, 9)
            assert (await graph.aget_state(config)).values["refunded_eur"] == 42
            saved = [p.config["configurable"]["checkpoint_id"] async for p in saver.alist(config)]
    finally:
        ops.close()
    shown = server.cli("runs", "show", run["id"])
    assert all(checkpoint in shown for checkpoint in saved[:-1])
    assert "refund:9 (not idempotent)" in shown


async def _is(value: Any, expected: Any) -> bool:
    return bool((await value) == expected)


def test_an_agent_restarted_between_interrupt_and_decision_finishes_the_run(
    server: Server, tmp_path: Path
) -> None:
    minted = agent(server, "refund-graph")
    example = [
        sys.executable,
        str(ROOT / "examples" / "langgraph_agent.py"),
        "--url",
        server.url,
        "--token",
        minted["token"],
        "--secret",
        minted["webhook_secret"],
        "--owner",
        "alice@example.com",
        "--checkpoints",
        str(tmp_path / "graph.sqlite"),
    ]
    first = subprocess.run(
        [*example, "--until-interrupt"], capture_output=True, text=True, timeout=60
    )
    assert first.returncode == 0, first.stderr
    run_id = first.stdout.split()[-1]
    assert "waiting_approval" in server.cli("runs", "show", run_id)
    edit = json.dumps({"order": 1001, "amount_eur": 30})
    server.cli("runs", "approve", run_id, "--as", "alice@example.com", "--edit", edit)
    second = subprocess.run([*example, "--resume"], capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    assert "finished: refunded" in second.stdout
    shown = server.cli("runs", "show", run_id)
    assert "succeeded" in shown and "Refund a customer" in shown
    [paid] = [line for line in shown.splitlines() if "refund:1001 (not idempotent)" in line]
    assert " refund " in paid  # declared by the node that refunded, on its checkpoint
    assert "finished: refunded" in second.stdout


# -- LangChain create_agent + HumanInTheLoopMiddleware, decided in Slack -------------------------


class ScriptedChat(GenericFakeChatModel):
    """LangChain's fake chat model, taught to accept tools (it answers from its script)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


@tool
def send_email(to: str, subject: str) -> str:
    """Send an email."""
    SENT.append((to, subject))
    return f"sent to {to}"


SENT: list[tuple[str, str]] = []


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with fake_slack() as fake:
        yield fake


async def test_a_langchain_agent_with_hitl_middleware_is_operated_from_slack(
    tmp_path: Path, slack: FakeSlack
) -> None:
    server = Server(tmp_path / "opslayer.db")
    server.env.update(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SECRET,
        OPSLAYER_SLACK_API_URL=f"{slack.url}/api/",
        OPSLAYER_CHAT_SPACING_S="0",
    )
    server.start()
    try:
        server.cli("groups", "add", "ops", "--slack-channel", "C-PAY")
        server.cli(
            "people", "add", "--email", "alice@example.com", "--slack", "UALICE", "--group", "ops"
        )
        minted = agent(server, "mailer")
        port = free_port()
        SENT.clear()
        ops = GraphOps(
            server.url,
            token=minted["token"],
            webhook_secret=minted["webhook_secret"],
            owner=OWNER,
            webhook_url=f"http://127.0.0.1:{port}/",
        )
        model = ScriptedChat(
            messages=iter(
                [
                    AIMessage(
                        content="",
                        tool_calls=[
                            {
                                "name": "send_email",
                                "args": {"to": "bob@example.com", "subject": "Hi"},
                                "id": "call-1",
                            }
                        ],
                    ),
                    AIMessage(content="Done: the email is on its way."),
                ]
            )
        )
        graph = create_agent(
            model,
            tools=[send_email],
            middleware=[HumanInTheLoopMiddleware(interrupt_on={"send_email": True})],
            checkpointer=ops.watch(InMemorySaver()),
            name="Mailer",
        )
        webhook = uvicorn.Server(
            uvicorn.Config(ops.webhook(graph), host="127.0.0.1", port=port, log_level="warning")
        )
        threading.Thread(target=webhook.run, daemon=True).start()
        config: RunnableConfig = {"configurable": {"thread_id": "mail-1"}}
        asked: Any = {"messages": [{"role": "user", "content": "mail Bob"}]}
        try:
            await asyncio.to_thread(graph.invoke, asked, config)
            await ops.runtime.aflush()
            await slack.wait_for(lambda: slack.api("chat.postMessage"))
            [message] = slack.api("chat.postMessage")
            assert "send_email" in json.dumps(message["blocks"])
            assert "bob@example.com" in json.dumps(message["blocks"])
            # The agent's webhook takes only what opslayer signed.
            forged = {
                "webhook-id": "msg_forged",
                "webhook-timestamp": str(int(time.time())),
                "webhook-signature": "v1,bm90IG9wc2xheWVy",
            }
            async with httpx.AsyncClient() as stranger:
                refused = await stranger.post(
                    f"http://127.0.0.1:{port}/", content=b'{"type": "command"}', headers=forged
                )
            assert refused.status_code == 401 and SENT == []
            form = click(slack, "UALICE", buttons(message)["opslayer_approve"])
            async with httpx.AsyncClient(base_url=server.url) as client:
                answer = await client.post("/slack/events", content=form, headers=signed(form))
            assert answer.status_code == 200
            await until(lambda: SENT == [("bob@example.com", "Hi")])
            await until(lambda: _is(status_of(server, minted["token"], "mail-1"), "succeeded"))
            final = graph.get_state(config).values["messages"][-1]
            assert final.content == "Done: the email is on its way."
        finally:
            webhook.should_exit = True
            ops.close()
    finally:
        server.stop()


# -- The OpenAI Agents SDK ----------------------------------------------------------------------


async def test_an_openai_agents_tool_needing_approval_pauses_and_resumes_elsewhere(
    server: Server,
) -> None:
    from agents import Agent, function_tool
    from agents.testing import ScriptedModel, assistant_message, function_call

    from opslayer_client.openai_agents import Opslayer as AgentOps

    refunded: list[int] = []

    @function_tool(needs_approval=True)
    def refund(order: int, amount_eur: int) -> str:
        """Refund an order."""
        refunded.append(amount_eur)
        return f"refunded {amount_eur} EUR"

    def make_agent() -> Agent[Any]:
        model = ScriptedModel(
            [
                [function_call("refund", {"order": 9, "amount_eur": 42}, call_id="c1")],
                [assistant_message("Refunded.")],
            ]
        )
        return Agent(name="Support", instructions="help", tools=[refund], model=model)

    minted = agent(server, "support")
    first = AgentOps(server.url, token=minted["token"], owner=OWNER, poll_s=0.2)
    running = asyncio.create_task(first.run(make_agent(), "refund order 9", external_id="case-9"))
    run = await until(lambda: _waiting(server, minted["token"], "case-9"))
    [approval] = run["approvals"]
    assert approval["action"] == "refund"
    assert approval["arguments"] == {"order": 9, "amount_eur": 42}
    running.cancel()  # the process that asked goes away
    await asyncio.gather(running, return_exceptions=True)
    first.close()
    server.cli("runs", "approve", run["id"], "--as", "alice@example.com")
    second = AgentOps(server.url, token=minted["token"], owner=OWNER, poll_s=0.2)
    try:
        script = ScriptedModel([[assistant_message("Refunded.")]])
        again = Agent(name="Support", instructions="help", tools=[refund], model=script)
        result = await asyncio.wait_for(second.resume(again, external_id="case-9"), 30)
    finally:
        second.close()
    assert refunded == [42] and result.final_output == "Refunded."
    assert await status_of(server, minted["token"], "case-9") == "succeeded"


async def test_an_openai_agents_external_id_used_again_is_a_new_run_of_it(server: Server) -> None:
    """A conversation's next turn with the same external id: a new run (the first ended),
    linked by `context.thread_id`, never a refused report."""
    from agents import Agent
    from agents.testing import ScriptedModel, assistant_message

    from opslayer_client.openai_agents import Opslayer as AgentOps

    minted = agent(server, "chat")
    ops = AgentOps(server.url, token=minted["token"], owner=OWNER, poll_s=0.2)
    try:
        for answer in ("Hello.", "Hello again."):
            model = ScriptedModel([[assistant_message(answer)]])
            chat = Agent(name="Chat", instructions="talk", model=model)
            result = await ops.run(chat, "hi", external_id="chat-1")
            assert result.final_output == answer
    finally:
        ops.close()
    async with api(server, minted["token"]) as client:
        runs = (await client.get("/runs")).json()["items"]
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    assert {r["context"]["thread_id"] for r in runs} == {"chat-1"}
    assert runs[1]["external_id"] == "chat-1" and runs[0]["external_id"].startswith("chat-1#run-")


async def _waiting(server: Server, token: str, external_id: str) -> dict[str, Any] | None:
    run = await run_of(server, token, external_id)
    return run if run and run["status"] == "waiting_approval" and run["approvals"] else None


# -- OpenAI background responses ----------------------------------------------------------------


async def test_a_background_response_is_mirrored_and_a_cancel_cancels_it(server: Server) -> None:
    from openai import AsyncOpenAI

    from opslayer_client.openai_background import watch

    state: dict[str, Any] = {"status": "queued", "polls": 0, "cancelled": False}

    async def retrieve(request: web.Request) -> web.Response:
        state["polls"] += 1
        if state["status"] == "queued" and state["polls"] > 1:
            state["status"] = "in_progress"
        return web.json_response(_response(str(state["status"])))

    async def cancel(request: web.Request) -> web.Response:
        state["cancelled"] = True
        state["status"] = "cancelled"
        return web.json_response(_response("cancelled"))

    app = web.Application()
    app.router.add_get("/v1/responses/{id}", retrieve)
    app.router.add_post("/v1/responses/{id}/cancel", cancel)
    minted = agent(server, "researcher")
    async with serving(app) as url:
        openai = AsyncOpenAI(base_url=f"{url}/v1", api_key="sk-test")
        ops = Plain(server.url, token=minted["token"], owner=OWNER, poll_s=0.2)
        try:
            watching = asyncio.create_task(watch(openai, "resp_1", ops=ops, poll_s=0.2))
            await until(lambda: _is(status_of(server, minted["token"], "resp_1"), "running"))
            run = await run_of(server, minted["token"], "resp_1")
            assert run is not None
            server.cli("runs", "cancel", run["id"], "--as", "alice@example.com")
            finished = await asyncio.wait_for(watching, 20)
        finally:
            ops.close()
            await openai.close()
    assert state["cancelled"] and finished.status == "cancelled"
    assert await status_of(server, minted["token"], "resp_1") == "canceled"


def _response(status: str) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1764400000,
        "model": "gpt-test",
        "status": status,
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "temperature": 1.0,
        "top_p": 1.0,
    }


# -- Any async function -------------------------------------------------------------------------


async def test_requires_approval_runs_the_edited_call_or_raises_the_rejection(
    server: Server,
) -> None:
    minted = agent(server, "payments")
    ops = Plain(server.url, token=minted["token"], owner=OWNER, poll_s=0.2)
    paid: list[tuple[int, int]] = []

    @ops.requires_approval(action="refund")
    async def refund(order: int, amount_eur: int) -> str:
        paid.append((order, amount_eur))
        return "ok"

    async def calling(order: int, amount_eur: int) -> str:
        return await refund(order, amount_eur)

    async def decide(how: list[str]) -> None:
        async with api(server, minted["token"]) as client:
            page = await until(lambda: _asking(client))
        server.cli("runs", *how[:1], page, "--as", "alice@example.com", *how[1:])

    try:
        call = asyncio.create_task(calling(1001, 42))
        await decide(["approve", "--edit", json.dumps({"order": 1001, "amount_eur": 30})])
        assert await asyncio.wait_for(call, 20) == "ok" and paid == [(1001, 30)]
        call = asyncio.create_task(calling(1002, 99))
        await decide(["reject", "--message", "store credit instead"])
        with pytest.raises(ApprovalRejected) as rejected:
            await asyncio.wait_for(call, 20)
        assert rejected.value.message == "store credit instead" and paid == [(1001, 30)]
    finally:
        ops.close()


async def _asking(client: httpx.AsyncClient) -> str | None:
    page = (await client.get("/runs?status=waiting_approval")).json()["items"]
    return str(page[0]["id"]) if page else None
