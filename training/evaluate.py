"""Held-out metrics and the evaluation report (Markdown summary, PR curve and calibration plot).

Every figure here is computed on rows the model did not train on; the caller decides which rows
those are. Rows whose label is unknown for a head (public data) are left out of that head.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from service.model.bundle import HEADS
from service.model.labelled import LabelledTicket

ECE_BINS = 10


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """Weighted mean |accuracy - confidence| over equal-width probability bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(float(y[mask].mean()) - float(p[mask].mean()))
    return total / max(len(y), 1)


def _nan_to_none(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 4)


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, Any]:
    """ROC-AUC, PR-AUC, precision/recall at the threshold, Brier score and ECE."""
    n = len(y)
    positives = int(y.sum())
    out: dict[str, Any] = {"n": n, "positives": positives}
    if n == 0:
        return out
    both = 0 < positives < n
    flagged = p >= threshold
    tp = int((flagged & (y == 1)).sum())
    out.update(
        roc_auc=_nan_to_none(float(roc_auc_score(y, p))) if both else None,
        pr_auc=_nan_to_none(float(average_precision_score(y, p))) if both else None,
        threshold=round(threshold, 4),
        flagged_share=round(float(flagged.mean()), 4),
        precision=round(tp / int(flagged.sum()), 4) if flagged.any() else None,
        recall=round(tp / positives, 4) if positives else None,
        brier=round(float(brier_score_loss(y, p)), 4),
        ece=round(expected_calibration_error(y, p), 4),
    )
    return out


def label_matrix(rows: Sequence[LabelledTicket]) -> np.ndarray:
    """Labels as floats, shape (n, 4) in :data:`HEADS` order, NaN where unknown."""
    out = np.full((len(rows), len(HEADS)), np.nan)
    for i, row in enumerate(rows):
        for j, head in enumerate(HEADS):
            value = row.labels.get(head)
            if value is not None:
                out[i, j] = value
    return out


def evaluate_predictions(
    rows: Sequence[LabelledTicket], proba: np.ndarray, thresholds: dict[str, float]
) -> dict[str, Any]:
    """Metrics per head, overall and per language."""
    labels = label_matrix(rows)
    languages = np.array([row.language or "unknown" for row in rows])
    result: dict[str, Any] = {"overall": {}, "by_language": {}}
    for group in ["overall", *sorted(set(languages))]:
        sel = np.ones(len(rows), bool) if group == "overall" else languages == group
        block: dict[str, Any] = {}
        for j, head in enumerate(HEADS):
            known = sel & ~np.isnan(labels[:, j])
            if known.any():
                block[head] = binary_metrics(labels[known, j].astype(int), proba[known, j], thresholds[head])
        if group == "overall":
            result["overall"] = block
        else:
            result["by_language"][group] = block
    return result


def markdown_table(metrics: dict[str, Any]) -> str:
    cols = ["n", "positives", "roc_auc", "pr_auc", "precision", "recall", "brier", "ece"]
    lines = ["| group | head | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    groups = [("overall", metrics["overall"]), *sorted(metrics["by_language"].items())]
    for group, block in groups:
        for head, m in block.items():
            cells = ["" if m.get(c) is None else str(m.get(c)) for c in cols]
            lines.append(f"| {group} | {head} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(
    folder: Path,
    *,
    rows: Sequence[LabelledTicket],
    proba: np.ndarray,
    metrics: dict[str, Any],
    title: str,
) -> Path:
    """Write ``summary.md``, ``metrics.json``, ``pr_curve.png`` and ``calibration.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import precision_recall_curve

    folder.mkdir(parents=True, exist_ok=True)
    labels = label_matrix(rows)
    fig_pr, ax_pr = plt.subplots(figsize=(6, 5))
    fig_cal, ax_cal = plt.subplots(figsize=(6, 5))
    ax_cal.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    for j, head in enumerate(HEADS):
        known = ~np.isnan(labels[:, j])
        y = labels[known, j].astype(int)
        if len(y) == 0 or y.min() == y.max():
            continue
        precision, recall, _ = precision_recall_curve(y, proba[known, j])
        ax_pr.plot(recall, precision, label=head)
        frac, mean_p = calibration_curve(y, proba[known, j], n_bins=ECE_BINS, strategy="quantile")
        ax_cal.plot(mean_p, frac, marker="o", label=head)
    ax_pr.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
    ax_pr.set_title(f"Precision-recall\n{title}", fontsize=10)
    ax_cal.set(xlabel="mean predicted probability", ylabel="observed frequency")
    ax_cal.set_title(f"Calibration\n{title}", fontsize=10)
    for fig, ax, name in ((fig_pr, ax_pr, "pr_curve.png"), (fig_cal, ax_cal, "calibration.png")):
        ax.legend(loc="best")
        fig.tight_layout()
        fig.savefig(folder / name, dpi=100)
        plt.close(fig)
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    summary = [
        f"# Evaluation: {title}",
        "",
        f"Rows: {len(rows)}. Thresholds: "
        + ", ".join(f"{h} {metrics['overall'].get(h, {}).get('threshold', '-')}" for h in HEADS),
        "",
        markdown_table(metrics),
        "",
        "![precision-recall](pr_curve.png)",
        "",
        "![calibration](calibration.png)",
        "",
    ]
    (folder / "summary.md").write_text("\n".join(summary))
    return folder
