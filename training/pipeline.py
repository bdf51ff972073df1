"""From data files to a written bundle: read and validate, train, evaluate, write the bundle."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from service.model.bundle import save_bundle
from service.model.labelled import data_files, files_sha256, read_labelled
from training.card import render_card
from training.public_data import MAPPING_VERSION, PublicData
from training.train import Recipe, Report, TrainingResult, train_model

SEED_DIR = Path(__file__).parent / "data" / "seed"
DEFAULT_PUBLIC_DATA = Path("../shared/data")


def new_version() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def train_bundle(
    *,
    data: Sequence[Path],
    recipe: Recipe,
    models_dir: Path,
    name: str,
    version: str | None = None,
    public_data: Path | None = None,
    report: Report,
) -> tuple[Path, TrainingResult]:
    """Train on ``data`` (plus the public sets when given) and write ``models_dir/name/version``."""
    files = data_files(data)
    primary = read_labelled(files)  # raises before anything is written
    report(f"read {len(primary)} labelled tickets from {len(files)} file(s)")
    auxiliary = []
    public_files: list[Path] = []
    if public_data is not None:
        source = PublicData(public_data)
        if source.present():
            auxiliary = source.training_rows()
            public_files = source.files()
            report(f"public data from {public_data}: {len(auxiliary)} training rows")
        else:
            report(f"public data folder {public_data} is absent: training on the primary data only")
    version = version or new_version()
    target = models_dir / name / version
    if target.exists():
        raise FileExistsError(f"{target} exists already; choose another --version")
    result = train_model(
        primary,
        recipe,
        auxiliary=auxiliary,
        report=report,
        extra_metadata={
            "name": name,
            "version": version,
            "training_data": [{"path": _display(p), "sha256": files_sha256([p])} for p in files],
            "training_data_sha256": files_sha256(files),
            "public_data": {
                "mapping_version": MAPPING_VERSION,
                "files": [{"path": p.name, "sha256": files_sha256([p])} for p in public_files],
            }
            if public_files
            else None,
            "primary_description": "the ticket-triage seed set (training/data/seed)"
            if all(_is_seed(p) for p in files)
            else "user-supplied labelled tickets",
        },
    )
    card = render_card(result.model.metadata)
    save_bundle(result.model, target, card=card)
    report(f"wrote {target}")
    return target, result


def _is_seed(path: Path) -> bool:
    return path.resolve().parent == SEED_DIR.resolve()


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path.name
