"""The heads: one linear model per label, fitted in threads (scipy's solvers release the GIL).

Two recipes share them. The default fits each head on all rows together, each public source
with an offset of its own; the custom recipe
(``Recipe.public_heads``) fits a naive-Bayes-scaled head on the customer's own rows and a
public-only head, and stacks the two on out-of-fold logits.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from service.model.bundle import HEADS
from service.model.labelled import DataIssue, DataValidationError

if TYPE_CHECKING:
    from training.train import Recipe, Report


def fit_head(x: sp.csr_matrix, y: np.ndarray, w: np.ndarray, recipe: Recipe) -> LogisticRegression:
    clf = LogisticRegression(C=recipe.C, max_iter=2000, solver="lbfgs")
    clf.fit(x, y, sample_weight=w)
    return clf


Heads = tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]
Linear = tuple[np.ndarray, float]


def nb_scaling(x: sp.csr_matrix, y: np.ndarray, strength: float, alpha: float = 0.5) -> np.ndarray:
    """Per-feature scale ``(1 - strength) + strength * |r|``, r the naive-Bayes log-count ratio.

    r compares how often a feature occurs (present or not) in the positive rows and in the
    negative rows, with add-``alpha`` smoothing (Wang and Manning, 2012). Scaling a column by s
    is the same as weakening its L2 penalty by s^2: features that tell the classes apart on the
    head's own rows are regularised less. The scale folds into the weights, so serving is unchanged.
    """
    # Presence counts per column, from the stored entries of the positive and of the negative rows:
    # counted in place, where a binary copy of x and its two row selections cost a tenth of
    # `triage train` (py-spy). Whole numbers either way, so the same floats.
    per_row = np.diff(x.indptr)
    n = x.shape[1]
    pos = alpha + np.bincount(x.indices[np.repeat(y == 1, per_row)], minlength=n)
    neg = alpha + np.bincount(x.indices[np.repeat(y == 0, per_row)], minlength=n)
    ratio = np.log(pos / pos.sum()) - np.log(neg / neg.sum())
    scale: np.ndarray = (1.0 - strength) + strength * np.abs(ratio)
    return scale


# The value of a row's source column: large beside the tf-idf values (each block has norm 1), so
# that the L2 penalty barely holds a source's offset back.
SOURCE_SCALE = 3.0


def fit_linear(
    x: sp.csr_matrix,
    y: np.ndarray,
    w: np.ndarray,
    recipe: Recipe,
    scale: float = 0.0,
    sources: np.ndarray | None = None,
) -> Linear | None:
    """One L2 logistic regression as (weights, intercept); None when y has one class only.

    ``sources``: per row, the index of the data set it came from, 0 for the primary rows. Each
    source other than 0 gets an offset of its own, fitted with the weights and then dropped, so
    the intercept is the primary rows' (or, without them, the sources' offsets averaged by their
    share of the sample weight). The sets label at rates of their own (XED's Dutch subtitles
    are 55% emotional, GoEmotions' comments 30%), and without an offset the weights learn which
    set a row came from, from words that only say that (one head on the airline tweets: 0.843
    -> 0.851; README, Quality).
    """
    if len(y) == 0 or y.min() == y.max():
        return None
    factors = nb_scaling(x, y, scale) if scale else np.ones(x.shape[1])
    # Only the columns these rows use: under an L2 penalty, from zero, a column with no entry keeps
    # a zero weight, so the fit is the same problem in fewer unknowns (a customer's tickets reach a
    # fraction of the 2**18 buckets, and L-BFGS works on every unknown at every step).
    used = np.flatnonzero(np.bincount(x.indices, minlength=x.shape[1]))
    position = np.zeros(x.shape[1], dtype=x.indices.dtype)
    position[used] = np.arange(len(used), dtype=x.indices.dtype)
    # x @ diag(factors) on the used columns, as each stored value times its column's factor: a
    # sparse product cost a fifth of `triage train`'s time (py-spy) and left columns unsorted.
    narrow = sp.csr_matrix(
        (x.data * factors[x.indices], position[x.indices], x.indptr), shape=(x.shape[0], len(used))
    )
    offsets = _source_columns(sources)
    if offsets is not None:
        narrow = sp.hstack([narrow, offsets], format="csr")
    if narrow.shape[1] == 0:
        # No row holds a feature: an intercept-only head, as the fit on the whole matrix gives.
        clf = fit_head(x, y, w, recipe)
        return clf.coef_[0].copy(), float(clf.intercept_[0])
    clf = fit_head(narrow, y, w, recipe)
    weights = np.zeros(x.shape[1])
    weights[used] = clf.coef_[0][: len(used)] * factors[used]
    intercept = float(clf.intercept_[0])
    if offsets is not None and sources is not None and not (sources == 0).any():
        # Without primary rows the offsets sum to the intercept's own column, and only their weak
        # penalty fixes how the two share a constant: where L-BFGS stops along that line is
        # arbitrary. Each source's intercept plus its offset, averaged by its share of the sample
        # weight, is the same wherever it stops.
        # (Every row holds exactly one offset entry here, in row order.)
        share = np.bincount(offsets.indices, weights=w, minlength=offsets.shape[1])
        intercept += float(share @ clf.coef_[0][len(used) :] * SOURCE_SCALE / share.sum())
    return weights, intercept


def _source_columns(sources: np.ndarray | None) -> sp.csr_matrix | None:
    """One column per source other than 0 among ``sources``, ``SOURCE_SCALE`` on its rows; None
    where the rows come from one source (an offset would only split the intercept)."""
    if sources is None or len(np.unique(sources)) < 2:
        return None
    names, column = np.unique(sources[sources != 0], return_inverse=True)
    rows = np.flatnonzero(sources != 0)
    return sp.csr_matrix((np.full(len(rows), SOURCE_SCALE), (rows, column)), shape=(len(sources), len(names)))


def in_threads(fit: Callable[[int], Linear | None], n: int) -> list[Linear | None]:
    """``fit(j)`` for every head, in threads (scipy's sparse products release the GIL; each fit
    is deterministic on its own, so the result does not depend on the thread count).

    The heads already keep every core busy, so BLAS gets one thread each: L-BFGS's vector work
    is too small to share, and OpenBLAS's own threads, one set per head's thread, fought the
    heads for the cores (`triage train` on 100,000 tickets, 2 cores: 56.1 -> 36.7 s; README,
    Performance). With one thread each product sums in the same order whatever the core count
    (OpenBLAS starts one thread per core): going from two threads to one moved the default
    model's weights by up to 0.14, as the fits stop within L-BFGS's tolerance, not at the optimum.
    """
    with (
        threadpool_limits(limits=1, user_api="blas"),
        ThreadPoolExecutor(max_workers=min(n, os.cpu_count() or 1)) as pool,
    ):
        return list(pool.map(fit, range(n)))


def joint_heads(
    x: sp.csr_matrix,
    y: np.ndarray,
    w: np.ndarray,
    n_primary: int,
    folds: list[tuple[np.ndarray, np.ndarray]],
    recipe: Recipe,
    report: Report,
    sources: np.ndarray | None = None,
) -> Heads:
    """One head per dimension on the primary and public rows together (public rows always train),
    naive-Bayes scaled by ``recipe.nb_scale``; with ``recipe.source_offsets``, each public source
    (``sources``: one label per public row) has an offset of its own (see :func:`fit_linear`)."""
    public = np.arange(n_primary, x.shape[0])
    group = np.zeros(x.shape[0], dtype=np.int64)
    if recipe.source_offsets and sources is not None and len(sources):
        if len(sources) != len(public):
            raise ValueError(f"one source per public row: {len(sources)} for {len(public)} rows")
        group[n_primary:] = 1 + np.unique(sources, return_inverse=True)[1]

    def fit_on(rows: np.ndarray) -> Callable[[int], Linear | None]:
        every = x[rows]  # one copy for the heads that label every row, not one per head

        def fit(j: int) -> Linear | None:
            keep = ~np.isnan(y[rows, j])
            mine = rows[keep]
            part = every if len(mine) == len(rows) else every[keep]
            return fit_linear(part, y[mine, j].astype(int), w[mine], recipe, recipe.nb_scale, group[mine])

        return fit

    def fitted(heads: list[Linear | None]) -> list[Linear]:
        # check_trainable asks for both classes of every head; a fold short of one fails here, by name.
        for name, head in zip(HEADS, heads, strict=True):
            if head is None:
                raise DataValidationError(
                    [DataIssue("(all training files)", 0, name, "a fold holds one class of this head only")]
                )
        return [head for head in heads if head is not None]

    oof = np.zeros((n_primary, len(HEADS)))
    for k, (fit_idx, val_idx) in enumerate(folds):
        report(f"cross-validation fold {k + 1}/{len(folds)}")
        for j, (w_j, b_j) in enumerate(
            fitted(in_threads(fit_on(np.concatenate([fit_idx, public])), len(HEADS)))
        ):
            oof[val_idx, j] = x[val_idx] @ w_j + b_j
    report("fitting final heads")
    weights = np.zeros((x.shape[1], len(HEADS)))
    intercepts = np.zeros(len(HEADS))
    for j, (w_j, b_j) in enumerate(fitted(in_threads(fit_on(np.arange(x.shape[0])), len(HEADS)))):
        weights[:, j], intercepts[j] = w_j, b_j
    return oof, weights, intercepts, {}


def public_weights(sources: np.ndarray) -> np.ndarray:
    """Each public source weighs the same in all; the weights sum to the number of rows."""
    names, inverse, counts = np.unique(sources, return_inverse=True, return_counts=True)
    out: np.ndarray = len(sources) / (len(names) * counts[inverse])
    return out


def separate_heads(
    x: sp.csr_matrix,
    y: np.ndarray,
    w: np.ndarray,
    n_primary: int,
    folds: list[tuple[np.ndarray, np.ndarray]],
    recipe: Recipe,
    report: Report,
    sources: np.ndarray | None = None,
) -> Heads:
    """Per head, a primary-only head (naive-Bayes scaled) and a public-only head, mixed by a
    logistic regression on the primary rows' out-of-fold logits.

    The public heads never see a primary row, so their logits on the primary rows are as honest
    as out-of-fold ones; they are fitted once, not once per fold. A head the primary rows leave
    blank is the public head alone; a head no public row labels both ways is the primary head
    alone. The mix is linear, so it folds into one weight vector per head.
    """
    n_heads = len(HEADS)
    public = np.arange(n_primary, x.shape[0])
    source_of = sources if sources is not None else np.zeros(len(public), dtype=np.int64)

    def known(rows: np.ndarray, j: int) -> np.ndarray:
        out: np.ndarray = rows[~np.isnan(y[rows, j])]
        return out

    def rows_of(rows: np.ndarray) -> Callable[[np.ndarray], sp.csr_matrix]:
        """``x[mine]`` for the heads' row sets: one copy for every head that labels all of ``rows``
        (most of them), not one per head."""
        every = x[rows]

        def select(mine: np.ndarray) -> sp.csr_matrix:
            return every if len(mine) == len(rows) else x[mine]

        return select

    # Each public source's own offset (see fit_linear): numbered from 1, as no primary row is here.
    public_group = 1 + np.unique(source_of, return_inverse=True)[1] if recipe.source_offsets else None

    def fit_public(j: int) -> Linear | None:
        rows = known(public, j)
        return fit_linear(
            x[rows],
            y[rows, j].astype(int),
            public_weights(source_of[rows - n_primary]),
            recipe,
            sources=public_group[rows - n_primary] if public_group is not None else None,
        )

    def fit_own(rows: np.ndarray) -> Callable[[int], Linear | None]:
        select = rows_of(rows)

        def fit(j: int) -> Linear | None:
            mine = known(rows, j)
            return fit_linear(select(mine), y[mine, j].astype(int), w[mine], recipe, recipe.nb_scale)

        return fit

    report("public heads")
    public_heads = in_threads(fit_public, n_heads)
    x_primary = x[:n_primary]
    own_oof = np.zeros((n_primary, n_heads))
    has_own = np.array([bool(len(known(np.arange(n_primary), j))) for j in range(n_heads)])
    for k, (fit_idx, val_idx) in enumerate(folds):
        report(f"cross-validation fold {k + 1}/{len(folds)}")
        for j, head in enumerate(in_threads(fit_own(fit_idx), n_heads)):
            if head is None:
                has_own[j] = False  # too few of a class in some fold: the public head alone
            else:
                own_oof[val_idx, j] = x_primary[val_idx] @ head[0] + head[1]
    report("fitting final heads")
    own_final = in_threads(fit_own(np.arange(n_primary)), n_heads)

    oof = np.zeros((n_primary, n_heads))
    weights = np.zeros((x.shape[1], n_heads))
    intercepts = np.zeros(n_heads)
    mixing: dict[str, Any] = {}
    for j, name in enumerate(HEADS):
        own, pub = own_final[j] if has_own[j] else None, public_heads[j]
        if own is None and pub is None:
            raise DataValidationError(
                [DataIssue("(all training files)", 0, name, "no rows label this head both ways")]
            )
        pub_oof = x_primary @ pub[0] + pub[1] if pub is not None else None
        if own is not None and pub is not None and pub_oof is not None:
            rows = known(np.arange(n_primary), j)
            mix = LogisticRegression(C=1.0, solver="lbfgs").fit(
                np.column_stack([own_oof[rows, j], pub_oof[rows]]), y[rows, j].astype(int)
            )
            c_own, c_pub, c0 = float(mix.coef_[0, 0]), float(mix.coef_[0, 1]), float(mix.intercept_[0])
        elif own is not None:
            c_own, c_pub, c0 = 1.0, 0.0, 0.0
        else:
            c_own, c_pub, c0 = 0.0, 1.0, 0.0
        oof[:, j] = c0 + c_own * own_oof[:, j] + (c_pub * pub_oof if pub_oof is not None else 0.0)
        weights[:, j] = (c_own * own[0] if own else 0.0) + (c_pub * pub[0] if pub else 0.0)
        intercepts[j] = c0 + (c_own * own[1] if own else 0.0) + (c_pub * pub[1] if pub else 0.0)
        mixing[name] = {"primary": round(c_own, 6), "public": round(c_pub, 6), "intercept": round(c0, 6)}
    return oof, weights, intercepts, mixing


def platt(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Calibration ``sigmoid(a*z + b)`` fitted on out-of-fold logits."""
    if y.min() == y.max():
        return 1.0, 0.0
    lr = LogisticRegression(C=1e4, solver="lbfgs").fit(z.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def auc(y: np.ndarray, score: np.ndarray) -> float | None:
    return round(float(roc_auc_score(y, score)), 4) if 0 < y.sum() < len(y) else None
