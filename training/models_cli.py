"""``triage models list|show|register|promote|rollback|retire``: the model registry, for ops.

The registry lives in the service's database (``TRIAGE_DATABASE_URL``, else SQLite under
``TRIAGE_DATA_DIR``); running workers follow its champion within seconds, without a restart.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Any

import typer

from service.config import get_settings
from training.storage_cli import _fail, _refused, _sessions

models_app = typer.Typer(help="The model registry: versions, promotion, rollback.", no_args_is_help=True)
ActorOption = Annotated[str | None, typer.Option(help="Who is acting (default: cli:$USER).")]


def _actor(actor: str | None) -> str:
    return actor or f"cli:{getpass.getuser()}"


def _split(spec: str) -> tuple[str, str]:
    name, _, version = spec.partition("/")
    if not name or not version:
        raise _fail(f"give NAME/VERSION, not {spec!r}", code=2)
    return name, version


def _load(session: Any, version_id: int) -> Any:
    from service.model.bundle import load_bundle
    from service.registry.service import materialize

    return load_bundle(
        materialize(session=session, version_id=version_id, cache_dir=get_settings().data_dir / "model-cache")
    )


@models_app.command("list")
def list_models(name: Annotated[str | None, typer.Option(help="Only this model name.")] = None) -> None:
    """Every registered version with its status and held-out needs_human ROC-AUC."""
    from service.registry import repository

    with _sessions()() as session:
        rows = repository.list_versions(session, name)
        typer.echo(f"{'model':<34} {'status':<10} {'registered':<20} {'by':<24} held-out AUC")
        for row in rows:
            auc = row.metrics.get("held_out", {}).get("needs_human", {}).get("roc_auc")
            when = row.registered_at.strftime("%Y-%m-%d %H:%M")
            typer.echo(
                f"{row.name + '/' + row.version:<34} {row.status:<10} {when:<20} {row.registered_by:<24} {auc}"
            )
    if not rows:
        typer.echo("(no model registered yet: the service registers its configured model at first start)")


@models_app.command()
def show(spec: Annotated[str, typer.Argument(help="NAME/VERSION")]) -> None:
    """One version: status, figures and who did what when."""
    import json

    from service.registry import repository
    from service.registry.service import get_version

    name, version = _split(spec)
    with _sessions()() as session:
        with _refused():
            row = get_version(session=session, name=name, version=version)
        typer.echo(f"{row.name}/{row.version}: {row.status} (sha256 {row.model_sha256[:16]}…)")
        typer.echo(json.dumps(row.metrics, indent=2, sort_keys=True))
        for event in repository.events(session, row.id):
            forced = " (forced)" if event.forced else ""
            typer.echo(
                f"{event.at:%Y-%m-%d %H:%M:%S} {event.action}{forced} by {event.actor} {json.dumps(event.detail)}"
            )


@models_app.command()
def register(
    path: Annotated[
        Path, typer.Argument(help="A bundle folder (model.skops, metadata.json, MODEL_CARD.md).")
    ],
    actor: ActorOption = None,
) -> None:
    """Verify a bundle and register it as a candidate (nothing is promoted)."""
    from service.errors import TriageError
    from service.model.bundle import BundleError
    from service.registry.service import register as register_bundle

    with _sessions()() as session:
        try:
            row = register_bundle(session=session, directory=path, actor=_actor(actor))
        except (BundleError, TriageError) as exc:
            raise _fail(getattr(exc, "message", str(exc))) from exc
        typer.echo(f"registered {row.name}/{row.version} as a candidate")


def _gate(session: Any, candidate_id: int, champion_id: int, data: list[Path] | None) -> Any:
    """The promotion gate's comparison (ValueError when there are too few rows to judge)."""
    from service.registry.gate import compare
    from training.pipeline import SEED_DIR

    settings = get_settings()
    return compare(
        _load(session, candidate_id),
        _load(session, champion_id),
        data=data or settings.gate_data,
        seed_dir=SEED_DIR,
        max_auc_drop=settings.promotion_max_auc_drop,
        max_recall_drop=settings.promotion_max_recall_drop,
    )


