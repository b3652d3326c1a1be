"""Where chat surfaces can reach people and channels proactively (Teams conversation references)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select

from opslayer.bot.ports import Conversation
from opslayer.store.db import Db, per_dialect
from opslayer.store.tables import conversations

_COLUMNS = ("surface", "conversation_id", "kind", "user_id", "title", "reference", "updated_at")


def _upsert(insert: Any) -> Any:
    """Remembered again on every message: the newest reference (service URL, tenant) wins."""
    new = insert(conversations).values({c: bindparam(c) for c in _COLUMNS})
    return new.on_conflict_do_update(
        index_elements=["surface", "conversation_id"],
        set_={
            "kind": new.excluded.kind,
            "user_id": new.excluded.user_id,
            # A message does not repeat the names an install gave: keep the last known.
            "title": func.coalesce(new.excluded.title, conversations.c.title),
            "reference": new.excluded.reference,
            "updated_at": new.excluded.updated_at,
        },
    )


_UPSERT = per_dialect(_upsert)


def _conversation(row: Any) -> Conversation:
    return Conversation(
        surface=row.surface,
        conversation_id=row.conversation_id,
        kind=row.kind,
        user_id=row.user_id,
        reference=row.reference,
        title=row.title,
        seen_at=row.updated_at,
    )


class SqlConversationRepository:
    def __init__(self, conn: Db, now: datetime) -> None:
        self._conn = conn
        self._now = now

    async def remember(self, conversation: Conversation) -> None:
        await self._conn.execute(
            _UPSERT[self._conn.dialect],
            {
                "surface": conversation.surface,
                "conversation_id": conversation.conversation_id,
                "kind": conversation.kind,
                "user_id": conversation.user_id,
                "title": conversation.title,
                "reference": conversation.reference,
                "updated_at": self._now,
            },
        )

    async def get(self, surface: str, conversation_id: str) -> Conversation | None:
        row = (
            await self._conn.execute(
                select(conversations).where(
                    conversations.c.surface == surface,
                    conversations.c.conversation_id == conversation_id,
                )
            )
        ).first()
        return _conversation(row) if row else None

    async def forget(self, surface: str, conversation_id: str) -> None:
        await self._conn.execute(
            delete(conversations).where(
                conversations.c.surface == surface,
                conversations.c.conversation_id == conversation_id,
            )
        )

    async def listing(self, surface: str) -> list[Conversation]:
        query = (
            select(conversations)
            .where(conversations.c.surface == surface)
            .order_by(conversations.c.updated_at.desc())
        )
        return [_conversation(r) for r in await self._conn.execute(query)]

    async def latest(self, surface: str) -> Conversation | None:
        """The conversation heard from last (where the service URL and tenant are current)."""
        row = (
            await self._conn.execute(
                select(conversations)
                .where(conversations.c.surface == surface)
                .order_by(conversations.c.updated_at.desc())
                .limit(1)
            )
        ).first()
        return _conversation(row) if row else None

    async def personal(self, surface: str, user_id: str) -> Conversation | None:
        row = (
            await self._conn.execute(
                select(conversations)
                .where(
                    conversations.c.surface == surface,
                    conversations.c.user_id == user_id,
                    conversations.c.kind == "personal",
                )
                .order_by(conversations.c.updated_at.desc())
                .limit(1)
            )
        ).first()
        return _conversation(row) if row else None
