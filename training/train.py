"""Training: hashed features, one logistic regression per dimension, a stacked needs_human head.

The recipe, step by step:

1. The primary data (the user's labelled tickets, or our seed set) is split, stratified by
   needs_human and language, into a training part and a held-out part that only evaluates.
2. Auxiliary public rows (with partial labels) join the training part, down-weighted so that each
   source weighs ``public_weight`` times the primary training set in all.
3. Five-fold cross-validation over the primary training rows (public rows always train) gives
   out-of-fold logits: they fit each dimension's Platt calibration, the stacked needs_human head
   (a logistic regression on the four logits: three dimensions and a direct needs_human head),
   and the needs_human threshold for the target
   human share or recall. None of these sees its own training rows.
4. The dimension heads are refitted on the whole training part; the stacker is folded into the
   linear weights, so serving remains one sparse dot product.

Everything is seeded; the same data and parameters give the same weights.
"""

from __future__ import annotations

import platform
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split

from service.model.bundle import DIMENSIONS, HEADS, TriageModel
from service.model.drift import BINS, shares
from service.model.features import Featurizer
from service.model.labelled import DataIssue, DataValidationError, LabelledTicket, text_digest
from training.evaluate import evaluate_predictions, label_matrix
from training.heads import auc, joint_heads, platt, separate_heads

Report = Callable[[str], None]
LARGE_DATA = 20_000


@dataclass(frozen=True)
class Recipe:
    """Every parameter of a training run; stored in the bundle's metadata."""

    name: str = "custom"
    seed: int = 20261127
    test_size: float = 0.2
    folds: int = 5
    C: float = 8.0
    bits: int = 18
    public_weight: float = 0.1
    target_share: float | None = 0.20
    target_recall: float | None = None
    # With a target share: the needs_human prevalence of real traffic, when the training data's own
    # mix is not traffic's (the seed set is enriched with hard cases). None: the data's own mix.
    assumed_prevalence: float | None = None
    dimension_threshold: float = 0.5
    languages: tuple[str, ...] = ("en", "nl")
    # True: public rows train heads of their own, and each head the primary data labels is a
    # stacked mix of a primary-only head and the public head (weights fitted on out-of-fold
    # logits): the public sets act as a prior the customer's own rows can outvote. False: one
    # head per dimension on the primary and public rows together (the seed set's recipe).
    public_heads: bool = True
    # Naive-Bayes feature scaling of the primary-only heads (public_heads only): each feature is
    # multiplied by (1 - nb_scale) + nb_scale * |log-count ratio| on the head's own training rows,
    # so the words that separate the customer's classes are regularised less. 0 turns it off.
    nb_scale: float = 0.5
    # Each public source gets an offset of its own in the heads it trains, fitted and then dropped:
    # the sets label at rates of their own, which the weights would otherwise learn from words that
    # only tell the sets apart (training.heads.fit_linear).
    source_offsets: bool = True

    def __post_init__(self) -> None:
        if (self.target_share is None) == (self.target_recall is None):
            raise ValueError("set exactly one of target_share and target_recall")
        for name in ("target_share", "target_recall", "assumed_prevalence"):
            value = getattr(self, name)
            if value is not None and not 0 < value < 1:
                raise ValueError(f"{name} must be between 0 and 1")
        if not 0 <= self.nb_scale <= 1:
            raise ValueError("nb_scale must be between 0 and 1")


# What `--recipe default` changes from the custom recipe's defaults (the seed set and the public sets).
DEFAULT_RECIPE_PARAMS: dict[str, Any] = {
    # The seed set is enriched with hard cases; the brief's 80/20 split stands for traffic.
    "assumed_prevalence": 0.20,
    # The seed set is small: each public source weighs as much as it does, so that the model
    # learns how real customers write (measured by `triage quality`), not only how we do.
    "public_weight": 1.0,
    # One head per dimension on seed and public rows together: the transfer sets (tweets, XED nl)
    # score better so than with separate heads (README, Quality). With each public source's own
    # offset, naive-Bayes scaling helps every set (without the offsets it cost the tweets 0.03).
    "public_heads": False,
    "nb_scale": 0.5,
}


