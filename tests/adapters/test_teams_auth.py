"""The bot's outbound token: fetched off the loop, reused until it nearly expires."""

from __future__ import annotations

import threading
import time

import jwt
from botframework.connector.auth import MicrosoftAppCredentials

from opslayer.adapters.teams.auth import PrefetchedCredentials


async def test_the_token_is_fetched_once_then_again_only_near_its_expiry() -> None:
    fetched: list[int] = []
    lifetime = {"s": 3600}

    def entra(credentials: object) -> str:
        fetched.append(threading.get_ident())
        return jwt.encode(
            {"exp": int(time.time()) + lifetime["s"]},
            "a-test-key-of-32-bytes-or-longer",
            algorithm="HS256",
        )

    credentials = PrefetchedCredentials(MicrosoftAppCredentials("app", "secret"), entra)
    for _ in range(3):
        await credentials.refresh_if_due()
    assert len(fetched) == 1 and fetched[0] != threading.get_ident()  # once, off the loop
    first = credentials.get_access_token()
    lifetime["s"] = 120  # the next token would be nearly spent: each use fetches again
    credentials._expires_at = time.time() + 120  # the held one is as good as gone
    await credentials.refresh_if_due()
    assert len(fetched) == 2 and credentials.get_access_token() != first
