"""The operator console over HTTP, on both databases: signing in with one-time links, who sees
and does what, actions through the same use cases as chat (via=web) and the agent receiving
them signed, refusals explained and audited, pages and their filters, and deep links both ways
between chat and the console."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import urlencode

import pytest
from standardwebhooks.webhooks import Webhook

from opslayer.bot.audit import Via
from opslayer.bot.people.directory import add_person
from opslayer.bot.people.model import Identity
from opslayer.bot.people.tokens import MintedToken
from tests.agent_receiver import AgentReceiver
from tests.console_support import Person
from tests.fake_slack import FakeSlack
from tests.harness import BotClient
from tests.slack_support import buttons, event, signed, signed_json, slash

PUBLIC = "https://ops.example.test"


@pytest.fixture
def extra_settings() -> dict[str, Any]:
    return {"public_url": PUBLIC}


def auth(agent: MintedToken) -> dict[str, str]:
    return {"Authorization": f"Bearer {agent.token}"}


async def refund_waiting(client: BotClient, agent: MintedToken, url: str | None = None) -> str:
    """Alice's run asks to refund 42 EUR, with arguments a person may edit."""
    run = await client.post(
        "/v1/runs",
        json={
            "external_id": "refund-1",
            "title": "Refund order 1001",
            "owner": {"email": "alice@example.com"},
            **({"webhook_url": url} if url else {}),
        },
        headers=auth(agent),
    )
    run_id: str = run.json()["id"]
    asked = await client.post(
        f"/v1/runs/{run_id}/approvals",
        json={
            "request_id": "refund-42",
            "title": "Refund 42 EUR?",
            "action": "refund",
            "arguments": {"order": 1001, "amount_eur": 42},
            "decisions": ["approve", "edit", "reject", "respond"],
        },
        headers=auth(agent),
    )
    assert asked.status_code == 201, asked.text
    return run_id


async def trail(client: BotClient, agent: MintedToken, run_id: str) -> list[dict[str, Any]]:
    answer = await client.get(f"/v1/runs/{run_id}/audit", headers=auth(agent))
    events: list[dict[str, Any]] = answer.json()
    return events


async def delivered(client: BotClient, agent: MintedToken, run_id: str) -> None:
    """Until the run's commands are all recorded delivered (the receiver answered first)."""
    for _ in range(200):
        answer = await client.get(f"/v1/runs/{run_id}/commands", headers=auth(agent))
        if all(c["status"] != "pending" for c in answer.json()):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the command was never recorded delivered")


async def test_a_link_signs_in_once_with_a_cookie_that_is_httponly_and_samesite(
    bot: tuple[BotClient, MintedToken],
) -> None:
    client, agent = bot
    await refund_waiting(client, agent)
    async with Person(client) as alice:
        assert (await alice.http.get("/")).headers["location"] == "/login?next=/"
        token = await alice.link_for("alice@example.com")
        assert "Sign in as Alice" in (await alice.http.get(f"/login/{token}")).text
        signed_in = await alice.http.post(f"/login/{token}", data={"next": "/runs"})
        cookie = signed_in.headers["set-cookie"].lower()
        assert signed_in.headers["location"] == "/runs"
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
        inbox = await alice.page("/")
        assert "<title>(1) Inbox" in inbox.text and "Refund 42 EUR?" in inbox.text
        async with Person(client) as eve:  # the same link again: spent
            assert (await eve.http.post(f"/login/{token}")).status_code == 410
            assert (await eve.http.get("/")).status_code == 303
        # Offsite "next" is not followed: only paths here.
        again = await alice.link_for("alice@example.com")
        answer = await alice.http.post(f"/login/{again}", data={"next": "//evil.example/"})
        assert answer.headers["location"] == "/"
        await alice.page("/")  # the new session's CSRF token
        out = await alice.http.post("/logout", data={"csrf": alice.csrf})
        assert out.status_code == 303 and (await alice.http.get("/")).status_code == 303


