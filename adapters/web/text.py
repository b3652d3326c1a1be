"""How the console writes times: exact in UTC (shown in the reader's zone by the page's script), and
how long ago."""

from __future__ import annotations

from datetime import UTC, datetime

from markupsafe import Markup


def moment(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if at else "—"


def when(at: datetime | None) -> Markup:
    """A moment for reading: UTC in the page, and the reader's own zone once the page's script
    rewrites it (UTC stays on hover)."""
    if at is None:
        return Markup("—")
    shown = moment(at)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        at.astimezone(UTC).isoformat(), shown, shown
    )


def age(at: datetime | None, now: datetime | None = None) -> str:
    """`3 min`, `2 h 5 min`, `4 d`: how long ago (or, for a future moment, how long until)."""
    if at is None:
        return "—"
    seconds = abs(((now or datetime.now(UTC)) - at).total_seconds())
    if seconds < 60:
        return f"{int(seconds)} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} d"
