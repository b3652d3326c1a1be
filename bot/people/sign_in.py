"""Signing in to the console without passwords: one-time links, browser sessions and CSRF.

A link (`opslayer login-link`, `/agent login`, or the set-up link `opslayer serve` prints while
nobody is an admin) is 256 random bits, stored only as a hash, and good once until it expires.
Redeeming it opens a session: a cookie (also stored as a hash) and the CSRF token every form of
that session carries."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from opslayer.bot.audit import AuditEvent, Via, actor_of
from opslayer.bot.errors import NotAuthorized, ValidationFailed
from opslayer.bot.ids import new_id
from opslayer.bot.people.model import Identity, Person
from opslayer.bot.people.rights import Admins
from opslayer.bot.people.tokens import hash_token
from opslayer.bot.people.validation import check_email
from opslayer.bot.ports import Clock, SignInLink, Store, UnitOfWork, WebSession

LINK_TTL = timedelta(minutes=15)
SETUP_TTL = timedelta(hours=24)
SESSION_TTL = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A session: its cookie value (shown to the browser once), CSRF token and person."""

    token: str
    csrf: str
    person: Person


class SignIn:
    """Links, sessions and the first admin's set-up."""

    def __init__(
        self, store: Store, clock: Clock, *, admins: Admins, session_ttl: timedelta = SESSION_TTL
    ) -> None:
        self._store = store
        self._clock = clock
        self._admins = admins
        self._session_ttl = session_ttl

    async def link(self, person: Person, *, ttl: timedelta = LINK_TTL, via: Via) -> str:
        """A one-time sign-in link token for a known person."""
        if person.removed:
            raise NotAuthorized(actor=person.name, action="sign in", target="the console")
        token = secrets.token_urlsafe(32)
        now = self._clock.now()

        async def job(uow: UnitOfWork) -> None:
            await uow.sessions.add_link(
                SignInLink(hash_token(token), person.id, "login", now, now + ttl)
            )
            event = AuditEvent(
                "console.link_issued", now, actor_of(person, via), detail={"ttl_s": ttl.seconds}
            )
            await uow.audit.add(event)

        await self._store.run(job)
        return token

    async def needs_setup(self) -> bool:
        """True while nobody may administer opslayer: no OPSLAYER_ADMINS, no admin person."""
        if self._admins.configured:
            return False
        async with self._store.read() as uow:
            return not any(p.role == "admin" and not p.removed for p in await uow.people.everyone())

    async def setup_link(self, *, ttl: timedelta = SETUP_TTL) -> str | None:
        """A one-time link that makes its redeemer the first admin; None once there is one."""
        if not await self.needs_setup():
            return None
        token = secrets.token_urlsafe(32)
        now = self._clock.now()

        async def job(uow: UnitOfWork) -> None:
            await uow.sessions.add_link(
                SignInLink(hash_token(token), None, "setup", now, now + ttl)
            )

        await self._store.run(job)
        return token

    async def peek(self, token: str) -> SignInLink | None:
        """The live link behind a token (to show whom it signs in), without using it."""
        async with self._store.read() as uow:
            link = await uow.sessions.link(hash_token(token))
        now = self._clock.now()
        if link is None or link.used_at is not None or link.expires_at <= now:
            return None
        return link

    async def redeem(self, token: str) -> SignedIn:
        """Use a sign-in link (once) and open a session for its person."""
        now = self._clock.now()

        async def job(uow: UnitOfWork) -> SignedIn:
            link = await uow.sessions.take_link(hash_token(token), now=now)
            if link is None or link.person_id is None:
                raise ValidationFailed(_SPENT)
            person = await uow.people.get(link.person_id)
            if person is None or person.removed:
                raise ValidationFailed(_SPENT)
            return await _open(uow, person, now, self._session_ttl, "console.signed_in")

        return await self._store.run(job)

    async def set_up(self, token: str, *, name: str, email: str) -> SignedIn:
        """Use the set-up link: the person (made, or found by email) becomes an admin."""
        now = self._clock.now()
        address = email.strip().lower()
        check_email(address)
        name = name.strip() or address

        async def job(uow: UnitOfWork) -> SignedIn:
            link = await uow.sessions.take_link(hash_token(token), now=now)
            if link is None or link.purpose != "setup":
                raise ValidationFailed(_SPENT)
            person = await uow.people.find(Identity(email=address))
            if person is None:
                person = Person(id=new_id("per"), name=name, email=address, role="admin")
                await uow.people.add(person)
            else:
                await uow.people.set_role(person.id, "admin")
                person = replace(person, role="admin")
            return await _open(uow, person, now, self._session_ttl, "console.first_admin")

        return await self._store.run(job)

    async def session(self, token: str) -> SignedIn | None:
        """The live session behind a cookie, with its person as they are now."""
        now = self._clock.now()
        async with self._store.read() as uow:
            found = await uow.sessions.session(hash_token(token))
            if found is None or found.ended_at is not None or found.expires_at <= now:
                return None
            person = await uow.people.get(found.person_id)
        if person is None or person.removed:
            return None
        return SignedIn(token=token, csrf=found.csrf, person=person)

    async def sign_out(self, token: str) -> None:
        now = self._clock.now()

        async def job(uow: UnitOfWork) -> None:
            await uow.sessions.end(hash_token(token), at=now)

        await self._store.run(job)


def csrf_matches(session: SignedIn, offered: str | None) -> bool:
    """A form's CSRF token is its session's, compared in constant time."""
    return offered is not None and hmac.compare_digest(session.csrf, offered)


_SPENT = (
    "this sign-in link was used already, has expired or never existed: ask for a new one "
    "(`opslayer login-link --as EMAIL`, or `/agent login` in Slack)"
)


async def _open(
    uow: UnitOfWork, person: Person, now: datetime, ttl: timedelta, action: str
) -> SignedIn:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    await uow.sessions.add_session(WebSession(hash_token(token), person.id, csrf, now, now + ttl))
    await uow.audit.add(AuditEvent(action, now, actor_of(person, Via.WEB)))
    return SignedIn(token=token, csrf=csrf, person=person)
