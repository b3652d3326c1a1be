"""Who did what: actors (a person through a surface, an agent, opslayer itself) and the audit
trail's events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opslayer.bot.people.model import Person
from opslayer_client.contract import Via

__all__ = ["SYSTEM", "Actor", "AuditEvent", "Via", "actor_of"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something: a person (through a surface), an agent, or opslayer itself."""

    id: str
    name: str
    via: Via

    @staticmethod
    def agent(name: str) -> Actor:
        """The actor for changes an agent reports over the API."""
        return Actor(id=f"agent:{name}", name=name, via=Via.API)


SYSTEM = Actor(id="system", name="opslayer", via=Via.API)


def actor_of(person: Person, via: Via) -> Actor:
    """The person as the actor of an audit event, through the surface they used."""
    return Actor(id=person.id, name=person.name, via=via)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One line of a run's history: who did what, through which surface, and why."""

    action: str
    at: datetime
    actor: Actor
    run_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    id: int | None = None
