"""The ``triage`` command: serve, train, evaluate, quality, score, score-file, and the storage verbs.

The scoring commands call the same engine as the HTTP API (``service.scoring.engine``, which
imports no web framework), so a file scored here gets exactly the answers the API would give.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, BinaryIO, NamedTuple

import typer

from service.config import get_settings
from service.model.bundle import HEADS, BundleError, TriageModel, load_bundle, resolve_bundle_dir
from training.integrations_cli import deliveries_app, inbox_app
from training.models_cli import models_app, retrain
from training.quality_cli import quality
from training.storage_cli import db_app, export_feedback, keys_app, purge

WORKER_HEALTHCHECK_SECONDS = 60

app = typer.Typer(
    help="Ticket triage: train, evaluate and serve the model that routes tickets to humans.",
    no_args_is_help=True,
)


class RecipeName(StrEnum):
    default = "default"
    custom = "custom"


def _reporter() -> Any:
    started = time.perf_counter()

    def report(message: str) -> None:
        typer.echo(f"[{time.perf_counter() - started:7.1f}s] {message}", err=True)

    return report


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def model_dir(spec: str | None) -> Path:
    """A bundle folder path, ``name`` or ``name/version`` under the models dir; default: settings."""
    settings = get_settings()
    try:
        if spec is None:
            return resolve_bundle_dir(settings.models_dir, settings.model_name, settings.model_version)
        if Path(spec).is_dir() and (Path(spec) / "metadata.json").is_file():
            return Path(spec)
        name, _, version = spec.partition("/")
        return resolve_bundle_dir(settings.models_dir, name, version or None)
    except BundleError as exc:
        raise _fail(str(exc)) from exc


def load_model(spec: str | None) -> TriageModel:
    """The bundle :func:`model_dir` finds, read and verified."""
    path = model_dir(spec)
    try:
        return load_bundle(path)
    except BundleError as exc:
        raise _fail(str(exc)) from exc


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default TRIAGE_HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default TRIAGE_PORT or 8000).")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (default TRIAGE_WORKERS or 1).")
    ] = None,
) -> None:
    """Start the HTTP service."""
    import uvicorn

    settings = get_settings()
    count = workers or settings.workers
    if count > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Each worker writes its metrics to files here and /metrics adds them up; the folder
        # must start empty, or counters would carry over from an earlier run.
        folder = settings.data_dir / "metrics"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder.resolve())
    uvicorn.run(
        "service.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=count,
        log_level=settings.log_level,
        log_config=None,  # the app's JSON logging (service.observability) formats uvicorn's lines too
        access_log=False,  # the app logs each request itself, with its request id
        proxy_headers=False,
        # A new worker re-imports this CLI and the model stack before it can answer the
        # supervisor's first ping: ~5 s on a quiet 2-core VM, more on a busy one. With uvicorn's
        # default of 5 s the supervisor killed each worker while it started and spawned the next.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )


@app.command()
def train(
    recipe: Annotated[
        RecipeName,
        typer.Option(help="'default': the seed set plus the public sets; 'custom': your --data only."),
    ] = RecipeName.custom,
    data: Annotated[
        list[Path] | None, typer.Option(help="CSV/JSONL file or folder of labelled tickets (repeatable).")
    ] = None,
    public_data: Annotated[
        Path | None, typer.Option(help="Folder of the public datasets (default recipe: ../shared/data).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Model name (folder under the models dir).")] = None,
    version: Annotated[str | None, typer.Option(help="Version folder (default: UTC timestamp).")] = None,
    models_dir: Annotated[
        Path | None, typer.Option(help="Where bundles go (default TRIAGE_MODELS_DIR).")
    ] = None,
    target_share: Annotated[
        float | None, typer.Option(help="Human share the threshold aims at (default 0.20).")
    ] = None,
    target_recall: Annotated[
        float | None, typer.Option(help="Instead of a share: the needs_human recall to reach.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
) -> None:
    """Train a model and write a new bundle version."""
    from service.model.labelled import DataValidationError
    from training.pipeline import DEFAULT_PUBLIC_DATA, SEED_DIR, train_bundle
    from training.train import DEFAULT_RECIPE_PARAMS, Recipe

    params: dict[str, Any] = {"name": recipe.value}
    if target_recall is not None and target_share is not None:
        raise _fail("give --target-share or --target-recall, not both")
    if public_data is not None and not public_data.is_dir():
        raise _fail(f"--public-data {public_data}: no such folder")
    if target_recall is not None:
        params.update(target_recall=target_recall, target_share=None, assumed_prevalence=None)
    elif target_share is not None:
        params["target_share"] = target_share
    if seed is not None:
        params["seed"] = seed
    if recipe is RecipeName.default:
        # The seed set's recipe: traffic's prevalence, public sources as heavy as the seed set,
        # one head per dimension on all rows together (training.train.DEFAULT_RECIPE_PARAMS).
        for key, value in DEFAULT_RECIPE_PARAMS.items():
            params.setdefault(key, value)
        data = data or [SEED_DIR]
        public_data = public_data or DEFAULT_PUBLIC_DATA
    elif not data:
        raise _fail("--data is required with --recipe custom")
    try:
        chosen = Recipe(**params)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    try:
        path, result = train_bundle(
            data=data,
            recipe=chosen,
            models_dir=models_dir or get_settings().models_dir,
            name=name or recipe.value,
            version=version,
            public_data=public_data,
            report=_reporter(),
        )
    except DataValidationError as exc:
        raise _fail(str(exc), code=2) from exc
    except FileExistsError as exc:
        raise _fail(str(exc)) from exc
    from training.evaluate import markdown_table

    typer.echo(f"Model written to {path}")
    typer.echo(f"needs_human threshold: {result.model.threshold:.4f}")
    typer.echo(markdown_table(result.metrics))


@app.command()
def evaluate(
    model: Annotated[
        str | None, typer.Option(help="Bundle folder, NAME or NAME/VERSION (default: the serving model).")
    ] = None,
    data: Annotated[
        list[Path] | None, typer.Option(help="Labelled CSV/JSONL file or folder (repeatable).")
    ] = None,
    held_out: Annotated[
        bool, typer.Option(help="Keep only the rows the model held out in training.")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="Report folder (default reports/NAME-VERSION).")] = None,
) -> None:
    """Evaluate a model on labelled data; write a report with a PR curve and a calibration plot."""
    from service.model.labelled import DataValidationError, data_files, read_labelled, text_digest
    from training.evaluate import evaluate_predictions, markdown_table, write_report

    bundle = load_model(model)
    if not data:
        raise _fail("--data is required")
    try:
        rows = read_labelled(data_files(data))
    except DataValidationError as exc:
        raise _fail(str(exc), code=2) from exc
    if held_out:
        digests = set(bundle.metadata.get("held_out_text_sha256_16", []))
        rows = [r for r in rows if text_digest(r.model_text) in digests]
        if not rows:
            raise _fail("none of these rows is in the model's held-out split")
    proba = bundle.predict_proba_texts([r.model_text for r in rows])
    thresholds: dict[str, float] = {h: float(bundle.metadata["thresholds"][h]) for h in HEADS}
    metrics = evaluate_predictions(rows, proba, thresholds)
    folder = out or Path("reports") / f"{bundle.name}-{bundle.version}"
    title = f"{bundle.name} {bundle.version} on {len(rows)} rows" + (" (held-out split)" if held_out else "")
    write_report(folder, rows=rows, proba=proba, metrics=metrics, title=title)
    typer.echo(f"# {title}")
    typer.echo(markdown_table(metrics))
    typer.echo(f"Report written to {folder}")


def build_scorer(model: str | None) -> Any:
    """The engine's scorer for a model spec (see :func:`load_model`) and the configured policy."""
    return scorer_from(ScorerSource.resolve(model))


