"""The writer thread's own connection: one statement when it can, a transaction when it must,
a new connection after a lost one, and nothing of its set-up left for other users of the pool."""

from __future__ import annotations

from typing import cast

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from service.scoring.schemas import TicketAnswer
from service.storage.tables import ScoreEvent, TicketRecord
from service.tickets.service import TicketStore
from tests.service.conftest import scored


def _count(sessions: sessionmaker[Session], table: type[TicketRecord] | type[ScoreEvent]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_a_lost_connection_fails_one_commit_and_the_next_reconnects(
    db_sessions: sessionmaker[Session],
) -> None:
    store = TicketStore(db_sessions)
    store.start()
    try:
        assert store.submit([scored("C-1")], body="{}").result(timeout=30) is None
        with db_sessions() as session:
            if session.bind.dialect.name != "postgresql":  # type: ignore[union-attr]
                pytest.skip("a server can end a PostgreSQL connection; SQLite has none to lose")
            ended = session.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        assert ended
        # The first commit after the loss may fail (its request gets an error, nothing half-written);
        # the one after it must not.
        lost = store.submit([scored("C-2")], body="{}").exception(timeout=30)
        assert store.submit([scored("C-3")], body="{}").result(timeout=30) is None
        with db_sessions() as session:
            ids = set(session.scalars(select(TicketRecord.external_id)))
        assert "C-3" in ids
        assert ("C-2" in ids) == (lost is None)
    finally:
        store.stop()


def test_a_ticket_twice_in_one_group_is_stored_all_or_nothing(db_sessions: sessionmaker[Session]) -> None:
    """Two rounds for one ticket need a transaction: the second round fails, so the first is undone."""
    store = TicketStore(db_sessions)
    good = scored("A-1")
    bad_ticket, bad_result = scored("A-1", "second")
    # A row the database refuses (no route: NOT NULL), in the second round of the same group.
    bad_result = cast(TicketAnswer, {**bad_result, "route": None})
    future = store.submit([good, (bad_ticket, bad_result)], body="{}")
    store.start()
    try:
        assert future.exception(timeout=30) is not None
        assert _count(db_sessions, TicketRecord) == 0
        assert _count(db_sessions, ScoreEvent) == 0
        assert store.submit([scored("A-2")], body="{}").result(timeout=30) is None
    finally:
        store.stop()


def test_pooled_connections_still_run_transactions_after_the_writer(
    db_sessions: sessionmaker[Session],
) -> None:
    store = TicketStore(db_sessions)
    store.start()
    assert store.submit([scored("P-1")], body="{}").result(timeout=30) is None
    store.stop()
    for _ in range(3):  # whichever pooled connection comes back, a rollback undoes its write
        with db_sessions() as session:
            session.execute(text("DELETE FROM score_events"))
            session.rollback()
    assert _count(db_sessions, ScoreEvent) == 1