async def test_over_https_the_cookie_is_secure(bot: tuple[BotClient, MintedToken]) -> None:
    client, _ = bot
    async with Person(client, base_url="https://opslayer.test") as alice:
        answer = await alice.sign_in("alice@example.com")
        assert "secure" in answer.headers["set-cookie"].lower()


async def test_approving_in_the_console_sends_the_agent_a_signed_command_via_web(
    bot: tuple[BotClient, MintedToken], receiver: AgentReceiver
) -> None:
    client, agent = bot
    run_id = await refund_waiting(client, agent, receiver.url)
    async with Person(client) as alice:
        await alice.sign_in("alice@example.com")
        page = (await alice.page(f"/runs/{run_id}")).text
        assert "Refund 42 EUR?" in page and "&#34;amount_eur&#34;: 42" in page
        for kind in ("Task state", "Conversation", "Memory", "Execution history"):
            assert kind in page
        answer = await alice.act(
            run_id, "edit", arguments=json.dumps({"order": 1001, "amount_eur": 30})
        )
        assert answer.status_code == 303
        assert "approval" in await alice.flash(run_id)
    [delivery] = await receiver.wait_for(1)
    command = Webhook(agent.webhook_secret).verify(delivery.body, delivery.headers)["command"]
    assert command["kind"] == "approve"
    decision = command["decision"]
    assert decision["type"] == "edit" and decision["arguments"] == {"order": 1001, "amount_eur": 30}
    assert command["actor"] == {**command["actor"], "name": "Alice", "via": "web"}
    events = await trail(client, agent, run_id)
    decided = [
        e
        for e in events
        if e["action"].startswith("approval.") and e["action"] != "approval.requested"
    ]
    assert [e["actor"]["via"] for e in decided] == ["web"]
    async with Person(client) as alice:
        await alice.sign_in("alice@example.com")
        await delivered(client, agent, run_id)
        page = (await alice.page(f"/runs/{run_id}")).text
        assert "delivered (HTTP 200)" in page  # the attempt, on the run page


async def test_a_forged_csrf_token_is_refused_and_audited(
    bot: tuple[BotClient, MintedToken], receiver: AgentReceiver
) -> None:
    client, agent = bot
    run_id = await refund_waiting(client, agent, receiver.url)
    async with Person(client) as alice, Person(client) as bob_browser:
        await alice.sign_in("alice@example.com")
        await add_person(client.store, identity=Identity(email="bob@example.com", name="Bob"))
        await bob_browser.sign_in("bob@example.com")
        for token in ("forged", bob_browser.csrf, ""):  # made up, another session's, none
            refused = await alice.act(run_id, "approve", csrf=token)
            assert refused.status_code == 403 and "CSRF" in refused.text
    assert receiver.received == []
    commands = await client.get(f"/v1/runs/{run_id}/commands", headers=auth(agent))
    assert commands.json() == []
    refusals = [e for e in await trail(client, agent, run_id) if e["action"] == "action.refused"]
    assert len(refusals) == 3 and all(e["detail"]["refusal"] == "CsrfRefused" for e in refusals)


async def test_a_strangers_session_sees_and_does_nothing_of_anothers_run(
    bot: tuple[BotClient, MintedToken], receiver: AgentReceiver
) -> None:
    client, agent = bot
    run_id = await refund_waiting(client, agent, receiver.url)
    await add_person(client.store, identity=Identity(email="bob@example.com", name="Bob"))
    async with Person(client) as bob:
        await bob.sign_in("bob@example.com")
        assert "<title>(0) Inbox" in (await bob.page("/")).text
        assert run_id not in (await bob.page("/runs")).text
        assert (await bob.page(f"/runs/{run_id}")).status_code == 403
        assert (await bob.act(run_id, "approve")).status_code == 303
        assert "refused" in await bob.flash("missing")  # the note waits for the next page
        assert (await bob.page("/people")).status_code == 403
    assert receiver.received == []
    refusals = [e for e in await trail(client, agent, run_id) if e["action"] == "action.refused"]
    assert {e["detail"]["action"] for e in refusals} == {"view", "approve"}