class ScorerSource(NamedTuple):
    """What a scorer is built from, fixed once: the model's folder (a version, not "the newest")
    and the policy file's text. Worker processes build from it, so a model registered or a
    policy edited while a file is scored cannot give some of its tickets other answers."""

    model_dir: str
    policy_text: str

    @classmethod
    def resolve(cls, model: str | None) -> ScorerSource:
        """Fails by name, as the commands do, on a model or policy that cannot be used."""
        from service.scoring.policy import PolicyError, parse_policy, read_policy

        policy_path = get_settings().policy_path
        try:
            raw = read_policy(policy_path)
            parse_policy(raw, policy_path)
        except PolicyError as exc:
            raise _fail(str(exc)) from exc
        return cls(str(model_dir(model).resolve()), raw)


def scorer_from(source: ScorerSource) -> Any:
    """The engine's scorer for a :class:`ScorerSource`."""
    from service.scoring.engine import Scorer
    from service.scoring.policy import PolicyError, parse_policy

    settings = get_settings()
    bundle = load_model(source.model_dir)
    try:
        policy = parse_policy(source.policy_text, settings.policy_path)
    except PolicyError as exc:
        raise _fail(str(exc)) from exc
    return Scorer.build(model=bundle, policy=policy, min_confidence=settings.language_min_confidence)


