"""A runnable agent that asks a human before it acts, using opslayer's agent client.

    opslayer token create --agent example-agent --json      # note token and webhook_secret
    python examples/approval_agent.py --token opl_... --secret whsec_... --owner you@example.com

It registers a run, heartbeats, records a checkpoint, asks for approval of a refund (its
arguments editable within a JSON Schema; rejected by itself after an hour), then waits for
the signed command on its own webhook (a small HTTP server on 127.0.0.1). Decide it with

    opslayer runs approve RUN --as you@example.com                        # as asked
    opslayer runs approve RUN --as you@example.com --edit '{"order": 1001, "amount_eur": 30}'
    opslayer runs reject RUN --as you@example.com --message "refund store credit instead"
    opslayer runs respond RUN --as you@example.com --message "wait for the carrier's answer"

(or from Slack or Teams): approved, it refunds what was decided and finishes; rejected,
answered or canceled, it stops and says why. Needs only the agent SDK, `opslayer-client`
(httpx and pydantic): `pip install ./clients/python`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opslayer_client import InvalidSignature, OpslayerClient, parse_command
from opslayer_client.contract import CommandMessage


def start_webhook(
    secret: str, port: int, inbox: asyncio.Queue[CommandMessage], loop: asyncio.AbstractEventLoop
) -> ThreadingHTTPServer:
    """Serve POST / on 127.0.0.1: verify each delivery, then hand it to the agent's loop."""
    seen: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            try:
                message = parse_command(secret, dict(self.headers.items()), body)
            except (InvalidSignature, ValueError) as exc:
                self.send_response(401)
                self.end_headers()
                print(f"refused a delivery: {exc}", flush=True)
                return
            self.send_response(204)
            self.end_headers()
            if message.command.id not in seen:  # a retried delivery repeats the id
                seen.add(message.command.id)
                loop.call_soon_threadsafe(inbox.put_nowait, message)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="opslayer's address")
    parser.add_argument("--token", required=True, help="the agent token (opl_...)")
    parser.add_argument("--secret", required=True, help="the webhook signing secret (whsec_...)")
    parser.add_argument("--owner", required=True, help="the owner's email, a person opslayer knows")
    parser.add_argument("--port", type=int, default=8765, help="where this agent takes webhooks")
    parser.add_argument("--job", default="example-job-1", help="external id of the run")
    args = parser.parse_args()

    inbox: asyncio.Queue[CommandMessage] = asyncio.Queue()
    server = start_webhook(args.secret, args.port, inbox, asyncio.get_running_loop())
    async with OpslayerClient(args.url, args.token) as opslayer:
        run = await opslayer.register_run(
            {
                "external_id": args.job,
                "title": "Example: refund a customer",
                "owner": {"email": args.owner},
                "webhook_url": f"http://127.0.0.1:{args.port}/",
                "policy": {"heartbeat_timeout_s": 60},
            }
        )
        print(f"registered run {run.id}", flush=True)
        await opslayer.report_status(run.id, "running")
        await opslayer.heartbeat(run.id, step="look up the order", progress=0.3)
        await opslayer.checkpoint(
            run.id, {"checkpoint_id": "order-found", "step": "look up the order"}
        )
        asked = {"order": 1001, "amount_eur": 42}
        approval = await opslayer.request_approval(
            run.id,
            {
                "request_id": "refund-42",
                "title": "Refund 42 EUR to order 1001?",
                "details": "The parcel never arrived.",
                "action": "refund",
                "arguments": asked,
                "arguments_schema": {
                    "type": "object",
                    "properties": {
                        "order": {"type": "integer"},
                        "amount_eur": {"type": "integer", "minimum": 1, "maximum": 42},
                    },
                    "required": ["order", "amount_eur"],
                },
                "decisions": ["approve", "edit", "reject", "respond"],
                "timeout_s": 3600,
                "on_timeout": "reject",
            },
        )
        if approval.decision is not None:  # a rule decided at once; its command is on its way
            print(f"{approval.status} at once by {approval.decision.by.name}", flush=True)
        else:
            hint = f"opslayer runs approve {run.id} --as {args.owner}"
            print(f"waiting for a decision on {approval.id}: {hint}", flush=True)
        while True:
            try:
                message = await asyncio.wait_for(inbox.get(), timeout=30)
            except TimeoutError:
                await opslayer.heartbeat(run.id, message="still waiting for a decision")
                continue
            command = message.command
            print(
                f"received {command.kind} from {command.actor.name} via {command.actor.via}",
                flush=True,
            )
            decision = command.decision
            if command.kind == "approve":
                # An edit's arguments are what was decided; a plain yes acts as asked.
                refund = (decision.arguments if decision else None) or asked
                await opslayer.report_status(
                    run.id, "running", reason=f"approved by {command.actor.name}"
                )
                refund_key = f"refund:{refund['order']}"
                side_effect = {
                    "key": refund_key,
                    "idempotent": False,
                    "description": f"refunded {refund['amount_eur']} EUR",
                }
                await opslayer.checkpoint(
                    run.id,
                    {"checkpoint_id": "refunded", "step": "refund", "side_effects": [side_effect]},
                )
                await opslayer.report_status(run.id, "succeeded")
                print(f"refunded {refund['amount_eur']} EUR; run succeeded", flush=True)
                break
            if command.kind in ("reject", "cancel"):
                # A rejection's feedback, or a person's answer in words, is the reason.
                said = (decision.message if decision else None) or command.reason
                how = decision.type if decision else command.kind
                await opslayer.report_status(run.id, "canceled", reason=said or how)
                print(f"stopped ({how}: {said or 'no reason given'}); run canceled", flush=True)
                break
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
