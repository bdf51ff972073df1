"""The service under uvicorn on a free loopback port, for the sync client (and the README's
examples) to talk to over real HTTP; a scored answer to hand out from mock transports."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from service.access import service as access
from service.config import Settings
from service.main import create_app

FLAGGED = "This is the third time I write. My mother passed away and you keep sending her bills."
ROUTINE = "Could you send me a copy of my invoice, please?"
SCORED: dict[str, Any] = {
    "id": "T-1",
    "route": "human",
    "needs_human": 0.9,
    "dimensions": {"emotional": 0.8, "complex": 0.2, "nuanced": 0.6},
    "priority": "urgent",
    "reasons": [{"rule": "bereavement", "text": "mother passed", "field": "text", "start": 35, "end": 48}],
    "rules": ["bereavement"],
    "language": "en",
    "language_supported": True,
    "model_version": "1",
    "threshold": 0.5,
    "policy_version": "p",
}


@dataclass
class LiveService:
    url: str
    app: FastAPI
    keys: dict[str, str]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serve(settings: Settings) -> Iterator[tuple[str, FastAPI]]:
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the service did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live_open(settings: Settings) -> Iterator[LiveService]:
    """The service in the open mode (as the quick start runs it), SQLite storage."""
    with _serve(settings) as (url, app):
        yield LiveService(url=url, app=app, keys={})


@pytest.fixture
def live_keys(settings: Settings) -> Iterator[LiveService]:
    """The service with keys required: one key per role, named after it ('helpdesk-1', ...)."""
    with _serve(settings.model_copy(update={"auth": "required"})) as (url, app):
        with app.state.store.sessions() as session:
            keys = {
                role: access.create_key(session=session, name=f"{role}-1", role=role)
                for role in ("helpdesk", "agent", "ops")
            }
        yield LiveService(url=url, app=app, keys=keys)
