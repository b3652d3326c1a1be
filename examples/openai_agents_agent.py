"""An OpenAI Agents SDK agent whose `refund` tool needs approval, operated from opslayer.

    opslayer token create --agent support --json      # note the token
    python examples/openai_agents_agent.py --token opl_... --owner you@example.com

The model is the SDK's own `ScriptedModel` (no key): it calls `refund(order=1001,
amount_eur=42)`. The tool has `needs_approval=True`, so the run pauses: opslayer shows the call
as an approval with its arguments, and keeps the serialized `RunState`. Approve or reject it
(Slack, Teams, the console, or `opslayer runs approve RUN --as you@example.com`); the run goes
on with `state.approve(...)` or `state.reject(...)` and finishes. Stop this process while it
waits and run it again with `--resume`: the decision brings the state back.
Needs `pip install 'opslayer-client[openai-agents]'`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from agents import Agent, RunConfig, function_tool
from agents.testing import ScriptedModel, assistant_message, function_call

from opslayer_client.openai_agents import Opslayer


@function_tool(needs_approval=True)
def refund(order: int, amount_eur: int) -> str:
    """Refund an order."""
    print(f"refunding {amount_eur} EUR to order {order}", flush=True)
    return f"refunded {amount_eur} EUR"


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="opslayer's address")
    parser.add_argument("--token", required=True, help="the agent token (opl_...)")
    parser.add_argument("--owner", required=True, help="the owner's email, a person opslayer knows")
    parser.add_argument("--case", default="case-1001", help="the run's external id")
    parser.add_argument("--resume", action="store_true", help="finish a run another process began")
    args = parser.parse_args()

    ops = Opslayer(args.url, token=args.token, owner={"email": args.owner})
    steps = [[assistant_message("Done: the refund went the way the approver decided.")]]
    if not args.resume:
        steps.insert(0, [function_call("refund", {"order": 1001, "amount_eur": 42}, call_id="c1")])
    agent = Agent(name="Support", tools=[refund], model=ScriptedModel(steps))
    quiet = RunConfig(tracing_disabled=True)  # no OpenAI key here: nowhere to send traces
    try:
        if args.resume:
            result = await ops.resume(agent, external_id=args.case, run_config=quiet)
        else:
            print("asking for approval of refund(order=1001, amount_eur=42)", flush=True)
            result = await ops.run(
                agent, "Refund order 1001", external_id=args.case, run_config=quiet
            )
        print(result.final_output, flush=True)
        return 0
    finally:
        ops.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