@dataclass
class TrainingResult:
    model: TriageModel
    test_rows: list[LabelledTicket]
    test_proba: np.ndarray
    metrics: dict[str, Any] = field(default_factory=dict)


def _quiet(_: str) -> None:
    pass


def featurize(featurizer: Featurizer, texts: Sequence[str], report: Report, label: str) -> sp.csr_matrix:
    """Fit the idf and build the rows in one pass over the texts, in chunks that show progress."""
    chunk = 10_000
    parts = []
    for start in range(0, len(texts), chunk):
        parts.append(featurizer.count_matrix(texts[start : start + chunk]))
        if len(texts) > chunk:
            report(f"  {label}: featurized {min(start + chunk, len(texts))}/{len(texts)}")
    counts = sp.vstack(parts).tocsr() if parts else featurizer.count_matrix([])
    featurizer.fit_counts(counts)
    return featurizer.weigh_counts(counts)


def weights_for(
    rows: Sequence[LabelledTicket], primary_sources: set[str], public_weight: float
) -> np.ndarray:
    """Primary rows weigh 1; each public source weighs ``public_weight`` times the primary rows in all."""
    counts = Counter(r.source for r in rows)
    n_primary = sum(c for s, c in counts.items() if s in primary_sources)
    out = np.ones(len(rows))
    for i, row in enumerate(rows):
        if row.source not in primary_sources:
            out[i] = public_weight * n_primary / counts[row.source]
    return out


def choose_threshold(y: np.ndarray, p: np.ndarray, recipe: Recipe) -> float:
    """The needs_human threshold that flags the target share, or reaches the target recall.

    For a share, each class can be reweighted to ``assumed_prevalence`` so that the share is the
    one expected on traffic rather than on an enriched training set.
    """
    if recipe.target_recall is not None:
        positives = np.sort(p[y == 1])[::-1]
        if len(positives) == 0:
            return 0.5
        k = int(np.ceil(recipe.target_recall * len(positives))) - 1
        return float(positives[min(max(k, 0), len(positives) - 1)])
    weight = np.ones(len(p))
    prevalence = recipe.assumed_prevalence
    n_pos = int(y.sum())
    if prevalence is not None and 0 < n_pos < len(y):
        weight = np.where(y == 1, prevalence / n_pos, (1 - prevalence) / (len(y) - n_pos))
    order = np.argsort(-p, kind="stable")
    share = np.cumsum(weight[order]) / weight.sum()
    k = int(np.searchsorted(share, float(recipe.target_share or 0.2)))
    return float(p[order][min(k, len(p) - 1)])


def check_trainable(
    primary: Sequence[LabelledTicket], recipe: Recipe, auxiliary: Sequence[LabelledTicket] = ()
) -> None:
    """Every head needs both classes often enough to learn; say so before training.

    needs_human is cross-validated on the primary rows, so it needs both classes in every fold
    there. A dimension the primary data leaves blank may learn from the public rows instead.
    """
    need = 2 * recipe.folds
    issues = []
    for head in HEADS:
        pool = primary if head == "needs_human" else [*primary, *auxiliary]
        values = [r.labels[head] for r in pool if r.labels.get(head) is not None]
        positives = sum(v or 0 for v in values)
        negatives = len(values) - positives
        if positives < need or negatives < need:
            issues.append(
                DataIssue(
                    "(all training files)",
                    0,
                    head,
                    f"needs at least {need} rows labelled 1 and {need} labelled 0, found {positives} and {negatives}"
                    + ("" if head == "needs_human" or auxiliary else " (or add --public-data)"),
                )
            )
    if issues:
        raise DataValidationError(issues)


