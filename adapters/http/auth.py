"""Bearer-token authentication of agents, as a FastAPI dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bot.ports import Agent
from bot.tokens import TokenAuthenticator

_bearer = HTTPBearer(auto_error=False, description="An agent token from `opslayer token create`.")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def current_agent(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Agent:
    """The agent whose token the request carries; 401 without a valid one."""
    if credentials is None:
        raise HTTPException(
            401, "missing bearer token: send 'Authorization: Bearer <token>'", _CHALLENGE
        )
    authenticator: TokenAuthenticator = request.app.state.authenticator
    agent = await authenticator.authenticate(credentials.credentials)
    if agent is None:
        raise HTTPException(
            401, "unknown or revoked token: mint one with 'opslayer token create'", _CHALLENGE
        )
    return agent


CurrentAgent = Annotated[Agent, Depends(current_agent)]
