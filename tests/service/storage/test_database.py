"""Migrations run once when several processes (workers, replicas) start on the same empty database."""

from __future__ import annotations

import threading

from alembic.script import ScriptDirectory
from sqlalchemy import text

from service.storage.database import alembic_config, make_engine, upgrade


def test_upgrades_started_together_take_turns(database_url: str) -> None:
    """Without the lock (a file lock on SQLite, an advisory lock on PostgreSQL) both would create
    the same tables and one would fail."""
    starters = 4
    barrier = threading.Barrier(starters)
    errors: list[BaseException] = []

    def start() -> None:
        engine = make_engine(database_url)
        try:
            barrier.wait()
            upgrade(engine, database_url)
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=start) for _ in range(starters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    engine = make_engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head]
    engine.dispose()
