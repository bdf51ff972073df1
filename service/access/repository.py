"""Every query on API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from service.storage.tables import AgentSession, ApiKey


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


def add_session(session: Session, row: AgentSession) -> None:
    session.add(row)


def live_session(session: Session, token_sha256: str, now: datetime) -> AgentSession | None:
    """The unexpired session with this token whose key (if any) is not revoked."""
    return session.scalars(
        select(AgentSession)
        .outerjoin(ApiKey, ApiKey.id == AgentSession.api_key_id)
        .where(
            AgentSession.token_sha256 == token_sha256,
            AgentSession.expires_at > now,
            or_(AgentSession.api_key_id.is_(None), ApiKey.revoked_at.is_(None)),
        )
    ).one_or_none()


def delete_session(session: Session, token_sha256: str) -> None:
    session.execute(delete(AgentSession).where(AgentSession.token_sha256 == token_sha256))


def delete_expired_sessions(session: Session, now: datetime) -> int:
    result = session.execute(delete(AgentSession).where(AgentSession.expires_at <= now))
    return int(result.rowcount)  # type: ignore[attr-defined]
