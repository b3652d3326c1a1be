"""Teams benchmark: approval cards out, N concurrent Universal Action clicks in, against a real
`opslayer serve`.

    .venv/bin/python bench/teams_clicks.py [--runs 100]

The server (pinned to core 0) has Teams on in dev mode (no app id, so no Bot Framework token
is checked: RS256 verification costs well under a millisecond and needs Microsoft's keys).
This process (core 1) plays Teams, the Bot Connector and the agent: it installs the bot in N
channels, has an agent ask for approval on a run in each, then approves all N cards at once.
It times, per run: approval request → card at the Bot Connector; the invoke answer (Teams shows
an error past a few seconds); click → signed command at the agent; click → card updated in the
channel for everyone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import percentile, pin_self, progress, serve, start_local, table  # noqa: E402

OPS = "aad-bench-ops"


def activity(local: str, conversation: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "id": f"in-{time.perf_counter_ns()}",
        "channelId": "msteams",
        "serviceUrl": f"{local}/",
        "from": {"id": f"29:{OPS}", "name": "Ops", "aadObjectId": OPS},
        "recipient": {"id": "28:bench-bot", "name": "opslayer"},
        "conversation": {"id": conversation, "conversationType": "channel", "tenantId": "t"},
        **fields,
    }


async def main(runs: int) -> list[list[str]]:
    cards: dict[str, tuple[float, dict[str, Any]]] = {}  # conversation → (arrived, card)
    updated: dict[str, float] = {}
    commands: dict[str, float] = {}

    async def post(request: web.Request) -> web.Response:
        body = await request.json()
        for attachment in body.get("attachments") or []:
            cards.setdefault(request.match_info["c"], (time.perf_counter(), attachment["content"]))
        return web.json_response({"id": f"act-{time.perf_counter_ns()}"})

    async def put(request: web.Request) -> web.Response:
        updated.setdefault(request.match_info["c"], time.perf_counter())
        return web.json_response({"id": request.match_info["a"]})

    async def agent(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        commands.setdefault(body["command"]["run_id"], time.perf_counter())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/v3/conversations/{c}/activities", post)
    app.router.add_post("/v3/conversations/{c}/activities/{a}", post)
    app.router.add_put("/v3/conversations/{c}/activities/{a}", put)
    app.router.add_post("/hook", agent)
    runner, local = await start_local(app)
    channels = [f"19:bench-{i}@thread.tacv2" for i in range(runs)]
    with tempfile.TemporaryDirectory() as tmp:
        env = {"OPSLAYER_TEAMS_DEV": "1", "OPSLAYER_SCAN_INTERVAL_S": "3600"}
        with serve(f"sqlite+aiosqlite:///{tmp}/teams.db", extra_env=env) as server:
            server.cli("people", "add", "--teams", OPS, "--name", "Ops")
            token = server.mint("bench-agent")["token"]
            agent_auth = {"Authorization": f"Bearer {token}"}
            connector = aiohttp.TCPConnector(limit=runs + 16)
            async with aiohttp.ClientSession(connector=connector) as session:

                async def send(body: dict[str, Any]) -> dict[str, Any] | None:
                    async with session.post(f"{server.url}/api/messages", json=body) as r:
                        assert r.status == 200, await r.text()
                        return await r.json() if r.content_type == "application/json" else None

                progress(f"installing the bot in {runs} channels")
                joined = [{"id": "28:bench-bot", "name": "opslayer"}]
                await asyncio.gather(
                    *(
                        send(activity(local, c, "conversationUpdate", membersAdded=joined))
                        for c in channels
                    )
                )
                cards.clear()  # the greetings
                progress(f"{runs} approval requests")
                asked: dict[str, float] = {}
                run_of: dict[str, str] = {}
                for n, channel in enumerate(channels):
                    body = {
                        "external_id": f"t{n}",
                        "title": f"bench {n}",
                        "owner": {"teams_user_id": OPS},
                        "channel": {"teams": channel},
                        "webhook_url": f"{local}/hook",
                    }
                    async with session.post(
                        f"{server.url}/v1/runs", json=body, headers=agent_auth
                    ) as r:
                        run_id = (await r.json())["id"]
                    run_of[channel] = run_id
                    asked[channel] = time.perf_counter()
                    async with session.post(
                        f"{server.url}/v1/runs/{run_id}/approvals",
                        json={"request_id": "r", "title": "Ship it?"},
                        headers=agent_auth,
                    ) as r:
                        assert r.status == 201, await r.text()
                for _ in range(600):
                    if len(cards) >= runs:
                        break
                    await asyncio.sleep(0.05)
                posted = [(cards[c][0] - asked[c]) * 1000 for c in channels if c in cards]
                progress(f"{len(cards)} cards posted; {runs} concurrent approvals")
                clicked: dict[str, float] = {}
                invokes: list[float] = []

                async def approve(channel: str) -> None:
                    card = cards[channel][1]
                    [action] = [a for a in card["actions"] if a["verb"] == "approve"]
                    value = {"action": action, "trigger": "manual"}
                    body = activity(
                        local, channel, "invoke", name="adaptiveCard/action", value=value
                    )
                    began = time.perf_counter()
                    clicked[channel] = began
                    answer = await send(body)
                    assert answer is not None and answer["statusCode"] == 200, answer
                    invokes.append((time.perf_counter() - began) * 1000)

                await asyncio.gather(*(approve(c) for c in channels if c in cards))
                for _ in range(600):
                    if len(commands) >= len(clicked) and len(updated) >= len(clicked):
                        break
                    await asyncio.sleep(0.05)
    await runner.cleanup()
    to_agent = [
        (commands[run_of[c]] - t) * 1000 for c, t in clicked.items() if run_of[c] in commands
    ]
    to_card = [(updated[c] - t) * 1000 for c, t in clicked.items() if c in updated]

    def row(name: str, values: list[float], target: str, limit: float) -> list[str]:
        ok = values and percentile(values, 0.99) < limit
        return [
            name,
            str(len(values)),
            f"{percentile(values, 0.5):.0f}",
            f"{percentile(values, 0.99):.0f}",
            f"{target}: {'yes' if ok else 'no'}",
        ]

    return [
        row("approval request → card posted", posted, "p99 < 2 s", 2000),
        row("click → invoke answered", invokes, "p99 < 1 s", 1000),
        row("click → command at the agent", to_agent, "p99 < 1 s", 1000),
        row("click → card updated for all", to_card, "p99 < 2 s", 2000),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100, help="channels, runs and clicks (100)")
    args = parser.parse_args()
    pin_self(1)
    print(table(["measure", "runs", "p50 ms", "p99 ms", "target"], asyncio.run(main(args.runs))))
