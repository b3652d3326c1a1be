"""The console against what an attacker would send a person: a sign-in link whose `next`
leads offsite in a browser's reading of it, and pages that could be framed or sniffed."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from opslayer.bot.people.tokens import MintedToken
from tests.console_support import Person
from tests.harness import BotClient

# Each of these, put in an href, takes Chromium to evil.example (seen: `/\evil.example/`).
OFFSITE = [
    "/%5Cevil.example/",
    "/%5C%5Cevil.example/",
    "/%09/evil.example/",
    "/%0A/evil.example/",
    "/%0D%0A/evil.example/",
    "//evil.example/",
    "https://evil.example/",
    "%2F%2Fevil.example/",
    "/%C2%85/evil.example/",
]


@pytest.mark.parametrize("offsite", OFFSITE)
async def test_next_never_leads_offsite(bot: tuple[BotClient, MintedToken], offsite: str) -> None:
    client, _ = bot
    async with Person(client) as alice:
        await alice.sign_in("alice@example.com")
        page = await alice.http.get(f"/login?next={offsite}")
        [href] = re.findall(r'<a href="([^"]*)">Continue</a>', page.text)
        assert href == "/", href
        token = await alice.link_for("alice@example.com")
        form = await alice.http.get(f"/login/{token}?next={offsite}")
        assert 'name="next" value="/"' in form.text
        used = await alice.http.post(f"/login/{token}", data={"next": unquote(offsite)})
        assert used.headers["location"] == "/"


async def test_a_path_here_is_still_where_sign_in_returns(
    bot: tuple[BotClient, MintedToken],
) -> None:
    client, _ = bot
    async with Person(client) as alice:
        token = await alice.link_for("alice@example.com")
        used = await alice.http.post(f"/login/{token}", data={"next": "/runs?status=failed"})
        assert used.headers["location"] == "/runs?status=failed"


@pytest.mark.parametrize("path", ["/login", "/", "/runs", "/agents"])
async def test_pages_forbid_framing_sniffing_and_foreign_scripts(
    bot: tuple[BotClient, MintedToken], path: str
) -> None:
    client, _ = bot
    async with Person(client) as alice:
        await alice.sign_in("alice@example.com")
        page = await alice.page(path)
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
