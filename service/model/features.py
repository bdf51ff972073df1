"""The featurizer as a scikit-learn transformer, for training and for scoring texts in bulk.

The tokenizer, the hash and the per-text weighting are :class:`HashingFeaturizer`'s
(``service.model.hashing``, numpy alone, all that a serving worker imports); this class adds
what scikit-learn's interface and whole matrices need: ``fit`` (the idf), ``transform`` (sparse
rows) and ``BaseEstimator``'s parameters. A worker imports this module only for lifecycle work
(the promotion gate), since scikit-learn and scipy hold about 146 MB resident.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import normalize

from service.model import kernels
from service.model.hashing import _EMPTY, HashingFeaturizer


class Featurizer(TransformerMixin, BaseEstimator, HashingFeaturizer):  # type: ignore[misc]
    """A scikit-learn transformer: texts in, hashed tf-idf rows out; ``idf_`` is learned by ``fit``."""

    def __init__(
        self,
        bits: int = 18,
        char_min: int = 3,
        char_max: int = 5,
        word_bigrams: bool = True,
        caps_marker: bool = True,
    ) -> None:
        # Spelled out rather than inherited: BaseEstimator reads the parameters off this signature.
        HashingFeaturizer.__init__(self, bits, char_min, char_max, word_bigrams, caps_marker)

    def count_matrix(self, texts: Iterable[str]) -> sp.csr_matrix:
        """Raw occurrence counts, one row per text, columns ``bucket + block * n_features``."""
        indptr = [0]
        keys: list[np.ndarray] = []
        counts: list[np.ndarray] = []
        for text in texts:
            analysis = self.analyze(text)
            k, c = kernels.count_buckets(analysis.index, analysis.block, self.bits)
            keys.append(k)
            counts.append(c)
            indptr.append(indptr[-1] + len(k))
        return sp.csr_matrix(
            (
                np.concatenate(counts).astype(np.float64) if counts else np.zeros(0),
                np.concatenate(keys) if keys else _EMPTY,
                np.asarray(indptr),
            ),
            shape=(len(indptr) - 1, 2 * self.n_features),
        )

    def fit_counts(self, counts: sp.csr_matrix) -> None:
        n = self.n_features
        present = counts[:, :n] + counts[:, n:]  # a bucket counts once per text, whichever block
        df = np.bincount(present.indices, minlength=n)
        n_docs = counts.shape[0]
        self.idf_ = (np.log((1.0 + n_docs) / (1.0 + df)) + 1.0).astype(np.float32)

    def weigh_counts(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        # The same arithmetic as kernels.weigh, on a whole matrix: sublinear tf times idf, each
        # block L2-normalised, then the two blocks summed into one bucket space.
        idf = self._idf()
        n = self.n_features
        weighted = counts.copy()
        weighted.data = (1.0 + np.log(weighted.data)) * idf[weighted.indices % n]
        words = normalize(weighted[:, :n], norm="l2", copy=False)
        chars = normalize(weighted[:, n:], norm="l2", copy=False)
        matrix: sp.csr_matrix = (words + chars).tocsr()
        matrix.sort_indices()
        return matrix

    # -- the scikit-learn interface ------------------------------------------------------------

    def fit(self, X: Iterable[str], y: Any = None) -> Featurizer:
        self.fit_counts(self.count_matrix(X))
        return self

    def fit_transform(self, X: Iterable[str], y: Any = None, **fit_params: Any) -> sp.csr_matrix:
        """Fit the idf and transform in one pass over the texts."""
        counts = self.count_matrix(X)
        self.fit_counts(counts)
        return self.weigh_counts(counts)

    def transform(self, X: Iterable[str]) -> sp.csr_matrix:
        return self.weigh_counts(self.count_matrix(X))
