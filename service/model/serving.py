"""Scoring one ticket in one compiled call: features, logits, calibration, language words, phrases.

``TriageModel.score_text``, ``LanguageDetector.fast_guess`` and ``TriageModel.phrases`` each
cross from Python into compiled code and back, and calibrating four logits with numpy costs more
than computing them. A profile of ``score_ticket`` (py-spy, 100-word tickets) put those crossings,
the small numpy calls between them and the ``Phrase`` objects at about a third of the time. Here
the same compiled functions run back to back inside one call that returns one float64 array, so
the arithmetic, and so every score and reason, is the one the separate steps compute (a test
compares the two paths ticket by ticket).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from service.model import kernels
from service.model.bundle import HEADS, PHRASE_FLOOR, TriageModel
from service.model.hashing import _ASCII_CLASS, MAX_CHARS, _bmp_classes, _class_of, _lower
from service.model.jit import njit
from service.model.language import FAST_MIN_SHARE, FAST_MIN_WORDS, LanguageDetector

N_HEADS = kernels.N_HEADS
PHRASE_LIMIT = 3  # phrases per head, as TriageModel.phrases gives them
# Layout of the result: the calibrated probabilities, the fast language guess (-1: the words do
# not say), the number of phrases, then (head, start, end, weight) per phrase.
LANGUAGE_SLOT = N_HEADS
COUNT_SLOT = N_HEADS + 1
PHRASES_AT = N_HEADS + 2
# fparams: intercepts, calibration slopes, calibration offsets, per-head phrase thresholds,
# the phrase floor, the fast language share; iparams: the featurizer's and the fast path's ints.
_F_SLOPE, _F_OFFSET, _F_THRESHOLD = N_HEADS, 2 * N_HEADS, 3 * N_HEADS
_F_FLOOR, _F_SHARE = 4 * N_HEADS, 4 * N_HEADS + 1


@njit(cache=True, nogil=True)
def _score(
    cp: np.ndarray,
    original: np.ndarray,
    classes: np.ndarray,
    table: np.ndarray,
    fparams: np.ndarray,
    iparams: np.ndarray,
    fast_table: np.ndarray,
    fast_labels: np.ndarray,
) -> np.ndarray:
    bits, char_min, char_max = iparams[0], iparams[1], iparams[2]
    limit, n_fast, min_words = iparams[5], iparams[6], iparams[7]
    starts, ends, uni, index, block, tok_a, tok_b = kernels.analyze_codepoints(
        cp, original, classes, bits, char_min, char_max, iparams[3] != 0, iparams[4] != 0
    )
    n_tok = len(starts)
    out = np.empty(PHRASES_AT + 4 * N_HEADS * limit, np.float64)
    logits = np.empty(N_HEADS, np.float64)
    logits[:] = fparams[:N_HEADS]
    m = len(index)
    share = np.empty(0, np.float64)
    slot = np.empty(0, np.int64)
    unique_weights = np.empty((0, N_HEADS), np.float32)
    if m > 0:
        # As in kernels.featurize_and_score: the same sums in the same order.
        buckets, values, share, slot = kernels.weigh_slots(index, block, table[:, N_HEADS], bits)
        unique_weights = np.empty((len(buckets), N_HEADS), np.float32)
        for u in range(len(buckets)):
            for h in range(N_HEADS):
                w = table[buckets[u], h]
                unique_weights[u, h] = w
                logits[h] += values[u] * w
    for h in range(N_HEADS):
        z = fparams[_F_SLOPE + h] * logits[h] + fparams[_F_OFFSET + h]
        out[h] = 1.0 / (1.0 + np.exp(-z))
    # As in LanguageDetector.fast_guess.
    out[LANGUAGE_SLOT] = -1.0
    if n_tok >= min_words and n_fast > 0:
        hits = kernels.count_members(uni, fast_table, fast_labels, n_fast)
        best = np.argmax(hits)
        if hits.sum() >= 2 and hits[best] / n_tok >= fparams[_F_SHARE]:
            out[LANGUAGE_SLOT] = best
    # As in TriageModel.phrases, for the heads whose probability reaches its threshold.
    k = 0
    if m > 0:
        breaks = np.zeros(0, np.int64)  # taken at the first head that gets phrases, if one does
        for head in range(N_HEADS):
            if out[head] < fparams[_F_THRESHOLD + head]:
                continue
            if len(breaks) < n_tok:
                breaks = kernels.paragraph_starts(cp, starts, ends)
            # head_phrases reads row ``slot[r]`` of the unique buckets' weights where the
            # step-by-step path reads row ``index[r]`` of the table: the same values, copied above.
            s, e, w = kernels.head_phrases(
                slot,
                share,
                tok_a,
                tok_b,
                starts,
                ends,
                breaks,
                unique_weights,
                head,
                limit,
                fparams[_F_FLOOR],
            )
            for i in range(len(s)):
                at = PHRASES_AT + 4 * k
                out[at] = head
                out[at + 1] = s[i]
                out[at + 2] = e[i]
                out[at + 3] = w[i]
                k += 1
    out[COUNT_SLOT] = k
    return out[: PHRASES_AT + 4 * k]


@njit(cache=True, nogil=True)
def score_ascii(
    text: np.ndarray,
    ascii_class: np.ndarray,
    table: np.ndarray,
    fparams: np.ndarray,
    iparams: np.ndarray,
    fast_table: np.ndarray,
    fast_labels: np.ndarray,
) -> np.ndarray:
    cp, original, classes = kernels.prepare_ascii(text, ascii_class)
    return _score(cp, original, classes, table, fparams, iparams, fast_table, fast_labels)


@njit(cache=True, nogil=True)
def score_codepoints(
    cp: np.ndarray,
    original: np.ndarray,
    classes: np.ndarray,
    table: np.ndarray,
    fparams: np.ndarray,
    iparams: np.ndarray,
    fast_table: np.ndarray,
    fast_labels: np.ndarray,
) -> np.ndarray:
    return _score(cp, original, classes, table, fparams, iparams, fast_table, fast_labels)


@njit(cache=True, nogil=True)
def score_latin1(
    text: np.ndarray,
    lower: np.ndarray,
    classes_table: np.ndarray,
    table: np.ndarray,
    fparams: np.ndarray,
    iparams: np.ndarray,
    fast_table: np.ndarray,
    fast_labels: np.ndarray,
) -> np.ndarray:
    """:func:`score_unicode` for a text of code points below 256, one byte each (``latin-1``):
    ``lower`` holds each such character's ``str.lower()``, which stays one character below 256."""
    return score_unicode(text, lower[text], classes_table, table, fparams, iparams, fast_table, fast_labels)


