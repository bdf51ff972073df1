"""The engine, its SQLite settings, and migrations that run once even when several workers start.

SQLite gets WAL (readers never block the writer), ``synchronous=NORMAL`` (a commit survives a
process crash; WAL's documented trade-off is the last commits on power loss), a busy timeout so
that concurrent writers wait instead of failing, and foreign keys on.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 30_000
# Any 64-bit number, shared by every process that migrates the same PostgreSQL database.
PG_MIGRATION_LOCK = 7_351_220_261_127
# The newest migration's revision (a test holds it to the scripts). A worker whose database is
# already there starts without importing Alembic and Mako: 10 MB of a 250 MB budget per worker.
HEAD_REVISION = "0009"


def database_url(url: str | None, data_dir: Path) -> str:
    """The configured URL, else a SQLite file under the data folder (created if missing)."""
    if url:
        return url
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(data_dir / 'triage.db').resolve()}"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # A connection to a SQLite file is cheap: enough of them that threads never queue for one.
        engine = create_engine(
            url,
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            pool_size=20,
            max_overflow=20,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(conn: Any, _: Any) -> None:
            cursor = conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def aware(moment: datetime | None) -> datetime | None:
    """A stored time as UTC-aware: SQLite hands timezone-aware columns back naive (stored in UTC)."""
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextlib.contextmanager
def write_turn(engine: Engine) -> Iterator[None]:
    """Take turns writing across processes (SQLite only; PostgreSQL locks rows, not the database).

    SQLite lets one writer in at a time and makes the others poll with sleeps of up to 100 ms;
    with several workers that polling, not the writing, set the pace. A blocking file lock
    hands the turn over the moment it is free.
    """
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        yield
        return
    with Path(f"{path}.write.lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@contextlib.contextmanager
def _migration_lock(engine: Engine, url: str) -> Iterator[None]:
    """Workers starting together take turns: a file lock beside SQLite, an advisory lock on PostgreSQL."""
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        lock = Path(f"{path}.migrate.lock") if path and path != ":memory:" else None
        if lock is None:
            yield
            return
        with lock.open("w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": PG_MIGRATION_LOCK})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_MIGRATION_LOCK})
            conn.commit()


def at_head(engine: Engine) -> bool:
    """Whether the database records the newest migration, asked without Alembic."""
    try:
        with engine.connect() as conn:
            found = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except DBAPIError:  # a new database: no version table yet
        return False
    return found == [HEAD_REVISION]


def upgrade(engine: Engine, url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to call from every worker at start-up."""
    if revision == "head" and at_head(engine):
        return
    from alembic import command

    with _migration_lock(engine, url), engine.begin() as conn:
        config = alembic_config(url)
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
