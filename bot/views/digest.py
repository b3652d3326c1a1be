"""A channel's daily digest, platform-neutral: the runs that need attention, by section and
owner."""

from __future__ import annotations

from datetime import datetime

from opslayer.bot.runs.model import Health, Run, RunStatus
from opslayer.bot.views.model import DigestLineView, DigestView

SECTIONS = ("stuck", "stale", "waiting for approval", "auth-blocked", "failed in the last day")

Sections = dict[str, dict[str, list[DigestLineView]]]


def _sections_of(run: Run) -> list[str]:
    """The sections a run belongs in (it may be in several)."""
    names = []
    if Health.STUCK in run.health:
        names.append("stuck")
    if Health.STALE in run.health:
        names.append("stale")
    if run.status is RunStatus.WAITING_APPROVAL:
        names.append("waiting for approval")
    if run.status is RunStatus.WAITING_AUTH or Health.AUTH_EXPIRED in run.health:
        names.append("auth-blocked")
    if run.status is RunStatus.FAILED:
        names.append("failed in the last day")
    return names


def _since(run: Run, now: datetime) -> str:
    hours = int((now - run.status_changed_at).total_seconds() // 3600)
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"


def digest_sections(runs: list[Run], owners: dict[str, str], now: datetime) -> Sections:
    """Runs sorted into the digest's sections, each grouped by owner."""
    sections: Sections = {name: {} for name in SECTIONS}
    for run in runs:
        line: DigestLineView = {
            "run_id": run.id,
            "title": run.title,
            "status": run.status.value,
            "health": sorted(h.value for h in run.health),
            "since": _since(run, now),
        }
        for name in _sections_of(run):
            sections[name].setdefault(owners.get(run.owner.id, run.owner.name), []).append(line)
    return sections


def digest_view(channel: str, day: str, sections: Sections) -> DigestView:
    """A channel's daily digest: section → owner → lines, and the counts that head it."""
    counts = {
        name: sum(len(lines) for lines in owners.values()) for name, owners in sections.items()
    }
    return {
        "kind": "digest",
        "channel": channel,
        "day": day,
        "headline": "All clear" if not any(counts.values()) else "Runs that need attention",
        "counts": counts,
        "sections": sections,
    }
