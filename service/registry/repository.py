"""Every query on registered model versions and their events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, undefer

from service.storage.tables import Feedback, ModelEvent, ModelVersion, ScoreEvent, ShadowScore, TicketRecord


def add(session: Session, row: ModelVersion) -> None:
    session.add(row)


def get(session: Session, name: str, version: str, *, with_files: bool = False) -> ModelVersion | None:
    query = select(ModelVersion).where(ModelVersion.name == name, ModelVersion.version == version)
    if with_files:
        query = query.options(
            undefer(ModelVersion.model_file), undefer(ModelVersion.metadata_json), undefer(ModelVersion.card)
        )
    return session.scalars(query).one_or_none()


def by_id(session: Session, version_id: int, *, with_files: bool = False) -> ModelVersion | None:
    query = select(ModelVersion).where(ModelVersion.id == version_id)
    if with_files:
        query = query.options(
            undefer(ModelVersion.model_file), undefer(ModelVersion.metadata_json), undefer(ModelVersion.card)
        )
    return session.scalars(query).one_or_none()


def list_versions(session: Session, name: str | None = None) -> list[ModelVersion]:
    query = select(ModelVersion).order_by(ModelVersion.name, ModelVersion.registered_at, ModelVersion.id)
    if name is not None:
        query = query.where(ModelVersion.name == name)
    return list(session.scalars(query))


def champion(session: Session, name: str, *, lock: bool = False) -> ModelVersion | None:
    query = select(ModelVersion).where(ModelVersion.name == name, ModelVersion.status == "champion")
    if lock:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def add_event(session: Session, **values: Any) -> None:
    session.add(ModelEvent(**values))


def events(session: Session, version_id: int) -> list[ModelEvent]:
    return list(
        session.scalars(
            select(ModelEvent).where(ModelEvent.model_version_id == version_id).order_by(ModelEvent.id)
        )
    )


def champions_in_order(session: Session, name: str) -> list[int]:
    """The ids of the versions of ``name`` that became champion, most recent first."""
    rows = session.execute(
        select(ModelEvent.model_version_id)
        .join(ModelVersion, ModelVersion.id == ModelEvent.model_version_id)
        .where(ModelVersion.name == name, ModelEvent.action.in_(("promote", "rollback", "first_start")))
        .order_by(ModelEvent.id.desc())
    )
    return [int(r[0]) for r in rows]


def shadow(session: Session, name: str) -> ModelVersion | None:
    return session.scalars(
        select(ModelVersion).where(ModelVersion.name == name, ModelVersion.status == "shadow")
    ).one_or_none()


def add_shadow_scores(session: Session, rows: list[dict[str, Any]]) -> None:
    session.execute(insert(ShadowScore), rows)


def scores_of(session: Session, version: str) -> dict[tuple[str, str], tuple[str, float | None]]:
    """Each ticket's last (route, needs_human) from ``version``, as champion or as shadow."""
    out: dict[tuple[str, str], tuple[str, float | None]] = {}
    served = session.execute(
        select(TicketRecord.source, TicketRecord.external_id, ScoreEvent.route, ScoreEvent.needs_human)
        .join(TicketRecord, TicketRecord.id == ScoreEvent.ticket_id)
        .where(ScoreEvent.model_version == version)
        .order_by(ScoreEvent.id)
    )
    for source, external_id, route, p in served:
        out[(source, external_id)] = (route, p)
    shadowed = session.execute(
        select(ShadowScore.source, ShadowScore.external_id, ShadowScore.route, ShadowScore.needs_human)
        .where(ShadowScore.model_version == version)
        .order_by(ShadowScore.id)
    )
    for source, external_id, route, p in shadowed:
        out[(source, external_id)] = (route, p)
    return out


def feedback_truth(session: Session) -> dict[tuple[str, str], int]:
    """Whether each ticket with feedback needed a person, by the latest verdict."""
    rows = session.execute(
        select(TicketRecord.source, TicketRecord.external_id, Feedback.kind, Feedback.flag_correct)
        .join(TicketRecord, TicketRecord.id == Feedback.ticket_id)
        .order_by(Feedback.id)
    )
    # An agent's verdict is on a ticket routed to a person: the flag was right iff it needed one.
    return {(s, e): 1 if kind == "missed" else int(bool(flag)) for s, e, kind, flag in rows}
