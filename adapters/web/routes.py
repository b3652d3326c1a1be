"""The console on the app: its routers, its static files, and what a missing session or a bad
CSRF token turns into."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from opslayer.adapters.web import actions, pages, signing_in
from opslayer.adapters.web.console import HERE, Console
from opslayer.adapters.web.session import CsrfRefused, SignInNeeded
from opslayer.bot.audit import Via


def install_console(app: FastAPI) -> None:
    app.include_router(signing_in.router)
    app.include_router(pages.router)
    app.include_router(actions.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(SignInNeeded)
    async def sign_in_first(request: Request, exc: SignInNeeded) -> Response:
        if request.method != "GET":
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        return RedirectResponse(f"/login?next={quote(exc.next_path)}", status_code=303)

    @app.exception_handler(CsrfRefused)
    async def forged(request: Request, exc: CsrfRefused) -> Response:
        console: Console = request.app.state.console
        session = await console.session(request)
        if session is not None:
            await console.core.operations.acting.record_refusal(
                who=session.person.id,
                via=Via.WEB,
                action=f"POST {request.url.path}",
                run_id=request.path_params.get("run_id"),
                reason="the form's CSRF token is not this session's",
                person=session.person,
                refusal="CsrfRefused",
            )
        return console.render(
            request,
            "message.html",
            session,
            status_code=403,
            title="Refused",
            text="This form did not come from your open console page (its CSRF token does not"
            " match your session). Reload the page and try again.",
        )
