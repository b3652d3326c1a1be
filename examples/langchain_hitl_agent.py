"""A LangChain agent (`create_agent`) whose `send_email` tool needs a human: LangChain's own
`HumanInTheLoopMiddleware`, operated from opslayer with no other change.

    opslayer token create --agent mailer --json      # note token and webhook_secret
    python examples/langchain_hitl_agent.py --token opl_... --secret whsec_... \
        --owner you@example.com

The model is scripted (no key): it asks to email Bob. The middleware's interrupt becomes one
approval per tool call, with the call's arguments and the decisions the middleware allows
(approve, edit, reject, respond). Decide it in Slack, Teams, the console or with
`opslayer runs approve RUN --as you@example.com [--edit '{"to": "...", "subject": "..."}']`;
the agent resumes with the decision in the middleware's own shape, sends (or not) and answers.
Needs `pip install 'opslayer-client[langchain]'`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from opslayer_client.langgraph import Opslayer


class ScriptedChat(GenericFakeChatModel):
    """A chat model that answers from a script (any real chat model works the same way)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


@tool
def send_email(to: str, subject: str) -> str:
    """Send an email."""
    print(f"sending {subject!r} to {to}", flush=True)
    return f"sent to {to}"


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="opslayer's address")
    parser.add_argument("--token", required=True, help="the agent token (opl_...)")
    parser.add_argument("--secret", required=True, help="the webhook signing secret (whsec_...)")
    parser.add_argument("--owner", required=True, help="the owner's email, a person opslayer knows")
    args = parser.parse_args()

    ops = Opslayer(
        args.url, token=args.token, webhook_secret=args.secret, owner={"email": args.owner}
    )
    call = {"name": "send_email", "args": {"to": "bob@example.com", "subject": "Hi"}, "id": "1"}
    model = ScriptedChat(
        messages=iter([AIMessage(content="", tool_calls=[call]), AIMessage(content="Done.")])
    )
    agent = create_agent(
        model,
        tools=[send_email],
        middleware=[HumanInTheLoopMiddleware(interrupt_on={"send_email": True})],
        checkpointer=ops.watch(InMemorySaver()),  # the one line opslayer adds
        name="Mailer",
    )
    ops.follow(agent)
    config: Any = {"configurable": {"thread_id": "mail-bob-1"}}
    try:
        asked: Any = {"messages": [("user", "email Bob")]}
        await asyncio.to_thread(agent.invoke, asked, config)
        ops.runtime.flush()
        print(f"waiting for a decision on run {ops.runtime.runs['mail-bob-1']}", flush=True)
        stop = asyncio.Event()
        serving = asyncio.create_task(ops.serve(agent, stop=stop))  # or mount ops.webhook(agent)
        while agent.get_state(config).next and not ops.ended("mail-bob-1"):  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        stop.set()
        await serving
        print(agent.get_state(config).values["messages"][-1].content, flush=True)
        return 0
    finally:
        ops.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
