"""The ledger's rows as the surfaces see them: a new alert, a follow-up, and an alert's view now."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from opslayer.bot.alerts.kinds import AlertKind
from opslayer.bot.alerts.model import Alert, AlertStatus, first_action_at
from opslayer.bot.ids import new_id
from opslayer.bot.runs.model import Run
from opslayer.bot.views.model import (
    AlertPayload,
    AlertView,
    MessageView,
    Ping,
    Target,
    is_digest,
)


def new_alert(
    kind: AlertKind, key: str, run: Run, *, target: Target, view: AlertView, now: datetime
) -> Alert:
    """A fresh ledger row, to be posted at once and followed up on the run's policy."""
    return Alert(
        id=new_id("alr"),
        key=key,
        kind=kind,
        status=AlertStatus.OPEN,
        target=target,
        payload={"view": view, "pings": []},
        created_at=now,
        updated_at=now,
        run_id=run.id,
        next_action_at=first_action_at(run, now),
    )


def with_ping(alert: Alert, kind: str, target: Target, view: AlertView) -> Alert:
    """The alert with one more follow-up message to send (a reminder, an escalation, a note)."""
    ping: Ping = {"kind": kind, "target": target, "view": view}
    payload: AlertPayload = {**alert.payload, "pings": [*alert.payload["pings"], ping]}
    return dataclasses.replace(alert, payload=payload, needs_sync=True)


def render(alert: Alert) -> MessageView:
    """The alert's view as the surfaces show it now: its content plus its state (and the
    alert's id, which a surface's buttons name to answer with the card as it is)."""
    view = alert.payload["view"]
    if is_digest(view):
        return {**view, "state": alert.status.value, "alert_id": alert.id}
    shown: AlertView = {**view, "state": alert.status.value, "alert_id": alert.id}
    payload = alert.payload
    if "resolution" in payload:
        shown["resolution"] = payload["resolution"]
    if "confirmed" in payload:
        shown["confirmed"] = payload["confirmed"]
    if "acknowledged" in payload:
        shown["acknowledged"] = payload["acknowledged"]
    return shown
