"""The console's edit form is the one Slack's modal and Teams' card have: one input per field
where the schema is simple (it was raw JSON on the web only), read back into arguments the
schema then judges."""

from __future__ import annotations

from opslayer.bot.people.tokens import MintedToken
from tests.console_support import Person
from tests.harness import BotClient

SCHEMA = {
    "type": "object",
    "properties": {
        "amount": {"type": "integer", "maximum": 100, "description": "in EUR"},
        "currency": {"enum": ["EUR", "USD"]},
        "express": {"type": "boolean"},
    },
    "required": ["amount"],
}


async def test_a_simple_schema_is_edited_field_by_field(
    bot: tuple[BotClient, MintedToken],
) -> None:
    client, agent = bot
    auth = {"Authorization": f"Bearer {agent.token}"}
    body = {"external_id": "r", "title": "Refund", "owner": {"email": "alice@example.com"}}
    run_id = (await client.post("/v1/runs", json=body, headers=auth)).json()["id"]
    asked = {
        "request_id": "r",
        "title": "Refund 120 EUR?",
        "arguments": {"amount": 120, "currency": "EUR", "express": True, "order": 7},
        "arguments_schema": SCHEMA,
        "decisions": ["approve", "edit", "reject"],
    }
    approval = (await client.post(f"/v1/runs/{run_id}/approvals", json=asked, headers=auth)).json()
    async with Person(client) as alice:
        await alice.sign_in("alice@example.com")
        page = (await alice.page(f"/runs/{run_id}")).text
        assert 'name="arg_0" value="120"' in page and "in EUR" in page
        assert '<option value="&#34;EUR&#34;" selected>EUR</option>' in page
        assert 'name="arg_2" value="true" checked' in page
        fields = {"approval_id": approval["id"], "arg_0": "150", "arg_1": '"USD"'}
        refused = await alice.act(run_id, "edit", **fields)
        assert refused.status_code == 303
        assert "amount: 150 is greater than the maximum of 100" in await alice.flash(run_id)
        await alice.act(run_id, "edit", **{**fields, "arg_0": "90"})  # express unticked
        page = (await alice.page(f"/runs/{run_id}")).text
        # The edit as what it changed: asked → approved, the unchanged order left out.
        assert "What the edit changed" in page
        assert "<code>amount</code></th><td><del>120</del></td><td><ins>90</ins>" in page
        assert "<code>express</code></th><td><del>true</del></td><td><ins>false</ins>" in page
        assert "<code>order</code>" not in page
    commands = (await client.get(f"/v1/runs/{run_id}/commands", headers=auth)).json()
    [decided] = [c["payload"]["command"]["decision"] for c in commands if c["kind"] == "approve"]
    assert decided["arguments"] == {"amount": 90, "currency": "USD", "express": False, "order": 7}
