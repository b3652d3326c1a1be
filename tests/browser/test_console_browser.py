"""The console in a real browser (Debian's chromium, driven by Playwright) against a real
`opslayer serve`: sign in with a link, the inbox, approving from the browser with the agent's
webhook receiving the signed command, a decision made elsewhere appearing on the open page,
forged and replayed CSRF tokens and a stranger's session refused, the retry confirmation, and
no serious or critical accessibility violation (axe-core) on any page."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.real_server import ROOT, Server

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = Path(__file__).with_name("node_modules") / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "docs" / "screenshots"


def _need(thing: Path | str, how: str) -> None:
    if Path(thing).exists():
        return
    message = f"{thing} is missing: {how}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)  # CI installs both: a missing one is a broken set-up
    pytest.skip(message)


@dataclass
class Receiver:
    """The agent's webhook: records every signed delivery it is sent."""

    bodies: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    def commands(self, secret: str) -> list[dict[str, Any]]:
        webhook = Webhook(secret)
        return [webhook.verify(body, headers)["command"] for headers, body in list(self.bodies)]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            found.bodies.append((dict(self.headers.items()), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.url = f"http://127.0.0.1:{http.server_address[1]}/"
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield found
    http.shutdown()
    http.server_close()


@dataclass
class World:
    server: Server
    secret: str
    runs: dict[str, str]
    token: str = ""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[World]:
    _need(CHROMIUM, "apt-get install -y chromium (make test does)")
    _need(AXE, "cd tests/browser && npm ci (make test does)")
    server = Server(tmp_path_factory.mktemp("console") / "opslayer.db")
    server.env["OPSLAYER_SCAN_INTERVAL_S"] = "1"
    server.env["OPSLAYER_PORT"] = str(server.port)  # where `login-link` points
    server.start()
    server.cli(
        "people", "add", "--email", "alice@example.com", "--name", "Alice", "--role", "admin"
    )
    server.cli("people", "add", "--email", "bob@example.com", "--name", "Bob")
    minted = json.loads(server.cli("token", "create", "--agent", "billing-bot", "--json"))
    auth = {"Authorization": f"Bearer {minted['token']}"}
    runs: dict[str, str] = {}
    with httpx.Client(base_url=f"{server.url}/v1", headers=auth) as api:

        def register(key: str, title: str) -> str:
            body = {
                "external_id": key,
                "title": title,
                "owner": {"email": "alice@example.com"},
                "webhook_url": receiver.url,
            }
            run_id: str = api.post("/runs", json=body).json()["id"]
            api.post(f"/runs/{run_id}/status", json={"status": "running"})
            runs[key] = run_id
            return run_id

        for key, title, amount in (("refund", "Refund order 1001", 42), ("later", "Refund 7", 7)):
            run_id = register(key, title)
            api.post(
                f"/runs/{run_id}/checkpoints", json={"checkpoint_id": "found", "step": "look up"}
            )
            api.post(
                f"/runs/{run_id}/approvals",
                json={
                    "request_id": "r",
                    "title": f"Refund {amount} EUR?",
                    "action": "refund",
                    "arguments": {"order": 1001, "amount_eur": amount},
                    "decisions": ["approve", "edit", "reject"],
                    "risk": "medium",
                },
            )
        failed = register("invoices", "Send the November invoices")
        effect = {"key": "email:invoices", "idempotent": False, "description": "emailed invoices"}
        api.post(
            f"/runs/{failed}/checkpoints",
            json={"checkpoint_id": "emailed", "step": "email", "side_effects": [effect]},
        )
        api.post(f"/runs/{failed}/status", json={"status": "failed", "error": "ledger 503"})
    yield World(server, minted["webhook_secret"], runs, minted["token"])
    server.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


def signed_in(
    browser: Any,
    world: World,
    email: str,
    *,
    bypass_csp: bool = False,
    timezone_id: str | None = None,
) -> Any:
    """A new browser context (its own cookies), signed in with a link from the CLI. The pages'
    Content-Security-Policy holds unless a test injects a script of its own (`bypass_csp`);
    a page that breaks its own policy fails the test."""
    link = world.server.cli("login-link", "--as", email).strip().splitlines()[-1]
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, bypass_csp=bypass_csp, timezone_id=timezone_id
    )
    page = context.new_page()
    page.on("console", _note_policy_violation)
    page.goto(link)
    page.get_by_role("button", name="Sign in as").click()
    page.wait_for_url(f"{world.server.url}/")
    return page


POLICY_VIOLATIONS: list[str] = []


def _note_policy_violation(message: Any) -> None:
    if "Content Security Policy" in message.text:
        POLICY_VIOLATIONS.append(message.text)


@pytest.fixture(autouse=True)
def pages_keep_their_policy() -> Iterator[None]:
    """Chromium reports what the pages' Content-Security-Policy blocked: nothing, ever."""
    POLICY_VIOLATIONS.clear()
    yield
    assert POLICY_VIOLATIONS == []


def serious_violations(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{v['id']} ({v['impact']}): {v['help']}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def screenshot(page: Any, name: str, tmp_path: Path) -> None:
    """Taken every run; kept for the README when OPSLAYER_SCREENSHOTS=1 (`make screenshots`)."""
    where = SCREENSHOTS if os.environ.get("OPSLAYER_SCREENSHOTS") == "1" else tmp_path
    where.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(where / f"{name}.png"), full_page=True)


def test_sign_in_see_the_inbox_and_approve_as_the_agent_receives_it(
    browser: Any, world: World, receiver: Receiver, tmp_path: Path
) -> None:
    page = signed_in(browser, world, "alice@example.com")
    assert page.title().startswith("(3) Inbox")
    inbox = page.locator("ol.inbox")
    assert "Refund 42 EUR?" in inbox.inner_text() and "ledger 503" in inbox.inner_text()
    screenshot(page, "inbox", tmp_path)
    page.get_by_role("link", name="Refund order 1001 asks for approval").click()
    page.wait_for_url(f"**/runs/{world.runs['refund']}")
    assert page.get_by_role("heading", name="Task state").is_visible()
    screenshot(page, "run", tmp_path)
    page.locator("section", has=page.get_by_role("heading", name="Act")).get_by_role(
        "button", name="Approve", exact=True
    ).click()
    playwright.expect(page.locator(".flash")).to_contain_text("approval")
    deadline_s = 10.0
    page.wait_for_function("() => true")  # let the deliverer run; then poll the receiver
    for _ in range(int(deadline_s * 10)):
        commands = receiver.commands(world.secret)
        if any(c["run_id"] == world.runs["refund"] for c in commands):
            break
        page.wait_for_timeout(100)
    [command] = [c for c in receiver.commands(world.secret) if c["run_id"] == world.runs["refund"]]
    assert command["kind"] == "approve" and command["actor"]["via"] == "web"
    assert command["actor"]["name"] == "Alice"


def test_a_decision_made_elsewhere_appears_on_the_open_page(browser: Any, world: World) -> None:
    page = signed_in(browser, world, "alice@example.com")
    run_id = world.runs["later"]
    page.goto(f"{world.server.url}/runs/{run_id}")
    assert page.get_by_role("button", name="Approve", exact=True).count() >= 1
    world.server.cli("runs", "reject", run_id, "--as", "alice@example.com", "--message", "not now")
    # No reload: the page notices the change itself.
    playwright.expect(
        page.locator("#h-approvals + article, section .approval").first
    ).to_contain_text("Reject", timeout=5000)
    playwright.expect(page.get_by_text("not now").first).to_be_visible()


def test_forged_and_replayed_csrf_tokens_are_refused(browser: Any, world: World) -> None:
    page = signed_in(browser, world, "alice@example.com")
    run_id = world.runs["invoices"]
    page.goto(f"{world.server.url}/runs/{run_id}")
    old = page.locator("input[name=csrf]").first.input_value()
    form = page.locator("form[action$='/acknowledge']")
    form.locator("input[name=csrf]").evaluate("(el) => el.value = 'forged'")
    form.get_by_role("button").click()
    assert "CSRF" in page.locator("main").inner_text()
    # Sign out and in again: the old session's token is a replay now.
    page.goto(f"{world.server.url}/runs/{run_id}")
    page.get_by_role("button", name="Sign out").click()
    page = signed_in(browser, world, "alice@example.com")
    page.goto(f"{world.server.url}/runs/{run_id}")
    form = page.locator("form[action$='/acknowledge']")
    form.locator("input[name=csrf]").evaluate("(el, value) => el.value = value", old)
    form.get_by_role("button").click()
    assert "CSRF" in page.locator("main").inner_text()


def test_a_strangers_session_is_refused(browser: Any, world: World) -> None:
    page = signed_in(browser, world, "bob@example.com")
    assert page.title().startswith("(0) Inbox")
    page.goto(f"{world.server.url}/runs/{world.runs['refund']}")
    assert "Not yours to see" in page.locator("h1").inner_text()


def test_a_retry_starts_from_the_safe_checkpoint_and_the_start_is_confirmed_first(
    browser: Any, world: World, receiver: Receiver
) -> None:
    """Seen: "Retry from" defaulted to the start, which replays the e-mail to the customers,
    and after choosing the safe checkpoint the warning still spoke of the start. Now the
    latest resumable checkpoint is chosen, the warning follows the choice, and the start
    (chosen on purpose) asks for a yes that names the run."""
    page = signed_in(browser, world, "alice@example.com")
    run_id = world.runs["invoices"]
    page.goto(f"{world.server.url}/runs/{run_id}")
    retry_from = page.get_by_label("Retry from")
    assert retry_from.input_value() == "emailed"
    warning = page.locator("#retry-from-warning")
    assert warning.is_hidden()
    retry_from.select_option("")
    playwright.expect(warning).to_be_visible()
    assert "From the start" in warning.inner_text() and "email:invoices" in warning.inner_text()
    retry_from.select_option("emailed")
    playwright.expect(warning).to_be_hidden()
    retry_from.select_option("")
    page.get_by_role("button", name="Retry", exact=True).click()
    assert "email:invoices (emailed invoices)" in page.locator(".risks").inner_text()
    assert "Send the November invoices" in page.locator("main").inner_text()
    before = len(receiver.bodies)
    page.get_by_role("button", name="Yes, retry anyway").click()
    playwright.expect(page.locator(".flash")).to_contain_text("retry sent to the agent")
    for _ in range(100):
        if len(receiver.bodies) > before:
            break
        page.wait_for_timeout(100)
    retried = [c for c in receiver.commands(world.secret) if c["kind"] == "retry"]
    assert retried and retried[-1]["skip_side_effects"] == ["email:invoices"]
    assert "asked to confirm" in page.locator("main").inner_text()  # not a red "refused"


def test_no_serious_accessibility_violation_on_any_page(browser: Any, world: World) -> None:
    # axe-core is injected as an inline script, which the pages' policy rightly refuses.
    page = signed_in(browser, world, "alice@example.com", bypass_csp=True)
    paths = [
        "/",
        "/runs",
        f"/runs/{world.runs['invoices']}",
        f"/runs/{world.runs['refund']}",
        "/agents",
        "/agents/billing-bot",
        "/people",
    ]
    found = {}
    for path in paths:
        page.goto(world.server.url + path)
        found[path] = serious_violations(page)
    page.get_by_role("button", name="Sign out").click()
    found["/login"] = serious_violations(page)
    assert found == {path: [] for path in found}


def test_a_live_refresh_never_replaces_what_an_approver_typed(
    browser: Any, world: World, receiver: Receiver
) -> None:
    """Seen: an approver typed new arguments, clicked elsewhere, the agent posted a checkpoint,
    and within 3 s the textarea showed the agent's numbers again; the next "Approve with these
    arguments" sent them. Now the typing stays, the page says it changed, and the edit sent is
    the one typed."""
    headers = {"Authorization": f"Bearer {world.token}"}
    with httpx.Client(base_url=f"{world.server.url}/v1", headers=headers) as api:
        body = {
            "external_id": "typed",
            "title": "Refund 9",
            "owner": {"email": "alice@example.com"},
        }
        run_id = api.post("/runs", json={**body, "webhook_url": receiver.url}).json()["id"]
        api.post(f"/runs/{run_id}/status", json={"status": "running"})
        asked = {
            "request_id": "r",
            "title": "Refund 9 EUR?",
            "arguments": {"order": 1001, "amount_eur": 9},
            "decisions": ["approve", "edit", "reject"],
        }
        assert api.post(f"/runs/{run_id}/approvals", json=asked).status_code == 201
    page = signed_in(browser, world, "alice@example.com")
    page.goto(f"{world.server.url}/runs/{run_id}")
    edit = page.get_by_label("Edit the arguments, then approve")
    typed = '{"order": 1001, "amount_eur": 5}'
    edit.fill(typed)
    page.get_by_role("heading").first.click()  # clicked elsewhere: the field is not focused
    with httpx.Client(base_url=f"{world.server.url}/v1", headers=headers) as api:
        point = {"checkpoint_id": "while-typing", "step": "recheck stock"}
        assert api.post(f"/runs/{run_id}/checkpoints", json=point).status_code == 201
    page.wait_for_selector("#changed-underneath", timeout=10_000)
    page.wait_for_timeout(2500)  # a few more polls: still kept
    assert edit.input_value() == typed
    page.get_by_role("button", name="Approve with these arguments").click()
    page.wait_for_url(f"**/runs/{run_id}")
    for _ in range(100):
        sent = [c for c in receiver.commands(world.secret) if c["run_id"] == run_id]
        if sent:
            break
        page.wait_for_timeout(100)
    [command] = sent
    assert command["decision"]["arguments"] == {"order": 1001, "amount_eur": 5}


def test_moments_read_in_the_readers_zone_with_utc_on_hover(browser: Any, world: World) -> None:
    """Seen: every time on the console was UTC only."""
    page = signed_in(browser, world, "alice@example.com", timezone_id="Asia/Tokyo")
    page.goto(f"{world.server.url}/runs/{world.runs['invoices']}")
    moment = page.locator("time[datetime][data-local]").first
    playwright.expect(moment).to_contain_text("GMT+9")
    assert (moment.get_attribute("title") or "").endswith(" UTC")
