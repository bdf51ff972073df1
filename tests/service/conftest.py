"""Databases for the storage tests (SQLite always, PostgreSQL where a server answers), and a
client and sessions on them.

The PostgreSQL URL comes from ``TRIAGE_TEST_POSTGRES_URL`` (default: the CI machines' server at
127.0.0.1:5432, user postgres, database test). Where none answers the PostgreSQL cases are skipped
with the reason printed, never silently.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.main import create_app
from service.scoring.schemas import TicketAnswer, TicketScoreRequest
from service.storage.database import make_engine, session_factory, upgrade
from service.storage.tables import Base


def scored(ticket_id: str, text: str = "hello") -> tuple[TicketScoreRequest, TicketAnswer]:
    """A ticket and a plain answer for it, as the writer thread receives them."""
    ticket = TicketScoreRequest(id=ticket_id, text=text)
    answer: TicketAnswer = {
        "id": ticket_id, "route": "automation", "needs_human": 0.1, "dimensions": None, "priority": "low",
        "reasons": [], "rules": [], "language": "en", "language_supported": True, "model_version": "m",
        "threshold": 0.5, "policy_version": "p",
    }  # fmt: skip
    return ticket, answer


POSTGRES_URL = os.environ.get("TRIAGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


def _postgres_reason(url: str) -> str | None:
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
    except OperationalError as exc:
        return f"PostgreSQL not reachable at {url.split('@')[-1]}: {str(exc).splitlines()[0]}"
    return None


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'triage.db'}"
        return
    reason = _postgres_reason(POSTGRES_URL)
    if reason is not None:
        pytest.skip(reason)
    _reset_postgres(POSTGRES_URL)
    yield POSTGRES_URL
    _reset_postgres(POSTGRES_URL)


@pytest.fixture
async def stored_client(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app (open mode) storing into ``database_url``."""
    app = create_app(settings.model_copy(update={"database_url": database_url}))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as c,
    ):
        yield c


@pytest.fixture
def db_sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on the migrated ``database_url``, for reading what the app stored."""
    engine = make_engine(database_url)
    upgrade(engine, database_url)
    yield session_factory(engine)
    engine.dispose()
