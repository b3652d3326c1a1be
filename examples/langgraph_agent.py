"""A LangGraph agent operated from opslayer: two lines added to a graph you already have.

    opslayer token create --agent refund-graph --json      # note token and webhook_secret
    python examples/langgraph_agent.py --token opl_... --secret whsec_... --owner you@example.com

The graph looks up an order, asks a human before refunding (`interrupt` with the refund's
arguments, which the approver may edit), refunds (a side effect that is not idempotent, skipped
on a retry that already did it) and finishes. Its checkpoints live in a SQLite file, so the
agent can stop while it waits and another process can finish the run:

    python examples/langgraph_agent.py ... --until-interrupt   # runs, asks, exits
    opslayer runs approve RUN --as you@example.com --edit '{"order": 1001, "amount_eur": 30}'
    python examples/langgraph_agent.py ... --resume            # takes the decision, finishes

Decide from Slack, Teams, the console or the CLI. Needs `pip install 'opslayer-client[langgraph]'`
and langgraph-checkpoint-sqlite; no model and no key.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from typing import Any, TypedDict

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from opslayer_client.langgraph import Opslayer


class Refund(TypedDict, total=False):
    order: int
    amount_eur: int
    refunded_eur: int
    outcome: str


def build(ops: Opslayer, saver: SqliteSaver) -> Any:
    def look_up(state: Refund) -> Refund:
        return {"amount_eur": 42}

    def ask(state: Refund) -> Refund:
        answer = interrupt(
            {
                "title": f"Refund {state['amount_eur']} EUR to order {state['order']}?",
                "details": "The parcel never arrived.",
                "action": "refund",
                "arguments": {"order": state["order"], "amount_eur": state["amount_eur"]},
                "decisions": ["approve", "edit", "reject"],
                "risk": "medium",
            }
        )
        if not answer["approved"]:
            return {"outcome": f"not refunded: {answer['message'] or answer['type']}"}
        return {"amount_eur": answer["arguments"]["amount_eur"]}

    def refund(state: Refund) -> Refund:
        if state.get("outcome"):
            return {}
        key = f"refund:{state['order']}"
        if ops.skipping(key):  # a retry after the money went out: do not send it twice
            return {"outcome": "refunded before the retry"}
        ops.side_effect(key, idempotent=False, description=f"refunded {state['amount_eur']} EUR")
        return {"refunded_eur": state["amount_eur"], "outcome": "refunded"}

    builder = StateGraph(Refund)
    builder.add_node("look_up", look_up)
    builder.add_node("ask", ask)
    builder.add_node("refund", refund)
    builder.add_edge(START, "look_up")
    builder.add_edge("look_up", "ask")
    builder.add_edge("ask", "refund")
    builder.add_edge("refund", END)
    # The two lines: watch the saver, and (below) serve the graph.
    return ops.follow(builder.compile(checkpointer=ops.watch(saver), name="Refund a customer"))


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="opslayer's address")
    parser.add_argument("--token", required=True, help="the agent token (opl_...)")
    parser.add_argument("--secret", required=True, help="the webhook signing secret (whsec_...)")
    parser.add_argument("--owner", required=True, help="the owner's email, a person opslayer knows")
    parser.add_argument("--order", type=int, default=1001)
    parser.add_argument("--checkpoints", default="refund-graph.sqlite", help="the saver's file")
    parser.add_argument("--until-interrupt", action="store_true", help="stop once it asks")
    parser.add_argument("--resume", action="store_true", help="only take decisions and finish")
    args = parser.parse_args()

    ops = Opslayer(
        args.url, token=args.token, webhook_secret=args.secret, owner={"email": args.owner}
    )
    saver = SqliteSaver(sqlite3.connect(args.checkpoints, check_same_thread=False))
    graph = build(ops, saver)
    config = {"configurable": {"thread_id": f"order-{args.order}"}}
    try:
        if not args.resume:
            await asyncio.to_thread(graph.invoke, {"order": args.order}, config)
            ops.runtime.flush()
            print(f"asked for approval: {ops.runtime.runs[f'order-{args.order}']}", flush=True)
            if args.until_interrupt:
                return 0
        stop = asyncio.Event()
        serving = asyncio.create_task(ops.serve(graph, stop=stop))
        thread = f"order-{args.order}"
        while graph.get_state(config).next and not ops.ended(thread):  # noqa: ASYNC110
            await asyncio.sleep(0.2)  # the graph's own state, read as it moves
        stop.set()
        await serving
        print(f"finished: {graph.get_state(config).values.get('outcome')}", flush=True)
        return 0
    finally:
        ops.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
