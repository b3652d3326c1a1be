"""Answers to an agent's reads (its run, its pending commands, its run list), kept for the run
cache's lifetime (`OPSLAYER_RUN_CACHE_TTL_S`, 1 s) so a fleet polling at once costs one
database read per run and second, not one per request.

Anything this process writes about a run drops that run's answers (and the agent's lists) at
once, so an agent always reads what it just wrote; a decision made here drops everything. A
change made by another replica or the CLI shows within the lifetime, as with the run cache.
"""

from __future__ import annotations

import time

_LIMIT = 20_000


class ReadCache:
    def __init__(self, *, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        # (agent, request path and query) → (until, body, the run it is about or None: a list)
        self._answers: dict[tuple[str, str], tuple[float, bytes, str | None]] = {}

    def get(self, agent: str, key: str) -> bytes | None:
        hit = self._answers.get((agent, key))
        if hit is None or hit[0] <= time.monotonic():
            return None
        return hit[1]

    def put(self, agent: str, key: str, body: bytes, *, run_id: str | None) -> None:
        if self._ttl_s <= 0:
            return
        if len(self._answers) >= _LIMIT:
            self._answers.clear()
        self._answers[(agent, key)] = (time.monotonic() + self._ttl_s, body, run_id)

    def forget_run(self, agent: str, run_id: str | None) -> None:
        """The agent wrote about a run: its answers about it, and its lists, are stale."""
        stale = [
            key
            for key, (_, _, about) in self._answers.items()
            if key[0] == agent and (about is None or about == run_id)
        ]
        for key in stale:
            del self._answers[key]

    def forget_all(self) -> None:
        """Someone decided something (a command is on its way): every answer may be stale."""
        self._answers.clear()
