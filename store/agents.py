"""Agents, known by name, with their tokens (stored only as hashes) and signing secret."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update

from opslayer.bot.ids import new_id
from opslayer.bot.ports import Agent, TokenRow
from opslayer.store.db import Db
from opslayer.store.tables import agent_tokens, agents


class SqlAgentRepository:
    def __init__(self, conn: Db, now: datetime) -> None:
        self._conn = conn
        self._now = now

    async def add(
        self,
        *,
        name: str,
        token_hash: str,
        webhook_secret: str,
        previous_until: datetime | None = None,
    ) -> Agent:
        """A new agent with its first token, or (`rotate`) a known agent's new token and secret,
        the old secret still signing until `previous_until`."""
        existing = await self.by_name(name)
        if existing is None:
            existing = Agent(id=new_id("agt"), name=name, webhook_secret=webhook_secret)
            await self._conn.execute(
                insert(agents).values(
                    id=existing.id, name=name, webhook_secret=webhook_secret, created_at=self._now
                )
            )
        else:
            await self._conn.execute(
                update(agents)
                .where(agents.c.id == existing.id)
                .values(
                    webhook_secret=webhook_secret,
                    previous_webhook_secret=existing.webhook_secret if previous_until else None,
                    previous_secret_until=previous_until,
                )
            )
            existing = Agent(id=existing.id, name=name, webhook_secret=webhook_secret)
        await self._conn.execute(
            insert(agent_tokens).values(
                token_hash=token_hash, agent_id=existing.id, created_at=self._now
            )
        )
        return existing

    async def tokens(self) -> list[TokenRow]:
        """Every agent's tokens, agents by name, newest token first."""
        query = (
            select(agents.c.name, agent_tokens.c.created_at, agent_tokens.c.revoked_at,
                   agents.c.previous_secret_until, agent_tokens.c.last_used_at,
                   agent_tokens.c.token_hash)
            .join(agent_tokens, agent_tokens.c.agent_id == agents.c.id)
            .order_by(agents.c.name, agent_tokens.c.created_at.desc())
        )  # fmt: skip
        return [
            TokenRow(
                r.name,
                r.created_at,
                r.revoked_at,
                r.previous_secret_until,
                r.last_used_at,
                r.token_hash,
            )
            for r in await self._conn.execute(query)
        ]

    async def used(self, token_hash: str, *, at: datetime) -> None:
        await self._conn.execute(
            update(agent_tokens)
            .where(agent_tokens.c.token_hash == token_hash)
            .values(last_used_at=at)
        )

    async def by_token_hash(self, token_hash: str) -> Agent | None:
        row = (
            await self._conn.execute(
                select(agents)
                .join(agent_tokens, agent_tokens.c.agent_id == agents.c.id)
                .where(agent_tokens.c.token_hash == token_hash, agent_tokens.c.revoked_at.is_(None))
            )
        ).first()
        return Agent(id=row.id, name=row.name, webhook_secret=row.webhook_secret) if row else None

    async def by_name(self, name: str) -> Agent | None:
        row = (await self._conn.execute(select(agents).where(agents.c.name == name))).first()
        return Agent(id=row.id, name=row.name, webhook_secret=row.webhook_secret) if row else None

    async def revoke(self, name: str, *, token_hash: str | None = None) -> int:
        """Revoke the agent's live tokens, or only the one with `token_hash`; how many."""
        agent = await self.by_name(name)
        if agent is None:
            return 0
        which = [agent_tokens.c.agent_id == agent.id, agent_tokens.c.revoked_at.is_(None)]
        if token_hash is not None:
            which.append(agent_tokens.c.token_hash == token_hash)
        result = await self._conn.execute(
            update(agent_tokens).where(*which).values(revoked_at=self._now)
        )
        return int(result.rowcount)
