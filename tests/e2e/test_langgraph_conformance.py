"""What LangGraph and LangChain users do that the published examples do not show in one place,
through a real `opslayer serve`: per-call reviews that allow only some decisions, two tool calls
in one pause decided over the webhook, a thread invoked again, and an approval opslayer refuses
(loud, never a graph waiting forever)."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, TypedDict

import httpx
import pytest
import uvicorn
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from opslayer_client.langgraph import Opslayer
from tests.e2e.test_upstream_langgraph import decide, open_approvals
from tests.real_server import Server, free_port

OWNER = {"email": "alice@example.com"}
WRITTEN: list[str] = []
QUERIED: list[str] = []


@pytest.fixture
def minted(server: Server) -> dict[str, str]:
    found: dict[str, str] = json.loads(server.cli("token", "create", "--agent", "ops", "--json"))
    return found


async def runs_of(server: Server, token: str) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"{server.url}/v1", headers=headers) as api:
        items: list[dict[str, Any]] = (await api.get("/runs?limit=200")).json()["items"]
        return items


class ScriptedChat(GenericFakeChatModel):
    """LangChain's fake chat model, taught to accept tools (it answers from its script)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


@tool
def write_file(path: str, content: str) -> str:
    """Write a file."""
    WRITTEN.append(path)
    return f"Wrote {len(content)} characters to {path}"


@tool
def execute_sql(query: str) -> str:
    """Run a SQL statement."""
    QUERIED.append(query)
    return "done"


def two_calls() -> ScriptedChat:
    calls = [
        {"name": "write_file", "args": {"path": "a.csv", "content": "x"}, "id": "c1"},
        {"name": "execute_sql", "args": {"query": "DELETE FROM orders"}, "id": "c2"},
    ]
    return ScriptedChat(
        messages=iter([AIMessage(content="", tool_calls=calls), AIMessage(content="Finished.")])
    )


@pytest.mark.parametrize("mode", ["per_call", "batched"])
async def test_a_review_offers_only_the_decisions_the_tool_allows(
    server: Server, minted: dict[str, str], mode: str
) -> None:
    WRITTEN.clear()
    QUERIED.clear()
    ops = Opslayer(server.url, token=minted["token"], owner=OWNER, poll_s=0.2)
    agent = create_agent(
        two_calls(),
        tools=[write_file, execute_sql],
        middleware=[
            HumanInTheLoopMiddleware(
                interrupt_on={
                    "write_file": True,
                    "execute_sql": {"allowed_decisions": ["approve", "reject"]},
                },
                interrupt_mode=mode,  # type: ignore[arg-type]
            )
        ],
        checkpointer=ops.watch(InMemorySaver()),
    )
    config = {"configurable": {"thread_id": f"files-{mode}"}}
    asked = {"messages": [{"role": "user", "content": "archive and clean up"}]}
    try:
        running = asyncio.create_task(ops.invoke(agent, asked, config))
        for _ in range(100):
            approvals = await open_approvals(server, minted["token"], f"files-{mode}")
            if len(approvals) == 2:
                break
            await asyncio.sleep(0.1)
        offered = {a["action"]: a for a in approvals}
        assert offered["execute_sql"]["decisions"] == ["approve", "reject"]
        assert set(offered["write_file"]["decisions"]) == {"approve", "edit", "reject", "respond"}
        if mode == "per_call":  # the tool's own argument schema judges an edit
            schema = offered["write_file"]["arguments_schema"]
            assert set(schema["required"]) == {"path", "content"}
        title = offered["write_file"]["title"]
        edit = json.dumps({"path": "b.csv", "content": "y"})
        await decide(
            server, minted["token"], f"files-{mode}", "approve", "--edit", edit, title=title
        )
        title = offered["execute_sql"]["title"]
        await decide(
            server, minted["token"], f"files-{mode}", "reject", "--message", "no", title=title
        )
        final = await running
    finally:
        ops.close()
    assert WRITTEN == ["b.csv"] and QUERIED == []
    assert final["messages"][-1].content == "Finished."


