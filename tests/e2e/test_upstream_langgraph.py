"""LangGraph's own human-in-the-loop examples, operated through a real `opslayer serve`.

Each example is copied from langchain-ai/langgraph, `docs/docs/how-tos/human_in_the_loop/
add-human-in-the-loop.md` at commit 23961cff61a42b52525f3b20b4094d8d2fba1744 (the last before
the docs moved to langchain-ai/docs; the page's content last changed in f3055178), section
named above each test. They are changed only where marked `# opslayer:`: the integration lines
the README documents, the model swapped for a scripted one, and the example's own
`graph.invoke(Command(resume=...))` replaced by a person deciding from the `opslayer` CLI (or
the console). Each test asserts the example's own expected output.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

# The tool example's annotations are read by LangGraph from this module's globals (the
# example's own imports, when it is a module of its own).
from langchain_core.runnables import RunnableConfig

from opslayer_client.langgraph import Opslayer
from tests.real_server import Server

OWNER = {"email": "alice@example.com"}


@pytest.fixture
def token(server: Server) -> str:
    minted: dict[str, str] = json.loads(
        server.cli("token", "create", "--agent", "examples", "--json")
    )
    return minted["token"]


async def open_approvals(server: Server, token: str, thread: str) -> list[dict[str, Any]]:
    """The approvals a person could decide now on the thread's current run."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"{server.url}/v1", headers=headers) as api:
        for run in (await api.get("/runs?limit=200")).json()["items"]:
            if (run.get("context") or {}).get("thread_id") == thread or run[
                "external_id"
            ] == thread:
                detail = (await api.get(f"/runs/{run['id']}")).json()
                found: list[dict[str, Any]] = [
                    {**a, "run_id": run["id"]}
                    for a in detail["approvals"]
                    if a["status"] == "pending"
                ]
                if found:
                    return found
    return []


async def decide(
    server: Server, token: str, thread: str, verdict: str, *more: str, title: str | None = None
) -> dict[str, Any]:
    """Wait until the thread asks (an approval titled `title`, if given), then decide it from
    the CLI as Alice: `verdict` is approve, reject or respond."""
    for _ in range(300):
        asked = [
            a
            for a in await open_approvals(server, token, thread)
            if title is None or a["title"] == title
        ]
        if asked:
            approval = asked[0]
            await asyncio.to_thread(
                server.cli,
                "runs",
                verdict,
                approval["run_id"],
                "--approval",
                approval["id"],
                "--as",
                "alice@example.com",
                *more,
            )
            return approval
        await asyncio.sleep(0.1)
    raise AssertionError(f"thread {thread} never asked for a decision")


def integration(server: Server, token: str, **options: Any) -> Opslayer:
    return Opslayer(server.url, token=token, owner=OWNER, poll_s=0.2, **options)


# -- Common patterns > Approve or reject ------------------------------------------------------


