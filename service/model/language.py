"""Language identification, so that a ticket in a language the model never saw is not scored blindly.

py3langid (a maintained fork of langid.py, 97 languages, model shipped in the wheel) gives the
best language. A ticket counts as unsupported only when the identifier is confident *and* the
text is long enough to judge: short messages ("ok", "thx!!") are too thin to call, and would
otherwise send every one-word reply to a human.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from py3langid.langid import MODEL_FILE, LanguageIdentifier


@dataclass(frozen=True)
class LanguageGuess:
    language: str
    confidence: float
    supported: bool


@lru_cache(maxsize=1)
def _identifier() -> LanguageIdentifier:
    # About half a second to load; shared by every detector in the process, never at import.
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


class LanguageDetector:
    """Detects the language of a ticket and says whether the model supports it."""

    def __init__(
        self, supported: tuple[str, ...], *, min_confidence: float = 0.9, min_letters: int = 20
    ) -> None:
        self.supported = supported
        self.min_confidence = min_confidence
        self.min_letters = min_letters
        self._identifier = _identifier()

    def detect(self, text: str, *, hint: str | None = None) -> LanguageGuess:
        ranked = self._identifier.rank(text)
        best, confidence = ranked[0]
        if best in self.supported:
            return LanguageGuess(best, float(confidence), True)
        letters = sum(ch.isalpha() for ch in text[:400])
        if confidence >= self.min_confidence and letters >= self.min_letters:
            return LanguageGuess(best, float(confidence), False)
        # Too uncertain to refuse: score it as the caller's language or the likeliest supported one.
        if hint in self.supported:
            return LanguageGuess(str(hint), float(confidence), True)
        for lang, prob in ranked:
            if lang in self.supported:
                return LanguageGuess(lang, float(prob), True)
        return LanguageGuess(self.supported[0], 0.0, True)
