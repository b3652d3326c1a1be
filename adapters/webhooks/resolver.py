"""An aiohttp resolver that never hands out an address webhooks may not reach.

Checking the name when it is resolved for the connection (not before) closes the gap a DNS
answer that changes between check and use (rebinding) would leave open."""

from __future__ import annotations

import errno
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from opslayer.bot.commands.egress import Egress


class GuardedResolver(AbstractResolver):
    def __init__(self, egress: Egress, inner: AbstractResolver | None = None) -> None:
        self._egress = egress
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        allowed = [info for info in found if self._egress.allows_ip(info["host"])]
        if not allowed:
            # With an errno, aiohttp shows the reason in its connection error (else "[None]").
            raise OSError(
                errno.EACCES,
                f"{host} resolves only to addresses webhooks may not reach (OPSLAYER_WEBHOOK_DENY)",
            )
        return allowed

    async def close(self) -> None:
        await self._inner.close()
