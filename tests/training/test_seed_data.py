"""The seed set meets its brief: size, Dutch share, domains, both classes, the hard cases."""

from __future__ import annotations

from collections import Counter

from service.model.labelled import LabelledTicket

DOMAINS = {"banking", "insurance", "energy", "telecom", "e-commerce", "public services"}


def test_size_and_language_mix(seed_rows: list[LabelledTicket]) -> None:
    assert len(seed_rows) >= 1500
    languages = Counter(r.language for r in seed_rows)
    assert set(languages) == {"en", "nl"}
    assert languages["nl"] / len(seed_rows) >= 0.40


def test_domains_and_classes(seed_rows: list[LabelledTicket]) -> None:
    assert {r.domain for r in seed_rows} == DOMAINS
    for domain in DOMAINS:
        rows = [r for r in seed_rows if r.domain == domain]
        share = sum(r.labels["needs_human"] or 0 for r in rows) / len(rows)
        assert 0.25 < share < 0.65, domain


def test_texts_unique_and_varied(seed_rows: list[LabelledTicket]) -> None:
    texts = [r.text for r in seed_rows]
    assert len(set(texts)) == len(texts)
    # Not templates with swapped nouns: few tickets share even their first six words.
    openings = Counter(" ".join(t.split()[:6]).lower() for t in texts)
    assert openings.most_common(1)[0][1] <= 5


def test_hard_cases_present_in_both_languages(seed_rows: list[LabelledTicket]) -> None:
    def count(words: tuple[str, ...], lang: str) -> int:
        return sum(any(w in r.text.lower() for w in words) for r in seed_rows if r.language == lang)

    assert count(("passed away", "died", "funeral"), "en") >= 5
    assert count(("overleden", "begrafenis", "uitvaart"), "nl") >= 5
    assert count(("lawyer", "solicitor", "ombudsman"), "en") >= 5
    assert count(("advocaat", "deurwaarder", "kifid", "geschillencommissie"), "nl") >= 5
    assert count(("password", "opening hours", "invoice"), "en") >= 10
    assert count(("wachtwoord", "openingstijden", "factuur"), "nl") >= 10