async def test_a_viewer_sees_every_run_and_acts_on_none(
    bot: tuple[BotClient, MintedToken], receiver: AgentReceiver
) -> None:
    client, agent = bot
    run_id = await refund_waiting(client, agent, receiver.url)
    await add_person(
        client.store, identity=Identity(email="vic@example.com", name="Vic"), role="viewer"
    )
    async with Person(client) as vic:
        await vic.sign_in("vic@example.com")
        page = await vic.page(f"/runs/{run_id}")
        assert page.status_code == 200 and "Refund 42 EUR?" in page.text
        assert 'id="h-act"' not in page.text  # no buttons to press
        assert "Refund order 1001" in (await vic.page("/")).text
        await vic.act(run_id, "approve")
        assert "refused" in await vic.flash(run_id)
    assert receiver.received == []


async def test_a_retry_that_would_replay_a_side_effect_asks_first(
    bot: tuple[BotClient, MintedToken], receiver: AgentReceiver
) -> None:
    client, agent = bot
    body = {
        "external_id": "inv",
        "title": "Invoices",
        "owner": {"email": "alice@example.com"},
        "webhook_url": receiver.url,
    }
    run_id = (await client.post("/v1/runs", json=body, headers=auth(agent))).json()["id"]
    await client.post(f"/v1/runs/{run_id}/status", json={"status": "running"}, headers=auth(agent))
    effect = {"key": "email:customers", "idempotent": False, "description": "emailed invoices"}
    await client.post(
        f"/v1/runs/{run_id}/checkpoints",
        json={"checkpoint_id": "sent", "step": "email", "side_effects": [effect]},
        headers=auth(agent),
    )
    await client.post(
        f"/v1/runs/{run_id}/status",
        json={"status": "failed", "error": "ledger 503"},
        headers=auth(agent),
    )
    async with Person(client) as alice:
        await alice.sign_in("alice@example.com")
        page = (await alice.page(f"/runs/{run_id}")).text
        assert "email:customers (not idempotent)" in page and "You will be asked to confirm" in page
        reported = re.search(r"<strong>checkpoint sent</strong>\s*·\s*([\w-]+)", page)
        assert reported is not None and reported.group(1) == "billing-bot"  # who reported it
        asked = await alice.act(run_id, "retry", checkpoint="")
        assert asked.status_code == 409
        assert (
            "email:customers (emailed invoices)" in asked.text and "Yes, retry anyway" in asked.text
        )
        assert receiver.received == []
        confirmed = await alice.act(run_id, "retry", checkpoint="", confirm="yes")
        assert confirmed.status_code == 303
    [delivery] = await receiver.wait_for(1)
    command = Webhook(agent.webhook_secret).verify(delivery.body, delivery.headers)["command"]
    assert command["kind"] == "retry" and command["skip_side_effects"] == ["email:customers"]


async def test_runs_filter_search_and_page_by_keyset(bot: tuple[BotClient, MintedToken]) -> None:
    client, agent = bot
    for n in range(60):
        body = {
            "external_id": f"job-{n:02d}",
            "title": f"{'Nightly' if n % 2 else 'Weekly'} sync {n:02d}",
            "owner": {"email": "alice@example.com"},
        }
        await client.post("/v1/runs", json=body, headers=auth(agent))
    async with Person(client) as alice:
        await alice.sign_in("alice@example.com")
        first = (await alice.page("/runs")).text
        titles = re.findall(r"(?:Nightly|Weekly) sync \d\d", first)
        assert len(titles) == 50 and titles[0] == "Nightly sync 59"
        cursor = re.search(r'after=(run_[a-z0-9]+)"', first)
        assert cursor is not None
        older = (await alice.page(f"/runs?after={cursor[1]}")).text
        rest = re.findall(r"(?:Nightly|Weekly) sync \d\d", older)
        assert len(rest) == 10 and not set(rest) & set(titles) and "Older runs" not in older
        found = (await alice.page("/runs?" + urlencode({"q": "weekly sync 1"}))).text
        assert sorted(re.findall(r"Weekly sync \d\d", found)) == [
            f"Weekly sync {n}" for n in (10, 12, 14, 16, 18)
        ]
        assert "job-07" in (await alice.page("/runs?q=job-07")).text
        pasted = re.findall(r'href="/runs/(run_\w+)">Weekly sync 58<', first)
        assert pasted, "the first page links Weekly sync 58"
        by_id = (await alice.page(f"/runs?q={pasted[0]}")).text  # a run id pasted from chat
        assert re.findall(r"(?:Nightly|Weekly) sync \d\d", by_id) == ["Weekly sync 58"]
        assert "No runs match" in (await alice.page("/runs?status=failed")).text
        assert "Weekly sync 58" in (await alice.page("/runs?group=payments")).text
        assert "No runs match" in (await alice.page("/runs?group=nobody")).text
        bad = await alice.page("/runs?status=exploded")
        assert bad.status_code == 422 and "not one of" in bad.text


