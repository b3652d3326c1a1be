"""Every card opslayer can build is valid Adaptive Card 1.5, for every kind of alert, with and
without a Teams owner, open and settled, and a digest too big for one message."""

from __future__ import annotations

import json
from datetime import timedelta

from opslayer.adapters.teams.cards import (
    MAX_ACTIONS,
    MAX_CARD_BYTES,
    alert_card,
    details_card,
    digest_card,
    notice_card,
    reassign_form,
    reject_form,
    retry_form,
)
from opslayer.bot.alerts.kinds import AlertKind
from opslayer.bot.approvals.model import Approval, ApprovalStatus
from opslayer.bot.people.model import Person
from opslayer.bot.runs.model import RunStatus
from opslayer.bot.views.alerts import alert_view
from opslayer.bot.views.digest import digest_view
from opslayer.bot.views.model import AlertView, DigestLineView, Note
from tests.adaptive_cards import assert_valid_cards
from tests.bot.factories import T0, make_run

TEAMS_OWNER = Person(id="per_2", name="Bo", teams_user_id="aad-bo")


def _views() -> list[AlertView]:
    views: list[AlertView] = []
    approval = Approval(
        id="apr_1",
        run_id="run_1",
        request_id="r",
        title="Refund?",
        status=ApprovalStatus.PENDING,
        created_at=T0,
        details="ticket 1",
    )
    for kind in AlertKind:
        if kind is AlertKind.DIGEST:
            continue
        for owner in (None, TEAMS_OWNER):
            for status in (RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.FAILED):
                run = make_run(status, **({"owner": owner} if owner else {}))
                view = alert_view(
                    kind,
                    run,
                    now=T0 + timedelta(hours=2),
                    approval=approval if kind is AlertKind.APPROVAL else None,
                )
                views.append({**view, "state": "open", "alert_id": "ntf_1"})
                done: Note = {"text": "Approved by Bo", "at": "2026-11-26T11:00:00+00:00"}
                views.append({**view, "state": "resolved", "resolution": done})
                views.append({**view, "state": "open", "ping": "escalation"})
    return views


def test_every_alert_card_is_valid_and_never_shows_more_than_five_buttons() -> None:
    cards = []
    mentioned = 0
    for view in _views():
        card = alert_card(view, notice="Nothing changed: Bo may not approve it")
        cards.append(card)
        assert len(card.get("actions", [])) <= MAX_ACTIONS
        if view["state"] == "resolved":
            assert not card.get("actions")  # settled: no buttons
        shown = json.dumps(card)
        assert view["headline"] in shown
        if "<at>Bo</at>" in shown:  # the owner is on Teams: mentioned, and the card refreshes
            mentioned += 1
            assert card["refresh"]["userIds"] == ["aad-bo"]
            assert card["msteams"]["entities"][0]["mentioned"]["id"] == "aad-bo"
    assert mentioned == len(cards) // 2  # every card whose owner is on Teams
    assert_valid_cards(cards)


def test_forms_details_and_notices_are_valid() -> None:
    view: AlertView = {**_views()[0], "run_title": "Reconcile invoices", "run_id": "run_1"}
    cards = [
        reject_form(view),
        reassign_form(view, [("teams:aad-bo", "Bo"), ("email:al@example.com", "Al")]),
        retry_form(view, [("c1", "fetch"), ("c2", "pay")], ["payout:1"]),
        retry_form(view, [], []),
        details_card(view, [f"11-26 09:{m:02d} status.changed — Bo via teams" for m in range(90)]),
        notice_card("This card is out of date"),
    ]
    assert_valid_cards(cards)


def test_a_digest_too_big_for_one_message_says_how_many_more() -> None:
    lines: list[DigestLineView] = [
        {
            "run_id": f"run_{i}",
            "title": f"A run with a long title number {i}" * 3,
            "status": "running",
            "health": [],
            "since": "3 h",
        }
        for i in range(40)
    ]
    sections = {"stuck": {f"Owner {o}": lines for o in range(60)}}
    card = digest_card(digest_view("payments", "2026-11-26", sections))
    assert len(json.dumps(card).encode()) <= MAX_CARD_BYTES
    assert "more groups of runs" in json.dumps(card)
    empty = digest_card(digest_view("payments", "2026-11-26", {"stuck": {}}))
    assert "All clear" in json.dumps(empty)
    assert_valid_cards([card, empty])


def test_agent_text_cannot_disguise_a_link() -> None:
    run = make_run(title="[Open the invoice](https://evil.example/login)")
    view = alert_view(AlertKind.STUCK, run, now=T0 + timedelta(hours=1))
    card = alert_card(
        {**view, "state": "open", "facts": [{"label": "step", "text": "[x](https://evil.example)"}]}
    )
    shown = json.dumps(card, ensure_ascii=False)
    assert "](https://evil.example" not in shown and "Open the invoice" in shown
    assert_valid_cards([card])