async def test_approve_or_reject_extended_example_takes_the_path_decided(
    server: Server, token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Extended example: approve or reject with interrupt. It compares the resume value with
    "approve", where the page's first snippet reads True: one `resume=` line says which."""
    from typing import Literal, TypedDict

    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.constants import END, START  # noqa: F401 (as the example imports them)
    from langgraph.graph import StateGraph
    from langgraph.types import Command, interrupt

    # Define the shared graph state
    class State(TypedDict):
        llm_output: str
        decision: str

    # Simulate an LLM output node
    def generate_llm_output(state: State) -> State:
        return {"llm_output": "This is the generated output."}  # type: ignore[typeddict-item]

    # Human approval node
    def human_approval(state: State) -> Command[Literal["approved_path", "rejected_path"]]:
        decision = interrupt(
            {
                "question": "Do you approve the following output?",
                "llm_output": state["llm_output"],
            }
        )

        if decision == "approve":
            return Command(goto="approved_path", update={"decision": "approved"})
        else:
            return Command(goto="rejected_path", update={"decision": "rejected"})

    # Next steps after approval
    def approved_node(state: State) -> State:
        print("✅ Approved path taken.")
        return state

    # Alternative path after rejection
    def rejected_node(state: State) -> State:
        print("❌ Rejected path taken.")
        return state

    # Build the graph
    builder = StateGraph(State)
    builder.add_node("generate_llm_output", generate_llm_output)
    builder.add_node("human_approval", human_approval)
    builder.add_node("approved_path", approved_node)
    builder.add_node("rejected_path", rejected_node)

    builder.set_entry_point("generate_llm_output")
    builder.add_edge("generate_llm_output", "human_approval")
    builder.add_edge("approved_path", END)
    builder.add_edge("rejected_path", END)

    # opslayer: the integration, and the convention this example resumes with
    ops = integration(server, token, resume=lambda _value, decided: decided.type)
    checkpointer = ops.watch(InMemorySaver())  # opslayer: the saver, watched
    graph = builder.compile(checkpointer=checkpointer)

    try:
        for verdict, said, decided in (
            ("approve", "✅ Approved path taken.", "approved"),
            ("reject", "❌ Rejected path taken.", "rejected"),
        ):
            # Run until interrupt
            config = {"configurable": {"thread_id": uuid.uuid4()}}
            # opslayer: run until done; a person decides instead of Command(resume="approve")
            running = asyncio.create_task(ops.invoke(graph, {}, config))
            thread = str(config["configurable"]["thread_id"])
            asked = await decide(server, token, thread, verdict)
            assert asked["title"] == "Do you approve the following output?"
            assert asked["details"] == "llm_output: This is the generated output."
            assert asked["decisions"] == ["approve", "reject", "respond"]
            final = await running
            assert final["decision"] == decided and said in capsys.readouterr().out
    finally:
        ops.close()


def approve_or_reject_snippet(ops: Opslayer) -> Any:
    """The page's first "Approve or reject" snippet (`if is_approved:` after
    `Command(resume=True)`), completed into a graph with the nodes it names."""
    from typing import Literal, TypedDict

    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import Command, interrupt

    class State(TypedDict, total=False):  # opslayer: the snippet's surroundings, completed
        llm_output: str
        went: str

    def human_approval(state: State) -> Command[Literal["some_node", "another_node"]]:
        is_approved = interrupt(
            {
                "question": "Is this correct?",
                # Surface the output that should be
                # reviewed and approved by the human.
                "llm_output": state["llm_output"],
            }
        )

        if is_approved:
            return Command(goto="some_node")
        else:
            return Command(goto="another_node")

    graph_builder = StateGraph(State)  # opslayer: the snippet's surroundings, completed
    graph_builder.add_node("some_node", lambda s: {"went": "some_node"})
    graph_builder.add_node("another_node", lambda s: {"went": "another_node"})
    graph_builder.add_edge(START, "human_approval")
    graph_builder.add_edge("some_node", END)
    graph_builder.add_edge("another_node", END)
    checkpointer = ops.watch(InMemorySaver())  # opslayer

    # Add the node to the graph in an appropriate location
    # and connect it to the relevant nodes.
    graph_builder.add_node("human_approval", human_approval)
    graph = graph_builder.compile(checkpointer=checkpointer)
    return graph


async def test_approve_or_reject_snippet_resumes_with_true_by_default(
    server: Server, token: str
) -> None:
    """The page's first snippet (`if is_approved:` after `Command(resume=True)`), completed
    into a graph with the nodes it names; no resume convention is given: True is the default."""
    ops = integration(server, token)  # opslayer
    graph = approve_or_reject_snippet(ops)

    try:
        for verdict, went in (("approve", "some_node"), ("reject", "another_node")):
            thread_config = {"configurable": {"thread_id": f"some_id-{verdict}"}}
            running = asyncio.create_task(  # opslayer: instead of Command(resume=True)
                ops.invoke(graph, {"llm_output": "42"}, thread_config)
            )
            await decide(server, token, f"some_id-{verdict}", verdict)
            assert (await running)["went"] == went
    finally:
        ops.close()


# -- Common patterns > Review and edit state --------------------------------------------------


async def test_review_and_edit_state_extended_example_uses_the_edited_summary(
    server: Server, token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Extended example: edit state with interrupt. The person answers with the value the node
    reads (`{"edited_summary": …}`): an answer that is JSON reaches the graph as JSON."""
    from typing import TypedDict

    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.constants import END, START  # noqa: F401 (as the example imports them)
    from langgraph.graph import StateGraph
    from langgraph.types import interrupt

    # Define the graph state
    class State(TypedDict):
        summary: str

    # Simulate an LLM summary generation
    def generate_summary(state: State) -> State:
        return {"summary": "The cat sat on the mat and looked at the stars."}

    # Human editing node
    def human_review_edit(state: State) -> State:
        result = interrupt(
            {
                "task": "Please review and edit the generated summary if necessary.",
                "generated_summary": state["summary"],
            }
        )
        return {"summary": result["edited_summary"]}

    # Simulate downstream use of the edited summary
    def downstream_use(state: State) -> State:
        print(f"✅ Using edited summary: {state['summary']}")
        return state

    # Build the graph
    builder = StateGraph(State)
    builder.add_node("generate_summary", generate_summary)
    builder.add_node("human_review_edit", human_review_edit)
    builder.add_node("downstream_use", downstream_use)

    builder.set_entry_point("generate_summary")
    builder.add_edge("generate_summary", "human_review_edit")
    builder.add_edge("human_review_edit", "downstream_use")
    builder.add_edge("downstream_use", END)

    # Set up in-memory checkpointing for interrupt support
    ops = integration(server, token)  # opslayer
    checkpointer = ops.watch(InMemorySaver())  # opslayer: watched
    graph = builder.compile(checkpointer=checkpointer)

    # Invoke the graph until it hits the interrupt
    thread = str(uuid.uuid4())
    config = {"configurable": {"thread_id": thread}}
    try:
        running = asyncio.create_task(ops.invoke(graph, {}, config))  # opslayer
        # Simulate human review: instead of Command(resume={"edited_summary": …})
        edited_summary = "The cat lay on the rug, gazing peacefully at the night sky."
        answer = json.dumps({"edited_summary": edited_summary})
        asked = await decide(server, token, thread, "respond", "--message", answer)
        assert asked["title"] == "Please review and edit the generated summary if necessary."
        assert "The cat sat on the mat" in asked["details"]
        final = await running
    finally:
        ops.close()
    assert final["summary"] == edited_summary
    assert f"✅ Using edited summary: {edited_summary}" in capsys.readouterr().out


# -- Common patterns > Validate human input ---------------------------------------------------


async def test_validate_human_input_extended_example_asks_again_until_valid(
    server: Server, token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Extended example: validating user input. Three answers, as in the example: "not a
    number" and "-10" are asked again, "25" is taken."""
    from typing import TypedDict

    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.constants import END
    from langgraph.graph import StateGraph
    from langgraph.types import interrupt

    class State(TypedDict):
        age: int

    def get_valid_age(state: State) -> State:
        prompt = "Please enter your age (must be a non-negative integer)."

        while True:
            user_input = interrupt(prompt)

            # Validate the input
            try:
                age = int(user_input)
                if age < 0:
                    raise ValueError("Age must be non-negative.")
                break  # Valid input received
            except (ValueError, TypeError):
                prompt = (
                    f"'{user_input}' is not valid. Please enter a non-negative integer for age."
                )

        return {"age": age}

    def report_age(state: State) -> State:
        print(f"✅ Human is {state['age']} years old.")
        return state

    builder = StateGraph(State)
    builder.add_node("get_valid_age", get_valid_age)
    builder.add_node("report_age", report_age)

    builder.set_entry_point("get_valid_age")
    builder.add_edge("get_valid_age", "report_age")
    builder.add_edge("report_age", END)

    ops = integration(server, token)  # opslayer
    checkpointer = ops.watch(InMemorySaver())  # opslayer: watched
    graph = builder.compile(checkpointer=checkpointer)

    thread = str(uuid.uuid4())
    config = {"configurable": {"thread_id": thread}}
    try:
        running = asyncio.create_task(ops.invoke(graph, {}, config))  # opslayer
        # opslayer: a person answers instead of Command(resume="not a number"), "-10", "25"
        prompts = []
        for answer in ("not a number", "-10", "25"):
            asked = await decide(server, token, thread, "respond", "--message", answer)
            prompts.append(asked["title"])
        final_result = await running
    finally:
        ops.close()
    assert prompts == [
        "Please enter your age (must be a non-negative integer).",
        "'not a number' is not valid. Please enter a non-negative integer for age.",
        "'-10' is not valid. Please enter a non-negative integer for age.",
    ]
    assert final_result == {"age": 25}
    assert "✅ Human is 25 years old." in capsys.readouterr().out


# -- Resume multiple interrupts with one invocation -------------------------------------------


async def test_two_interrupts_at_once_resume_together_once_both_are_decided(
    server: Server, token: str
) -> None:
    """Two nodes run in parallel and each interrupts: two approvals; the graph resumes with
    both answers (the example's resume map), only once both are decided."""
    from typing import TypedDict

    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.constants import START
    from langgraph.graph import StateGraph
    from langgraph.types import interrupt

    class State(TypedDict):
        text_1: str
        text_2: str

    def human_node_1(state: State) -> dict[str, Any]:
        value = interrupt({"text_to_revise": state["text_1"]})
        return {"text_1": value}

    def human_node_2(state: State) -> dict[str, Any]:
        value = interrupt({"text_to_revise": state["text_2"]})
        return {"text_2": value}

    graph_builder = StateGraph(State)
    graph_builder.add_node("human_node_1", human_node_1)
    graph_builder.add_node("human_node_2", human_node_2)

    graph_builder.add_edge(START, "human_node_1")
    graph_builder.add_edge(START, "human_node_2")

    ops = integration(server, token)  # opslayer
    checkpointer = ops.watch(InMemorySaver())  # opslayer: watched
    graph = graph_builder.compile(checkpointer=checkpointer)

    thread_id = str(uuid.uuid4())
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    try:
        running = asyncio.create_task(  # opslayer
            ops.invoke(graph, {"text_1": "original text 1", "text_2": "original text 2"}, config)
        )
        # opslayer: a person answers each, instead of Command(resume=resume_map)
        for original in ("original text 1", "original text 2"):
            title = f"text_to_revise: {original}"
            approvals = []
            for _ in range(100):
                approvals = await open_approvals(server, token, thread_id)
                if len(approvals) == 2 or original == "original text 2":
                    break
                await asyncio.sleep(0.1)
            [approval] = [a for a in approvals if a["details"] == title]
            await asyncio.to_thread(
                server.cli, "runs", "respond", approval["run_id"], "--approval",
                approval["id"], "--as", "alice@example.com", "--message",
                f"edited text for {original}",
            )  # fmt: skip
        result = await running
    finally:
        ops.close()
    assert result == {
        "text_1": "edited text for original text 1",
        "text_2": "edited text for original text 2",
    }


# -- Common patterns > Add interrupts to any tool (Agent Inbox's schema) ----------------------


# The example, as published, uses APIs LangGraph 1.0 deprecated (create_react_agent, the
# prebuilt HumanInterrupt types): their warnings are upstream's, not ours.
@pytest.mark.filterwarnings("ignore::langgraph.warnings.LangGraphDeprecatedSinceV10")
async def test_add_interrupts_to_any_tool_example_books_after_accept_and_edit(
    server: Server, token: str
) -> None:
    """The wrapper that adds human-in-the-loop to any tool: its `HumanInterrupt` becomes an
    approval with the tool as action and its args as arguments, offering accept (approve),
    edit and respond; an edit books the hotel the person named."""
    from typing import Callable

    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.tools import BaseTool
    from langchain_core.tools import tool as create_tool
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.prebuilt import create_react_agent
    from langgraph.prebuilt.interrupt import HumanInterrupt, HumanInterruptConfig
    from langgraph.types import interrupt

    def add_human_in_the_loop(
        tool: Callable | BaseTool,  # type: ignore[type-arg]
        *,
        interrupt_config: HumanInterruptConfig = None,  # type: ignore[assignment]
    ) -> BaseTool:
        """Wrap a tool to support human-in-the-loop review."""
        if not isinstance(tool, BaseTool):
            tool = create_tool(tool)

        if interrupt_config is None:
            interrupt_config = {
                "allow_accept": True,
                "allow_edit": True,
                "allow_respond": True,
            }

        @create_tool(  # (1)!
            tool.name, description=tool.description, args_schema=tool.args_schema
        )
        def call_tool_with_interrupt(config: RunnableConfig, **tool_input: Any) -> Any:
            request: HumanInterrupt = {
                "action_request": {"action": tool.name, "args": tool_input},
                "config": interrupt_config,
                "description": "Please review the tool call",
            }
            response = interrupt([request])[0]  # (2)!
            # approve the tool call
            if response["type"] == "accept":
                tool_response = tool.invoke(tool_input, config)
            # update tool call args
            elif response["type"] == "edit":
                tool_input = response["args"]["args"]
                tool_response = tool.invoke(tool_input, config)
            # respond to the LLM with user feedback
            elif response["type"] == "response":
                user_feedback = response["args"]
                tool_response = user_feedback
            else:
                raise ValueError(f"Unsupported interrupt response type: {response['type']}")

            return tool_response

        return call_tool_with_interrupt

    ops = integration(server, token)  # opslayer
    checkpointer = ops.watch(InMemorySaver())  # opslayer: watched

    def book_hotel(hotel_name: str) -> str:
        """Book a hotel"""
        return f"Successfully booked a stay at {hotel_name}."

    class ScriptedChat(GenericFakeChatModel):  # opslayer: the model, scripted
        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return self

    call = {"name": "book_hotel", "args": {"hotel_name": "McKittrick hotel"}, "id": "c1"}
    model = ScriptedChat(  # opslayer: instead of "anthropic:claude-3-5-sonnet-latest"
        messages=iter([AIMessage(content="", tool_calls=[call]), AIMessage(content="Booked.")])
    )
    agent = create_react_agent(
        model=model,
        tools=[
            add_human_in_the_loop(book_hotel),  # (1)!
        ],
        checkpointer=checkpointer,
    )

    config = {"configurable": {"thread_id": "1"}}
    messages = {"messages": [{"role": "user", "content": "book a stay at McKittrick hotel"}]}
    try:
        running = asyncio.create_task(ops.invoke(agent, messages, config))  # opslayer
        # opslayer: a person edits, instead of Command(resume=[{"type": "edit", ...}])
        edited = json.dumps({"hotel_name": "McKittrick Hotel"})
        asked = await decide(server, token, "1", "approve", "--edit", edited)
        assert asked["action"] == "book_hotel" and asked["arguments"] == call["args"]
        assert asked["decisions"] == ["approve", "edit", "respond"]
        assert asked["details"] == "Please review the tool call"
        final = await running
    finally:
        ops.close()
    tool_result = [m for m in final["messages"] if m.type == "tool"][-1]
    assert tool_result.content == "Successfully booked a stay at McKittrick Hotel."
    assert re.search("Booked", final["messages"][-1].content)


# -- Two more, found in the same repositories -------------------------------------------------


async def test_an_interrupt_with_a_response_schema_gets_an_answer_of_that_shape(
    server: Server, token: str
) -> None:
    """langchain-ai/docs `src/oss/langgraph/interrupts.mdx` at 07729fb0ccc8c32177a8643391d49e0bd81ea237,
    "Define an interrupt response schema": LangGraph checks the resume value against the
    schema, so approve must come back as `{"approved": True}`, not `True`."""

    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import START, StateGraph
    from langgraph.types import interrupt
    from pydantic import BaseModel
    from typing_extensions import TypedDict

    class Decision(BaseModel):
        approved: bool
        note: str | None = None

    class State(TypedDict):
        answer: Any

    def node(state: State) -> State:
        answer = interrupt({"question": "approve?"}, response_schema=Decision)
        return {"answer": answer}

    ops = integration(server, token)  # opslayer
    graph = (
        StateGraph(State)
        .add_node("node", node)
        .add_edge(START, "node")
        .compile(checkpointer=ops.watch(InMemorySaver()))  # opslayer: watched
    )
    try:
        for thread, verdict, expected in (
            ("1", ["approve"], Decision(approved=True)),
            ("2", ["reject", "--message", "not today"], Decision(approved=False, note="not today")),
        ):
            config = {"configurable": {"thread_id": thread}}
            running = asyncio.create_task(ops.invoke(graph, {"answer": None}, config))  # opslayer
            await decide(server, token, thread, *verdict)  # instead of Command(resume={...})
            result = await running
            assert result["answer"] == expected
    finally:
        ops.close()


async def test_a_subgraph_called_as_a_function_resumes_with_the_answer(
    server: Server, token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """LangGraph's HITL page (as above), "Using with subgraphs called as functions", extended
    example: the interrupt is raised inside a subgraph a node invokes."""
    from typing import TypedDict

    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.constants import START
    from langgraph.graph import StateGraph
    from langgraph.types import interrupt

    class State(TypedDict):
        """The graph state."""

        state_counter: int

    counter_node_in_subgraph = 0

    def node_in_subgraph(state: State) -> None:
        """A node in the sub-graph."""
        nonlocal counter_node_in_subgraph  # opslayer: `global` in the example, a module of its own
        counter_node_in_subgraph += 1  # This code will **NOT** run again!
        print(f"Entered `node_in_subgraph` a total of {counter_node_in_subgraph} times")

    counter_human_node = 0

    def human_node(state: State) -> None:
        nonlocal counter_human_node  # opslayer: as above
        counter_human_node += 1  # This code will run again!
        print(f"Entered human_node in sub-graph a total of {counter_human_node} times")
        answer = interrupt("what is your name?")
        print(f"Got an answer of {answer}")

    checkpointer = InMemorySaver()

    subgraph_builder = StateGraph(State)
    subgraph_builder.add_node("some_node", node_in_subgraph)
    subgraph_builder.add_node("human_node", human_node)
    subgraph_builder.add_edge(START, "some_node")
    subgraph_builder.add_edge("some_node", "human_node")
    subgraph = subgraph_builder.compile(checkpointer=checkpointer)

    counter_parent_node = 0

    def parent_node(state: State) -> Any:
        """This parent node will invoke the subgraph."""
        nonlocal counter_parent_node  # opslayer: as above

        counter_parent_node += 1  # This code will run again on resuming!
        print(f"Entered `parent_node` a total of {counter_parent_node} times")

        # Please note that we're intentionally incrementing the state counter
        # in the graph state as well to demonstrate that the subgraph update
        # of the same key will not conflict with the parent graph (until
        subgraph_state = subgraph.invoke(state)
        return subgraph_state

    builder = StateGraph(State)
    builder.add_node("parent_node", parent_node)
    builder.add_edge(START, "parent_node")

    ops = integration(server, token)  # opslayer
    checkpointer = ops.watch(InMemorySaver())  # type: ignore[assignment]  # opslayer: watched
    graph = builder.compile(checkpointer=checkpointer)

    config = {
        "configurable": {
            "thread_id": uuid.uuid4(),
        }
    }
    thread = str(config["configurable"]["thread_id"])
    try:
        running = asyncio.create_task(ops.invoke(graph, {"state_counter": 1}, config))  # opslayer
        # opslayer: a person answers, instead of Command(resume="35")
        asked = await decide(server, token, thread, "respond", "--message", "35")
        final = await running
    finally:
        ops.close()
    assert asked["title"] == "what is your name?"
    out = capsys.readouterr().out
    assert "Entered `parent_node` a total of 2 times" in out
    assert "Entered human_node in sub-graph a total of 2 times" in out
    assert "Entered `node_in_subgraph` a total of 1 times" in out
    assert "Got an answer of 35" in out and final == {"state_counter": 1}


async def test_approve_or_reject_snippet_decided_by_a_signed_slack_click(
    tmp_path: Path,
) -> None:
    """The same snippet as above, decided where a team decides: the approval is posted in the
    owner's channel, and Alice's signed click on Approve takes the graph to `some_node`."""
    from tests.fake_slack import fake_slack
    from tests.slack_support import SECRET, buttons, click, signed

    async with fake_slack() as slack:
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
                "people", "add", "--email", "alice@example.com", "--slack", "UALICE",
                "--group", "ops",
            )  # fmt: skip
            minted = json.loads(server.cli("token", "create", "--agent", "slacked", "--json"))
            ops = integration(server, minted["token"])  # opslayer
            graph = approve_or_reject_snippet(ops)

            thread_config = {"configurable": {"thread_id": "some_id"}}
            try:
                running = asyncio.create_task(  # opslayer: instead of Command(resume=True)
                    ops.invoke(graph, {"llm_output": "42"}, thread_config)
                )
                await slack.wait_for(lambda: slack.api("chat.postMessage"), within_s=20)
                [message] = slack.api("chat.postMessage")
                assert message["channel"] == "C-PAY" and "Is this correct?" in json.dumps(message)
                form = click(slack, "UALICE", buttons(message)["opslayer_approve"])
                async with httpx.AsyncClient(base_url=server.url) as client:
                    answer = await client.post("/slack/events", content=form, headers=signed(form))
                assert answer.status_code == 200
                assert (await asyncio.wait_for(running, 30))["went"] == "some_node"
            finally:
                ops.close()
        finally:
            server.stop()
