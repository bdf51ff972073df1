"""Dependencies shared by the routers, as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from service.errors import ModelNotReadyError, StorageDisabledError
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
