"""Registering, promoting, rolling back and retiring model versions; each one transaction.

A version is ``candidate`` when registered, ``shadow`` when it scores alongside the champion,
``champion`` when it serves, ``retired`` otherwise. Exactly one champion per model name: a
promotion retires the one before it, under a row lock. The champion's ``serving_from`` lies a few
seconds ahead (``TRIAGE_MODEL_SWITCH_DELAY_SECONDS``), so that every worker and replica loads the
new bundle first and they all switch at that same moment. Every change is an event with its actor.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.errors import ConflictError, NotFoundError
from service.model.bundle import CARD_FILE, METADATA_FILE, MODEL_FILE, load_bundle
from service.registry import repository
from service.storage.tables import ModelVersion


def _now() -> datetime:
    return datetime.now(UTC)


def _summary(metadata: dict[str, Any]) -> dict[str, Any]:
    """The figures the registry shows: the bundle's own held-out and cross-validation metrics."""
    metrics = metadata.get("metrics", {})
    return {
        "held_out": metrics.get("held_out", {}).get("overall", {}),
        "cross_validation": metrics.get("cross_validation", {}),
        "thresholds": metadata.get("thresholds", {}),
        "rows": metadata.get("rows"),
        "recipe": metadata.get("recipe", {}).get("name")
        if isinstance(metadata.get("recipe"), dict)
        else None,
    }


def register(*, session: Session, directory: Path, actor: str, as_champion: bool = False) -> ModelVersion:
    """Verify the bundle in ``directory`` and store it as a candidate (or, on a first start, the champion)."""
    model = load_bundle(directory)  # verifies checksum and types before anything is stored
    if repository.get(session, model.name, model.version) is not None:
        raise ConflictError(f"{model.name}/{model.version} is registered already")
    now = _now()
    row = ModelVersion(
        name=model.name,
        version=model.version,
        status="champion" if as_champion else "candidate",
        model_sha256=str(model.metadata["model_sha256"]),
        metrics=_summary(model.metadata),
        registered_at=now,
        registered_by=actor,
        serving_from=now if as_champion else None,
        model_file=(directory / MODEL_FILE).read_bytes(),
        metadata_json=(directory / METADATA_FILE).read_text(),
        card=(directory / CARD_FILE).read_text() if (directory / CARD_FILE).is_file() else "",
    )
    repository.add(session, row)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise ConflictError(f"{model.name}/{model.version} is registered already") from exc
    action = "first_start" if as_champion else "register"
    repository.add_event(
        session, model_version_id=row.id, action=action, actor=actor, forced=False, detail={}, at=now
    )
    session.commit()
    return row


def get_version(*, session: Session, name: str, version: str) -> ModelVersion:
    row = repository.get(session, name, version)
    if row is None:
        raise NotFoundError(f"no registered model {name}/{version}")
    return row


def _make_champion(
    session: Session,
    row: ModelVersion,
    *,
    action: str,
    actor: str,
    forced: bool,
    detail: dict[str, Any],
    delay: float,
) -> ModelVersion:
    now = _now()
    current = repository.champion(session, row.name, lock=True)
    if current is not None and current.id == row.id:
        raise ConflictError(f"{row.name}/{row.version} is the champion already")
    if current is not None:
        current.status = "retired"
        current.serving_from = None
        repository.add_event(
            session,
            model_version_id=current.id,
            action="replaced",
            actor=actor,
            forced=False,
            detail={"by": row.version},
            at=now,
        )
    row.status = "champion"
    row.serving_from = now + timedelta(seconds=delay)
    repository.add_event(
        session,
        model_version_id=row.id,
        action=action,
        actor=actor,
        forced=forced,
        detail={**detail, "serving_from": row.serving_from.isoformat()},
        at=now,
    )
    session.commit()
    return row


def promote(
    *,
    session: Session,
    name: str,
    version: str,
    actor: str,
    forced: bool,
    gate: dict[str, Any],
    delay_seconds: float,
) -> ModelVersion:
    """Make a version the champion (the gate's figures are recorded with the event)."""
    row = get_version(session=session, name=name, version=version)
    return _make_champion(
        session, row, action="promote", actor=actor, forced=forced, detail={"gate": gate}, delay=delay_seconds
    )


def rollback(*, session: Session, name: str, actor: str, delay_seconds: float) -> ModelVersion:
    """Make the champion before the current one current again."""
    current = repository.champion(session, name)
    if current is None:
        raise ConflictError(f"{name} has no champion to roll back from")
    earlier = [i for i in repository.champions_in_order(session, name) if i != current.id]
    if not earlier:
        raise ConflictError(f"{name}/{current.version} is the only champion {name} has had")
    previous = repository.by_id(session, earlier[0])
    assert previous is not None
    return _make_champion(
        session,
        previous,
        action="rollback",
        actor=actor,
        forced=False,
        detail={"from": current.version},
        delay=delay_seconds,
    )


def set_shadow(*, session: Session, name: str, version: str, actor: str) -> ModelVersion:
    """Let a version score every ticket beside the champion (after each response); one shadow per
    name: an earlier shadow goes back to being a candidate."""
    row = get_version(session=session, name=name, version=version)
    if row.status == "champion":
        raise ConflictError(f"{name}/{version} is the champion: it cannot shadow itself")
    if row.status == "shadow":
        return row
    now = _now()
    earlier = repository.shadow(session, name)
    if earlier is not None:
        earlier.status = "candidate"
        repository.add_event(
            session,
            model_version_id=earlier.id,
            action="unshadow",
            actor=actor,
            forced=False,
            detail={},
            at=now,
        )
    row.status = "shadow"
    repository.add_event(
        session, model_version_id=row.id, action="shadow", actor=actor, forced=False, detail={}, at=now
    )
    session.commit()
    return row


def retire(*, session: Session, name: str, version: str, actor: str) -> ModelVersion:
    """Take a candidate or shadow out of use; the champion is replaced by promoting another."""
    row = get_version(session=session, name=name, version=version)
    if row.status == "champion":
        raise ConflictError(f"{name}/{version} is the champion: promote or roll back to another first")
    if row.status != "retired":
        row.status = "retired"
        repository.add_event(
            session, model_version_id=row.id, action="retire", actor=actor, forced=False, detail={}, at=_now()
        )
        session.commit()
    return row


def materialize(*, session: Session, version_id: int, cache_dir: Path) -> Path:
    """The version's bundle as a folder under ``cache_dir`` (written once, atomically), ready for
    :func:`load_bundle`, which verifies it again."""
    row = repository.by_id(session, version_id, with_files=True)
    if row is None:
        raise NotFoundError(f"no registered model version {version_id}")
    target = cache_dir / row.name / f"{row.version}-{row.model_sha256[:16]}"
    if (target / METADATA_FILE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".incoming-"))
    try:
        (staging / MODEL_FILE).write_bytes(row.model_file)
        (staging / METADATA_FILE).write_text(row.metadata_json)
        (staging / CARD_FILE).write_text(row.card)
        try:
            os.rename(staging, target)
        except OSError:  # another worker got there first with the same files
            if not (target / METADATA_FILE).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