async def test_the_agent_page_answers_the_checklist_from_what_it_saw(
    bot: tuple[BotClient, MintedToken], receiver: AgentReceiver
) -> None:
    client, agent = bot
    run_id = await refund_waiting(client, agent, receiver.url)
    await client.post(f"/v1/runs/{run_id}/heartbeat", json={"step": "s"}, headers=auth(agent))
    await client.core.cache.flush()
    async with Person(client) as alice:
        await alice.sign_in("alice@example.com")
        await alice.page(f"/runs/{run_id}")
        await alice.act(run_id, "approve")
        await receiver.wait_for(1)
        await delivered(client, agent, run_id)
        page = (await alice.page("/agents/billing-bot")).text
        assert "Operator checklist" in page
        assert "1 of 1 run sent heartbeats; none went silent" in page
        assert "0 of 1 run reported checkpoints" in page
        assert "every run&#39;s owner is a known person" in page
        assert "1 of 1 delivery attempts succeeded" in page
        assert "billing-bot" in (await alice.page("/agents")).text
        assert (await alice.page("/agents/nobody")).status_code == 404


async def test_chat_messages_link_to_the_run_page_and_the_page_links_back(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack
) -> None:
    client, agent = bot
    run_id = await refund_waiting(client, agent)
    await slack.wait_for(lambda: slack.api("chat.postMessage"))
    [message] = slack.api("chat.postMessage")
    link = buttons(message)["open_in_opslayer"]
    assert link["url"] == f"{PUBLIC}/runs/{run_id}" and link["text"]["text"] == "Open in opslayer"
    async with Person(client) as alice:
        await alice.sign_in("alice@example.com")
        page = (await alice.page(f"/runs/{run_id}")).text
        ts = message["_ts"].replace(".", "")
        assert f"https://team.slack.test/archives/C-PAY/p{ts}" in page


async def test_agent_login_in_slack_answers_privately_with_a_link_that_works(
    bot: tuple[BotClient, MintedToken], slack: FakeSlack
) -> None:
    client, _ = bot
    form = urlencode(slash(slack, "login here"))  # "here" never shows a link to the channel
    assert (
        await client.post("/slack/events", content=form, headers=signed(form))
    ).status_code == 200
    await slack.wait_for(lambda: slack.responses)
    [answer] = slack.responses
    assert answer["response_type"] == "ephemeral"
    token = re.search(rf"{PUBLIC}/login/([\w-]+)", answer["text"])
    assert token is not None
    async with Person(client) as alice:
        assert "Sign in as Alice" in (await alice.http.get(f"/login/{token[1]}")).text
        assert (await alice.http.post(f"/login/{token[1]}")).status_code == 303
        assert (await alice.page("/")).status_code == 200
    mention = event("app_mention", text="<@UBOT> login", user="UALICE", channel="C-PAY")
    await client.post("/slack/events", content=mention, headers=signed_json(mention))
    await slack.wait_for(lambda: slack.api("chat.postMessage"))
    said = slack.api("chat.postMessage")[-1]["text"]
    assert "for your eyes only" in said and "/login/" not in said


