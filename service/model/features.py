"""Hashed word + character n-gram features shared by training and serving.

Design: one featurizer for every language, with no vocabulary. Word 1-2-grams (plus an
``ALLCAPS`` marker on shouted words) and character 3-5-grams inside word boundaries are hashed
into ``2**bits`` buckets, weighted by sublinear tf times idf, and each block (words, characters)
is L2-normalised on its own, as a ``FeatureUnion`` of two ``TfidfVectorizer``s would be.

Hashing keeps the bundle small and fast to load (no vocabulary for skops to restore) and lets
the character n-grams of a Dutch compound share buckets with its parts. Every occurrence keeps
the index of the token it came from, so a linear model's score can be split back onto the
words of the ticket: that is where the reasons come from.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

# Words, and runs of punctuation ("?", "!!!", ":)", "€"): a bare "?" is a strong sign of a routine question.
TOKEN_RE = re.compile(r"\w+|[^\w\s]+")
_DIGIT_RE = re.compile(r"\d")

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_BIGRAM_MULT = np.uint64(0x100000001B3)
_CHAR_MULT = np.uint64(1099511628211)
# Distinct seeds keep the namespaces (unigram, bigram, caps, char-n) apart in the hash space.
_SEED_UNIGRAM = np.uint64(0x1234567)
_SEED_BIGRAM = np.uint64(0x2345678)
_SEED_CAPS = np.uint64(0x3456789)
_SEED_CHAR = np.uint64(0x4567890)
_CAPS_HASH = zlib.crc32(b"<ALLCAPS>")

WORD_BLOCK = 0
CHAR_BLOCK = 1


@dataclass(frozen=True)
class FeaturizerConfig:
    """Parameters of the featurizer; stored in every bundle's metadata."""

    bits: int = 18
    char_min: int = 3
    char_max: int = 5
    word_bigrams: bool = True
    caps_marker: bool = True

    @property
    def n_features(self) -> int:
        return 1 << self.bits


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Analysis:
    """Feature occurrences of one text, each tied to the token(s) it came from."""

    tokens: list[Token]
    index: np.ndarray  # bucket of each occurrence
    block: np.ndarray  # WORD_BLOCK or CHAR_BLOCK
    token_a: np.ndarray  # first token of the occurrence
    token_b: np.ndarray  # last token (differs from token_a for bigrams only)


@dataclass(frozen=True)
class Vector:
    """Weighted features of one text; ``occurrence_value`` spreads each value over its occurrences."""

    index: np.ndarray
    value: np.ndarray
    occurrence_value: np.ndarray


def _mix(h: np.ndarray, seed: np.uint64, bits: int) -> np.ndarray:
    mixed = ((h ^ seed) * _GOLDEN) & _MASK64
    return (mixed >> np.uint64(64 - bits)).astype(np.int64)


def _lower_keep_offsets(text: str) -> str:
    low = text.lower()
    if len(low) == len(text):
        return low
    # A few characters (e.g. U+0130) grow when lower-cased; keep them as-is to keep offsets.
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


