"""Slack click benchmark: N concurrent signed button clicks against a real `opslayer serve`.

    .venv/bin/python bench/slack_clicks.py [--clicks 100]

The server (pinned to core 0) has Slack on over HTTP, its Web API pointed at a local fake;
this process (core 1) plays Slack and the agent: it clicks Cancel on N runs at once, signed
with the signing secret, and times the ack (the HTTP answer Slack waits 3 s for) and the
click-to-command latency (until the agent's webhook receives the signed command).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import percentile, pin_self, progress, serve, start_local, table  # noqa: E402
from slack_sdk.signature import SignatureVerifier  # noqa: E402

SECRET = "bench-signing-secret"


async def main(clicks: int) -> list[list[str]]:
    arrived: dict[str, float] = {}

    async def slack_api(request: web.Request) -> web.Response:
        name = request.match_info["method"]
        answer = {
            "ok": True,
            "user_id": "UBOT",
            "bot_id": "B",
            "team_id": "T1",
            "channel": "C",
            "ts": "1.1",
        }
        return web.json_response(answer if name else {"ok": True})

    async def agent(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        arrived.setdefault(body["command"]["run_id"], time.perf_counter())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/api/{method}", slack_api)
    app.router.add_post("/hook", agent)

    async def respond(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_post("/respond/{n}", respond)
    runner, local = await start_local(app)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": SECRET,
            "OPSLAYER_SLACK_API_URL": f"{local}/api/",
        }
        with serve(f"sqlite+aiosqlite:///{tmp}/clicks.db", extra_env=env) as server:
            server.cli(
                "people", "add", "--email", "ops@example.com", "--slack", "UOPS", "--name", "Ops"
            )
            token = server.mint("bench-agent")["token"]
            headers = {"Authorization": f"Bearer {token}"}
            progress(f"registering {clicks} runs")
            async with aiohttp.ClientSession(headers=headers) as session:
                run_ids = []
                for i in range(clicks):
                    body = {
                        "external_id": f"c{i}",
                        "title": "bench",
                        "owner": {"email": "ops@example.com"},
                        "webhook_url": f"{local}/hook",
                    }
                    async with session.post(f"{server.url}/v1/runs", json=body) as r:
                        run_ids.append((await r.json())["id"])
            verifier = SignatureVerifier(SECRET)
            clicked: dict[str, float] = {}
            acks: list[float] = []

            async def click(session: aiohttp.ClientSession, n: int, run_id: str) -> None:
                payload = {
                    "type": "block_actions",
                    "user": {"id": "UOPS"},
                    "team": {"id": "T1"},
                    "api_app_id": "A1",
                    "token": "t",
                    "trigger_id": "1",
                    "response_url": f"{local}/respond/{n}",
                    "container": {"type": "message", "channel_id": "C", "message_ts": "1.1"},
                    "actions": [
                        {
                            "type": "button",
                            "action_id": "opslayer_cancel",
                            "value": f"{run_id}|",
                            "block_id": "b",
                            "action_ts": "1",
                        }
                    ],
                }
                form = urlencode({"payload": json.dumps(payload)})
                stamp = str(int(time.time()))
                signed = {
                    "X-Slack-Request-Timestamp": stamp,
                    "X-Slack-Signature": verifier.generate_signature(timestamp=stamp, body=form)
                    or "",
                    "content-type": "application/x-www-form-urlencoded",
                }
                began = time.perf_counter()
                clicked[run_id] = began
                async with session.post(
                    f"{server.url}/slack/events", data=form, headers=signed
                ) as r:
                    assert r.status == 200, await r.text()
                acks.append((time.perf_counter() - began) * 1000)

            # One click first, as in real life: Bolt checks its token with auth.test once.
            async with aiohttp.ClientSession() as session:
                await click(session, clicks, run_ids.pop())
            acks.clear()
            progress(f"{len(run_ids)} concurrent clicks")
            connector = aiohttp.TCPConnector(limit=clicks)
            async with aiohttp.ClientSession(connector=connector) as session:
                await asyncio.gather(*(click(session, n, r) for n, r in enumerate(run_ids)))
            for _ in range(300):  # until every command arrived (15 s at most)
                if len(arrived) >= len(run_ids) + 1:
                    break
                await asyncio.sleep(0.05)
    await runner.cleanup()
    latencies = [(arrived[r] - clicked[r]) * 1000 for r in run_ids if r in arrived]
    rows.append(
        [
            "ack",
            str(len(acks)),
            f"{percentile(acks, 0.5):.0f}",
            f"{percentile(acks, 0.99):.0f}",
            "p99 < 100 ms: " + ("yes" if percentile(acks, 0.99) < 100 else "no"),
        ]
    )
    rows.append(
        [
            "click → command received",
            str(len(latencies)),
            f"{percentile(latencies, 0.5):.0f}",
            f"{percentile(latencies, 0.99):.0f}",
            "p99 < 500 ms: " + ("yes" if percentile(latencies, 0.99) < 500 else "no"),
        ]
    )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--clicks",
        type=int,
        default=101,
        help="runs: one warm-up click, then the rest at once (default 101)",
    )
    args = parser.parse_args()
    pin_self(1)
    print(
        table(["measure", "clicks", "p50 ms", "p99 ms", "target"], asyncio.run(main(args.clicks)))
    )