async def test_the_first_admin_sets_up_with_the_link_serve_printed(
    bot: tuple[BotClient, MintedToken],
) -> None:
    client, _ = bot
    console = client.app.state.console
    token = await console.sign_in.setup_link()
    assert token is not None
    async with Person(client) as ada:
        assert "first admin" in (await ada.http.get(f"/setup/{token}")).text
        bad = await ada.http.post(f"/setup/{token}", data={"name": "Ada", "email": "nope"})
        assert bad.status_code == 400 and "not an email address" in bad.text  # link not spent
        done = await ada.http.post(
            f"/setup/{token}", data={"name": "Ada", "email": "ada@example.com"}
        )
        assert done.status_code == 303
        assert (await ada.page("/people")).status_code == 200  # an admin now
    assert await console.sign_in.setup_link() is None  # nobody gets in this way again


async def test_the_person_a_run_is_offered_to_accepts_it_in_the_console(
    bot: tuple[BotClient, MintedToken],
) -> None:
    client, agent = bot
    run_id = await refund_waiting(client, agent)
    await add_person(client.store, identity=Identity(email="bob@example.com", name="Bob"))
    async with client.store.read() as uow:
        alice = await uow.people.find(Identity(email="alice@example.com"))
    assert alice is not None
    await client.operations.handoffs.reassign(
        run_id, person=alice, via=Via.CLI, new_owner=Identity(email="bob@example.com")
    )
    async with Person(client) as bob:
        await bob.sign_in("bob@example.com")
        page = (await bob.page(f"/runs/{run_id}")).text
        assert "Offered to you" in page and 'id="h-act"' not in page
        assert (await bob.act(run_id, "accept")).status_code == 303
        assert "the run is yours now" in await bob.flash(run_id)
    run = (await client.get(f"/v1/runs/{run_id}", headers=auth(agent))).json()
    assert run["owner"]["email"] == "bob@example.com"


async def test_a_live_page_stamp_is_only_for_runs_one_may_see(
    bot: tuple[BotClient, MintedToken],
) -> None:
    client, agent = bot
    run_id = await refund_waiting(client, agent)
    await add_person(client.store, identity=Identity(email="bob@example.com", name="Bob"))
    async with Person(client) as alice, Person(client) as bob:
        assert (await alice.http.get(f"/stamp?run={run_id}")).status_code == 401
        await alice.sign_in("alice@example.com")
        await bob.sign_in("bob@example.com")
        before = (await alice.http.get(f"/stamp?run={run_id}")).json()["stamp"]
        assert (await bob.http.get(f"/stamp?run={run_id}")).status_code == 404
        await alice.page(f"/runs/{run_id}")
        await alice.act(run_id, "reject", message="no")
        assert (await alice.http.get(f"/stamp?run={run_id}")).json()["stamp"] != before


async def test_an_approver_who_does_not_own_the_run_sees_it_and_decides(
    bot: tuple[BotClient, MintedToken], receiver: AgentReceiver
) -> None:
    client, agent = bot
    await add_person(client.store, identity=Identity(email="bob@example.com", name="Bob"))
    body = {
        "external_id": "needs-bob",
        "title": "Needs Bob",
        "owner": {"email": "alice@example.com"},
        "webhook_url": receiver.url,
    }
    run_id = (await client.post("/v1/runs", json=body, headers=auth(agent))).json()["id"]
    asked = {"request_id": "q", "title": "Bob, OK?", "approvers": ["bob@example.com"]}
    await client.post(f"/v1/runs/{run_id}/approvals", json=asked, headers=auth(agent))
    async with Person(client) as bob:
        await bob.sign_in("bob@example.com")
        assert "Needs Bob" in (await bob.page("/")).text  # in his inbox
        page = await bob.page(f"/runs/{run_id}")
        assert page.status_code == 200 and 'id="h-act"' in page.text
        assert (await bob.http.get(f"/stamp?run={run_id}")).status_code == 200
        await bob.act(run_id, "approve")
        assert "Approved by Bob" in await bob.flash(run_id)
    [delivery] = await receiver.wait_for(1)
    command = Webhook(agent.webhook_secret).verify(delivery.body, delivery.headers)["command"]
    assert command["kind"] == "approve" and command["actor"]["name"] == "Bob"


