"""Training: seeded and reproducible, thresholds from held-out scores, honest metadata."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_info

from service.model.bundle import HEADS, TriageModel
from service.model.labelled import DataValidationError, LabelledTicket
from training.heads import SOURCE_SCALE, fit_head, fit_linear, in_threads, nb_scaling
from training.train import (
    DEFAULT_RECIPE_PARAMS,
    Recipe,
    check_trainable,
    choose_threshold,
    split_primary,
    train_model,
)

RECIPE = Recipe(name="t", bits=12, folds=3)


def test_same_data_and_seed_give_the_same_model(seed_rows: list[LabelledTicket]) -> None:
    rows = seed_rows[::6]
    a = train_model(rows, RECIPE).model
    b = train_model(rows, RECIPE).model
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.featurizer.idf_, b.featurizer.idf_)
    assert a.threshold == b.threshold
    c = train_model(rows, Recipe(name="t", bits=12, folds=3, seed=7)).model
    assert not np.array_equal(a.weights, c.weights)


def test_held_out_split_is_stratified_and_disjoint(seed_rows: list[LabelledTicket]) -> None:
    train, test = split_primary(seed_rows, Recipe())
    assert not {id(r) for r in train} & {id(r) for r in test}
    share = lambda rows: sum(r.labels["needs_human"] or 0 for r in rows) / len(rows)  # noqa: E731
    assert share(train) == pytest.approx(share(test), abs=0.02)
    nl = lambda rows: sum(r.language == "nl" for r in rows) / len(rows)  # noqa: E731
    assert nl(train) == pytest.approx(nl(test), abs=0.02)


def test_threshold_for_a_share_and_for_a_recall() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.4).astype(int)
    p = np.clip(0.35 * y + rng.random(2000) * 0.65, 0, 1)
    t = choose_threshold(y, p, Recipe(target_share=0.2))
    assert (p >= t).mean() == pytest.approx(0.2, abs=0.005)
    t = choose_threshold(y, p, Recipe(target_share=None, target_recall=0.9))
    assert (p[y == 1] >= t).mean() == pytest.approx(0.9, abs=0.005)
    # Reweighting to a lower prevalence than the data's flags more of the data.
    t_prior = choose_threshold(y, p, Recipe(target_share=0.2, assumed_prevalence=0.1))
    weight = np.where(y == 1, 0.1 / y.sum(), 0.9 / (len(y) - y.sum()))
    assert weight[p >= t_prior].sum() / weight.sum() == pytest.approx(0.2, abs=0.005)


@pytest.mark.parametrize(
    "params",
    [
        {"target_share": None, "target_recall": None},
        {"target_share": 0.2, "target_recall": 0.9},
        {"target_share": 1.5},
        {"assumed_prevalence": 0.0},
    ],
)
def test_recipe_rejects_contradictions(params: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"target_|between 0 and 1"):
        Recipe(**params)  # type: ignore[arg-type]


def test_metadata_and_scores(tiny_model: TriageModel) -> None:
    meta = tiny_model.metadata
    for key in (
        "python",
        "scikit_learn",
        "model_sha256",
        "training_seconds",
        "label_counts",
        "recipe",
        "created_at",
    ):
        assert meta[key]
    held_out = meta["metrics"]["held_out"]
    assert set(held_out["overall"]) == set(HEADS)
    assert set(held_out["by_language"]) == {"en", "nl"}
    assert 0 < tiny_model.threshold < 1
    assert meta["metrics"]["cross_validation"]["needs_human"]["roc_auc"] > 0.75
    proba = tiny_model.predict_proba_texts(["ok", "Ik ben woedend, dit is de derde keer!"])
    assert proba.shape == (2, 4)
    assert ((proba >= 0) & (proba <= 1)).all()


def test_partial_labels_train_only_their_heads(seed_rows: list[LabelledTicket]) -> None:
    aux = [
        LabelledTicket(
            text=f"I am so angry and upset {i}",
            labels={"emotional": 1, "complex": None, "nuanced": None, "needs_human": 1},
            source="pub",
            language="en",
        )
        for i in range(40)
    ]
    result = train_model(seed_rows[::6], RECIPE, auxiliary=aux)
    counts = result.model.metadata["label_counts"]["auxiliary"]
    assert counts["emotional"] == {"known": 40, "positive": 40}
    assert counts["complex"] == {"known": 0, "positive": 0}
    assert result.model.metadata["rows"]["auxiliary_by_source"] == {"pub": 40}


def history_rows(n: int) -> list[LabelledTicket]:
    """A customer's history: only emotional and needs_human known, complex and nuanced blank."""
    return [
        LabelledTicket(
            text=f"ticket {i}",
            labels={"emotional": i % 2, "complex": None, "nuanced": None, "needs_human": i % 2},
            source="history",
        )
        for i in range(n)
    ]