async def test_two_calls_in_one_pause_resume_over_the_webhook(
    server: Server, minted: dict[str, str]
) -> None:
    """Seen: the first decision was delivered, the lookup of its sibling asked for pending
    commands only, and the run waited forever with no open approval."""
    WRITTEN.clear()
    QUERIED.clear()
    port = free_port()
    ops = Opslayer(
        server.url,
        token=minted["token"],
        webhook_secret=minted["webhook_secret"],
        owner=OWNER,
        webhook_url=f"http://127.0.0.1:{port}/",
    )
    agent = create_agent(
        two_calls(),
        tools=[write_file, execute_sql],
        middleware=[
            HumanInTheLoopMiddleware(interrupt_on={"write_file": True, "execute_sql": True})
        ],
        checkpointer=ops.watch(InMemorySaver()),
    )
    webhook = uvicorn.Server(
        uvicorn.Config(ops.webhook(agent), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=webhook.run, daemon=True).start()
    config: Any = {"configurable": {"thread_id": "hooked"}}
    try:
        go: Any = {"messages": [{"role": "user", "content": "go"}]}
        await asyncio.to_thread(lambda: agent.invoke(go, config))
        await ops.runtime.aflush()
        await decide(server, minted["token"], "hooked", "approve")
        await asyncio.sleep(1)  # delivered to the webhook while its sibling is still open
        await decide(server, minted["token"], "hooked", "approve")
        for _ in range(200):
            runs = await runs_of(server, minted["token"])
            if runs and runs[0]["status"] == "succeeded":
                break
            await asyncio.sleep(0.1)
        assert runs[0]["status"] == "succeeded"
    finally:
        webhook.should_exit = True
        ops.close()
    assert WRITTEN == ["a.csv"] and QUERIED == ["DELETE FROM orders"]


class Ask(TypedDict, total=False):
    topic: str
    answer: Any


def question_graph(ops: Opslayer) -> Any:
    def ask(state: Ask) -> Ask:
        return {"answer": interrupt({"question": f"Publish the post on {state['topic']}?"})}

    builder = StateGraph(Ask)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    return builder.compile(checkpointer=ops.watch(InMemorySaver()), name="Posts")


async def test_a_thread_invoked_again_is_a_new_run_of_that_thread(
    server: Server, minted: dict[str, str]
) -> None:
    """Seen: docs and chat agents reuse `thread_id`; after the first run succeeded the next
    invocation's reports were refused (409) and the agent waited forever."""
    ops = Opslayer(server.url, token=minted["token"], owner=OWNER, poll_s=0.2)
    graph = question_graph(ops)
    config = {"configurable": {"thread_id": "1"}}
    try:
        for topic, verdict, answer in (("cats", "approve", True), ("dogs", "reject", False)):
            running = asyncio.create_task(ops.invoke(graph, {"topic": topic}, config))
            asked = await decide(server, minted["token"], "1", verdict)
            assert asked["title"] == f"Publish the post on {topic}?"
            assert (await running)["answer"] is answer
    finally:
        ops.close()
    runs = await runs_of(server, minted["token"])
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    assert {r["context"]["thread_id"] for r in runs} == {"1"}
    assert runs[1]["external_id"] == "1" and runs[0]["external_id"].startswith("1#run-")


async def test_an_approval_opslayer_refuses_fails_the_run_with_the_reason(
    server: Server, minted: dict[str, str]
) -> None:
    """Never silent: what opslayer refuses is said in the run (failed, with why) and in the
    agent's log, and `invoke` returns instead of waiting for a decision nobody can make."""
    ops = Opslayer(server.url, token=minted["token"], owner=OWNER, poll_s=0.2)
    deep: Any = {"leaf": 1}
    for _ in range(40):
        deep = {"a": deep}

    def ask(state: Ask) -> Ask:
        return {"answer": interrupt({"title": "Apply?", "arguments": {"plan": deep}})}

    builder = StateGraph(Ask)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    graph = builder.compile(checkpointer=ops.watch(InMemorySaver()))
    try:
        async with asyncio.timeout(20):
            await ops.invoke(graph, {"topic": "x"}, {"configurable": {"thread_id": "deep"}})
    finally:
        ops.close()
    [run] = await runs_of(server, minted["token"])
    headers = {"Authorization": f"Bearer {minted['token']}"}
    async with httpx.AsyncClient(base_url=f"{server.url}/v1", headers=headers) as api:
        trail = (await api.get(f"/runs/{run['id']}/audit")).json()
    assert run["status"] == "failed"
    failed = [e for e in trail if e["action"] == "run.status_changed"][-1]
    assert "opslayer refused the approval 'Apply?'" in json.dumps(failed)
    assert "nested deeper than 32 levels" in json.dumps(failed)