def split_primary(
    rows: list[LabelledTicket], recipe: Recipe
) -> tuple[list[LabelledTicket], list[LabelledTicket]]:
    """Stratified by needs_human and language; falls back to needs_human alone for tiny sets."""
    strata = [f"{r.labels['needs_human']}-{r.language or '?'}" for r in rows]
    counts = Counter(strata)
    if min(counts.values()) < 2:
        strata = [str(r.labels["needs_human"]) for r in rows]
    train_idx, test_idx = train_test_split(
        np.arange(len(rows)), test_size=recipe.test_size, random_state=recipe.seed, stratify=strata
    )
    return [rows[i] for i in sorted(train_idx)], [rows[i] for i in sorted(test_idx)]


def train_model(
    primary: list[LabelledTicket],
    recipe: Recipe,
    *,
    auxiliary: Sequence[LabelledTicket] = (),
    report: Report = _quiet,
    extra_metadata: dict[str, Any] | None = None,
) -> TrainingResult:
    """Train, cross-validate and evaluate on the held-out split; returns the model and its figures."""
    started = time.perf_counter()
    check_trainable(primary, recipe, auxiliary)
    primary_train, test_rows = split_primary(primary, recipe)
    train_rows = primary_train + list(auxiliary)
    primary_sources = {r.source for r in primary}
    report(
        f"split: {len(primary_train)} primary training rows, {len(test_rows)} held out, {len(auxiliary)} public rows"
    )

    featurizer = Featurizer(bits=recipe.bits)
    texts = [r.model_text for r in train_rows]
    x_all = featurize(featurizer, texts, report, "training rows")
    y_all = label_matrix(train_rows)
    w_all = weights_for(train_rows, primary_sources, recipe.public_weight)
    n_primary = len(primary_train)

    y_nh = y_all[:n_primary, HEADS.index("needs_human")].astype(int)
    # Past LARGE_DATA rows three folds give out-of-fold scores enough for calibration and stacking.
    n_folds = recipe.folds if n_primary <= LARGE_DATA else min(recipe.folds, 3)
    folds = list(
        StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=recipe.seed).split(
            np.zeros(n_primary), y_nh
        )
    )
    # Out-of-fold logits of every head (the three dimensions and a direct needs_human head) on
    # the primary training rows, and each head's final linear weights.
    sources = np.array([r.source for r in auxiliary], dtype=object)
    if recipe.public_heads:
        oof, head_weights, head_intercepts, mixing = separate_heads(
            x_all, y_all, w_all, n_primary, folds, recipe, report, sources
        )
    else:
        oof, head_weights, head_intercepts, mixing = joint_heads(
            x_all, y_all, w_all, n_primary, folds, recipe, report, sources
        )

    calibration = np.zeros((len(HEADS), 2))
    cv_metrics: dict[str, Any] = {}
    for j, dim in enumerate(DIMENSIONS):
        known = ~np.isnan(y_all[:n_primary, j])
        y = y_all[:n_primary, j][known].astype(int)
        # A dimension the primary data leaves blank keeps the public rows' own scale.
        calibration[j] = platt(oof[known, j], y) if len(y) else (1.0, 0.0)
        cv_metrics[dim] = {"roc_auc": auc(y, oof[known, j]) if len(y) else None, "known": int(known.sum())}
    # needs_human: a logistic regression on the four out-of-fold logits; it is calibrated itself.
    stacker = LogisticRegression(C=1.0, solver="lbfgs").fit(oof, y_nh)
    oof_nh = stacker.predict_proba(oof)[:, 1]
    cv_metrics["needs_human"] = {"roc_auc": auc(y_nh, oof_nh), "direct_head_roc_auc": auc(y_nh, oof[:, 3])}
    cv_metrics["folds"] = n_folds
    calibration[HEADS.index("needs_human")] = (1.0, 0.0)
    threshold = choose_threshold(y_nh, oof_nh, recipe)
    report(f"cross-validated ROC-AUC: {cv_metrics}; needs_human threshold {threshold:.4f}")

    # Fold the stacker into the linear weights: serving stays one sparse dot product.
    s = stacker.coef_[0]
    weights = head_weights.copy()
    intercepts = head_intercepts.copy()
    weights[:, 3] = head_weights @ s
    intercepts[3] = float(head_intercepts @ s + stacker.intercept_[0])

    thresholds: dict[str, float] = dict.fromkeys(map(str, DIMENSIONS), recipe.dimension_threshold)
    thresholds["needs_human"] = round(threshold, 6)
    model = TriageModel(
        featurizer=featurizer,
        weights=weights.astype(np.float32),
        intercepts=intercepts,
        calibration=calibration,
        metadata={},
    )
    report("evaluating on the held-out split")
    test_proba = model.predict_proba_texts([r.model_text for r in test_rows])
    metrics = evaluate_predictions(test_rows, test_proba, thresholds)
    train_proba = model.predict_proba_matrix(x_all[:n_primary])
    model.metadata = build_metadata(
        recipe=recipe,
        thresholds=thresholds,
        primary=primary,
        primary_train=primary_train,
        test_rows=test_rows,
        auxiliary=auxiliary,
        metrics=metrics,
        cv_metrics=cv_metrics,
        stacker=stacker,
        mixing=mixing,
        seconds=time.perf_counter() - started,
        human_share_train=float((train_proba[:, 3] >= threshold).mean()),
        test_proba=test_proba,
        extra=extra_metadata or {},
    )
    return TrainingResult(model=model, test_rows=test_rows, test_proba=test_proba, metrics=metrics)


