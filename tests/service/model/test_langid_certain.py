"""py3langid's winner without its float32 scores: only where it is py3langid's own answer."""

from __future__ import annotations

import numpy as np
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from service.model.labelled import LabelledTicket
from service.model.langid_certain import CertainLanguage
from service.model.langid_model import LangidModel
from service.model.language import LANGID_CHARS, LanguageDetector, _identifier
from tests.service.model.test_langid_model import _mixed_texts
from tests.service.model.test_serving import OTHER_LANGUAGES


def test_a_certain_label_is_the_one_py3langid_classifies(seed_rows: list[LabelledTicket]) -> None:
    stock = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier = _identifier()
    seed = [r.text[:LANGID_CHARS] for r in seed_rows]
    decided = 0
    for text in [*seed, *OTHER_LANGUAGES, *_mixed_texts(400), "", " ", "!!", "a" * 700, "ÉÉN KEER"]:
        label = identifier.certain_label(text)
        if label is not None:
            assert label == stock.classify(text)[0], text
            decided += text in seed
    # The point of it: most tickets are decided without the product (counted over all seed texts,
    # not only those the function words leave open, which the fallback sees).
    assert decided >= 0.9 * len(seed)


def test_close_calls_and_texts_without_features_are_left_to_py3langid() -> None:
    identifier = _identifier()
    assert identifier.certain_label("") is None
    # One letter: py3langid's scores barely differ, so no winner is certain.
    assert identifier.certain_label("a") is None
    # Cut to two languages whose columns are identical, every text is a tie.
    model = LangidModel.load()
    default, start, cls, value = model.probabilities
    twin = LangidModel(
        ["en", "nl"],
        np.zeros(2, dtype=model.pc.dtype),
        model.automaton,
        (np.array([default[0], default[0]]), np.zeros_like(start), cls[:0], value[:0]),
    )
    assert CertainLanguage(twin).label(b"the same for both of them") is None


def test_language_of_answers_as_detect(seed_rows: list[LabelledTicket]) -> None:
    detector = LanguageDetector(("en", "nl"))
    texts = [(r.text, r.language if i % 2 else None) for i, r in enumerate(seed_rows[::2])]
    texts += [(t, hint) for t in OTHER_LANGUAGES for hint in (None, "nl", "de")]
    for text, hint in texts:
        guess = detector.detect(text, hint=hint)
        assert detector.language_of(text, hint=hint) == (guess.language, guess.supported), text
