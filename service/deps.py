"""Dependencies shared by the routers, as ``Annotated`` aliases."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from service.access.rate_limits import RateLimits
from service.access.service import OPEN, KeyChecker, Principal, Role
from service.errors import (
    ForbiddenError,
    ModelNotReadyError,
    RateLimitedError,
    StorageDisabledError,
    UnauthorizedError,
)
from service.registry.shadow import ShadowRecorder
from service.scoring.engine import Scorer
from service.tickets.service import TicketStore


async def get_scorer(request: Request) -> Scorer:
    # Read per request (not captured at start-up) so that a model swap takes effect at once.
    # async: a sync dependency would cost a thread-pool hop on every request.
    state = request.app.state
    # A promoted champion, loaded in full beforehand, takes over with the first request at or
    # after its moment: every worker switches then, to the request.
    staged = getattr(state, "next_scorer", None)
    if staged is not None and time.time() >= staged[1]:
        state.scorer, state.next_scorer = staged[0], None
    scorer: Scorer | None = getattr(state, "scorer", None)
    if scorer is None:
        raise ModelNotReadyError("the model is not loaded yet")
    return scorer


def get_session(request: Request) -> Iterator[Session]:
    store: TicketStore | None = getattr(request.app.state, "store", None)
    if store is None:
        raise StorageDisabledError("storage is off (TRIAGE_STORAGE=false): tickets are not kept")
    with store.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def _principal(request: Request) -> Principal:
    checker: KeyChecker | None = getattr(request.app.state, "keys", None)
    if checker is None:
        return OPEN
    scheme, _, key = (request.headers.get("authorization") or "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise UnauthorizedError("send an API key: Authorization: Bearer KEY")
    hit, principal = checker.cached(key)
    if not hit:
        principal = await run_in_threadpool(checker.check, key)
    if principal is None:
        raise UnauthorizedError("unknown or revoked API key")
    limits: RateLimits | None = getattr(request.app.state, "rate_limits", None)
    if limits is not None and (wait := await limits.over_limit(principal)) is not None:
        raise RateLimitedError(f"this key is over its rate limit; retry in {wait} s", retry_after=wait)
    return principal


async def get_principal(request: Request) -> Principal:
    """The caller. In the open mode (``TRIAGE_AUTH=open``) everyone is the local operator."""
    return await _principal(request)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(*roles: Role) -> Any:
    """A dependency that lets ``roles`` (and ops) through and answers 403 to the others."""

    async def check(principal: PrincipalDep) -> Principal:
        if not principal.may(roles):
            raise ForbiddenError(f"this needs the {' or '.join(roles)} role; the key has {principal.role}")
        return principal

    return Depends(check)


@dataclass(frozen=True)
class ScoringContext:
    scorer: Scorer
    store: TicketStore | None
    principal: Principal
    shadow: ShadowRecorder | None


async def get_scoring_context(request: Request) -> ScoringContext:
    """Everything the scoring routes need, as one dependency.

    The scoring path is the hot one: each FastAPI dependency costs microseconds per request,
    and five of them (scorer, store, key, role, bearer scheme) cut the scoring rate by a fifth.
    """
    principal = await _principal(request)
    if not principal.may(("helpdesk",)):
        raise ForbiddenError(f"this needs the helpdesk role; the key has {principal.role}")
    state = request.app.state
    return ScoringContext(
        scorer=await get_scorer(request),
        store=getattr(state, "store", None),
        principal=principal,
        shadow=getattr(state, "shadow", None),
    )


ScoringDep = Annotated[ScoringContext, Depends(get_scoring_context)]
