"""Fixtures of the end-to-end tests that drive agents against a real `opslayer serve`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.real_server import Server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """`opslayer serve` on a port of its own, with Alice known (the owner the agents name)."""
    running = Server(tmp_path / "opslayer.db")
    running.start()
    running.cli("people", "add", "--email", "alice@example.com", "--name", "Alice")
    yield running
    running.stop()
