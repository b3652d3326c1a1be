"""A person who voted toward a quorum is not offered Approve again: the run page says their
vote counts and how many more approvals are needed from others."""

from __future__ import annotations

from opslayer.bot.people.directory import add_person
from opslayer.bot.people.model import Identity
from opslayer.bot.people.tokens import MintedToken
from tests.console_support import Person
from tests.harness import BotClient


async def test_after_voting_the_page_says_so_instead_of_offering_approve_again(
    bot: tuple[BotClient, MintedToken],
) -> None:
    client, agent = bot
    auth = {"Authorization": f"Bearer {agent.token}"}
    await add_person(client.store, identity=Identity(email="bob@example.com", name="Bob"))
    body = {"external_id": "q", "title": "Pay out", "owner": {"email": "alice@example.com"}}
    run_id = (await client.post("/v1/runs", json=body, headers=auth)).json()["id"]
    asked = {
        "request_id": "r",
        "title": "Pay 10,000 EUR?",
        "approvers": ["alice@example.com", "bob@example.com"],
        "required_approvals": 2,
    }
    approval = (await client.post(f"/v1/runs/{run_id}/approvals", json=asked, headers=auth)).json()
    async with Person(client) as alice:
        await alice.sign_in("alice@example.com")
        page = (await alice.page(f"/runs/{run_id}")).text
        assert ">Approve</button>" in page
        voted = await alice.act(run_id, "approve", approval_id=approval["id"])
        assert voted.status_code == 303
        page = (await alice.page(f"/runs/{run_id}")).text
        assert ">Approve</button>" not in page
        assert "You voted; 1 more approval needed from others." in page