def _print_gate(result: Any) -> None:
    typer.echo(f"compared on {result.candidate.rows} rows ({result.data}), needs_human:")
    typer.echo(f"  {'':<10} {'ROC-AUC':>8} {'recall':>8} {'threshold':>10}")
    for label, f in (("candidate", result.candidate), ("champion", result.champion)):
        typer.echo(f"  {label:<10} {f.roc_auc:>8.4f} {f.recall:>8.4f} {f.threshold:>10.4f}")


@models_app.command()
def promote(
    spec: Annotated[str, typer.Argument(help="NAME/VERSION of the candidate")],
    data: Annotated[
        list[Path] | None,
        typer.Option(help="Labelled files neither model trained on (default: the seed rows both held out)."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Promote even when the gate refuses (recorded).")] = False,
    actor: ActorOption = None,
) -> None:
    """Make a version the champion, if it is not worse than the current one (the gate)."""
    from service.registry import repository
    from service.registry.service import get_version
    from service.registry.service import promote as promote_version

    settings = get_settings()
    name, version = _split(spec)
    with _sessions()() as session:
        with _refused():
            row = get_version(session=session, name=name, version=version)
        current = repository.champion(session, name)
        gate: dict[str, Any] = {}
        if current is not None and current.id != row.id:
            try:
                result = _gate(session, row.id, current.id, data)
            except ValueError as exc:
                raise _fail(str(exc), code=2) from exc
            _print_gate(result)
            gate = result.as_dict()
            if not result.passed:
                for problem in result.problems:
                    typer.echo(f"  refused: {problem}", err=True)
                if not force:
                    raise _fail(
                        f"{spec} is worse than {name}/{current.version}; not promoted (--force overrides)",
                        code=3,
                    )
                typer.echo("  promoting anyway (--force); this is recorded")
        with _refused():
            promoted = promote_version(
                session=session,
                name=name,
                version=version,
                actor=_actor(actor),
                forced=force and bool(gate.get("problems")),
                gate=gate,
                delay_seconds=settings.model_switch_delay_seconds,
            )
        typer.echo(
            f"{name}/{version} is the champion; workers switch at {promoted.serving_from:%H:%M:%S} UTC"
        )


@models_app.command()
def rollback(name: Annotated[str, typer.Argument(help="Model name")], actor: ActorOption = None) -> None:
    """Make the previous champion current again."""
    from service.registry.service import rollback as rollback_model

    with _sessions()() as session:
        with _refused():
            row = rollback_model(
                session=session,
                name=name,
                actor=_actor(actor),
                delay_seconds=get_settings().model_switch_delay_seconds,
            )
        typer.echo(
            f"{name}/{row.version} is the champion again; workers switch at {row.serving_from:%H:%M:%S} UTC"
        )


@models_app.command()
def retire(spec: Annotated[str, typer.Argument(help="NAME/VERSION")], actor: ActorOption = None) -> None:
    """Take a candidate or shadow version out of use."""
    from service.registry.service import retire as retire_version

    name, version = _split(spec)
    with _sessions()() as session:
        with _refused():
            retire_version(session=session, name=name, version=version, actor=_actor(actor))
        typer.echo(f"{name}/{version} is retired")


@models_app.command("shadow")
def shadow_model(
    spec: Annotated[str, typer.Argument(help="NAME/VERSION")], actor: ActorOption = None
) -> None:
    """Let a version score every ticket beside the champion, after each response (never delaying it)."""
    from service.registry.service import set_shadow

    name, version = _split(spec)
    with _sessions()() as session:
        with _refused():
            set_shadow(session=session, name=name, version=version, actor=_actor(actor))
        typer.echo(f"{name}/{version} is the shadow: workers start scoring with it within seconds")


@models_app.command("compare")
def compare_models(
    a: Annotated[str, typer.Argument(help="Version A (e.g. the champion)")],
    b: Annotated[str, typer.Argument(help="Version B (e.g. the shadow)")],
) -> None:
    """Two versions on the tickets both scored: agreement, routing changes, who was right."""
    from service.registry.compare import compare_versions

    with _sessions()() as session:
        c = compare_versions(session=session, a=a.rpartition("/")[2], b=b.rpartition("/")[2])
    if not c.tickets:
        raise _fail(f"no ticket was scored by both {c.a} and {c.b} (make one the shadow of the other)")
    typer.echo(f"{c.tickets} tickets scored by both {c.a} (A) and {c.b} (B)")
    typer.echo(f"  same route: {c.agreement:.1%}; mean |needs_human A - B|: {c.mean_abs_diff}")
    typer.echo(f"  to a person: A {c.human_share_a:.1%}, B {c.human_share_b:.1%}")
    typer.echo(f"  B would send {c.to_human} more to a person and {c.to_automation} more to automation")
    if c.with_feedback:
        typer.echo(
            f"  {c.with_feedback} of them have feedback: routed right A {c.right_a:.1%}, B {c.right_b:.1%}"
        )
        if c.recall_a is not None:
            typer.echo(
                f"  of those that needed a person, sent to one: A {c.recall_a:.1%}, B {c.recall_b:.1%}"
            )
    else:
        typer.echo("  none of them has feedback yet: which is right cannot be told")


def retrain(
    data: Annotated[
        list[Path] | None,
        typer.Option(help="The original training data (default: the seed set, with the default recipe)."),
    ] = None,
    recipe: Annotated[
        str, typer.Option(help="'default' (seed set plus public data) or 'custom' (--data only).")
    ] = "default",
    public_data: Annotated[Path | None, typer.Option(help="Public datasets folder (default recipe).")] = None,
    actor: ActorOption = None,
) -> None:
    """Train a candidate on the original data plus the feedback, register it and compare it with
    the champion. Nothing is promoted."""
    import tempfile

    from service.model.labelled import DataValidationError, data_files, read_labelled
    from service.queue.export import feedback_rows
    from service.registry import repository
    from service.registry.service import register as register_bundle
    from training.pipeline import DEFAULT_PUBLIC_DATA, SEED_DIR, train_bundle
    from training.retrain import merge_feedback, write_rows
    from training.train import DEFAULT_RECIPE_PARAMS, Recipe

    settings = get_settings()
    if recipe not in ("default", "custom"):
        raise _fail("--recipe is 'default' or 'custom'", code=2)
    if recipe == "custom" and not data:
        raise _fail("--data is required with --recipe custom", code=2)
    params: dict[str, Any] = {"name": recipe}
    if recipe == "default":
        params.update(DEFAULT_RECIPE_PARAMS)  # as `triage train --recipe default`
        data = data or [SEED_DIR]
        public_data = public_data or DEFAULT_PUBLIC_DATA
    sessions = _sessions()
    with sessions() as session:
        feedback, without_text = feedback_rows(session)
    if not feedback:
        raise _fail("there is no feedback to retrain on yet (agents' verdicts or missed cases)")
    try:
        original = read_labelled(data_files(data or []))
    except DataValidationError as exc:
        raise _fail(str(exc), code=2) from exc
    rows, relabelled = merge_feedback(original, feedback)
    typer.echo(
        f"{len(original)} original rows + {len(feedback)} with feedback ({relabelled} relabel an original row; "
        f"{without_text} skipped: their text is gone)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        merged = Path(tmp) / "retrain.csv"
        write_rows(rows, merged)
        try:
            path, _ = train_bundle(
                data=[merged],
                recipe=Recipe(**params),
                models_dir=settings.models_dir,
                name=settings.model_name,
                public_data=public_data if recipe == "default" else None,
                report=lambda message: typer.echo(message),
            )
        except DataValidationError as exc:
            raise _fail(str(exc), code=2) from exc
    with sessions() as session:
        row = register_bundle(session=session, directory=path, actor=_actor(actor))
        typer.echo(f"registered {row.name}/{row.version} as a candidate")
        current = repository.champion(session, row.name)
        if current is None:
            typer.echo("no champion to compare with: promote it with triage models promote")
            return
        try:
            result = _gate(session, row.id, current.id, None)
        except ValueError as exc:
            typer.echo(f"not compared with the champion: {exc}")
            return
        _print_gate(result)
        verdict = "passes the gate" if result.passed else "would be refused: " + "; ".join(result.problems)
        typer.echo(f"{row.name}/{row.version} {verdict}; nothing was promoted")
