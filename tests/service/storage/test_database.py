"""Migrations run once when several processes (workers, replicas) start on the same empty database."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import text

from service.storage.database import HEAD_REVISION, alembic_config, at_head, make_engine, upgrade

REPO = Path(__file__).resolve().parents[3]


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


def test_the_head_revision_constant_is_the_newest_migration() -> None:
    """A new migration must move ``HEAD_REVISION`` too, or workers would skip it at start-up."""
    assert ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() == HEAD_REVISION


def test_at_head_only_once_the_newest_migration_is_recorded(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert not at_head(engine)  # no version table yet
        upgrade(engine, database_url, "0008")
        assert not at_head(engine)
        upgrade(engine, database_url)
        assert at_head(engine)
    finally:
        engine.dispose()


# A fresh interpreter: this test process has imported Alembic already.
STARTER = """
import sys
from service.storage.database import make_engine, upgrade
engine = make_engine(sys.argv[1])
upgrade(engine, sys.argv[1])
print("alembic" in sys.modules)
"""


def test_a_start_on_a_migrated_database_does_not_import_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/t.db"
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def start() -> str:
        done = subprocess.run(
            [sys.executable, "-c", STARTER, url],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return done.stdout.strip()

    assert start() == "True"  # the first start migrates
    assert start() == "False"
