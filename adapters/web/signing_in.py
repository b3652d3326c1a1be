"""Signing in and out: one-time links (the GET shows whom they sign in; the POST uses them, so a
chat app's link preview cannot spend one), the first admin's set-up, and sign-out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from opslayer.adapters.web.console import Console
from opslayer.adapters.web.session import (
    COOKIE,
    clear_session,
    require_csrf,
    set_session,
)
from opslayer.bot.errors import OpsError
from opslayer.bot.people.sign_in import SignedIn

router = APIRouter(include_in_schema=False)


def _back_to(next_path: str | None) -> str:
    """Only a path on this site: a link that sends people elsewhere after sign-in is a trap.
    Browsers read a backslash as a slash and drop tabs and newlines, so `/\\evil.example` and
    `/%09/evil.example` lead offsite too: neither, nor any control character, is let through."""
    if (
        next_path
        and next_path.startswith("/")
        and not next_path.startswith("//")
        and "\\" not in next_path
        and not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in next_path)
    ):
        return next_path
    return "/"


def _signed_in(
    request: Request, console: Console, session: SignedIn, next_path: str | None
) -> Response:
    response = RedirectResponse(_back_to(next_path), status_code=303)
    set_session(response, request, session, int(console.settings.session_hours * 3600))
    return response


@router.get("/login")
async def login_help(request: Request, next: str | None = None) -> Response:
    console: Console = request.app.state.console
    return console.render(
        request, "login.html", await console.session(request), next=_back_to(next)
    )


@router.get("/login/{token}")
async def login_page(request: Request, token: str, next: str | None = None) -> Response:
    console: Console = request.app.state.console
    link = await console.sign_in.peek(token)
    if link is None or link.person_id is None:
        return console.render(request, "login.html", None, spent=True, status_code=410, next="/")
    async with console.store.read() as uow:
        person = await uow.people.get(link.person_id)
    return console.render(
        request, "login_link.html", None, who=person, token=token, next=_back_to(next)
    )


@router.post("/login/{token}")
async def login(
    request: Request, token: str, next: Annotated[str | None, Form()] = None
) -> Response:
    console: Console = request.app.state.console
    try:
        session = await console.sign_in.redeem(token)
    except OpsError:
        return console.render(request, "login.html", None, spent=True, status_code=410, next="/")
    return _signed_in(request, console, session, next)


@router.get("/setup/{token}")
async def setup_page(request: Request, token: str) -> Response:
    console: Console = request.app.state.console
    link = await console.sign_in.peek(token)
    if link is None or link.purpose != "setup":
        return console.render(request, "login.html", None, spent=True, status_code=410, next="/")
    return console.render(request, "setup.html", None, token=token)


@router.post("/setup/{token}")
async def setup(
    request: Request,
    token: str,
    name: Annotated[str, Form(max_length=200)],
    email: Annotated[str, Form(max_length=320)],
) -> Response:
    console: Console = request.app.state.console
    link = await console.sign_in.peek(token)
    if link is None or link.purpose != "setup":
        return console.render(request, "login.html", None, spent=True, status_code=410, next="/")
    try:
        session = await console.sign_in.set_up(token, name=name, email=email)
    except OpsError as refusal:
        return console.render(
            request, "setup.html", None, token=token, error=refusal.message, status_code=400
        )
    return _signed_in(request, console, session, "/")


@router.post("/logout")
async def logout(request: Request, csrf: Annotated[str | None, Form()] = None) -> Response:
    console: Console = request.app.state.console
    session = await console.signed_in(request)
    require_csrf(session, csrf)
    await console.sign_in.sign_out(request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    clear_session(response, request)
    return response
