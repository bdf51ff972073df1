"""Creating, listing, revoking and checking keys.

A key is ``tt_`` and 43 URL-safe characters (256 random bits); only its SHA-256 is stored, and
the key is shown once, when created. Checked keys are cached in the process for
``CACHE_SECONDS``, so a request costs no database read, and a revocation takes effect within
that time.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from service.access import repository
from service.storage.tables import ApiKey

Role = Literal["helpdesk", "agent", "lead", "ops"]
ROLES: tuple[Role, ...] = ("helpdesk", "agent", "lead", "ops")
CACHE_SECONDS = 10.0


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's name and role, or the anonymous caller of the open mode."""

    name: str
    role: Role | None  # None: open mode, every role

    @property
    def authenticated(self) -> bool:
        return self.role is not None

    def may(self, roles: tuple[Role, ...]) -> bool:
        return self.role is None or self.role == "ops" or self.role in roles


OPEN = Principal(name="local", role=None)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyExistsError(Exception):
    pass


def create_key(*, session: Session, name: str, role: Role) -> str:
    """Store a new key under ``name``; returns the key itself, which is never shown again."""
    key = "tt_" + secrets.token_urlsafe(32)
    repository.add(
        session,
        ApiKey(name=name, role=role, key_sha256=digest(key), prefix=key[:8], created_at=datetime.now(UTC)),
    )
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise KeyExistsError(f"a key named {name!r} exists already") from exc
    return key


def revoke_key(*, session: Session, name: str) -> bool:
    """Revoke the key called ``name``; False when there is no active key of that name."""
    done = repository.revoke(session, name, datetime.now(UTC))
    session.commit()
    return done


def list_keys(*, session: Session) -> list[ApiKey]:
    return repository.all_keys(session)


class KeyChecker:
    """Resolves bearer keys to principals, with a short in-process cache."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._cache: dict[str, tuple[Principal | None, float]] = {}
        self._lock = threading.Lock()

    def cached(self, key: str) -> tuple[bool, Principal | None]:
        with self._lock:
            hit = self._cache.get(digest(key))
        if hit is not None and hit[1] > time.monotonic():
            return True, hit[0]
        return False, None

    def check(self, key: str) -> Principal | None:
        """The key's principal, or None for an unknown or revoked key (reads the database)."""
        hashed = digest(key)
        with self.sessions() as session:
            row = repository.by_hash(session, hashed)
            principal = None if row is None else Principal(name=row.name, role=row.role)  # type: ignore[arg-type]
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[hashed] = (principal, time.monotonic() + CACHE_SECONDS)
        return principal
