"""Every query on tickets, score events and idempotency keys."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Protocol

from pydantic_core import to_json
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import PoolProxiedConnection

from service.storage.tables import IdempotencyRecord, ScoreEvent, TicketRecord

# The values of one scored ticket, in this order (``scored_at`` is the commit's, shared by its rows).
ROW_COLUMNS = (
    "source", "external_id", "text", "subject", "channel", "customer_id", "language", "language_supported",
    "route", "priority", "needs_human", "emotional", "complex", "nuanced", "threshold", "reasons", "rules",
    "model_version", "policy_version", "priority_rank", "top_dimension",
)  # fmt: skip
TICKET_COLUMNS = ROW_COLUMNS[:19]
SCORE_COLUMNS = (
    "route", "priority", "needs_human", "emotional", "complex", "nuanced", "rules", "model_version",
    "policy_version",
)  # fmt: skip
QUEUE_COLUMNS = ("priority", "priority_rank", "language", "top_dimension")
_UPDATE = (
    ", ".join(f"{c} = excluded.{c}" for c in (*TICKET_COLUMNS[2:], "scored_at"))
    + ", times_scored = tickets.times_scored + 1, text_purged_at = NULL"
)
_QUEUE_UPDATE = (
    "priority = excluded.priority, priority_rank = excluded.priority_rank, "
    "top_dimension = excluded.top_dimension, language = excluded.language "
    "WHERE queue_items.status <> 'resolved'"
)
_TICKET_ID = "(SELECT id FROM tickets WHERE source = {s} AND external_id = {e})"


class BulkWriter(Protocol):
    """One dialect's statements for a group commit, on the writer's own DBAPI connection.

    Plain DBAPI rather than SQLAlchemy Core: under load the writer thread shares the GIL with
    the request loop, and Core's per-row parameter processing was most of its time (py-spy).
    """

    def prepare(self, conn: PoolProxiedConnection) -> None:
        """Set up the writer's own connection, once, when it is opened."""

    def transaction(
        self, conn: PoolProxiedConnection, *, one_store: bool
    ) -> contextlib.AbstractContextManager[None]:
        """Commit what the block wrote; ``one_store``: the block is one ``store_scored`` and nothing else."""

    def recover(self, conn: PoolProxiedConnection) -> bool:
        """After a failed block: undo what is left of it; False when the connection is no longer usable."""

    def store_scored(self, cursor: Any, rows: list[tuple[Any, ...]], now: datetime) -> None: ...

    def find_keys(self, cursor: Any, keys: list[str]) -> dict[str, tuple[int, str, str]]: ...

    def add_keys(self, cursor: Any, records: list[tuple[str, str, int, str]], now: datetime) -> None: ...


def _chunks(rows: list[Any]) -> Iterator[list[Any]]:
    """Power-of-two slices (at most ``SQLITE_CHUNK``): few distinct statements for the statement cache."""
    i = 0
    while i < len(rows):
        size = min(SQLITE_CHUNK, 1 << ((len(rows) - i).bit_length() - 1))
        yield rows[i : i + size]
        i += size


SQLITE_CHUNK = 128  # 128 rows x 23 values stay far below SQLite's 32,766 variables


