"""The featurizer: offsets, word-bounded character n-grams, a stable hash, tf-idf rows."""

from __future__ import annotations

import numpy as np
import pytest

from service.model.features import CHAR_BLOCK, WORD_BLOCK, Featurizer, FeaturizerConfig


@pytest.fixture
def featurizer() -> Featurizer:
    f = Featurizer(FeaturizerConfig(bits=16))
    return f.fit(["ik wil mijn factuur", "I am FURIOUS about this!!", "hello world"])


def test_tokens_keep_offsets_into_the_original_text(featurizer: Featurizer) -> None:
    text = "Ik ben BOOS!! Factuur graag"
    tokens = featurizer.tokenize(text)
    assert [text[t.start : t.end].lower() for t in tokens] == [t.text for t in tokens]


def test_offsets_survive_characters_that_grow_when_lowercased(featurizer: Featurizer) -> None:
    text = "İstanbul boos"
    tokens = featurizer.tokenize(text)
    assert text[tokens[-1].start : tokens[-1].end] == "boos"


def test_digits_are_folded_and_punctuation_runs_kept(featurizer: Featurizer) -> None:
    tokens = [t.text for t in featurizer.tokenize("Order 12345 late?? ok! :)")]
    assert tokens == ["order", "00000", "late", "??", "ok", "!", ":)"]


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


def test_hash_is_stable_across_processes() -> None:
    # Bundles depend on these buckets: a change here silently breaks every trained model.
    analysis = Featurizer(FeaturizerConfig(bits=18)).analyze("hello")
    assert analysis.index[0] == 92155
    assert sorted(analysis.index.tolist())[:3] == [19296, 29131, 83570]


def test_rows_are_normalised_per_block(featurizer: Featurizer) -> None:
    matrix = featurizer.transform(["I am furious about this invoice", "ok"])
    assert matrix.shape == (2, 1 << 16)
    norms = np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel()
    assert norms == pytest.approx([2.0, 2.0], abs=1e-6)


def test_empty_text_gives_an_empty_row(featurizer: Featurizer) -> None:
    assert featurizer.transform([" \n\t "]).nnz == 0


def test_unfitted_featurizer_refuses_to_vectorize() -> None:
    f = Featurizer(FeaturizerConfig(bits=10))
    with pytest.raises(RuntimeError):
        f.vectorize(f.analyze("hello"))
