"""Dependencies shared by the routers, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.errors import ModelNotReadyError
from service.scoring.engine import Scorer


async def get_scorer(request: Request) -> Scorer:
    # Read per request (not captured at start-up) so that a model swap takes effect at once.
    # async: a sync dependency would cost a thread-pool hop on every request.
    scorer: Scorer | None = getattr(request.app.state, "scorer", None)
    if scorer is None:
        raise ModelNotReadyError("the model is not loaded yet")
    return scorer


ScorerDep = Annotated[Scorer, Depends(get_scorer)]