def public_rows(n: int) -> list[LabelledTicket]:
    return [
        LabelledTicket(
            text=f"public {i}",
            labels={"emotional": None, "complex": i % 2, "nuanced": (i // 2) % 2, "needs_human": None},
            source="pub",
        )
        for i in range(n)
    ]


def test_blank_dimensions_may_learn_from_the_public_rows() -> None:
    primary = history_rows(30)
    check_trainable(primary, RECIPE, public_rows(12))  # 6 of each class per dimension: enough for 3 folds
    with pytest.raises(DataValidationError) as info:
        check_trainable(primary, RECIPE)
    issues = {i.field: i.message for i in info.value.issues}
    assert set(issues) == {"complex", "nuanced"}
    assert "found 0 and 0 (or add --public-data)" in issues["complex"]
    with pytest.raises(DataValidationError) as info:
        check_trainable(primary, RECIPE, public_rows(10))  # 5 or 4 of a class: too few
    assert {i.field for i in info.value.issues} == {"complex", "nuanced"}
    assert "--public-data" not in str(info.value)


def test_needs_human_never_learns_from_the_public_rows() -> None:
    aux = [
        LabelledTicket(text=f"p{i}", labels={**r.labels, "needs_human": i % 2}, source="pub")
        for i, r in enumerate(public_rows(40))
    ]
    primary = [r for r in history_rows(60) if r.labels["needs_human"] == 1]
    for r in primary[:6]:
        r.labels["emotional"] = 0  # both emotional classes; needs_human still only 1
    with pytest.raises(DataValidationError) as info:
        check_trainable(primary, RECIPE, aux)
    assert [i.field for i in info.value.issues] == ["needs_human"]
    assert "found 30 and 0" in str(info.value)


def test_training_with_blank_dimensions_and_public_rows(seed_rows: list[LabelledTicket]) -> None:
    primary = [
        LabelledTicket(
            text=r.text,
            labels={**r.labels, "complex": None, "nuanced": None},
            source="history",
            subject=r.subject,
            language=r.language,
        )
        for r in seed_rows[::6]
    ]
    aux = [
        LabelledTicket(
            text=r.text,
            labels={
                "emotional": None,
                "complex": r.labels["complex"],
                "nuanced": r.labels["nuanced"],
                "needs_human": None,
            },
            source="pub",
            subject=r.subject,
            language=r.language,
        )
        for r in seed_rows[1::6]
    ]
    model = train_model(primary, RECIPE, auxiliary=aux).model
    cv = model.metadata["metrics"]["cross_validation"]
    assert cv["complex"] == {"roc_auc": None, "known": 0}
    assert cv["nuanced"] == {"roc_auc": None, "known": 0}
    assert cv["emotional"]["known"] > 0
    # No primary labels to calibrate on: the blank dimensions keep the public rows' scale.
    np.testing.assert_array_equal(model.calibration[1:3], [[1.0, 0.0], [1.0, 0.0]])
    proba = model.predict_proba_texts([r.model_text for r in seed_rows[2::60]])
    assert not np.isnan(proba).any()


def test_nb_scaling_weakens_the_penalty_on_features_that_separate_the_classes() -> None:
    y = np.array([1, 1, 1, 0, 0, 0])
    # Column 0 only in positives, column 1 in every row, column 2 only in negatives.
    x = sp.csr_matrix(np.array([[1, 1, 0], [2, 1, 0], [1, 1, 0], [0, 1, 1], [0, 1, 1], [0, 1, 1]], float))
    scale = nb_scaling(x, y, 0.5)
    assert scale[0] > scale[1] and scale[2] > scale[1]
    assert scale[0] == pytest.approx(scale[2])  # counts are binarised: presence, not frequency
    assert scale[1] == pytest.approx(0.5)  # no evidence either way: (1 - 0.5) + 0.5 * |0|
    np.testing.assert_array_equal(nb_scaling(x, y, 0.0), np.ones(3))


def test_a_scaled_head_is_the_head_fitted_on_the_scaled_columns() -> None:
    """NB scaling multiplies each column by its factor, then folds the factors into the weights."""
    rng = np.random.default_rng(7)
    x = sp.random(300, 40, density=0.2, format="csr", random_state=3)
    y = (rng.random(300) < 0.4).astype(int)
    w = np.ones(300)
    recipe = Recipe()
    before = x.copy()
    fitted = fit_linear(x, y, w, recipe, 0.5)
    assert (x != before).nnz == 0  # the caller's matrix is not scaled in place
    assert fitted is not None
    factors = nb_scaling(x, y, 0.5)
    by_product = (x @ sp.diags(factors)).tocsr()
    by_product.sort_indices()
    clf = fit_head(by_product, y, w, recipe)
    np.testing.assert_allclose(fitted[0], clf.coef_[0] * factors, rtol=1e-6, atol=1e-9)
    assert fitted[1] == pytest.approx(float(clf.intercept_[0]), rel=1e-6)


def test_nb_scaling_counts_presence_as_a_binary_copy_would() -> None:
    rng = np.random.default_rng(11)
    x = sp.random(400, 50, density=0.1, format="csr", random_state=5)
    y = (rng.random(400) < 0.3).astype(int)
    present = x.copy()
    present.data = np.ones_like(present.data)
    pos = 0.5 + np.asarray(present[y == 1].sum(axis=0)).ravel()
    neg = 0.5 + np.asarray(present[y == 0].sum(axis=0)).ravel()
    ratio = np.log(pos / pos.sum()) - np.log(neg / neg.sum())
    np.testing.assert_array_equal(nb_scaling(x, y, 0.7), (1.0 - 0.7) + 0.7 * np.abs(ratio))


@pytest.mark.parametrize("scale", [0.0, 0.5])
def test_a_head_fitted_on_the_used_columns_is_the_head_fitted_on_all(scale: float) -> None:
    """Columns no row uses are left out of the fit: their weights are zero, the others unchanged."""
    rng = np.random.default_rng(13)
    dense = sp.random(300, 60, density=0.2, format="csr", random_state=9).toarray()
    dense[:, 40:] = 0.0  # 20 buckets that these tickets never reach
    x = sp.csr_matrix(dense)
    y = (rng.random(300) < 0.4).astype(int)
    w = rng.random(300) + 0.5
    recipe = Recipe()
    fitted = fit_linear(x, y, w, recipe, scale)
    assert fitted is not None
    factors = nb_scaling(x, y, scale) if scale else np.ones(60)
    clf = fit_head((x @ sp.diags(factors)).tocsr(), y, w, recipe)
    np.testing.assert_array_equal(fitted[0][40:], 0.0)
    np.testing.assert_allclose(fitted[0], clf.coef_[0] * factors, rtol=1e-5, atol=1e-8)
    assert fitted[1] == pytest.approx(float(clf.intercept_[0]), rel=1e-6)


def test_a_head_on_rows_without_features_is_its_intercept() -> None:
    x = sp.csr_matrix((6, 30))
    y = np.array([1, 0, 0, 1, 0, 0])
    fitted = fit_linear(x, y, np.ones(6), Recipe(), 0.5)
    assert fitted is not None
    np.testing.assert_array_equal(fitted[0], np.zeros(30))
    assert fitted[1] == pytest.approx(np.log(2 / 4), abs=1e-3)  # the prior's log-odds


def test_public_heads_fold_into_one_linear_head(seed_rows: list[LabelledTicket]) -> None:
    """With public heads, a head the primary rows leave blank is the public head alone, and a head
    both label mixes the two by the recorded coefficients: each is still one weight vector."""
    primary = [
        replace(r, labels={**r.labels, "complex": None, "nuanced": None}, source="history")
        for r in seed_rows[::6]
    ]
    aux = [replace(r, labels={**r.labels, "needs_human": None}, source="pub") for r in seed_rows[1::6]]
    recipe = replace(RECIPE, public_heads=True, nb_scale=0.5)
    result = train_model(primary, recipe, auxiliary=aux)
    model, mixing = result.model, result.model.metadata["head_mixing"]
    assert mixing["complex"] == {"primary": 0.0, "public": 1.0, "intercept": 0.0}
    assert mixing["needs_human"] == {"primary": 1.0, "public": 0.0, "intercept": 0.0}
    assert mixing["emotional"]["primary"] > 0 and mixing["emotional"]["public"] != 0
    # The complex head is the public rows' own regression, refitted here on the same features.
    x = model.transform([r.model_text for r in aux])
    j = HEADS.index("complex")
    y = np.array([r.labels["complex"] for r in aux])
    clf = LogisticRegression(C=recipe.C, max_iter=2000).fit(x, y, sample_weight=np.ones(len(y)))
    texts = [r.model_text for r in seed_rows[2::30]]
    z = model.transform(texts) @ model.weights[:, j].astype(np.float64) + model.intercepts[j]
    np.testing.assert_allclose(z, clf.decision_function(model.transform(texts)), atol=1e-3)
    # A joint recipe on the same rows gives other weights and records no mixing.
    joint = train_model(primary, replace(recipe, public_heads=False), auxiliary=aux).model
    assert joint.metadata["head_mixing"] == {}
    assert not np.allclose(joint.weights[:, j], model.weights[:, j])


def test_the_default_recipe_keeps_one_joint_head_per_dimension() -> None:
    recipe = Recipe(name="default", **DEFAULT_RECIPE_PARAMS)
    assert (recipe.public_heads, recipe.nb_scale, recipe.public_weight) == (False, 0.5, 1.0)
    assert recipe.source_offsets and Recipe().source_offsets
    assert Recipe().public_heads and Recipe().nb_scale == 0.5
    with pytest.raises(ValueError, match="nb_scale"):
        Recipe(nb_scale=1.5)


def _two_sources(seed: int) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Rows of two sources that label at 20% and 80%; column 0 says the label, column 1 is a word
    only the second source uses (a channel's or a corpus's habit), columns 2-9 are noise."""
    rng = np.random.default_rng(seed)
    n = 2000
    source = (np.arange(n) >= n // 2).astype(np.int64)
    y = (rng.random(n) < np.where(source == 1, 0.8, 0.2)).astype(int)
    dense = rng.random((n, 10)) * (rng.random((n, 10)) < 0.3)
    dense[:, 0] = np.where(rng.random(n) < 0.7, y, 1 - y)
    dense[:, 1] = source
    return sp.csr_matrix(dense), y, source


def test_a_source_offset_keeps_a_word_from_standing_for_its_source() -> None:
    x, y, source = _two_sources(17)
    w, recipe = np.ones(len(y)), Recipe()
    plain = fit_linear(x, y, w, recipe)
    offset = fit_linear(x, y, w, recipe, sources=source)
    assert plain is not None and offset is not None
    # Without an offset the source's word carries its base rate. With one, the L2 penalty shares
    # that effect between the two columns in proportion to their values (SOURCE_SCALE to 1), so
    # the word keeps about a tenth of it.
    assert plain[0][1] > 1.0
    assert abs(offset[0][1]) < 0.12 * abs(plain[0][1])
    # The label's own column keeps its weight either way.
    assert offset[0][0] == pytest.approx(plain[0][0], rel=0.2)


def test_a_head_with_source_offsets_is_the_head_fitted_with_source_columns() -> None:
    """The offsets are ordinary columns, fitted with the weights and then dropped; source 0 (the
    primary rows) has none, so the intercept is theirs."""
    x, y, source = _two_sources(19)
    source[:300] = 2  # a third source
    w = np.random.default_rng(3).random(len(y)) + 0.5
    recipe = Recipe()
    fitted = fit_linear(x, y, w, recipe, 0.5, source)
    assert fitted is not None
    factors = nb_scaling(x, y, 0.5)
    columns = np.column_stack([source == 1, source == 2]) * SOURCE_SCALE
    clf = fit_head(sp.hstack([x @ sp.diags(factors), sp.csr_matrix(columns)]).tocsr(), y, w, recipe)
    np.testing.assert_allclose(fitted[0], clf.coef_[0][:10] * factors, rtol=1e-5, atol=1e-8)
    assert fitted[1] == pytest.approx(float(clf.intercept_[0]), rel=1e-6)
    # One source only: nothing to offset, the plain head.
    alone = fit_linear(x, y, w, recipe, 0.5, np.full(len(y), 4))
    plain = fit_linear(x, y, w, recipe, 0.5)
    assert alone is not None and plain is not None
    np.testing.assert_array_equal(alone[0], plain[0])
    assert alone[1] == plain[1]


def test_without_primary_rows_the_intercept_is_the_sources_weighted_offset() -> None:
    """Public rows alone: the intercept and the offsets can trade a constant, which only a weak
    penalty pins down; the served intercept must not depend on where the solver stops."""
    rng = np.random.default_rng(23)
    n = 3000
    source = np.where(np.arange(n) < 2000, 1, 2)
    y = (rng.random(n) < np.where(source == 1, 0.7, 0.1)).astype(int)
    x = sp.csr_matrix((n, 8))  # no features: only the rates are there to learn
    w = np.where(source == 1, 1.0, 2.0)  # each source weighs 2,000 in all
    loose = fit_linear(x, y, w, Recipe(), sources=source)
    assert loose is not None
    logit = [np.log(y[source == s].mean() / (1 - y[source == s].mean())) for s in (1, 2)]
    assert loose[1] == pytest.approx(np.mean(logit), abs=0.02)


def test_heads_fit_with_one_blas_thread_each() -> None:
    # The heads' threads already fill the cores; BLAS threads on top fought them for the CPU.
    def blas_threads() -> list[int]:
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before = blas_threads()
    heads = [h for h in in_threads(lambda j: (np.array(blas_threads(), dtype=float), float(j)), 4) if h]
    assert [j for _, j in heads] == [0.0, 1.0, 2.0, 3.0]
    assert all(len(threads) and (threads == 1).all() for threads, _ in heads)
    assert blas_threads() == before  # restored for whatever runs next