class Featurizer:
    """Turns texts into hashed tf-idf rows; ``idf`` is learned by :meth:`fit`."""

    def __init__(self, config: FeaturizerConfig, idf: np.ndarray | None = None) -> None:
        self.config = config
        self.idf = idf

    def tokenize(self, text: str) -> list[Token]:
        low = _DIGIT_RE.sub("0", _lower_keep_offsets(text))
        return [Token(m.group(), m.start(), m.end()) for m in TOKEN_RE.finditer(low)]

    def analyze(self, text: str) -> Analysis:
        cfg = self.config
        tokens = self.tokenize(text)
        n_tok = len(tokens)
        if n_tok == 0:
            empty = np.zeros(0, dtype=np.int64)
            return Analysis(tokens, empty, empty, empty, empty)

        uni_hash = np.fromiter((zlib.crc32(t.text.encode()) for t in tokens), dtype=np.uint64, count=n_tok)
        tok_ids = np.arange(n_tok, dtype=np.int64)
        parts_index = [_mix(uni_hash, _SEED_UNIGRAM, cfg.bits)]
        parts_a = [tok_ids]
        parts_b = [tok_ids]
        n_word = n_tok
        if cfg.word_bigrams and n_tok > 1:
            bi_hash = (uni_hash[:-1] * _BIGRAM_MULT + uni_hash[1:]) & _MASK64
            parts_index.append(_mix(bi_hash, _SEED_BIGRAM, cfg.bits))
            parts_a.append(tok_ids[:-1])
            parts_b.append(tok_ids[1:])
            n_word += n_tok - 1
        if cfg.caps_marker:
            caps = [i for i, t in enumerate(tokens) if len(t.text) >= 3 and text[t.start : t.end].isupper()]
            if caps:
                caps_ids = np.asarray(caps, dtype=np.int64)
                caps_hash = np.full(len(caps), _CAPS_HASH, dtype=np.uint64)
                parts_index.append(_mix(caps_hash, _SEED_CAPS, cfg.bits))
                parts_a.append(caps_ids)
                parts_b.append(caps_ids)
                n_word += len(caps)

        char_index, char_tok = self._char_ngrams(tokens)
        parts_index.append(char_index)
        parts_a.append(char_tok)
        parts_b.append(char_tok)

        block = np.zeros(n_word + len(char_index), dtype=np.int64)
        block[n_word:] = CHAR_BLOCK
        return Analysis(
            tokens,
            np.concatenate(parts_index),
            block,
            np.concatenate(parts_a),
            np.concatenate(parts_b),
        )

    def _char_ngrams(self, tokens: Sequence[Token]) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.config
        joined = (" " + " ".join(t.text for t in tokens) + " ").encode()
        b = np.frombuffer(joined, dtype=np.uint8).astype(np.uint64)
        is_space = (b == 32).astype(np.int64)
        spaces_upto = np.cumsum(is_space)
        length = len(b)
        out_index: list[np.ndarray] = []
        out_tok: list[np.ndarray] = []
        for n in range(cfg.char_min, cfg.char_max + 1):
            count = length - n + 1
            if count <= 0:
                break
            h = np.zeros(count, dtype=np.uint64)
            for k in range(n):
                h = (h * _CHAR_MULT + b[k : k + count]) & _MASK64
            start = np.arange(count)
            # An n-gram may begin or end on the padding space but never cross one (char_wb).
            interior = spaces_upto[start + n - 2] - spaces_upto[start]
            keep = interior == 0
            seed = _SEED_CHAR + np.uint64(n)
            out_index.append(_mix(h[keep], seed, cfg.bits))
            out_tok.append(spaces_upto[start[keep]] - 1)
        if not out_index:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        return np.concatenate(out_index), np.concatenate(out_tok)

    def vectorize(self, analysis: Analysis) -> Vector:
        if self.idf is None:
            raise RuntimeError("featurizer is not fitted")
        index = analysis.index
        if len(index) == 0:
            z = np.zeros(0)
            return Vector(index, z, z)
        # Offsetting the char block keeps equal buckets of the two blocks apart while counting.
        keyed = index + analysis.block * self.config.n_features
        uniq, inverse, counts = np.unique(keyed, return_inverse=True, return_counts=True)
        bucket = uniq % self.config.n_features
        value = (1.0 + np.log(counts)) * self.idf[bucket]
        uniq_block = uniq // self.config.n_features
        for blk in (WORD_BLOCK, CHAR_BLOCK):
            mask = uniq_block == blk
            norm = math.sqrt(float(np.dot(value[mask], value[mask])))
            if norm > 0:
                value[mask] /= norm
        occurrence_value = value[inverse] / counts[inverse]
        return Vector(bucket, value, occurrence_value)

    def fit(self, texts: Iterable[str]) -> Featurizer:
        n_docs = 0
        df = np.zeros(self.config.n_features, dtype=np.int64)
        for text in texts:
            idx = np.unique(self.analyze(text).index)
            df[idx] += 1
            n_docs += 1
        self.idf = (np.log((1.0 + n_docs) / (1.0 + df)) + 1.0).astype(np.float32)
        return self

    def transform(self, texts: Iterable[str]) -> sp.csr_matrix:
        indptr = [0]
        indices: list[np.ndarray] = []
        data: list[np.ndarray] = []
        for text in texts:
            vec = self.vectorize(self.analyze(text))
            indices.append(vec.index)
            data.append(vec.value)
            indptr.append(indptr[-1] + len(vec.index))
        empty_i = np.zeros(0, dtype=np.int64)
        matrix = sp.csr_matrix(
            (
                np.concatenate(data) if data else np.zeros(0),
                np.concatenate(indices) if indices else empty_i,
                np.asarray(indptr),
            ),
            shape=(len(indptr) - 1, self.config.n_features),
        )
        matrix.sum_duplicates()
        return matrix
