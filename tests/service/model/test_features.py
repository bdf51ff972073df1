"""The featurizer: offsets, word-bounded character n-grams, a stable hash, tf-idf rows."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone

from service.model.bundle import TriageModel
from service.model.features import Featurizer
from service.model.hashing import CHAR_BLOCK, WORD_BLOCK
from service.model.labelled import LabelledTicket


@pytest.fixture
def featurizer() -> Featurizer:
    return Featurizer(bits=16).fit(["ik wil mijn factuur", "I am FURIOUS about this!!", "hello world"])


def test_tokens_keep_offsets_into_the_original_text(featurizer: Featurizer) -> None:
    text = "Ik ben BOOS!! Factuur graag"
    assert [(text[s:e].lower(), tok) for s, e, tok in featurizer.tokenize(text)] == [
        (tok, tok) for tok in ["ik", "ben", "boos", "!!", "factuur", "graag"]
    ]


def test_offsets_survive_unicode(featurizer: Featurizer) -> None:
    text = "İstanbul 😡 “boos” naïef"
    tokens = featurizer.tokenize(text)
    assert [text[s:e] for s, e, _ in tokens] == ["İstanbul", "😡", "“", "boos", "”", "naïef"]


def test_digits_are_folded_and_punctuation_runs_kept(featurizer: Featurizer) -> None:
    tokens = [t for _, _, t in featurizer.tokenize("Order 12345 late?? ok! :)")]
    assert tokens == ["order", "00000", "late", "??", "ok", "!", ":)"]


@pytest.mark.parametrize("text", ["@acme #fail!", "＠acme ＃fail!", "acme fail!"])
def test_mention_and_tag_signs_only_separate(featurizer: Featurizer, text: str) -> None:
    # A handle or hashtag reads as its word: the sign is the channel's, not the customer's.
    assert [t for _, _, t in featurizer.tokenize(text)] == ["acme", "fail", "!"]
    same = featurizer.analyze("acme fail!")
    assert np.array_equal(featurizer.analyze(text).index, same.index)


def test_char_ngrams_stay_inside_words(featurizer: Featurizer) -> None:
    analysis = featurizer.analyze("ab cde")
    char_tokens = analysis.token_a[analysis.block == CHAR_BLOCK].tolist()
    # " ab", "ab ", " ab " for word 0; " cd", "cde", "de ", " cde", "cde ", " cde " for word 1
    assert sorted(char_tokens) == [0, 0, 0, 1, 1, 1, 1, 1, 1]


def test_bigram_and_caps_occurrences_point_at_their_tokens(featurizer: Featurizer) -> None:
    analysis = featurizer.analyze("so ANGRY now")
    words = analysis.block == WORD_BLOCK
    pairs = set(zip(analysis.token_a[words].tolist(), analysis.token_b[words].tolist(), strict=True))
    assert {(0, 0), (1, 1), (2, 2), (0, 1), (1, 2)} <= pairs
    assert len(analysis.index[words]) == 3 + 2 + 1  # unigrams, bigrams, one ALLCAPS marker


HASH_PROBE = "from service.model.features import Featurizer; print(sorted(Featurizer(bits=18).analyze('Hello, wereld!').index.tolist())[:4])"


def test_hash_is_stable_across_processes() -> None:
    # Bundles depend on these buckets: a change here silently breaks every trained model.
    expected = sorted(Featurizer(bits=18).analyze("Hello, wereld!").index.tolist())[:4]
    for seed in ("0", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", HASH_PROBE],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout
        assert out.strip() == str(expected)
    assert expected == [655, 28705, 31889, 43550]


def test_rows_are_normalised_per_block(featurizer: Featurizer) -> None:
    matrix = featurizer.transform(["I am furious about this invoice", "ok"])
    assert matrix.shape == (2, 1 << 16)
    norms = np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel()
    assert norms == pytest.approx([2.0, 2.0], abs=1e-6)


def test_empty_text_gives_an_empty_row(featurizer: Featurizer) -> None:
    assert featurizer.transform([" \n\t "]).nnz == 0


def test_unfitted_featurizer_refuses_to_vectorize() -> None:
    f = Featurizer(bits=10)
    with pytest.raises(RuntimeError, match="not fitted"):
        f.vectorize(f.analyze("hello"))


def test_is_a_scikit_learn_transformer(featurizer: Featurizer) -> None:
    copy = clone(featurizer)
    assert copy.get_params() == {
        "bits": 16,
        "char_min": 3,
        "char_max": 5,
        "word_bigrams": True,
        "caps_marker": True,
    }
    assert not hasattr(copy, "idf_")
    assert copy.fit_transform(["a b c", "c d"]).shape == (2, 1 << 16)


def test_batch_and_single_ticket_features_are_identical(seed_rows: list[LabelledTicket]) -> None:
    """Training builds rows in a batch, serving one ticket at a time: the features must agree."""
    texts = [r.model_text for r in seed_rows]
    featurizer = Featurizer(bits=18).fit(texts)
    batch = featurizer.transform(texts)
    assert len(texts) >= 2000
    for i, text in enumerate(texts):
        vector = featurizer.vectorize(featurizer.analyze(text))
        row = batch.getrow(i)
        # a bucket may hold a word and a character feature: the row sums them
        merged: dict[int, float] = {}
        for bucket, value in zip(vector.index.tolist(), vector.value.tolist(), strict=True):
            merged[bucket] = merged.get(bucket, 0.0) + value
        assert dict(zip(row.indices.tolist(), row.data.tolist(), strict=True)) == pytest.approx(merged)


def test_serving_path_scores_every_seed_ticket_as_the_batch_path_does(
    seed_rows: list[LabelledTicket], tiny_model: TriageModel
) -> None:
    """The compiled single-ticket path and the training matrix give the same logits."""
    texts = [r.model_text for r in seed_rows]
    batch = tiny_model.transform(texts) @ tiny_model.weights + tiny_model.intercepts
    single = np.array([tiny_model.score_text(t).floats[:4] for t in texts])
    np.testing.assert_allclose(single, batch, atol=1e-5)
