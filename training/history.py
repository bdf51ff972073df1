"""How well ``triage train`` learns a customer's own history, with the airline tweets as that history.

An ops team's labelled history usually says only whether a ticket needed a person. Here the
tweets play that part: ``needs_human`` = ``emotional`` = negative sentiment, ``complex`` and
``nuanced`` left blank (the public sets teach those heads, as ``--public-data`` does for a
customer). Two protocols, fixed before any result was seen:

- 80/20: test rows are those with ``int(sha256(text).hexdigest(), 16) % 5 == 0``;
- leave one airline out: train on five airlines, score the sixth; scores pooled over the six.

Our model is trained by the same pipeline as ``triage train --recipe custom --data FILE
--public-data DIR`` into a temporary folder (never committed: the tweets are non-commercial).
The peers train on the same rows twice: the tweets with the same public rows and weights, and
the tweets alone; both are reported.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from service.model.bundle import HEADS
from training.evaluate import label_matrix
from training.peers import PRIMARY, PeerUnavailable, Scorer, make_peer, two_sided
from training.pipeline import train_bundle
from training.public_data import PublicData, text_bucket
from training.train import Recipe, Report, weights_for


def _quiet(_: str) -> None:
    pass


def _write_history(rows: Sequence[Any], path: Path) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text", "emotional", "complex", "nuanced", "needs_human", "language"])
        for i, row in enumerate(rows):
            y = row.labels["emotional"]
            writer.writerow([f"t{i}", row.text, y, "", "", y, "en"])
    return path


def protocols(rows: Sequence[Any]) -> dict[str, list[tuple[str, np.ndarray, np.ndarray]]]:
    """Per protocol, its folds as (name, train indices, test indices)."""
    test = np.array([text_bucket(r.text, 5) == 0 for r in rows])
    airlines = np.array([str(r.extra.get("airline", "")) for r in rows])
    everything = np.arange(len(rows))
    return {
        "80/20 split": [("80/20", everything[~test], everything[test])],
        "leave one airline out": [
            (airline, everything[airlines != airline], everything[airlines == airline])
            for airline in sorted(set(airlines))
        ],
    }


def customer_history(
    *, public: PublicData, peers: Sequence[str], skipped: list[str], cache_dir: Path | None, report: Report
) -> dict[str, Any]:
    """ROC-AUC (needs_human score against the history's label) per protocol and scorer."""
    rows = public.airline_tweets()
    if not rows:
        return {}
    auxiliary = public.training_rows()
    scorers: list[Scorer] = []
    for name in (p for p in peers if p != "vader"):
        try:
            scorers.append(make_peer(name, cache_dir=cache_dir))
        except PeerUnavailable as exc:
            if str(exc) not in skipped:
                skipped.append(str(exc))
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="triage-history-") as tmp:
        for protocol, folds in protocols(rows).items():
            y_all = np.array([r.labels["emotional"] for r in rows], dtype=int)
            pooled: dict[str, np.ndarray] = {}
            for fold, train_idx, test_idx in folds:
                report(
                    f"history: {protocol}, fold {fold}: {len(train_idx)} training rows, {len(test_idx)} test rows"
                )
                train_rows = [rows[i] for i in train_idx]
                test_texts = [rows[i].text for i in test_idx]
                csv_path = _write_history(
                    train_rows, Path(tmp) / f"history-{len(results)}-{fold.replace('/', '-')}.csv"
                )
                _, result = train_bundle(
                    data=[csv_path],
                    recipe=Recipe(name="custom"),
                    models_dir=Path(tmp) / "models",
                    name="history",
                    version=f"{len(results)}-{fold}".replace("/", "-").replace(" ", "-"),
                    public_data=public.root,
                    report=_quiet,
                )
                scores = {
                    "ticket-triage": result.model.predict_proba_texts(test_texts)[
                        :, HEADS.index("needs_human")
                    ]
                }
                for scorer in scorers:
                    for variant, aux in (("with public rows", auxiliary), ("tweets only", [])):
                        train_set = [*train_rows, *aux]
                        weights = weights_for(train_set, {"airline_tweets"}, 0.1)
                        labels = label_matrix(train_set)
                        # The history labels needs_human and emotional alike; tweets carry no needs_human 0
                        # in the public mapping, so set it here as in the CSV ticket-triage trains on.
                        labels[: len(train_rows), HEADS.index("needs_human")] = labels[: len(train_rows), 0]
                        labels = two_sided(labels, [PRIMARY] * len(train_rows) + [r.source for r in aux])
                        scorer.fit([r.text for r in train_set], labels, weights)
                        key = f"{scorer.name} ({variant})"
                        scores[key] = scorer.score(test_texts)[:, HEADS.index("needs_human")]
                for key, value in scores.items():
                    pooled[key] = np.concatenate([pooled.get(key, np.zeros(0)), value])
            order = np.concatenate([test for _, _, test in folds])
            y = y_all[order]
            results[protocol] = {
                "n": len(y),
                "positives": int(y.sum()),
                "roc_auc": {k: round(float(roc_auc_score(y, v)), 4) for k, v in pooled.items()},
            }
    return results


def history_markdown(found: dict[str, Any]) -> str:
    if not found:
        return "Customer history: no airline tweets found; not run."
    scorers = list(next(iter(found.values()))["roc_auc"])
    lines = [
        "Customer history (airline tweets as a customer's labelled tickets; needs_human score, ROC-AUC):",
        "",
        "| protocol | n | positives | " + " | ".join(scorers) + " |",
        "|---|---|---|" + "---|" * len(scorers),
    ]
    for protocol, r in found.items():
        lines.append(
            f"| {protocol} | {r['n']} | {r['positives']} | "
            + " | ".join(f"{r['roc_auc'][s]:.3f}" for s in scorers)
            + " |"
        )
    return "\n".join(lines)
