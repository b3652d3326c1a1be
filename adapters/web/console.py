"""The console's parts: the store's read model, the use cases, sign-in, and the templates,
with who may see what."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from opslayer.adapters.core import Core
from opslayer.adapters.settings import Settings
from opslayer.adapters.web.session import COOKIE, FLASH, SignInNeeded
from opslayer.adapters.web.text import age, moment, when
from opslayer.bot.approvals.model import ApprovalStatus
from opslayer.bot.audit import Via
from opslayer.bot.people.model import Person
from opslayer.bot.people.rights import is_approver, may_see
from opslayer.bot.people.sign_in import SignedIn, SignIn
from opslayer.bot.runs.model import Run
from opslayer.store.console import ConsoleQueries
from opslayer.store.uow import SqlStore

HERE = Path(__file__).parent
# Every page: its own scripts and styles only (none inline), never framed (clickjacking on the
# approve buttons), no sniffing, and no sign-in link's token leaking in a Referer offsite.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["age"] = age
templates.env.filters["moment"] = moment
templates.env.filters["when"] = when


@dataclass(frozen=True, slots=True)
class Sight:
    """What a person may see: every run (admins, viewers), or runs owned by or offered to
    `owners`, plus the runs whose pending approvals name them."""

    person: Person
    everything: bool
    owners: tuple[str, ...]
    approving: frozenset[str]

    @property
    def visible_to(self) -> tuple[str, ...] | None:
        return None if self.everything else self.owners


@dataclass(frozen=True, slots=True)
class Console:
    settings: Settings
    core: Core
    store: SqlStore
    sign_in: SignIn
    slack_client: Any = None  # Slack's Web API client, for message permalinks

    @asynccontextmanager
    async def queries(self) -> AsyncIterator[ConsoleQueries]:
        async with self.store.read() as uow:
            yield ConsoleQueries(uow.db)

    async def session(self, request: Request) -> SignedIn | None:
        token = request.cookies.get(COOKIE)
        return await self.sign_in.session(token) if token else None

    async def signed_in(self, request: Request) -> SignedIn:
        """The session, or off to sign in (and back here after)."""
        session = await self.session(request)
        if session is None:
            raise SignInNeeded(request.url.path)
        return session

    async def sight(self, person: Person) -> Sight:
        admins = self.core.operations.acting.admins
        if person.is_viewer or admins.includes(person):
            return Sight(person, True, (), frozenset())
        owners = [person.id]
        async with self.store.read() as uow:
            if person.group:
                owners += await uow.people.member_ids(person.group)
            pending = await uow.approvals.pending(limit=2000)
        approving = frozenset(a.run_id for a in pending if is_approver(person, a))
        return Sight(person, False, tuple(dict.fromkeys(owners)), approving)

    async def sees_run(self, person: Person, run: Run) -> bool:
        """`sees`, for one run: reads only that run's pending approvals (a live page asks this
        every second; `sight` reads every pending approval)."""
        admins = self.core.operations.acting.admins
        if person.is_viewer or admins.includes(person):
            return True
        async with self.store.read() as uow:
            group = await uow.people.member_ids(person.group) if person.group else []
            if may_see(person, run, admins, frozenset(group)):
                return True
            pending = await uow.approvals.for_run(run.id, status=ApprovalStatus.PENDING)
        return any(is_approver(person, a) for a in pending)

    async def refuse_view(self, person: Person, run_id: str) -> None:
        await self.core.operations.acting.record_refusal(
            who=person.id,
            via=Via.WEB,
            action="view",
            run_id=run_id,
            reason=f"{person.name} may not see run {run_id}",
            person=person,
            refusal="NotAuthorized",
        )

    def render(
        self,
        request: Request,
        template: str,
        session: SignedIn | None,
        *,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        note = request.cookies.get(FLASH)
        flash = None
        if note:
            flash = {"error": note.startswith("!"), "text": unquote(note.lstrip("!"))}
        admins = self.core.operations.acting.admins
        response = templates.TemplateResponse(
            request,
            template,
            {
                "me": session.person if session else None,
                "csrf": session.csrf if session else "",
                "is_admin": bool(session and admins.includes(session.person)),
                "can_act": bool(session and not session.person.is_viewer),
                "flash": flash,
                "now": self.core.clock.now(),
                **context,
            },
            status_code=status_code,
        )
        response.headers.update(PAGE_HEADERS)
        if note:
            response.delete_cookie(FLASH, path="/")
        return response

    def now(self) -> datetime:
        return self.core.clock.now()
