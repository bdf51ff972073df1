"""Dependencies shared by the routers, as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from service.access.service import OPEN, KeyChecker, Principal, Role
from service.errors import ForbiddenError, ModelNotReadyError, StorageDisabledError, UnauthorizedError
from service.scoring.engine import Scorer
from service.tickets.service import TicketStore


async def get_scorer(request: Request) -> Scorer:
    # Read per request (not captured at start-up) so that a model swap takes effect at once.
    # async: a sync dependency would cost a thread-pool hop on every request.
    scorer: Scorer | None = getattr(request.app.state, "scorer", None)
    if scorer is None:
        raise ModelNotReadyError("the model is not loaded yet")
    return scorer


ScorerDep = Annotated[Scorer, Depends(get_scorer)]


async def get_store(request: Request) -> TicketStore | None:
    """The writer of scored tickets; None when storage is off (``TRIAGE_STORAGE=false``)."""
    store: TicketStore | None = getattr(request.app.state, "store", None)
    return store


def get_session(request: Request) -> Iterator[Session]:
    store: TicketStore | None = getattr(request.app.state, "store", None)
    if store is None:
        raise StorageDisabledError("storage is off (TRIAGE_STORAGE=false): tickets are not kept")
    with store.sessions() as session:
        yield session


StoreDep = Annotated[TicketStore | None, Depends(get_store)]
SessionDep = Annotated[Session, Depends(get_session)]


_bearer = HTTPBearer(
    auto_error=False, description="An API key: `triage keys create --role ROLE --name NAME`."
)


async def get_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller. In the open mode (``TRIAGE_AUTH=open``) everyone is the local operator."""
    checker: KeyChecker | None = getattr(request.app.state, "keys", None)
    if checker is None:
        return OPEN
    if credentials is None:
        raise UnauthorizedError("send an API key: Authorization: Bearer KEY")
    hit, principal = checker.cached(credentials.credentials)
    if not hit:
        principal = await run_in_threadpool(checker.check, credentials.credentials)
    if principal is None:
        raise UnauthorizedError("unknown or revoked API key")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(*roles: Role) -> Any:
    """A dependency that lets ``roles`` (and ops) through and answers 403 to the others."""

    async def check(principal: PrincipalDep) -> Principal:
        if not principal.may(roles):
            raise ForbiddenError(f"this needs the {' or '.join(roles)} role; the key has {principal.role}")
        return principal

    return Depends(check)
