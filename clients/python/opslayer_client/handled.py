"""The commands an agent has acted on, remembered in a small file for as long as a signed copy
of them could still verify: a command replayed to a freshly started agent is refused as it is
to a running one.

A signature verifies for five minutes either side of its timestamp, so an id is kept for ten;
the file holds one line per id (`<unix seconds> <id>`), appended as commands arrive (a line
reaches the file before the command is acted on) and compacted when it is read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from opslayer_client.signing import TOLERANCE_S

log = logging.getLogger("opslayer_client")
KEEP_S = 2 * TOLERANCE_S
_COMPACT_AFTER = 1000  # appended lines before the file is rewritten without expired ones


def default_path(webhook_secret: str) -> Path | None:
    """Where an agent with this secret keeps its handled commands: one file per secret under
    `$XDG_STATE_HOME/opslayer` (`~/.local/state/opslayer`), named by a hash of the secret; None
    where there is no home to keep it in (then in memory only, and a warning says so)."""
    state = os.environ.get("XDG_STATE_HOME")
    if not state:
        try:
            state = str(Path.home() / ".local" / "state")
        except (KeyError, RuntimeError) as homeless:
            log.warning(
                "opslayer: no home directory (%s): handled commands are kept in memory only;"
                " pass handled_path= to keep them across restarts",
                homeless,
            )
            return None
    digest = hashlib.sha256(webhook_secret.encode()).hexdigest()[:16]
    return Path(state) / "opslayer" / f"handled-{digest}"


class HandledCommands:
    """Ids of commands acted on within the last ten minutes, in memory and (given a path) on
    disk. Thread-safe: webhooks and polls may report from different threads."""

    def __init__(self, path: Path | None, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._path = path
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}
        self._appended = 0
        if path is not None:
            self._load(path)

    def first_time(self, command_id: str) -> bool:
        """True once per id (and record it); False for a copy of one already handled."""
        now = self._clock()
        with self._lock:
            if command_id in self._seen:
                return False
            self._seen[command_id] = now
            self._write(f"{now:.0f} {command_id}\n")
            if len(self._seen) > _COMPACT_AFTER or self._appended > _COMPACT_AFTER:
                self._forget_expired(now)
        return True

    def _load(self, path: Path) -> None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        except OSError as error:
            self._give_up_file(error)
            return
        for line in lines:
            at, _, command_id = line.partition(" ")
            try:
                self._seen[command_id] = float(at)
            except ValueError:
                continue  # a line cut short by a crash
        self._forget_expired(self._clock())

    def _forget_expired(self, now: float) -> None:
        self._seen = {i: at for i, at in self._seen.items() if at > now - KEEP_S}
        if self._path is None:
            return
        kept = "".join(f"{at:.0f} {i}\n" for i, at in self._seen.items())
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fresh = self._path.with_suffix(".tmp")
            fresh.write_text(kept, encoding="utf-8")
            fresh.replace(self._path)
            self._appended = 0
        except OSError as error:
            self._give_up_file(error)

    def _write(self, line: str) -> None:
        if self._path is None:
            return
        try:
            with self._path.open("a", encoding="utf-8") as file:
                file.write(line)
            self._appended += 1
        except OSError as error:
            self._give_up_file(error)

    def _give_up_file(self, error: OSError) -> None:
        log.warning(
            "opslayer: cannot keep handled commands in %s (%s); a command replayed within five"
            " minutes after a restart would be acted on again. Pass handled_path= a writable"
            " file.",
            self._path,
            error,
        )
        self._path = None
