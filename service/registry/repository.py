"""Every query on registered model versions and their events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from service.storage.tables import ModelEvent, ModelVersion


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
