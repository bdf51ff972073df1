"""``triage quality``: the evaluation harness on the public datasets, peers measured in the same run."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from training.peer_names import PEER_NAMES


def _reporter() -> Any:
    started = time.perf_counter()

    def report(message: str) -> None:
        typer.echo(f"[{time.perf_counter() - started:7.1f}s] {message}", err=True)

    return report


def quality(
    model: Annotated[
        str | None, typer.Option(help="Bundle folder, NAME or NAME/VERSION (default: the serving model).")
    ] = None,
    data: Annotated[
        list[Path] | None,
        typer.Option(help="The model's primary training data (default: the seed set)."),
    ] = None,
    public_data: Annotated[Path, typer.Option(help="Folder of the public datasets.")] = Path(
        "../shared/data"
    ),
    peers: Annotated[
        str, typer.Option(help=f"Comma-separated peers to measure: {', '.join(PEER_NAMES)}, or 'none'.")
    ] = ",".join(PEER_NAMES),
    history: Annotated[
        bool,
        typer.Option(
            help="Also train throwaway models on the airline tweets as a customer's history "
            "(80/20 split and leave one airline out), against the peers."
        ),
    ] = False,
    out: Annotated[Path, typer.Option(help="Report folder.")] = Path("reports/quality"),
) -> None:
    """Evaluate a model on the public datasets against VADER, TF-IDF and MiniLM peers."""
    from service.model.labelled import data_files
    from training.cli import load_model
    from training.peers import OurModel, PeerUnavailable, make_peer
    from training.pipeline import SEED_DIR
    from training.public_data import PublicData
    from training.quality import cfpb_by_issue, markdown, run_quality, tabulate

    report = _reporter()
    source = PublicData(public_data)
    if not source.present():
        typer.echo(f"skipped: no public data at {public_data} (pass --public-data DIR)")
        return
    bundle = load_model(model)
    names = [] if peers.strip() == "none" else [p.strip() for p in peers.split(",") if p.strip()]
    unknown = [n for n in names if n not in PEER_NAMES]
    if unknown:
        typer.echo(
            f"error: unknown peer(s) {', '.join(unknown)}; choose from {', '.join(PEER_NAMES)}", err=True
        )
        raise typer.Exit(2)
    cache = out / ".cache"
    chosen, skipped = [], []
    for name in names:
        try:
            chosen.append(make_peer(name, cache_dir=cache))
        except PeerUnavailable as exc:
            skipped.append(str(exc))
            report(f"skipped peer {exc}")
    run = run_quality(
        model=bundle,
        public=source,
        data=data_files(data or [SEED_DIR]),
        peers=chosen,
        ours=OurModel(bundle),
        report=report,
    )
    run.skipped = skipped
    records = tabulate(run)
    cfpb = cfpb_by_issue(run, "ticket-triage", bundle.threshold)
    text = f"# Quality: {bundle.name} {bundle.version}\n\n" + markdown(run, records, cfpb)
    result: dict[str, Any] = {
        "model": f"{bundle.name}/{bundle.version}",
        "records": records,
        "costs": run.costs,
        "cfpb": cfpb,
    }
    if history:
        from training.history import customer_history, history_markdown

        found = customer_history(public=source, peers=names, skipped=skipped, cache_dir=cache, report=report)
        result["history"] = found
        text += "\n\n" + history_markdown(found)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.md").write_text(text + "\n")
    (out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    typer.echo(text)
    typer.echo(f"\nReport written to {out}")
