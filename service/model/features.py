"""Hashed word + character n-gram features shared by training and serving.

Design: one featurizer for every language, with no vocabulary. Tokens are runs of word characters
or runs of punctuation ("?", "!!!", ":)"; "@" and "#" only separate), lower-cased, digits folded to 0. Word 1-2-grams (plus
an ``ALLCAPS`` marker on shouted words) and character 3-5-grams inside word boundaries (as
scikit-learn's ``char_wb``) are hashed into ``2**bits`` buckets, weighted by sublinear tf times
idf, and each block (words, characters) is L2-normalised on its own, as a ``FeatureUnion`` of two
``TfidfVectorizer``s would be.

Speed comes from doing no per-n-gram Python work: the text becomes an array of code points and
the loops over characters run compiled (``service.model.kernels``). The hash is a polynomial hash
of code points, so it is the same in every process and on every machine (Python's salted ``hash``
is never used).

Every occurrence keeps the index of the token it came from, so a linear model's score can be
split back onto the words of the ticket: that is where the reasons come from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import normalize

from service.model import kernels

SEPARATOR, WORD, PUNCT = 0, 1, 2
WORD_BLOCK = 0
CHAR_BLOCK = 1
# Longer texts are cut here; the API accepts at most 20,000 characters of text plus a subject.
MAX_CHARS = 1 << 16


# "@handle" and "#tag" read as the word alone: the sign marks a channel (a mention on social
# media, a tag), not what the customer says, and as a token of its own it learned the habits of
# whichever training source used it most; on tweets it cost 0.08 ROC-AUC (`triage quality`).
MARKUP_SIGNS = frozenset("@#＠＃")


def _ascii_classes() -> np.ndarray:
    return np.fromiter((_class_of(cp) for cp in range(128)), dtype=np.int8, count=128)


@lru_cache(maxsize=65536)
def _class_of(cp: int) -> int:
    ch = chr(cp)
    if ch.isspace() or not ch.isprintable() or ch in MARKUP_SIGNS:
        return SEPARATOR
    return WORD if ch.isalnum() or ch == "_" else PUNCT


_ASCII_CLASS = _ascii_classes()


SUBJECT_SEPARATOR = "\n\n"


def model_text(text: str, subject: str | None) -> str:
    """What the model reads, in training and serving alike: the subject (when given), then the body."""
    return f"{subject}{SUBJECT_SEPARATOR}{text}" if subject else text


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)


@lru_cache(maxsize=1)
def _bmp_classes() -> np.ndarray:
    """The class of every character of the Basic Multilingual Plane (64 KB, built on first use)."""
    return np.fromiter((_class_of(cp) for cp in range(1 << 16)), dtype=np.int8, count=1 << 16)


def _classes(cp: np.ndarray) -> np.ndarray:
    table = _bmp_classes()
    if not cp.size or cp.max() < (1 << 16):
        bmp_only: np.ndarray = table[cp]
        return bmp_only
    out = np.empty(len(cp), dtype=np.int8)
    bmp = cp < (1 << 16)
    out[bmp] = table[cp[bmp]]
    for i in np.flatnonzero(~bmp):  # emoji and other astral characters
        out[i] = _class_of(int(cp[i]))
    return out


def _lower(text: str) -> str:
    low = text.lower()
    if len(low) == len(text):
        return low
    # A few characters (e.g. U+0130) grow when lower-cased; keep them as-is to keep offsets.
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


# Names the tokenizer and hash functions; a bundle made with another one is refused, since its
# weights would be read against the wrong buckets.
HASHING = "codepoint-poly-2"


@dataclass(frozen=True)
class FeaturizerConfig:
    """Parameters of the featurizer; stored in every bundle's metadata."""

    bits: int = 18
    char_min: int = 3
    char_max: int = 5
    word_bigrams: bool = True
    caps_marker: bool = True
    hashing: str = HASHING

    @property
    def n_features(self) -> int:
        return 1 << self.bits


