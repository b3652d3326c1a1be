"""Running the `opslayer` command in tests: its own SQLite file, its own event loop, and a run
an agent registered to act on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import pytest

from opslayer.adapters.cli import main

T = TypeVar("T")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """The CLI runs its own event loop, so it cannot run on the test's."""
    return await asyncio.to_thread(fn, *args)


async def seed_run(
    db: str, *, fail: bool = False, approval: dict[str, Any] | None = None
) -> dict[str, str]:
    """An agent registers a run that is waiting for approval, with one unsafe checkpoint."""
    from opslayer.adapters.app import create_app
    from opslayer.adapters.settings import Settings
    from opslayer.bot.people.directory import add_person
    from opslayer.bot.people.model import Identity
    from opslayer.bot.people.tokens import mint_token

    app = create_app(Settings(database_url=db))
    async with app.router.lifespan_context(app):
        minted = await mint_token(app.state.core.store, "billing-bot")
        # Alice as an admin added her: the name an agent claims names nobody.
        alice = Identity(email="alice@example.com", name="Alice")
        await add_person(app.state.core.store, identity=alice)
        auth = {"Authorization": f"Bearer {minted.token}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            owner = {"email": "alice@example.com", "name": "Alice"}
            run = (
                await client.post(
                    "/v1/runs",
                    json={"external_id": "e1", "title": "Refunds", "owner": owner},
                    headers=auth,
                )
            ).json()
            await client.post(
                f"/v1/runs/{run['id']}/status", json={"status": "running"}, headers=auth
            )
            effect = [{"key": "refund:9", "idempotent": False}]
            await client.post(
                f"/v1/runs/{run['id']}/checkpoints",
                json={"checkpoint_id": "c1", "step": "refund", "side_effects": effect},
                headers=auth,
            )
            asked = approval or {"request_id": "r1", "title": "Refund?"}
            last = {"status": "failed"} if fail else asked
            path = "status" if fail else "approvals"
            await client.post(f"/v1/runs/{run['id']}/{path}", json=last, headers=auth)
            return {"run": run["id"], "token": minted.token}