def _label_counts(rows: Sequence[LabelledTicket]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for head in HEADS:
        known = [r.labels.get(head) for r in rows if r.labels.get(head) is not None]
        out[head] = {"known": len(known), "positive": int(sum(known))}  # type: ignore[arg-type]
    return out


def build_metadata(
    *,
    recipe: Recipe,
    thresholds: dict[str, float],
    primary: Sequence[LabelledTicket],
    primary_train: Sequence[LabelledTicket],
    test_rows: Sequence[LabelledTicket],
    auxiliary: Sequence[LabelledTicket],
    metrics: dict[str, Any],
    cv_metrics: dict[str, Any],
    stacker: LogisticRegression,
    mixing: dict[str, Any],
    seconds: float,
    human_share_train: float,
    test_proba: np.ndarray,
    extra: dict[str, Any],
) -> dict[str, Any]:
    return {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "scikit_learn": sklearn.__version__,
        "numpy": np.__version__,
        "recipe": asdict(recipe),
        "languages": list(recipe.languages),
        "heads": list(HEADS),
        "thresholds": thresholds,
        "stacker": {
            "coef": [round(float(c), 6) for c in stacker.coef_[0]],
            "intercept": round(float(stacker.intercept_[0]), 6),
        },
        # With public_heads: per head, how the primary-only and public heads are mixed.
        "head_mixing": mixing,
        "rows": {
            "primary": len(primary),
            "primary_train": len(primary_train),
            "held_out": len(test_rows),
            "auxiliary_by_source": dict(Counter(r.source for r in auxiliary)),
            "primary_by_language": dict(Counter(r.language or "unknown" for r in primary)),
            "primary_by_domain": dict(Counter(r.domain or "unknown" for r in primary)),
        },
        "label_counts": {"primary": _label_counts(primary), "auxiliary": _label_counts(auxiliary)},
        "metrics": {"held_out": metrics, "cross_validation": cv_metrics},
        "human_share_primary_train": round(human_share_train, 4),
        "held_out_text_sha256_16": sorted(text_digest(r.model_text) for r in test_rows),
        # What drift monitoring compares live scores with (service.model.drift).
        "score_reference": {
            "source": "held-out split",
            "bins": BINS,
            **{head: shares(test_proba[:, j]) for j, head in enumerate(HEADS)},
        },
        "training_seconds": round(seconds, 1),
        **extra,
    }