async def test_a_long_inbox_shows_the_oldest_first_a_page_at_a_time(
    bot: tuple[BotClient, MintedToken],
) -> None:
    client, agent = bot
    await add_person(client.store, identity=Identity(email="bob@example.com", name="Bob"))
    for n in range(30):
        owner = "bob@example.com" if n % 3 else "alice@example.com"
        body = {"external_id": f"ask-{n:02d}", "title": f"Ask {n:02d}", "owner": {"email": owner}}
        run_id = (await client.post("/v1/runs", json=body, headers=auth(agent))).json()["id"]
        # Alice's runs ask Bob: they are his to decide, so his inbox holds them too.
        asked = {"request_id": "q", "title": f"Question {n:02d}", "approvers": ["bob@example.com"]}
        await client.post(f"/v1/runs/{run_id}/approvals", json=asked, headers=auth(agent))
        await asyncio.sleep(0.002)  # one after another, as they would come
    async with Person(client) as bob:
        await bob.sign_in("bob@example.com")
        first = (await bob.page("/")).text
        assert "<title>(30) Inbox" in first and "1–25 of 30" in first
        assert re.findall(r"Question (\d\d)", first) == [f"{n:02d}" for n in range(25)]
        assert 'rel="next" href="/?start=25"' in first
        rest = (await bob.page("/?start=25")).text
        assert re.findall(r"Question (\d\d)", rest) == [f"{n:02d}" for n in range(25, 30)]
        assert 'rel="prev" href="/?start=0"' in rest and 'rel="next"' not in rest


async def test_the_checklist_says_how_silent_retried_and_canceled_runs_went(
    bot: tuple[BotClient, MintedToken],
) -> None:
    client, agent = bot

    async def run(name: str, *statuses: str, **extra: Any) -> str:
        body = {"external_id": name, "title": name, "owner": {"email": "alice@example.com"}}
        run_id: str = (
            await client.post("/v1/runs", json={**body, **extra}, headers=auth(agent))
        ).json()["id"]
        for status in statuses:
            await report(run_id, status)
        return run_id

    async def report(run_id: str, status: str) -> None:
        answer = await client.post(
            f"/v1/runs/{run_id}/status", json={"status": status}, headers=auth(agent)
        )
        assert answer.status_code == 200, answer.text

    silent = await run("silent", "running", policy={"heartbeat_timeout_s": 60})
    failing = await run("failing", "running", "failed")
    canceled = await run("canceled", "running")
    client.clock.advance(seconds=120)
    await client.core.scanner.scan()  # `silent` is stuck
    await client.post(f"/v1/runs/{silent}/heartbeat", json={}, headers=auth(agent))
    await client.core.cache.flush()
    await report(silent, "succeeded")
    async with Person(client) as alice:
        await alice.sign_in("alice@example.com")
        await alice.page(f"/runs/{failing}")
        assert (await alice.act(failing, "retry", checkpoint="")).status_code == 303
        await report(failing, "running")
        await report(failing, "failed")
        assert (await alice.act(canceled, "cancel")).status_code == 303
        await report(canceled, "canceled")
        page = (await alice.page("/agents/billing-bot")).text
    for said in (
        "1 run went silent past the heartbeat timeout",
        "1 run flagged stuck or stale: 1 then succeeded",
        "1 run retried: 0 then succeeded, 1 failed or was canceled",
        "1 run canceled, paused or force-canceled from outside the agent: 0 then succeeded,"
        " 1 failed or was canceled",
    ):
        assert said in page, said
    assert f'href="/runs/{silent}">see' in page  # the evidence links to the run that shows it
