"""The language fallback: py3langid with its DFA walk compiled gives the library's own answers."""

from __future__ import annotations

from py3langid.langid import MODEL_FILE, LanguageIdentifier

from service.model.labelled import LabelledTicket
from service.model.language import LANGID_CHARS, _identifier
from tests.service.model.test_serving import OTHER_LANGUAGES


def test_compiled_identifier_ranks_every_language_as_py3langid_does(seed_rows: list[LabelledTicket]) -> None:
    stock = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    compiled = _identifier()
    assert type(compiled) is not LanguageIdentifier
    texts = [r.text[:LANGID_CHARS] for r in seed_rows[::3]] + OTHER_LANGUAGES + ["", " ", "!!", "a" * 700]
    for text in texts:
        assert compiled.rank(text) == stock.rank(text), text
        assert compiled.classify(text) == stock.classify(text), text
