"""Behavioural tests of the committed default model, in English and Dutch, through the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.model.bundle import TriageModel
from service.scoring.engine import Scorer, score_ticket
from service.scoring.policy import load_policy
from service.scoring.schemas import TicketScore, TicketScoreRequest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scorer(default_model: TriageModel) -> Scorer:
    return Scorer.build(model=default_model, policy=load_policy(REPO / "policy.toml"))


@pytest.fixture(scope="module")
def model_only(default_model: TriageModel) -> Scorer:
    """The same model with no routing rules: decisions are the model's own."""
    policy = load_policy(REPO / "policy.toml")
    return Scorer.build(
        model=default_model, policy=type(policy)(policy.version, None, policy.urgent, policy.high, ())
    )


def score(scorer: Scorer, text: str, **kw: object) -> TicketScore:
    return score_ticket(scorer=scorer, ticket=TicketScoreRequest(text=text, **kw))  # type: ignore[arg-type]


ANGRY_THIRD_CONTACT = (
    "This is the third time I'm contacting you about the same wrong bill and nobody has fixed it. "
    "I was promised a call back twice and nothing happened. I am sick of being ignored."
)


def test_angry_third_contact_goes_to_a_human(scorer: Scorer, model_only: Scorer) -> None:
    assert score(model_only, ANGRY_THIRD_CONTACT).route == "human"
    result = score(scorer, ANGRY_THIRD_CONTACT, previous_contacts=2)
    assert result.route == "human" and "repeat_contact" in result.rules
    assert result.priority in {"urgent", "high", "normal"}


@pytest.mark.parametrize(
    "text",
    [
        "what are your opening hours?",
        "Wat zijn jullie openingstijden?",
        "Hi, can you send me a copy of my October invoice please?",
        "Hoi, ik ben verhuisd. Hoe geef ik mijn nieuwe adres door?",
        "How do I reset my password?",
    ],
)
def test_routine_requests_stay_with_automation(scorer: Scorer, text: str) -> None:
    result = score(scorer, text)
    assert result.route == "automation", result
    assert result.priority == "low"


@pytest.mark.parametrize(
    ("base", "angry"),
    [
        ("My parcel has not arrived yet.", "My parcel has not arrived yet. I am furious."),
        ("Mijn pakket is nog niet aangekomen.", "Mijn pakket is nog niet aangekomen. Ik ben woedend."),
    ],
)
def test_adding_anger_raises_emotional(scorer: Scorer, base: str, angry: str) -> None:
    calm, upset = score(scorer, base), score(scorer, angry)
    assert calm.dimensions and upset.dimensions
    assert upset.dimensions.emotional > calm.dimensions.emotional + 0.15


def test_reason_offsets_point_at_the_words_that_drove_the_score(model_only: Scorer) -> None:
    text = "Hello, my order arrived. I am absolutely furious and disgusted with how you treated me."
    result = score(model_only, text)
    emotional = [r for r in result.reasons if r.dimension == "emotional"]
    assert emotional, result.reasons
    for reason in result.reasons:
        assert reason.text is not None and reason.start is not None and reason.end is not None
        assert text[reason.start : reason.end] == reason.text
    top = max(emotional, key=lambda r: r.weight or 0)
    assert any(word in top.text.lower() for word in ("furious", "disgusted", "treated"))


def test_reasons_in_the_subject_point_into_the_subject(scorer: Scorer) -> None:
    subject = "FURIOUS - third complaint"
    result = score(scorer, "Still no refund. Nobody answers my emails.", subject=subject)
    assert any(r.field == "subject" for r in result.reasons)
    for reason in result.reasons:
        if reason.field == "subject":
            assert subject[reason.start : reason.end] == reason.text  # type: ignore[misc]


def test_dutch_bereavement_goes_to_a_human(scorer: Scorer, model_only: Scorer) -> None:
    text = "Mijn moeder is vorige week overleden. Ik weet niet wat ik met haar abonnement moet doen."
    assert score(model_only, text).route == "human"
    result = score(scorer, text)
    assert result.route == "human" and "bereavement" in result.rules
    assert result.language == "nl"


def test_unsupported_language_goes_to_a_human_unscored(scorer: Scorer) -> None:
    result = score(
        scorer, "Guten Tag, ich möchte bitte meine Lieferadresse ändern, wir sind letzte Woche umgezogen."
    )
    assert result.route == "human" and result.rules == ["unsupported_language"]
    assert result.needs_human is None and result.dimensions is None and result.language == "de"


def test_short_messages_are_not_refused_as_foreign(scorer: Scorer) -> None:
    for text in ("ok thx", "top, dank!", "?"):
        assert score(scorer, text).language_supported


def test_default_bundle_is_documented(default_model: TriageModel) -> None:
    meta = default_model.metadata
    card = (REPO / "models" / "default" / default_model.version / "MODEL_CARD.md").read_text()
    for needle in (
        "Intended use",
        "Known limits",
        "CC BY 4.0",
        "Apache-2.0",
        "public domain",
        "airline tweets",
    ):
        assert needle in card
    assert meta["recipe"]["name"] == "default"
    assert meta["metrics"]["held_out"]["overall"]["needs_human"]["roc_auc"] > 0.9