@njit(cache=True, nogil=True)
def score_unicode(
    original: np.ndarray,
    lowered: np.ndarray,
    classes_table: np.ndarray,
    table: np.ndarray,
    fparams: np.ndarray,
    iparams: np.ndarray,
    fast_table: np.ndarray,
    fast_labels: np.ndarray,
) -> np.ndarray:
    """``Featurizer.prepare``'s non-ASCII branch, compiled, then :func:`_score`.

    ``original`` and ``lowered``: UTF-32 code units of the text and of its ``_lower``. Returns an
    empty array when the text holds a character beyond the Basic Multilingual Plane, whose class
    only Python's Unicode tables know: the caller then prepares the text in Python.
    """
    n = len(original)
    cp = np.empty(n, np.int64)
    written = np.empty(n, np.int64)
    classes = np.empty(n, np.int8)
    for i in range(n):
        o = np.int64(original[i])
        if o >= len(classes_table):
            return np.empty(0, np.float64)
        written[i] = o
        classes[i] = classes_table[o]
        c = np.int64(lowered[i])
        if 48 <= c <= 57:  # ASCII digits fold to "0"
            c = np.int64(48)
        cp[i] = c
    return _score(cp, written, classes, table, fparams, iparams, fast_table, fast_labels)


@njit(cache=True, nogil=True)
def score_many(
    original: np.ndarray,
    lowered: np.ndarray,
    bounds: np.ndarray,
    classes_table: np.ndarray,
    table: np.ndarray,
    fparams: np.ndarray,
    iparams: np.ndarray,
    fast_table: np.ndarray,
    fast_labels: np.ndarray,
) -> np.ndarray:
    """:func:`score_unicode` for each text ``original[bounds[i]:bounds[i + 1]]``, one row each.

    A row whose phrase count is -1 holds a text :func:`score_unicode` declined.
    """
    n = len(bounds) - 1
    out = np.zeros((n, PHRASES_AT + 4 * N_HEADS * iparams[5]), np.float64)
    for t in range(n):
        a, b = bounds[t], bounds[t + 1]
        row = score_unicode(
            original[a:b], lowered[a:b], classes_table, table, fparams, iparams, fast_table, fast_labels
        )
        if len(row) == 0:
            out[t, COUNT_SLOT] = -1.0
        else:
            out[t, : len(row)] = row
    return out


@lru_cache(maxsize=1)
def _classes_table() -> np.ndarray:
    """``features._class_of`` for every character of Unicode planes 0 and 1 (128 KB)."""
    class_of = _class_of.__wrapped__  # 65,536 more entries would only churn its cache
    plane1 = np.fromiter((class_of(cp) for cp in range(1 << 16, 1 << 17)), dtype=np.int8, count=1 << 16)
    return np.concatenate([_bmp_classes(), plane1])


def _latin1_lower() -> np.ndarray:
    """``ord(chr(c).lower())`` for every code point below 256: each is one character below 256,
    so a Latin-1 text's ``_lower`` is this table applied character by character."""
    lowered = [chr(c).lower() for c in range(256)]
    if any(len(low) != 1 or ord(low) >= 256 for low in lowered):
        raise AssertionError("a Latin-1 character lower-cases outside Latin-1")
    return np.array([ord(low) for low in lowered], dtype=np.int64)


