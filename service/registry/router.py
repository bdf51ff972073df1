"""``/v1/models``: the registry for ops (list, show, promote through the gate, rollback, retire).

Registering a bundle is ``triage models register PATH`` on a machine that holds the files.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from service.deps import PrincipalDep, SessionDep, require
from service.errors import ERROR_RESPONSES, ConflictError, ErrorResponse, GateRefusedError
from service.model.bundle import load_bundle
from service.registry import repository
from service.registry import service as registry
from service.registry.compare import compare_versions
from service.registry.gate import compare
from service.registry.schemas import (
    ComparisonOut,
    ModelEventOut,
    ModelVersionDetail,
    ModelVersionOut,
    PromoteRequest,
)
from service.storage.database import aware
from service.storage.tables import ModelVersion

RESPONSES = {
    **ERROR_RESPONSES,
    404: {"model": ErrorResponse, "description": "No such model version."},
    409: {"model": ErrorResponse, "description": "Refused: the gate, or a state that does not allow it."},
}
router = APIRouter(prefix="/v1/models", tags=["models"], responses=RESPONSES, dependencies=[require("ops")])
Name = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Version = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
QueryVersion = Annotated[str, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


def _out(row: ModelVersion) -> ModelVersionOut:
    return ModelVersionOut(
        name=row.name,
        version=row.version,
        status=row.status,  # type: ignore[arg-type]
        model_sha256=row.model_sha256,
        metrics=row.metrics,
        registered_at=aware(row.registered_at) or row.registered_at,
        registered_by=row.registered_by,
        serving_from=aware(row.serving_from),
    )


@router.get("", response_model=list[ModelVersionOut])
def list_models(session: SessionDep, name: str | None = None) -> list[ModelVersionOut]:
    """Every registered version."""
    return [_out(r) for r in repository.list_versions(session, name)]


# Before /{name}/{version}, which would otherwise take "compare" for a version.
@router.get("/{name}/compare", response_model=ComparisonOut)
def compare_models(session: SessionDep, name: Name, a: QueryVersion, b: QueryVersion) -> ComparisonOut:
    """Versions ``a`` and ``b`` on the tickets both scored: agreement, routing changes, who was right."""
    for version in (a, b):
        registry.get_version(session=session, name=name, version=version)
    return ComparisonOut(**asdict(compare_versions(session=session, a=a, b=b)))


@router.get("/{name}/{version}", response_model=ModelVersionDetail)
def show_model(session: SessionDep, name: Name, version: Version) -> ModelVersionDetail:
    """One version with who did what when."""
    row = registry.get_version(session=session, name=name, version=version)
    events = [
        ModelEventOut(
            action=e.action, actor=e.actor, forced=e.forced, detail=e.detail, at=aware(e.at) or e.at
        )
        for e in repository.events(session, row.id)
    ]
    return ModelVersionDetail(**_out(row).model_dump(), events=events)


def _actor(principal: Any) -> str:
    return str(principal.name) if principal.authenticated else "local (open mode)"


@router.post("/{name}/{version}/promote", response_model=ModelVersionOut)
def promote_model(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    name: Name,
    version: Version,
    body: PromoteRequest,
) -> ModelVersionOut:
    """Make a version the champion if the gate passes (409 ``gate_refused`` with both figures)."""
    settings = request.app.state.settings
    row = registry.get_version(session=session, name=name, version=version)
    current = repository.champion(session, name)
    if current is not None and current.id == row.id:
        raise ConflictError(f"{name}/{version} is the champion already")
    gate: dict[str, Any] = {}
    refused = False
    if current is not None:
        cache = settings.data_dir / "model-cache"
        try:
            result = compare(
                load_bundle(registry.materialize(session=session, version_id=row.id, cache_dir=cache)),
                load_bundle(registry.materialize(session=session, version_id=current.id, cache_dir=cache)),
                data=settings.gate_data,
                seed_dir=settings.seed_dir,
                max_auc_drop=settings.promotion_max_auc_drop,
                max_recall_drop=settings.promotion_max_recall_drop,
            )
        except ValueError as exc:  # too few rows to judge on: say so rather than promote blind
            raise GateRefusedError(f"the gate cannot judge: {exc} (set TRIAGE_GATE_DATA)") from exc
        gate, refused = result.as_dict(), not result.passed
        if refused and not body.force:
            new, old = result.candidate, result.champion
            raise GateRefusedError(
                f"{name}/{version} not promoted: {'; '.join(result.problems)}. On {new.rows} rows ({result.data}): "
                f"candidate ROC-AUC {new.roc_auc:.4f} recall {new.recall:.4f}, "
                f"champion {current.version} ROC-AUC {old.roc_auc:.4f} recall {old.recall:.4f}"
            )
    promoted = registry.promote(
        session=session,
        name=name,
        version=version,
        actor=_actor(principal),
        forced=refused,
        gate=gate,
        delay_seconds=settings.model_switch_delay_seconds,
    )
    return _out(promoted)


@router.post("/{name}/{version}/shadow", response_model=ModelVersionOut)
def shadow_model(
    session: SessionDep, principal: PrincipalDep, name: Name, version: Version
) -> ModelVersionOut:
    """Let a version score every ticket beside the champion, after each response."""
    return _out(registry.set_shadow(session=session, name=name, version=version, actor=_actor(principal)))


@router.post("/{name}/rollback", response_model=ModelVersionOut)
def rollback_model(
    request: Request, session: SessionDep, principal: PrincipalDep, name: Name
) -> ModelVersionOut:
    """Make the previous champion current again."""
    row = registry.rollback(
        session=session,
        name=name,
        actor=_actor(principal),
        delay_seconds=request.app.state.settings.model_switch_delay_seconds,
    )
    return _out(row)


@router.post("/{name}/{version}/retire", response_model=ModelVersionOut)
def retire_model(
    session: SessionDep, principal: PrincipalDep, name: Name, version: Version
) -> ModelVersionOut:
    """Take a candidate or shadow version out of use."""
    return _out(registry.retire(session=session, name=name, version=version, actor=_actor(principal)))