@app.command()
def score(
    text: Annotated[str, typer.Argument(help="The ticket text.")],
    subject: Annotated[str | None, typer.Option(help="Subject line.")] = None,
    previous_contacts: Annotated[
        int | None, typer.Option(min=0, help="Earlier contacts about this matter.")
    ] = None,
    tier: Annotated[str | None, typer.Option(help="Customer tier.")] = None,
    model: Annotated[str | None, typer.Option(help="Bundle folder, NAME or NAME/VERSION.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON instead.")] = False,
) -> None:
    """Score one ticket and explain the decision."""
    from pydantic import ValidationError

    from service.scoring.engine import score_ticket
    from service.scoring.schemas import TicketScoreRequest

    scorer = build_scorer(model)
    body: dict[str, Any] = {"text": text, "subject": subject, "previous_contacts": previous_contacts}
    if tier:
        body["customer"] = {"tier": tier}
    try:
        ticket = TicketScoreRequest.model_validate({k: v for k, v in body.items() if v is not None})
    except ValidationError as exc:
        raise _fail(
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()), code=2
        ) from exc
    result = score_ticket(scorer=scorer, ticket=ticket)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    typer.echo(f"route:       {result.route}  (priority {result.priority})")
    if result.needs_human is not None and result.dimensions is not None:
        typer.echo(f"needs_human: {result.needs_human:.3f}  (threshold {result.threshold:.3f})")
        for dim, value in result.dimensions.model_dump().items():
            typer.echo(f"  {dim:<10} {value:.3f} {'#' * round(value * 20)}")
    typer.echo(f"language:    {result.language}{'' if result.language_supported else ' (unsupported)'}")
    for reason in result.reasons:
        label = reason.dimension or f"rule {reason.rule}"
        where = f" [{reason.field} {reason.start}:{reason.end}]" if reason.text is not None else ""
        weight = f" +{reason.weight:.2f}" if reason.weight is not None else ""
        typer.echo(
            f"  because {label}: {reason.text!r}{where}{weight}" if reason.text else f"  because {label}"
        )
    typer.echo(f"model {result.model_version}, policy {result.policy_version}")


def _open_out(path: str) -> BinaryIO:
    return sys.stdout.buffer if path == "-" else open(path, "wb")


@app.command("score-file")
def score_file(
    input_path: Annotated[str, typer.Argument(metavar="IN", help="JSONL of tickets ('-' for stdin).")],
    output_path: Annotated[str, typer.Argument(metavar="OUT", help="JSONL of results ('-' for stdout).")],
    model: Annotated[str | None, typer.Option(help="Bundle folder, NAME or NAME/VERSION.")] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Processes that score (one per core; each loads the model).")
    ] = 1,
) -> None:
    """Score a JSONL file line by line: each output line is the API's result for that ticket.

    Every non-blank input line gives one output line, in order. A line that is not a valid
    ticket (bad JSON, not UTF-8, a schema error) gives ``{"line": N, "id": ..., "error": ...}`` in
    its place, and the command then exits with status 1.
    """
    from training.score_file import score_stream

    if input_path != "-" and not Path(input_path).is_file():
        raise _fail(f"{input_path}: no such file")
    if "-" not in (input_path, output_path) and Path(input_path).resolve() == Path(output_path).resolve():
        raise _fail("IN and OUT are the same file; the output would overwrite the tickets")
    # A wrong model or policy fails here, by name, before OUT is opened or any worker starts; the
    # workers build their scorers from this source (the model's folder and the policy's text),
    # after the parent has read and verified the bundle.
    source = ScorerSource.resolve(model)
    scorer = scorer_from(source) if workers == 1 else load_model(source.model_dir)
    src: BinaryIO = sys.stdin.buffer if input_path == "-" else open(input_path, "rb")  # noqa: SIM115
    try:
        dst = _open_out(output_path)
    except OSError as exc:
        src.close()
        raise _fail(f"{output_path}: {exc.strerror}") from exc
    try:
        scored, errors = score_stream(src=src, dst=dst, scorer=scorer, source=source, workers=workers)
    finally:
        if src is not sys.stdin.buffer:
            src.close()
        if dst is not sys.stdout.buffer:
            dst.close()
        else:
            dst.flush()
    typer.echo(f"scored {scored} ticket(s), {errors} invalid line(s)", err=True)
    if errors:
        raise typer.Exit(1)


app.command()(quality)

app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(models_app, name="models")
app.add_typer(deliveries_app, name="deliveries")
app.add_typer(inbox_app, name="inbox")
app.command()(retrain)
app.command()(purge)
app.command("export-feedback")(export_feedback)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