_LATIN1_LOWER = _latin1_lower()


@dataclass(frozen=True)
class TextScore:
    """One ticket scored in one call; ``phrases`` are (head, start, end, weight) tuples."""

    proba: list[float]
    fast_language: str | None
    phrases: list[tuple[int, int, int, float]]


@dataclass(frozen=True)
class ServingPlan:
    """A model's arrays and constants laid out for :func:`score_ascii` / :func:`score_codepoints`."""

    model: TriageModel
    fast_languages: tuple[str, ...]
    table: np.ndarray
    fparams: np.ndarray
    iparams: np.ndarray
    fast_table: np.ndarray
    fast_labels: np.ndarray
    classes_table: np.ndarray

    @classmethod
    def build(
        cls, *, model: TriageModel, detector: LanguageDetector, thresholds: tuple[float, ...]
    ) -> ServingPlan:
        """``thresholds``: per head in HEADS order, the probability from which it gets phrases."""
        if len(thresholds) != len(HEADS) or len(HEADS) != N_HEADS:
            raise ValueError(f"one threshold per head ({len(HEADS)}), got {len(thresholds)}")
        f = model.featurizer
        fparams = np.concatenate(
            [
                np.asarray(model.intercepts, dtype=np.float64),
                np.asarray(model.calibration[:, 0], dtype=np.float64),
                np.asarray(model.calibration[:, 1], dtype=np.float64),
                np.asarray(thresholds, dtype=np.float64),
                [PHRASE_FLOOR, FAST_MIN_SHARE],
            ]
        )
        iparams = np.array(
            [
                f.bits,
                f.char_min,
                f.char_max,
                f.word_bigrams,
                f.caps_marker,
                PHRASE_LIMIT,
                len(detector.fast_languages),
                FAST_MIN_WORDS,
            ],
            dtype=np.int64,
        )
        fast_table, fast_labels = detector.fast_arrays
        return cls(
            model,
            detector.fast_languages,
            model.table,
            fparams,
            iparams,
            fast_table,
            fast_labels,
            _classes_table(),
        )

    def score(self, text: str) -> TextScore:
        """Probabilities, the function-word language guess and the phrases of one model text."""
        text = text[:MAX_CHARS]
        arrays = (self.table, self.fparams, self.iparams, self.fast_table, self.fast_labels)
        if text.isascii():
            out = score_ascii(np.frombuffer(text.encode("ascii"), dtype=np.uint8), _ASCII_CLASS, *arrays)
        else:
            # Most non-ASCII tickets only add a pound sign or an accent: one byte a character, and
            # no Unicode lower-casing or UTF-32 copies (half of the English benchmark tickets).
            # Encoding is the quick test: a text Python stores one byte a character copies as is.
            try:
                latin1 = text.encode("latin-1")
            except UnicodeEncodeError:
                out = score_unicode(
                    np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32),
                    np.frombuffer(_lower(text).encode("utf-32-le"), dtype=np.uint32),
                    self.classes_table,
                    *arrays,
                )
            else:
                out = score_latin1(
                    np.frombuffer(latin1, dtype=np.uint8), _LATIN1_LOWER, self.classes_table, *arrays
                )
        if not len(out):
            cp, original, classes = self.model.featurizer.prepare(text)
            out = score_codepoints(
                cp,
                original,
                classes,
                self.table,
                self.fparams,
                self.iparams,
                self.fast_table,
                self.fast_labels,
            )
        return self._unpack(out.tolist())

    def score_many(self, texts: list[str]) -> list[TextScore]:
        """:meth:`score` of each text, in one compiled call."""
        texts = [t[:MAX_CHARS] for t in texts]
        bounds = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum([len(t) for t in texts], out=bounds[1:])
        rows = score_many(
            np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32),
            np.frombuffer("".join(map(_lower, texts)).encode("utf-32-le"), dtype=np.uint32),
            bounds,
            self.classes_table,
            self.table,
            self.fparams,
            self.iparams,
            self.fast_table,
            self.fast_labels,
        ).tolist()
        return [
            self.score(text) if row[COUNT_SLOT] < 0 else self._unpack(row)
            for text, row in zip(texts, rows, strict=True)
        ]

    def _unpack(self, values: list[float]) -> TextScore:
        language = int(values[LANGUAGE_SLOT])
        count = int(values[COUNT_SLOT])
        phrases = (
            [
                (int(values[i]), int(values[i + 1]), int(values[i + 2]), values[i + 3])
                for i in range(PHRASES_AT, PHRASES_AT + 4 * count, 4)
            ]
            if count
            else []
        )
        return TextScore(values[:N_HEADS], self.fast_languages[language] if language >= 0 else None, phrases)
