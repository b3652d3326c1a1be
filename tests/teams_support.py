"""Speaking to the Teams bot as the Bot Connector does, for the Teams tests."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import httpx

from opslayer.bot.audit import AuditEvent
from opslayer.bot.people.tokens import MintedToken
from tests.agent_receiver import AgentReceiver
from tests.bot_framework import (
    BOT_ID,
    OUTBOUND_TOKEN,
    SigningKey,
    token,
)
from tests.fake_connector import FakeConnector
from tests.harness import BotClient

ALICE = "aad-alice-0001"  # Microsoft Entra object ids

BOB = "aad-bob-0002"

STRANGER = "aad-stranger-0003"

CHANNEL = "19:payments@thread.tacv2"

ids = itertools.count(1)

ENTRA_THREADS: list[int] = []  # the threads the outbound token was fetched on


def entra_stand_in(credentials: object) -> str:
    ENTRA_THREADS.append(threading.get_ident())
    return OUTBOUND_TOKEN


def buttons(card: dict[str, Any]) -> list[dict[str, Any]]:
    """A card's Action.Execute buttons, those under "More…" included."""
    found = []
    for action in card.get("actions", []):
        if action["type"] == "Action.ShowCard":
            found.extend(buttons(action["card"]))
        else:
            found.append(action)
    return found


class Teams:
    """The bot over HTTP, spoken to as the Bot Connector speaks to it."""

    def __init__(self, client: BotClient, connector: FakeConnector, key: SigningKey):
        self.client = client
        self.connector = connector
        self.key = key

    def activity(
        self,
        kind: str = "message",
        *,
        user: str = ALICE,
        conversation: str = CHANNEL,
        conversation_type: str = "channel",
        **fields: Any,
    ) -> dict[str, Any]:
        n = next(ids)
        thread = f"{conversation};messageid={n}" if conversation_type == "channel" else conversation
        return {
            "type": kind,
            "id": f"in-{n}",
            "channelId": "msteams",
            "serviceUrl": f"{self.connector.url}/",
            "from": {"id": f"29:{user}", "name": user, "aadObjectId": user},
            "recipient": {"id": BOT_ID, "name": "opslayer"},
            "conversation": {
                "id": thread,
                "conversationType": conversation_type,
                "tenantId": "tenant-1",
            },
            "channelData": {"tenant": {"id": "tenant-1"}},
            **fields,
        }

    def say(self, text: str, **where: Any) -> dict[str, Any]:
        """A message @mentioning the bot, as Teams sends it from a channel."""
        mention = {
            "type": "mention",
            "text": "<at>opslayer</at>",
            "mentioned": {"id": BOT_ID, "name": "opslayer"},
        }
        return self.activity(text=f"<at>opslayer</at> {text}", entities=[mention], **where)

    def click(
        self, card: dict[str, Any], verb: str, *, user: str = ALICE, **inputs: Any
    ) -> dict[str, Any]:
        """An Action.Execute of `card`, inputs merged into its data as Teams does."""
        [action] = [a for a in buttons(card) if a["verb"] == verb]
        value = {
            "action": {
                "type": "Action.Execute",
                "verb": verb,
                "data": {**action["data"], **inputs},
            },
            "trigger": "manual",
        }
        return self.activity("invoke", user=user, name="adaptiveCard/action", value=value)

    async def send(self, activity: dict[str, Any], **claims: Any) -> httpx.Response:
        bearer = token(self.key, service_url=activity["serviceUrl"], **claims)
        return await self.client.post(
            "/api/messages", json=activity, headers={"Authorization": f"Bearer {bearer}"}
        )

    def texts(self) -> list[str]:
        """What the bot said in words (answers and greetings), in order."""
        return [c.body["text"] for c in self.connector.calls if c.body.get("text")]

    async def replies(self, count: int) -> list[str]:
        await self.connector.wait_for(lambda: len(self.texts()) >= count)
        return self.texts()


async def run_waiting_for_approval(
    bot: Teams, agent: MintedToken, receiver: AgentReceiver, **owner: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An agent registers a run owned by Alice and asks for approval; returns the run and the
    card the bot posted."""
    auth = {"Authorization": f"Bearer {agent.token}"}
    body = {
        "external_id": f"job-{next(ids)}",
        "title": "Refund batch",
        "owner": owner or {"teams_user_id": ALICE},
        "webhook_url": receiver.url,
    }
    run = (await bot.client.post("/v1/runs", json=body, headers=auth)).json()
    await bot.client.post(f"/v1/runs/{run['id']}/status", json={"status": "running"}, headers=auth)
    asked = await bot.client.post(
        f"/v1/runs/{run['id']}/approvals",
        json={"request_id": "r1", "title": "Refund 1,200 EUR?", "details": "ticket 4411"},
        headers=auth,
    )
    assert asked.status_code == 201, asked.text
    await bot.connector.wait_for(lambda: bot.connector.cards())
    [posted] = [c for c in bot.connector.of("post") if c.body.get("attachments")]
    return run, posted.body["attachments"][0]["content"]


async def audit_rows(bot: Teams, run_id: str | None = None) -> list[AuditEvent]:
    """The audit trail: of one run, or everything (refusals of strangers have no run)."""
    async with bot.client.store.read() as uow:
        if run_id is not None:
            return await uow.audit.for_run(run_id)
        return await uow.audit.listing()
