"""Build domain records for pure tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from opslayer.bot.people.model import Person
from opslayer.bot.runs.model import Run, RunStatus

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def make_run(status: RunStatus = RunStatus.RUNNING, **changes: Any) -> Run:
    fields: dict[str, Any] = {
        "id": "run_1",
        "external_id": "job-1",
        "agent": "billing-bot",
        "title": "Reconcile invoices",
        "status": status,
        "owner": Person(id="per_1", name="Alice", email="alice@example.com"),
        "created_at": T0,
        "updated_at": T0,
        "status_changed_at": T0,
    }
    fields.update(changes)
    return Run(**fields)
