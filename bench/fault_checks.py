"""The fault script's database side: a fresh database before the run, and every check after it.

The checks read the tables directly (SQLAlchemy Core on plain SQL), not through the service, so
that a bug in the service's own reads cannot hide a lost or doubled ticket.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from service.storage.tables import Base

QUEUE_STATUSES = ("open", "claimed", "resolved")
TicketKey = tuple[str, str]


def reset_database(url: str) -> None:
    """An empty database at ``url``: PostgreSQL's is created when missing, its tables dropped."""
    if url.startswith("sqlite"):
        path = make_url(url).database
        for suffix in ("", "-wal", "-shm", ".write.lock", ".migrate.lock"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    engine = create_engine(url)
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
        name = make_url(url).database
        admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=0, abs_tol=1e-9)


def check_database(
    url: str,
    acked: dict[TicketKey, dict[str, Any]],
    acked_scorings: Counter[TicketKey],
    sent_scorings: Counter[TicketKey],
    acked_keys: dict[str, list[TicketKey]],
) -> dict[str, Any]:
    """Every invariant the run must keep, each as a count of the rows that break it."""
    engine = create_engine(url)
    with engine.connect() as conn:
        duplicates = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT 1 FROM tickets GROUP BY source, external_id HAVING count(*) > 1) d"
            )
        ).scalar_one()
        tickets = {
            (r.source, r.external_id): r
            for r in conn.execute(
                text(
                    "SELECT t.id, t.source, t.external_id, t.route, t.priority, t.language, t.needs_human, "
                    "t.emotional, t.language_supported, t.times_scored, "
                    "(SELECT count(*) FROM score_events e WHERE e.ticket_id = t.id) AS events, "
                    "(SELECT count(*) FROM queue_items q WHERE q.ticket_id = t.id) AS items FROM tickets t"
                )
            )
        }
        items = list(
            conn.execute(
                text(
                    "SELECT q.status, q.priority, q.language, q.claimed_by, q.lease_expires_at, q.resolved_at, "
                    "t.id AS ticket, t.route, t.priority AS ticket_priority, t.language AS ticket_language "
                    "FROM queue_items q LEFT JOIN tickets t ON t.id = q.ticket_id"
                )
            )
        )
        orphan_events = conn.execute(
            text(
                "SELECT count(*) FROM score_events e LEFT JOIN tickets t ON t.id = e.ticket_id WHERE t.id IS NULL"
            )
        ).scalar_one()
        responses = {
            r.key: r.response_body
            for r in conn.execute(text("SELECT key, response_body FROM idempotency_keys"))
        }
    engine.dispose()

    missing = [k for k in acked if k not in tickets]
    wrong_scores = sum(
        1
        for k, answer in acked.items()
        if k in tickets
        and (
            tickets[k].route != answer["route"]
            or tickets[k].priority != answer["priority"]
            or not _same(tickets[k].needs_human, answer["needs_human"])
        )
    )
    unscored = sum(
        1 for r in tickets.values() if r.language_supported and (r.needs_human is None or r.emotional is None)
    )
    under = sum(1 for k, n in acked_scorings.items() if k in tickets and tickets[k].times_scored < n)
    over = sum(1 for k, r in tickets.items() if r.times_scored > sent_scorings.get(k, 0))
    more_than_acked = sum(1 for k, r in tickets.items() if r.times_scored > acked_scorings.get(k, 0))
    history = sum(1 for r in tickets.values() if r.events != r.times_scored)
    human_without_item = sum(1 for r in tickets.values() if r.route == "human" and r.items != 1)
    item_problems = Counter[str]()
    for q in items:
        if q.ticket is None:
            item_problems["queue_item_without_ticket"] += 1
        elif q.route != "human":
            item_problems["queue_item_of_automated_ticket"] += 1
        elif q.priority != q.ticket_priority or q.language != q.ticket_language:
            item_problems["queue_item_differs_from_ticket"] += 1
        if q.status not in QUEUE_STATUSES:
            item_problems["queue_item_bad_status"] += 1
        elif q.status == "open" and (q.claimed_by or q.lease_expires_at or q.resolved_at):
            item_problems["open_item_with_claim"] += 1
    key_problems = 0
    for key, named in acked_keys.items():
        stored = [v for k, v in responses.items() if k.endswith(f":{key}")]
        ids = _response_ids(stored[0]) if len(stored) == 1 else None
        key_problems += ids != [i for _, i in named]
    return {
        "stored": len(tickets),
        "queue_items": len(items),
        "stored_not_acknowledged": sum(1 for k in tickets if k not in acked),
        "scored_more_than_acknowledged": more_than_acked,
        "violations": {
            "duplicates": duplicates,
            "missing": len(missing),
            "stored_scores_differ_from_answer": wrong_scores,
            "scores_absent": unscored,
            "scored_fewer_times_than_acknowledged": under,
            "scored_more_times_than_sent": over,
            "history_differs_from_times_scored": history,
            "score_events_without_ticket": orphan_events,
            "human_ticket_without_one_queue_item": human_without_item,
            "key_response_missing_or_wrong": key_problems,
            **item_problems,
        },
    }


def _response_ids(body: str) -> list[str]:
    data = json.loads(body)
    return [r["id"] for r in data["results"]] if "results" in data else [data["id"]]
