"""A stand-in agent for the delivery benchmark: records when each command arrives.

    python bench/receiver.py PORT FAIL_SHARE OUT_FILE

Answers 500 to the first attempt of FAIL_SHARE of the commands (chosen by id), 200 otherwise;
on SIGTERM writes `{webhook_id: [arrival times]}` as JSON to OUT_FILE.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
import zlib
from pathlib import Path

from aiohttp import web


async def main(port: int, fail_share: float, out: str) -> None:
    arrivals: dict[str, list[float]] = {}

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        command_id = request.headers["webhook-id"]
        seen = arrivals.setdefault(command_id, [])
        seen.append(time.time())
        first = len(seen) == 1
        if first and (zlib.crc32(command_id.encode()) % 10_000) < fail_share * 10_000:
            return web.Response(status=500)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await runner.cleanup()
    await asyncio.to_thread(Path(out).write_text, json.dumps(arrivals))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]))
