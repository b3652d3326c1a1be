"""Console sign-in links and browser sessions, kept as hashes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update

from opslayer.bot.ports import SignInLink, WebSession
from opslayer.store.db import Db
from opslayer.store.tables import sign_in_links, web_sessions


def _link(row: Row[Any]) -> SignInLink:
    return SignInLink(
        token_hash=row.token_hash,
        person_id=row.person_id,
        purpose=row.purpose,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
    )


class SqlSessionRepository:
    def __init__(self, conn: Db) -> None:
        self._conn = conn

    async def add_link(self, link: SignInLink) -> None:
        await self._conn.execute(
            insert(sign_in_links).values(
                token_hash=link.token_hash,
                person_id=link.person_id,
                purpose=link.purpose,
                created_at=link.created_at,
                expires_at=link.expires_at,
            )
        )

    async def link(self, token_hash: str) -> SignInLink | None:
        query = select(sign_in_links).where(sign_in_links.c.token_hash == token_hash)
        row = (await self._conn.execute(query)).first()
        return _link(row) if row else None

    async def take_link(self, token_hash: str, *, now: datetime) -> SignInLink | None:
        # One conditional UPDATE: of two redeemers racing, one sees a row changed.
        taken = await self._conn.execute(
            update(sign_in_links)
            .where(
                sign_in_links.c.token_hash == token_hash,
                sign_in_links.c.used_at.is_(None),
                sign_in_links.c.expires_at > now,
            )
            .values(used_at=now)
        )
        if not taken.rowcount:
            return None
        return await self.link(token_hash)

    async def add_session(self, session: WebSession) -> None:
        await self._conn.execute(
            insert(web_sessions).values(
                token_hash=session.token_hash,
                person_id=session.person_id,
                csrf=session.csrf,
                created_at=session.created_at,
                expires_at=session.expires_at,
            )
        )

    async def session(self, token_hash: str) -> WebSession | None:
        query = select(web_sessions).where(web_sessions.c.token_hash == token_hash)
        row = (await self._conn.execute(query)).first()
        if row is None:
            return None
        return WebSession(
            token_hash=row.token_hash,
            person_id=row.person_id,
            csrf=row.csrf,
            created_at=row.created_at,
            expires_at=row.expires_at,
            ended_at=row.ended_at,
        )

    async def end(self, token_hash: str, *, at: datetime) -> None:
        await self._conn.execute(
            update(web_sessions)
            .where(web_sessions.c.token_hash == token_hash, web_sessions.c.ended_at.is_(None))
            .values(ended_at=at)
        )