@dataclass(frozen=True)
class Analysis:
    """Tokens and feature occurrences of one text, each occurrence tied to its token(s)."""

    starts: np.ndarray  # token start offsets in the text (characters)
    ends: np.ndarray
    unigrams: np.ndarray  # raw (unmixed) hash of each token, for the language check
    index: np.ndarray  # bucket of each occurrence
    block: np.ndarray  # WORD_BLOCK or CHAR_BLOCK
    token_a: np.ndarray  # first token of the occurrence
    token_b: np.ndarray  # last token (differs from token_a for bigrams only)

    @property
    def n_tokens(self) -> int:
        return len(self.starts)


@dataclass(frozen=True)
class Vector:
    """Weighted features of one text; ``occurrence_value`` spreads each value over its occurrences."""

    index: np.ndarray
    value: np.ndarray
    occurrence_value: np.ndarray


_EMPTY = np.zeros(0, dtype=np.int64)


class Featurizer(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """A scikit-learn transformer: texts in, hashed tf-idf rows out; ``idf_`` is learned by ``fit``."""

    def __init__(
        self,
        bits: int = 18,
        char_min: int = 3,
        char_max: int = 5,
        word_bigrams: bool = True,
        caps_marker: bool = True,
    ) -> None:
        self.bits = bits
        self.char_min = char_min
        self.char_max = char_max
        self.word_bigrams = word_bigrams
        self.caps_marker = caps_marker

    @classmethod
    def from_config(cls, config: FeaturizerConfig, idf: np.ndarray | None = None) -> Featurizer:
        params = asdict(config)
        if params.pop("hashing") != HASHING:
            raise ValueError(f"features hashed with {config.hashing!r}, this featurizer uses {HASHING!r}")
        featurizer = cls(**params)
        if idf is not None:
            featurizer.idf_ = idf
        return featurizer

    @property
    def config(self) -> FeaturizerConfig:
        return FeaturizerConfig(self.bits, self.char_min, self.char_max, self.word_bigrams, self.caps_marker)

    @property
    def n_features(self) -> int:
        return 1 << self.bits

    # -- analysis of one text ------------------------------------------------------------------

    def tokenize(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, normalised token) triples; for tests and explanations, not the hot path."""
        analysis = self.analyze(text)
        low = _lower(text)
        return [
            (int(s), int(e), "".join("0" if c.isascii() and c.isdigit() else c for c in low[s:e]))
            for s, e in zip(analysis.starts, analysis.ends, strict=True)
        ]

    def prepare(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Normalised code points, code points as written, and character classes of a text."""
        text = text[:MAX_CHARS]
        if text.isascii():
            return kernels.prepare_ascii(np.frombuffer(text.encode("ascii"), dtype=np.uint8), _ASCII_CLASS)
        original = _codepoints(text)
        classes = _classes(original)
        cp = _codepoints(_lower(text))
        cp[(cp >= 48) & (cp <= 57)] = 48  # ASCII digits fold to "0"
        return cp, original, classes

    def analyze(self, text: str) -> Analysis:
        cp, original, classes = self.prepare(text)
        starts, ends, unigrams, index, block, token_a, token_b = kernels.analyze_codepoints(
            cp,
            original,
            classes,
            self.bits,
            self.char_min,
            self.char_max,
            self.word_bigrams,
            self.caps_marker,
        )
        return Analysis(starts, ends, unigrams, index, block, token_a, token_b)

    def vectorize(self, analysis: Analysis) -> Vector:
        idf = self._idf()
        if len(analysis.index) == 0:
            z = np.zeros(0)
            return Vector(_EMPTY, z, z)
        bucket, value, occurrence_value = kernels.weigh(analysis.index, analysis.block, idf, self.bits)
        return Vector(bucket, value, occurrence_value)

    def _idf(self) -> np.ndarray:
        idf: np.ndarray | None = getattr(self, "idf_", None)
        if idf is None:
            raise RuntimeError("featurizer is not fitted")
        return idf

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
