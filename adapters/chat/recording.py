"""The recording notifier: keeps every post and update in memory, for tests and dry runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RecordingNotifier:
    """Every message it was asked to post, and each message's updates, in order."""

    name: str = "recording"
    posts: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    updates: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    async def post(self, target: dict[str, Any], view: dict[str, Any]) -> dict[str, Any] | None:
        self.posts.append((target, view))
        return {"n": len(self.posts) - 1}

    async def update(self, ref: dict[str, Any], view: dict[str, Any]) -> None:
        self.updates.append((int(ref["n"]), view))

    def current(self, n: int) -> dict[str, Any]:
        """Message n as a person would see it now: its last update, else as posted."""
        latest: dict[str, Any] = self.posts[n][1]
        for index, view in self.updates:
            if index == n:
                latest = view
        return latest
