"""Language identification, so that a ticket in a language the model never saw is not scored blindly.

Two steps. Most tickets are plainly English or Dutch: when enough of a ticket's words are common
English or Dutch function words that other languages do not share (no "de", "en", "je", "die"),
that decides it at no cost, from the token hashes the featurizer computed anyway. Otherwise
py3langid (a maintained fork of langid.py, 97 languages, model shipped in the wheel) reads the
first 600 characters. A ticket counts as unsupported only when py3langid is confident *and* the
text is long enough to judge: short messages ("ok", "thx!!") are too thin to call, and would
otherwise send every one-word reply to a human.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from py3langid.langid import RAW_FLOOR, LanguageIdentifier

from service.model import kernels
from service.model.langid_certain import CertainLanguage
from service.model.langid_model import LangidModel, default_cache_dir

# Frequent in tickets, and not words of German, French, Spanish, Italian, Portuguese, the
# Scandinavian languages or Afrikaans (which shares "het", "wat", "met", "maar", "ook" with Dutch).
FUNCTION_WORDS: dict[str, tuple[str, ...]] = {
    "en": (
        "the",
        "and",
        "you",
        "your",
        "have",
        "has",
        "not",
        "this",
        "that",
        "with",
        "are",
        "can",
        "please",
        "would",
        "could",
        "thanks",
        "thank",
        "been",
        "from",
        "they",
        "there",
        "what",
        "when",
        "just",
        "about",
        "which",
        "their",
        "our",
        "should",
        "because",
        "any",
        "were",
    ),
    "nl": (
        "een",
        "ik",
        "niet",
        "mijn",
        "jullie",
        "heb",
        "ben",
        "naar",
        "bij",
        "wordt",
        "heeft",
        "zijn",
        "deze",
        "kunnen",
        "mij",
        "onze",
        "jij",
        "uw",
        "alvast",
        "bedankt",
        "groeten",
        "hoi",
        "vriendelijke",
    ),
}
FAST_MIN_WORDS = 6
FAST_MIN_SHARE = 0.08
LANGID_CHARS = 600


def token_hash(word: str) -> int:
    """The featurizer kernel's raw unigram hash of one lower-cased token."""
    h = 0
    for ch in word:
        h = (h * int(kernels.P) + ord(ch)) % (1 << 64)
    return h


def _function_table(languages: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted hashes of the function words of ``languages``, and each hash's language index."""
    pairs = sorted({(token_hash(w), i) for i, lang in enumerate(languages) for w in FUNCTION_WORDS[lang]})
    return np.array([h for h, _ in pairs], dtype=np.uint64), np.array([i for _, i in pairs], dtype=np.int64)


@dataclass(frozen=True)
class LanguageGuess:
    language: str
    confidence: float
    supported: bool


class _CompiledIdentifier(LanguageIdentifier):  # type: ignore[misc]
    """py3langid with its byte-by-byte Python loop compiled: a ticket the function words do not
    decide cost about three times a whole scored ticket, most of it in that loop (py-spy).
    The scores are the library's own arithmetic on the same features (a test compares them), on
    its model held in 12 MB rather than 67 MB (:class:`LangidModel`)."""

    __slots__ = ("_certain", "_model")

    @classmethod
    def load(cls, *, norm_probs: bool) -> _CompiledIdentifier:
        model = LangidModel.load(cache_dir=default_cache_dir())
        # py3langid's own constructor, for its class aliases and normalisation, without its
        # tables: only _raw_score (replaced here) and set_languages (refused) read them.
        identifier = cls(None, model.pc, model.classes, None, None, norm_probs=norm_probs, tk_row=[])
        identifier._model = model
        identifier._certain = CertainLanguage(model)
        return identifier

    def certain_label(self, text: str) -> str | None:
        """``classify(text)``'s label where no rounding of its scores could change it, else None."""
        label: str | None = self._certain.label(self._encode(text))
        return label

    def set_languages(self, langs: Any = None) -> None:
        raise NotImplementedError("the compact model scores every language py3langid knows")

    def _raw_score(self, text: bytes) -> np.ndarray:
        counts, rows = self._model.visit_rows(text)
        if len(counts):
            # py3langid's _sparse_score on the same (feature, count) pairs in the same order, on
            # the same rows (float16 values, handed over as the float32 numpy would cast them to).
            scores: np.ndarray = np.log1p(counts) @ rows + self.nb_pc
            return scores
        # As py3langid does for a text with no features.
        return np.full(len(self.nb_classes), 0.0 if self._norm_probs else RAW_FLOOR, dtype=np.float32)


@lru_cache(maxsize=1)
def _identifier() -> _CompiledIdentifier:
    # About half a second to load; shared by every detector in the process, never at import.
    # (py3langid's module-level identifier, for its own classify(), is never created.)
    return _CompiledIdentifier.load(norm_probs=True)


class LanguageDetector:
    """Detects the language of a ticket and says whether the model supports it."""

    def __init__(
        self, supported: tuple[str, ...], *, min_confidence: float = 0.9, min_letters: int = 20
    ) -> None:
        self.supported = supported
        self.min_confidence = min_confidence
        self.min_letters = min_letters
        self.fast_languages = tuple(lang for lang in supported if lang in FUNCTION_WORDS)
        self._fast_table, self._fast_labels = _function_table(self.fast_languages)
        self._identifier = _identifier()

    @property
    def fast_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The sorted function-word hashes and their language indexes, for compiled callers."""
        return self._fast_table, self._fast_labels

    def fast_guess(self, unigrams: np.ndarray) -> LanguageGuess | None:
        """English or Dutch from function words, or None when the words do not say."""
        if len(unigrams) < FAST_MIN_WORDS or not self.fast_languages:
            return None
        hits = kernels.count_members(unigrams, self._fast_table, self._fast_labels, len(self.fast_languages))
        best = int(np.argmax(hits))
        if hits.sum() >= 2 and hits[best] / len(unigrams) >= FAST_MIN_SHARE:
            return LanguageGuess(self.fast_languages[best], 1.0, True)
        return None

    def language_of(self, text: str, *, hint: str | None = None) -> tuple[str, bool]:
        """:meth:`detect`'s language and whether it is supported, for scoring, which reads no
        confidence: where py3langid's winner is certain and supported, that is the answer, and
        its float32 scores are not computed (most of the fallback's time; see langid_certain)."""
        label = self._identifier.certain_label(text[:LANGID_CHARS])
        if label is not None and label in self.supported:
            return label, True
        guess = self.detect(text, hint=hint)
        return guess.language, guess.supported

    def detect(
        self, text: str, *, hint: str | None = None, unigrams: np.ndarray | None = None
    ) -> LanguageGuess:
        """``unigrams``: the featurizer's raw token hashes of the ticket, for the fast path."""
        if unigrams is not None and (guess := self.fast_guess(unigrams)) is not None:
            return guess
        sample = text[:LANGID_CHARS]
        best, confidence = self._identifier.classify(sample)
        if best in self.supported:
            return LanguageGuess(best, float(confidence), True)
        letters = sum(ch.isalpha() for ch in sample)
        if confidence >= self.min_confidence and letters >= self.min_letters:
            return LanguageGuess(best, float(confidence), False)
        # Too uncertain to refuse: score it as the caller's language or the likeliest supported one.
        base = hint.split("-")[0].lower() if hint else None
        if base in self.supported:
            return LanguageGuess(str(base), float(confidence), True)
        for lang, prob in self._identifier.rank(sample):
            if lang in self.supported:
                return LanguageGuess(lang, float(prob), True)
        return LanguageGuess(self.supported[0], 0.0, True)
