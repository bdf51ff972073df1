"""Every query on API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.storage.tables import ApiKey


def by_hash(session: Session, key_sha256: str) -> ApiKey | None:
    return session.scalars(
        select(ApiKey).where(ApiKey.key_sha256 == key_sha256, ApiKey.revoked_at.is_(None))
    ).one_or_none()


def all_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def add(session: Session, key: ApiKey) -> None:
    session.add(key)


def revoke(session: Session, name: str, now: datetime) -> bool:
    result = session.execute(
        update(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None)).values(revoked_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