class SqliteWriter:
    """Multi-row ``INSERT ... VALUES``: one ``sqlite3_step`` per statement rather than one per row.

    The sqlite3 module releases the GIL around every step and must win it back from the busy
    request loop each time; per-row steps made a commit wait far longer than it worked.
    """

    # Per statement: the text before the rows, one row's placeholders, the text after the rows.
    # S608: the names are this module's constants; every value is a bound parameter.
    _PARTS = (
        (
            f"INSERT INTO tickets ({', '.join(TICKET_COLUMNS)}, scored_at, times_scored, first_seen_at) VALUES ",  # noqa: S608
            "(" + ", ".join("?" * (len(TICKET_COLUMNS) + 1)) + ", 1, ?)",
            f" ON CONFLICT (source, external_id) DO UPDATE SET {_UPDATE}",
        ),
        (
            f"INSERT INTO score_events (ticket_id, {', '.join(SCORE_COLUMNS)}, scored_at) VALUES ",  # noqa: S608
            "(" + _TICKET_ID.format(s="?", e="?") + ", " + ", ".join("?" * (len(SCORE_COLUMNS) + 1)) + ")",
            "",
        ),
        (
            "INSERT INTO queue_items (ticket_id, status, priority, priority_rank, language, top_dimension, "
            "created_at) VALUES ",
            "(" + _TICKET_ID.format(s="?", e="?") + ", 'open', ?, ?, ?, ?, ?)",
            f" ON CONFLICT (ticket_id) DO UPDATE SET {_QUEUE_UPDATE}",
        ),
        (
            "INSERT INTO idempotency_keys (key, request_sha256, status_code, response_body, created_at) VALUES ",
            "(?, ?, ?, ?, ?)",
            "",
        ),
    )

    def __init__(self, created_at: Callable[[datetime], Any]) -> None:
        self._sql: dict[tuple[int, int], str] = {}
        self._created_at = created_at

    def prepare(self, conn: PoolProxiedConnection) -> None:
        pass

    @contextlib.contextmanager
    def transaction(self, conn: PoolProxiedConnection, *, one_store: bool) -> Iterator[None]:
        # Even one store is several statements here (the tickets, then their history and items).
        yield
        conn.commit()

    def recover(self, conn: PoolProxiedConnection) -> bool:
        try:
            conn.rollback()
        except Exception:
            return False
        return True

    def _run(self, cursor: Any, which: int, rows: list[tuple[Any, ...]]) -> None:
        for chunk in _chunks(rows):
            key = (which, len(chunk))
            if key not in self._sql:
                head, one, tail = self._PARTS[which]
                self._sql[key] = head + ", ".join([one] * len(chunk)) + tail
            cursor.execute(self._sql[key], [v for row in chunk for v in row])

    def store_scored(self, cursor: Any, rows: list[tuple[Any, ...]], now: datetime) -> None:
        # What sqlite3's default datetime adapter stores (and so what these columns always held).
        at = now.isoformat(" ")
        tickets: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        items: list[tuple[Any, ...]] = []
        for r in rows:
            # reasons (15) and rules (16) are JSON columns.
            rules = to_json(r[16]).decode()
            tickets.append((*r[:15], to_json(r[15]).decode(), rules, r[17], r[18], at, at))
            events.append((r[0], r[1], r[8], r[9], r[10], r[11], r[12], r[13], rules, r[17], r[18], at))
            # A ticket routed to a person gets one queue item, however often it is scored again.
            if r[8] == "human":
                items.append((r[0], r[1], r[9], r[19], r[6], r[20], at))
        # Every upsert before the events and items that look their tickets up.
        self._run(cursor, 0, tickets)
        self._run(cursor, 1, events)
        self._run(cursor, 2, items)

    def find_keys(self, cursor: Any, keys: list[str]) -> dict[str, tuple[int, str, str]]:
        found: dict[str, tuple[int, str, str]] = {}
        for chunk in _chunks(keys):
            cursor.execute(
                "SELECT key, status_code, response_body, request_sha256 FROM idempotency_keys "  # noqa: S608
                f"WHERE key IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            found.update((k, (code, body, digest)) for k, code, body, digest in cursor.fetchall())
        return found

    def add_keys(self, cursor: Any, records: list[tuple[str, str, int, str]], now: datetime) -> None:
        at = self._created_at(now)
        self._run(cursor, 3, [(*rec, at) for rec in records])


def _recordset(columns: tuple[str, ...]) -> str:
    types = {"language_supported": "boolean", "priority_rank": "integer", "reasons": "json", "rules": "json"}
    floats = ("needs_human", "emotional", "complex", "nuanced", "threshold")
    spec = ", ".join(f"{c} {types.get(c, 'float8' if c in floats else 'text')}" for c in columns)
    return f"json_to_recordset(%(rows)s::json) AS r({spec})"


class PostgresWriter:
    """One statement for a whole group: every row as one JSON parameter (``json_to_recordset``),
    parsed once, and the tickets' upsert hands its ids to the history and queue inserts through
    ``RETURNING`` rather than each row looking its ticket up again.

    psycopg's ``executemany`` (pipelined) still adapted every value in Python and made the server
    run one statement per row; JSON floats round-trip exactly (Python writes the shortest repr,
    PostgreSQL reads it correctly rounded). ``ORDER BY`` keeps one row order for every worker,
    so overlapping upserts cannot deadlock.
    """

    def prepare(self, conn: PoolProxiedConnection) -> None:
        # The writer's connection lives as long as its thread: out of the pool, so that autocommit
        # never reaches another user of a pooled connection.
        conn.detach()
        conn.dbapi_connection.autocommit = True  # type: ignore[union-attr]

    @contextlib.contextmanager
    def transaction(self, conn: PoolProxiedConnection, *, one_store: bool) -> Iterator[None]:
        """One store is one statement, atomic on its own: sent alone in autocommit, it costs one round
        trip instead of three (BEGIN, the statement, COMMIT). Under load each round trip is one more
        wait for a core and for the GIL on the writer's side (commits took 5 to 10 ms against 0.6 to
        2 ms on a quiet machine); the gain measured was within our shared VM's noise."""
        if one_store:
            yield
            return
        with conn.dbapi_connection.transaction():  # type: ignore[union-attr]
            yield

    def recover(self, conn: PoolProxiedConnection) -> bool:
        # psycopg has rolled the transaction back (autocommit: a failed statement leaves nothing).
        return not conn.dbapi_connection.closed  # type: ignore[union-attr]

    _ORDER = 'ORDER BY r.source COLLATE "C", r.external_id COLLATE "C"'
    _STORE = (
        # S608: the names are this module's constants; every value is a bound parameter.
        f"WITH r AS MATERIALIZED (SELECT * FROM {_recordset(ROW_COLUMNS)}), "  # noqa: S608
        f"t AS (INSERT INTO tickets ({', '.join(TICKET_COLUMNS)}, scored_at, times_scored, first_seen_at) "
        f"SELECT {', '.join('r.' + c for c in TICKET_COLUMNS)}, %(now)s, 1, %(now)s FROM r {_ORDER} "
        f"ON CONFLICT (source, external_id) DO UPDATE SET {_UPDATE} RETURNING id, source, external_id), "
        f"e AS (INSERT INTO score_events (ticket_id, {', '.join(SCORE_COLUMNS)}, scored_at) "
        f"SELECT t.id, {', '.join('r.' + c for c in SCORE_COLUMNS)}, %(now)s "
        "FROM r JOIN t USING (source, external_id)) "
        "INSERT INTO queue_items (ticket_id, status, priority, priority_rank, language, top_dimension, "
        f"created_at) SELECT t.id, 'open', {', '.join('r.' + c for c in QUEUE_COLUMNS)}, %(now)s "
        f"FROM r JOIN t USING (source, external_id) WHERE r.route = 'human' {_ORDER} "
        f"ON CONFLICT (ticket_id) DO UPDATE SET {_QUEUE_UPDATE}"
    )

    def store_scored(self, cursor: Any, rows: list[tuple[Any, ...]], now: datetime) -> None:
        # pydantic's serializer: a third of json.dumps's time, in the writer thread that shares the
        # GIL with the request loop; floats are written as their shortest round-trip form alike.
        group = to_json([dict(zip(ROW_COLUMNS, r, strict=True)) for r in rows]).decode()
        params = {"rows": group, "now": now}
        cursor.execute(self._STORE, params)

    def find_keys(self, cursor: Any, keys: list[str]) -> dict[str, tuple[int, str, str]]:
        cursor.execute(
            "SELECT key, status_code, response_body, request_sha256 FROM idempotency_keys WHERE key = ANY(%s)",
            (keys,),
        )
        return {k: (code, body, digest) for k, code, body, digest in cursor.fetchall()}

    def add_keys(self, cursor: Any, records: list[tuple[str, str, int, str]], now: datetime) -> None:
        cursor.executemany(
            "INSERT INTO idempotency_keys (key, request_sha256, status_code, response_body, created_at) "
            "VALUES (%s, %s, %s, %s, %s)",
            [(*rec, now) for rec in records],
        )


def bulk_writer(engine: Engine) -> BulkWriter:
    if engine.dialect.name == "sqlite":
        # Stored as SQLAlchemy's DateTime stores it, as the ORM wrote these rows before.
        created_at = IdempotencyRecord.__table__.c.created_at.type
        process = created_at.dialect_impl(engine.dialect).bind_processor(engine.dialect)
        return SqliteWriter(process or (lambda at: at))
    if engine.dialect.name == "postgresql":
        return PostgresWriter()
    raise ValueError(f"no bulk writer for {engine.dialect.name}")


def get_ticket(session: Session, *, source: str, external_id: str) -> TicketRecord | None:
    return session.scalars(
        select(TicketRecord).where(TicketRecord.source == source, TicketRecord.external_id == external_id)
    ).one_or_none()


def score_history(session: Session, ticket_id: int) -> list[ScoreEvent]:
    return list(
        session.scalars(select(ScoreEvent).where(ScoreEvent.ticket_id == ticket_id).order_by(ScoreEvent.id))
    )


def get_idempotency(session: Session, key: str) -> IdempotencyRecord | None:
    return session.get(IdempotencyRecord, key)
