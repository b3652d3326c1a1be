"""`opslayer demo` as a newcomer runs it: within a minute every situation is in the inbox, and
the simulated agents answer what the newcomer does in the console; and the set-up link
`opslayer serve` prints while nobody administers it."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.real_server import OPSLAYER, ROOT, Server, free_port

EVERY_SITUATION = {"approval", "stuck", "stale", "auth_expiring", "failed", "handoff"}


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """The demo on a port of its own; yields its URL, the printed sign-in link and its log."""
    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [OPSLAYER, "demo", "--port", str(port), "--database-dir", str(tmp_path)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        link = None
        deadline = time.monotonic() + 30
        while link is None and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            found = re.search(rf"http://127\.0\.0\.1:{port}/login/[\w-]+", log.read_text())
            link = found[0] if found else None
            time.sleep(0.2)
        assert link is not None, log.read_text()
        yield f"http://127.0.0.1:{port}", link, log
    finally:
        process.terminate()
        process.wait(timeout=15)


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
