"""What an agent claims about a run's owner grants nobody anything: the whole matrix.

Claimed identities (email, Slack, Teams) × the email's person known or not × their chat ids
linked by an admin or not × that person an admin or not. In every case the chat users the
agent named try to act, as a click would (the chat surfaces' shared lookup, then the use
case): only an identity an admin (or the platform) linked, or the one identity a new owner was
made of, acts as the owner; only a linked one inherits admin rights.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import httpx
import pytest

from opslayer.adapters.app import create_app
from opslayer.adapters.chat.use_cases import UseCases
from opslayer.adapters.settings import Settings
from opslayer.bot.audit import Via
from opslayer.bot.errors import NotAuthorized, OpsError
from opslayer.bot.people.directory import add_person
from opslayer.bot.people.model import Identity
from opslayer.bot.people.tokens import mint_token
from tests.support import MovableClock

DAVE = "dave@corp.example"
CLAIMED = {"email": DAVE, "slack_user_id": "UCLAIM", "teams_user_id": "aad-claim"}
CHAT = {"slack_user_id": Via.SLACK, "teams_user_id": Via.TEAMS}
FIELDS = ("email", "slack_user_id", "teams_user_id")

CASES = [
    (claimed, known, linked, admin)
    for n in (1, 2, 3)
    for claimed in itertools.combinations(FIELDS, n)
    for known, linked in ((False, False), (True, False), (True, True))
    for admin in (False, True)
]


def _expected_owner_ids(claimed: tuple[str, ...], known: bool, linked: bool) -> set[str]:
    """The claimed fields that are the owner's own identities, stated independently of the
    code: Dave's email when he is known, his chat ids when an admin linked them; when no
    claimed identity is anyone's, the first claimed one (email, Slack, Teams) alone."""
    dave_holds = {"email"} if known else set()
    if linked:
        dave_holds |= {"slack_user_id", "teams_user_id"}
    if dave_holds & set(claimed):
        return dave_holds & set(claimed)
    return {claimed[0]}


@pytest.mark.parametrize(("claimed", "known", "linked", "admin"), CASES)
async def test_claimed_identities_act_only_when_verified(
    tmp_path: Path,
    clock: MovableClock,
    claimed: tuple[str, ...],
    known: bool,
    linked: bool,
    admin: bool,
) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'opslayer.db'}",
        admins=[f"email:{DAVE}"] if admin else [],
        heartbeat_flush_s=3600,
        run_cache_ttl_s=0,
    )
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        store = app.state.core.store
        use: UseCases = app.state.use_cases
        if known:
            chat = {"slack_user_id": "UCLAIM", "teams_user_id": "aad-claim"} if linked else {}
            await add_person(store, identity=Identity(email=DAVE, name="Dave", **chat))
        await add_person(store, identity=Identity(email="root@corp.example", name="Root"))
        agent = await mint_token(store, "claims-bot")
        other = await mint_token(store, "other-bot")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://opslayer.test"
        ) as client:
            owner = {f: CLAIMED[f] for f in claimed}
            run = await _register(client, agent.token, "mine", owner)
            others = await _register(client, other.token, "theirs", {"email": "root@corp.example"})

            own = _expected_owner_ids(claimed, known, linked)
            unverified = [f for f in FIELDS if f in claimed and f not in own]
            assert run["owner_claim"]["unverified"] == unverified
            trail = (
                await client.get(
                    f"/v1/runs/{run['id']}/audit",
                    headers={"Authorization": f"Bearer {agent.token}"},
                )
            ).json()
            mismatches = [e for e in trail if e["action"] == "owner.claim_mismatch"]
            assert len(mismatches) == (1 if unverified else 0)

            for field in (f for f in claimed if f in CHAT):
                identity, via = Identity(**{field: CLAIMED[field]}), CHAT[field]
                acted = await _try(
                    use,
                    identity,
                    via,
                    lambda p, v=via: use.operations.commands.pause(run["id"], person=p, via=v),
                )
                assert acted == (field in own), f"{field} acting on the run it was claimed for"
                # Another agent's run, owned by someone else: only a linked admin may touch it.
                approval_id = await _asks(client, other.token, others["id"], field)
                acted = await _try(
                    use,
                    identity,
                    via,
                    lambda p, v=via, a=approval_id: use.operations.approvals.approve(
                        a, person=p, via=v
                    ),
                )
                assert acted == (admin and linked), f"{field} approving another agent's run"


async def _register(
    client: httpx.AsyncClient, token: str, external_id: str, owner: dict[str, str]
) -> dict[str, Any]:
    body = {"external_id": external_id, "title": external_id, "owner": owner}
    answer = await client.post("/v1/runs", json=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 201, answer.text
    run: dict[str, Any] = answer.json()
    return run


async def _asks(client: httpx.AsyncClient, token: str, run_id: str, request_id: str) -> str:
    answer = await client.post(
        f"/v1/runs/{run_id}/approvals",
        json={"request_id": request_id, "title": "Pay?"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 201, answer.text
    approval_id: str = answer.json()["id"]
    return approval_id


async def _try(use: UseCases, identity: Identity, via: Via, act: Any) -> bool:
    """True when the chat user is a known person and the use case lets them act."""
    try:
        person = await use.person(identity, via=via, action="test")
        await act(person)
    except NotAuthorized:
        return False
    except OpsError as other:
        raise AssertionError(f"unexpected refusal: {other.message}") from other
    return True
