"""The promotion gate: the candidate and the champion scored on the same rows, neither trained on.

By default the rows are the seed tickets that both models held out in training; other labelled
files may be named instead (``--data``, ``TRIAGE_GATE_DATA``), which must be data neither model
saw. Both the CLI and ``POST /v1/models/.../promote`` run this same gate. The gate compares needs_human
ROC-AUC and recall at each model's own threshold; a candidate worse than the champion by more
than the configured margins is refused.

Judging imports scikit-learn (the metrics, and the model's transformer for the rows); a worker
pays for it only when an ops user promotes through the API.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from service.model.bundle import HEADS, TriageModel
from service.model.labelled import LabelledTicket, data_files, read_labelled, text_digest

MIN_ROWS = 100


@dataclass(frozen=True)
class Figures:
    rows: int
    positives: int
    roc_auc: float
    recall: float
    threshold: float


@dataclass(frozen=True)
class GateResult:
    data: str
    candidate: Figures
    champion: Figures
    problems: list[str]

    @property
    def passed(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "candidate": asdict(self.candidate),
            "champion": asdict(self.champion),
            "problems": self.problems,
        }


def gate_rows(
    candidate: TriageModel, champion: TriageModel, data: list[Path] | None, seed_dir: Path
) -> tuple[list[LabelledTicket], str]:
    """The evaluation rows with a needs_human label, and a description of where they come from."""
    if data:
        rows = read_labelled(data_files(data))
        where = ", ".join(str(p) for p in data)
    else:
        held = set(candidate.metadata.get("held_out_text_sha256_16", [])) & set(
            champion.metadata.get("held_out_text_sha256_16", [])
        )
        rows = [r for r in read_labelled(data_files([seed_dir])) if text_digest(r.model_text) in held]
        where = "seed tickets held out by both models"
    rows = [r for r in rows if r.labels.get("needs_human") is not None]
    if len(rows) < MIN_ROWS:
        raise ValueError(
            f"only {len(rows)} labelled rows to compare on ({where}); give --data with at least {MIN_ROWS}"
        )
    return rows, where


def figures(model: TriageModel, rows: list[LabelledTicket]) -> Figures:
    # Imported here, as the model's transformer is: the API's router imports this module, and a
    # worker that only serves must not hold scikit-learn and scipy (about 146 MB resident).
    from sklearn.metrics import roc_auc_score

    y = np.array([int(r.labels["needs_human"] or 0) for r in rows])
    p = model.predict_proba_texts([r.model_text for r in rows])[:, HEADS.index("needs_human")]
    positives = int(y.sum())
    recall = float(((p >= model.threshold) & (y == 1)).sum() / positives) if positives else float("nan")
    auc = float(roc_auc_score(y, p)) if 0 < positives < len(y) else float("nan")
    return Figures(len(rows), positives, round(auc, 4), round(recall, 4), round(model.threshold, 4))


def compare(
    candidate: TriageModel,
    champion: TriageModel,
    *,
    data: list[Path] | None,
    seed_dir: Path,
    max_auc_drop: float,
    max_recall_drop: float,
) -> GateResult:
    """Score both models on the same rows and list what bars the candidate (nothing: it passes)."""
    rows, where = gate_rows(candidate, champion, data, seed_dir)
    new, old = figures(candidate, rows), figures(champion, rows)
    problems = []
    if not new.roc_auc >= old.roc_auc - max_auc_drop:
        problems.append(
            f"needs_human ROC-AUC {new.roc_auc:.4f} is below the champion's {old.roc_auc:.4f} by more than {max_auc_drop}"
        )
    if not new.recall >= old.recall - max_recall_drop:
        problems.append(
            f"recall at the threshold {new.recall:.4f} is below the champion's {old.recall:.4f} by more than {max_recall_drop}"
        )
    return GateResult(where, new, old, problems)
