"""`opslayer demo` as a newcomer runs it: within a minute every situation is in the inbox, and
the simulated agents answer what the newcomer does in the console; and the set-up link
`opslayer serve` prints while nobody administers it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.fake_slack import FakeSlack, fake_slack
from tests.real_server import OPSLAYER, ROOT, Server, free_port
from tests.slack_support import SECRET, buttons, click, signed

EVERY_SITUATION = {"approval", "stuck", "stale", "auth_expiring", "failed", "handoff"}


@contextlib.contextmanager
def demo_running(
    folder: Path, *flags: str, env: dict[str, str] | None = None
) -> Iterator[tuple[int, subprocess.Popen[bytes], Path]]:
    """`opslayer demo` on a port of its own: its port, its process and its log."""
    port = free_port()
    log = folder / "demo.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [OPSLAYER, "demo", "--port", str(port), "--database-dir", str(folder), *flags],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield port, process, log
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """The demo on a port of its own; yields its URL, the printed sign-in link and its log."""
    with demo_running(tmp_path) as (port, process, log):
        link = None
        deadline = time.monotonic() + 30
        while link is None and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            found = re.search(rf"http://127\.0\.0\.1:{port}/login/[\w-]+", log.read_text())
            link = found[0] if found else None
            time.sleep(0.2)
        assert link is not None, log.read_text()
        yield f"http://127.0.0.1:{port}", link, log


def _kinds(inbox: str) -> set[str]:
    return set(re.findall(r'class="card kind-([a-z_]+)"', inbox))


def test_the_demo_shows_every_situation_within_a_minute_and_its_agents_answer(
    demo: tuple[str, str, Path],
) -> None:
    url, link, log = demo
    with httpx.Client(base_url=url, follow_redirects=True, timeout=10) as browser:
        assert "Sign in as Ada Admin" in browser.get(link).text
        browser.post(link)
        seen: set[str] = set()
        deadline = time.monotonic() + 60
        while not seen >= EVERY_SITUATION and time.monotonic() < deadline:
            seen = _kinds(browser.get("/").text)
            time.sleep(1)
        assert seen >= EVERY_SITUATION, (seen, log.read_text()[-3000:])
        inbox = browser.get("/").text
        refund = re.search(r'href="/runs/(run_\w+)">Refund order 1001 asks for approval', inbox)
        assert refund is not None
        page = browser.get(f"/runs/{refund[1]}").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        browser.post(f"/runs/{refund[1]}/approve", data={"csrf": csrf[1]})
        assert _status_within(browser, refund[1], "succeeded", 20), log.read_text()[-3000:]
        page = browser.get(f"/runs/{refund[1]}").text
        assert "done (not idempotent)" in page  # the agent reported what it did
        # A retry that would e-mail the customers again asks first; confirmed, the agent
        # starts over and finishes.
        invoices = re.search(r'href="/runs/(run_\w+)">Send the November invoices', inbox)
        assert invoices is not None
        asked = browser.post(f"/runs/{invoices[1]}/retry", data={"csrf": csrf[1], "checkpoint": ""})
        assert asked.status_code == 409 and "Yes, retry anyway" in asked.text
        browser.post(
            f"/runs/{invoices[1]}/retry",
            data={"csrf": csrf[1], "checkpoint": "", "confirm": "yes"},
        )
        assert _status_within(browser, invoices[1], "succeeded", 20), log.read_text()[-3000:]
    assert "Traceback" not in log.read_text()


def _status_within(browser: httpx.Client, run_id: str, status: str, seconds: float) -> bool:
    """Does the run page show `status` within `seconds`?"""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = re.search(r'<span class="status s-(\w+)">', browser.get(f"/runs/{run_id}").text)
        if found and found[1] == status:
            return True
        time.sleep(0.5)
    return False


def test_serve_prints_a_one_time_set_up_link_while_nobody_is_an_admin(tmp_path: Path) -> None:
    server = Server(tmp_path / "opslayer.db")
    server.env.pop("OPSLAYER_ADMINS", None)
    server.start()
    try:
        found = re.search(r"(/setup/[\w-]+)", server.log.read_text())
        assert found is not None, server.log.read_text()
        with httpx.Client(base_url=server.url) as browser:
            assert "first admin" in browser.get(found[1]).text
            made = browser.post(found[1], data={"name": "Ada", "email": "ada@example.com"})
            assert made.status_code == 303
            assert browser.get("/people").status_code == 200
            assert (
                browser.post(found[1], data={"name": "Eve", "email": "eve@x.io"}).status_code == 410
            )
    finally:
        server.stop()
    again = Server(tmp_path / "opslayer.db")  # restarted: there is an admin, no link
    again.log = tmp_path / "second.log"
    again.start()
    again.stop()
    assert "/setup/" not in again.log.read_text()


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with fake_slack() as fake:
        yield fake


# Each situation's first line, as chat shows it.
HEADLINES = (
    "Refund order 1001 asks for approval",
    "No sign of life from Crawl the partner catalogue since",
    "Draft the Q4 report has been paused since",
    "Sync CRM contacts: credentials expire at",
    "Send the November invoices failed",
    "Onboard vendor ACME is being handed over to you",
)


async def test_with_slack_the_situations_appear_in_the_channel_given_and_clicks_act(
    tmp_path: Path, slack: FakeSlack
) -> None:
    slack.users["you@example.com"] = "UYOU"  # Slack vouches for this member's email
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "OPSLAYER_SLACK_API_URL": f"{slack.url}/api/",
        "OPSLAYER_CHAT_SPACING_S": "0",
    }
    flags = ("--email", "you@example.com", "--name", "You", "--slack-channel", "C-DEMO")
    with demo_running(tmp_path, *flags, env=env) as (port, _process, log):

        def posted() -> str:
            return json.dumps(
                [m for m in slack.api("chat.postMessage") if m["channel"] == "C-DEMO"]
            )

        try:
            await slack.wait_for(lambda: all(h in posted() for h in HEADLINES), within_s=60)
        except TimeoutError:
            missing = [h for h in HEADLINES if h not in posted()]
            raise AssertionError((missing, log.read_text()[-3000:])) from None
        assert "Slack channel C-DEMO" in log.read_text()  # the demo says where to look
        [asking] = [
            m
            for m in slack.api("chat.postMessage")
            if "Refund order 1001 asks for approval" in json.dumps(m)
        ]
        form = click(slack, "UYOU", buttons(asking)["opslayer_approve"])
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            answer = await client.post("/slack/events", content=form, headers=signed(form))
        assert answer.status_code == 200

        def updated() -> str:
            return json.dumps(slack.api("chat.update"))

        def shows_succeeded() -> bool:
            fields = [
                f["text"]
                for m in slack.api("chat.update")
                if m.get("ts") == asking["_ts"]
                for b in m["blocks"]
                for f in b.get("fields", [])
            ]
            return "*status*\nsucceeded" in fields

        try:  # the message follows: your decision, then the simulated agent's answer
            await slack.wait_for(lambda: "Approved by You" in updated(), within_s=20)
            await slack.wait_for(shows_succeeded, within_s=20)
        except TimeoutError:
            raise AssertionError((updated()[-3000:], log.read_text()[-3000:])) from None
    assert "Traceback" not in log.read_text()
    assert "token` will be unused" not in log.read_text()  # no warning that means nothing
