"""The console's cookies: who is signed in, the CSRF check on every POST, and a flash note."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request, Response

from opslayer.bot.people.sign_in import SignedIn, csrf_matches

COOKIE = "opslayer_session"
FLASH = "opslayer_flash"


class SignInNeeded(Exception):
    """No live session: the browser is sent to the sign-in page (API clients get 401)."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(Exception):
    """A form without its session's CSRF token (forged, or from a session that ended)."""


def secure(request: Request) -> bool:
    """Cookies are Secure when the console is reached over HTTPS (directly or via a proxy
    that says so: uvicorn honours X-Forwarded-Proto from trusted proxies)."""
    return request.url.scheme == "https"


def set_session(response: Response, request: Request, session: SignedIn, max_age_s: int) -> None:
    response.set_cookie(
        COOKIE,
        session.token,
        max_age=max_age_s,
        httponly=True,
        samesite="lax",
        secure=secure(request),
        path="/",
    )


def clear_session(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=secure(request))


def flash(response: Response, request: Request, text: str, *, error: bool = False) -> None:
    """A one-time note for the next page (what an action did, or why it was refused)."""
    value = ("!" if error else "") + quote(text[:600])
    response.set_cookie(
        FLASH, value, max_age=60, httponly=True, samesite="lax", secure=secure(request), path="/"
    )


def require_csrf(session: SignedIn, offered: str | None) -> None:
    if not csrf_matches(session, offered):
        raise CsrfRefused()
