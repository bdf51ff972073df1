"""In-process cost per ticket: our engine against a plain scikit-learn TF-IDF pipeline.

The reference is what a team would write first: ``FeatureUnion`` of a word 1-2-gram and a
char_wb 3-5-gram ``TfidfVectorizer`` plus ``LogisticRegression``, trained on exactly the same
primary training rows as a bundle trained here with our recipe (no public data, for speed).
Both are timed in turn in the same run, on the same tickets, and reported as medians and ratios
(also the median of the paired ratios, steadier on a shared machine); the
quality of both on the same held-out split is printed beside the speed.

    python bench/model_cost.py            # full run (about a minute)
    python bench/model_cost.py --quick    # smoke mode for CI
    python bench/model_cost.py --words 100 --batches 1    # one cell of the grid
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline

from service.model.bundle import HEADS
from service.model.labelled import read_labelled
from service.scoring.engine import Scorer, answer_ticket
from service.scoring.policy import load_policy
from service.scoring.schemas import TicketScoreRequest
from training.pipeline import SEED_DIR
from training.train import Recipe, train_model

REPO = Path(__file__).resolve().parent.parent


def make_tickets(texts: list[str], words: int, count: int) -> list[str]:
    """Tickets of exactly ``words`` words, built by joining held-out texts in order."""
    pool = " ".join(texts).split()
    out = []
    for i in range(count):
        start = (i * 37) % max(len(pool) - words, 1)
        out.append(" ".join(pool[start : start + words]))
    return out


def paired_us(
    ours: Callable[[], object], reference: Callable[[], object], items: int, repeats: int
) -> tuple[float, float, float]:
    """Time per item in microseconds, ours and the reference timed in turn ``repeats`` times, so
    that a shared machine slowing down or speeding up weighs on both alike: the median of each,
    and the median of the paired ratios (reference / ours)."""
    times: dict[str, list[float]] = {"ours": [], "reference": []}
    for _ in range(repeats):
        for name, fn in (("ours", ours), ("reference", reference)):
            started = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - started) / items * 1e6)
    ratios = [r / o for o, r in zip(times["ours"], times["reference"], strict=True)]
    return statistics.median(times["ours"]), statistics.median(times["reference"]), statistics.median(ratios)


def score_all(scorer: Scorer, requests: list[TicketScoreRequest]) -> None:
    # What the API's routes run per ticket: the whole answer (routing, reasons, rules, language),
    # as the plain data they write as JSON.
    for request in requests:
        answer_ticket(scorer=scorer, ticket=request)


def reference_singly(reference: Pipeline, tickets: list[str]) -> None:
    for ticket in tickets:
        reference.predict_proba([ticket])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few repeats, for a smoke test")
    # On a busy machine the whole grid takes tens of minutes; one cell can be rerun alone.
    parser.add_argument("--words", type=int, nargs="+", default=[20, 100, 400], help="ticket sizes")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32, 1000], help="batch sizes")
    args = parser.parse_args()
    repeats = 3 if args.quick else 15

    rows = read_labelled([SEED_DIR])
    result = train_model(rows, Recipe(name="bench"))
    model = result.model
    train_rows = [r for r in rows if r not in result.test_rows]
    y_train = np.array([r.labels["needs_human"] for r in train_rows])
    reference = make_pipeline(
        FeatureUnion(
            [
                ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
                ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)),
            ]
        ),
        LogisticRegression(C=4.0, max_iter=2000),
    ).fit([r.model_text for r in train_rows], y_train)

    y_test = np.array([r.labels["needs_human"] for r in result.test_rows])
    test_texts = [r.model_text for r in result.test_rows]
    ours_auc = roc_auc_score(y_test, model.predict_proba_texts(test_texts)[:, HEADS.index("needs_human")])
    ref_auc = roc_auc_score(y_test, reference.predict_proba(test_texts)[:, 1])
    print(f"held-out needs_human ROC-AUC (n={len(y_test)}): ours {ours_auc:.4f}, reference {ref_auc:.4f}")

    scorer = Scorer.build(model=model, policy=load_policy(REPO / "policy.toml"))
    print(
        f"{'lang':<4} {'words':>5} {'batch':>5} {'ours us/ticket':>15} {'reference':>10} {'ratio':>7}"
        f" {'paired ratio':>13}"
    )
    for lang in ("en", "nl"):
        texts = [r.text for r in result.test_rows if r.language == lang]
        for words in args.words:
            for batch in args.batches:
                n = batch if batch > 1 else (50 if args.quick else 300)
                tickets = make_tickets(texts, words, n)
                requests = [TicketScoreRequest(text=t) for t in tickets]
                run_reference = (
                    partial(reference_singly, reference, tickets)
                    if batch == 1
                    else partial(reference.predict_proba, tickets)
                )
                ours, ref, paired = paired_us(partial(score_all, scorer, requests), run_reference, n, repeats)
                print(
                    f"{lang:<4} {words:>5} {batch:>5} {ours:>15.1f} {ref:>10.1f} {ref / ours:>6.1f}x"
                    f" {paired:>12.1f}x"
                )


if __name__ == "__main__":
    main()
