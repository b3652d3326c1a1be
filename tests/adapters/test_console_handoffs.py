"""A handoff as each side sees it in the console inbox. Seen: after Alice offered a run to Bo,
her own inbox said "…is being handed over to you · owner Bo" (both wrong: it is offered to Bo,
and stays hers until he accepts), and the console dropped the reason Slack shows."""

from __future__ import annotations

from opslayer.bot.audit import Via
from opslayer.bot.people.directory import add_person, find_person
from opslayer.bot.people.model import Identity
from opslayer.bot.people.tokens import MintedToken
from tests.console_support import Person
from tests.harness import BotClient


async def test_an_offer_reads_right_for_the_owner_and_for_the_one_offered(
    bot: tuple[BotClient, MintedToken],
) -> None:
    client, agent = bot
    auth = {"Authorization": f"Bearer {agent.token}"}
    await add_person(client.store, identity=Identity(email="bo@example.com", name="Bo Builder"))
    body = {"external_id": "v", "title": "Onboard ACME", "owner": {"email": "alice@example.com"}}
    run_id = (await client.post("/v1/runs", json=body, headers=auth)).json()["id"]
    alice = await find_person(client.store, Identity(email="alice@example.com"))
    await client.operations.handoffs.reassign(
        run_id,
        person=alice,
        via=Via.WEB,
        new_owner=Identity(email="bo@example.com"),
        reason="I am on leave from Monday",
    )
    async with Person(client) as owner:
        await owner.sign_in("alice@example.com")
        inbox = (await owner.page("/")).text
        assert "Onboard ACME is offered to Bo Builder; it stays yours until they accept" in inbox
        assert "owner <strong>Alice</strong>" in inbox
        assert "I am on leave from Monday" in inbox
        assert ">Accept</button>" not in inbox
    async with Person(client) as bo:
        await bo.sign_in("bo@example.com")
        inbox = (await bo.page("/")).text
        assert "Onboard ACME is being handed over to you" in inbox
        assert "offered to you by <strong>Alice</strong>" in inbox
        assert "I am on leave from Monday" in inbox and ">Accept</button>" in inbox
