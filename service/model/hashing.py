"""Hashed word + character n-gram features: the numpy half, all that serving needs.

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

This module imports neither scikit-learn nor scipy: together they hold about 146 MB resident in
every worker, which only serves. The scikit-learn transformer that training fits, and the sparse
matrices it builds, live in ``service.model.features`` on top of this class.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Self

import numpy as np

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
    # Through _class_of's cache, the 65,536 entries stayed resident in every worker (about 6 MB).
    class_of = _class_of.__wrapped__
    return np.fromiter((class_of(cp) for cp in range(1 << 16)), dtype=np.int8, count=1 << 16)


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


class HashingFeaturizer:
    """Texts to hashed feature occurrences and weights, one text at a time; ``idf_`` comes from
    a fitted :class:`service.model.features.Featurizer` or a bundle."""

    idf_: np.ndarray

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
    def from_config(cls, config: FeaturizerConfig, idf: np.ndarray | None = None) -> Self:
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
