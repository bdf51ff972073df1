"""Sessions of the agents' page: sign in with a key once, then a cookie.

The cookie holds 256 random bits; the database holds only their SHA-256, the agent, the role
and a CSRF token that every change must echo back. A session ends when it expires, when the
agent signs out, or at once when its key is revoked. Under ``TRIAGE_AUTH=required`` a session
made in the open mode (no key) is refused.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from service.access import repository
from service.access.service import Principal, Role, digest
from service.storage.tables import AgentSession

PAGE_ROLES: tuple[Role, ...] = ("agent", "lead")  # and ops, who may do everything


@dataclass(frozen=True)
class PageSession:
    principal: Principal
    csrf_token: str
    expires_at: datetime

    def csrf_matches(self, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(sent.encode(), self.csrf_token.encode())


def key_principal(*, session: Session, key: str) -> tuple[int, Principal] | None:
    """The key's id and principal, or None for an unknown or revoked key."""
    row = repository.by_hash(session, digest(key))
    if row is None:
        return None
    return row.id, Principal(name=row.name, role=row.role)  # type: ignore[arg-type]


def start_session(
    *, session: Session, principal: Principal, api_key_id: int | None, hours: int
) -> tuple[str, PageSession]:
    """A new session; returns the cookie value (shown to the browser only) and the session."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    row = AgentSession(
        token_sha256=digest(token),
        api_key_id=api_key_id,
        agent=principal.name,
        role=principal.role,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    repository.add_session(session, row)
    session.commit()
    return token, _page_session(row)


def _page_session(row: AgentSession) -> PageSession:
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
    principal = Principal(name=row.agent, role=row.role)  # type: ignore[arg-type]
    return PageSession(principal=principal, csrf_token=row.csrf_token, expires_at=expires)


def find_session(*, session: Session, token: str, keys_required: bool) -> PageSession | None:
    """The live session behind a cookie, or None (unknown, expired, signed out, key revoked)."""
    row = repository.live_session(session, digest(token), datetime.now(UTC))
    if row is None or (keys_required and row.api_key_id is None):
        return None
    return _page_session(row)


def end_session(*, session: Session, token: str) -> None:
    """Sign out: the cookie stops working at once."""
    repository.delete_session(session, digest(token))
    session.commit()


def purge_sessions(*, session: Session) -> int:
    """Delete the expired sessions; returns how many."""
    done = repository.delete_expired_sessions(session, datetime.now(UTC))
    session.commit()
    return done
