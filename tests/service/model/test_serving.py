"""The one-call serving path gives the answers of the step-by-step path it replaced.

``stepwise`` below is the engine as it was before ``service.model.serving``: featurize and score,
calibrate with numpy, the function-word language check, then ``TriageModel.phrases`` for the
flagged heads. Every seed ticket (English, Dutch, with and without subjects, and texts in other
languages, scripts and emoji) must get the same result from both.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pytest

from service.model.bundle import HEADS, TriageModel
from service.model.hashing import SUBJECT_SEPARATOR, model_text
from service.model.labelled import LabelledTicket
from service.scoring.engine import NEEDS_HUMAN, Scorer, answer_json, answer_ticket
from service.scoring.policy import PRIORITY_ORDER, load_policy
from service.scoring.schemas import (
    BatchScoreResponse,
    DimensionScores,
    Reason,
    TicketAnswer,
    TicketScore,
    TicketScoreRequest,
)
from tests.conftest import REPO

OTHER_LANGUAGES = [
    "Ich möchte mich über die Rechnung beschweren, die ich letzte Woche bekommen habe.",
    "Je suis très mécontent du service client, personne ne répond à mes courriels.",
    "Estoy muy enfadado porque nadie me ha devuelto la llamada desde hace una semana.",
    "Почему мне никто не отвечает уже третью неделю? Это возмутительно.",
    "请尽快退款，我已经等了两个星期了，非常失望。",
    "ok",
    "thx!! 😡😡",
    "İstanbul'daki mağazanız çok kötü, paramı geri istiyorum!!!",
    "   \u00a0 what?? \u2028 NO WAY",
    "Ik ben WOEDEND!!! Dit is de DERDE keer 😡 en niemand belt terug.",
    # Beyond plane 1 (CJK extension B): classified in Python, not from the compiled table.
    "𠮷野家 is WEER dicht, dit is de derde keer!! 𠀀",
    "Order 12345 İSTANBUL ǅ ﬁx ß ẞ — 𝐅𝐔𝐑𝐈𝐎𝐔𝐒 !!",
]


def stepwise(scorer: Scorer, ticket: TicketScoreRequest) -> TicketScore:
    """The engine's answer computed step by step, as before the one-call plan."""
    model, policy = scorer.model, scorer.policy
    threshold = policy.threshold_for(model.threshold)
    customer = ticket.customer
    matches = policy.matches(
        text=ticket.text,
        subject=ticket.subject,
        previous_contacts=ticket.previous_contacts,
        tier=customer.tier if customer else None,
    )
    rule_reasons = [
        Reason(
            rule=m.rule,
            field=m.field,
            start=m.start,
            end=m.end,
            text=(ticket.text if m.field == "text" else ticket.subject or "")[m.start : m.end],
        )
        if m.field is not None and m.start is not None and m.end is not None
        else Reason(rule=m.rule)
        for m in matches
    ]
    rule_names = [m.rule for m in matches]
    rule_priority = min((m.priority for m in matches), key=PRIORITY_ORDER.__getitem__, default="low")
    scored = model.score_text(model_text(ticket.text, ticket.subject))
    guess = scorer.detector.detect(ticket.text, hint=ticket.language, unigrams=scored.unigrams)
    common: dict[str, Any] = {
        "id": ticket.id,
        "rules": rule_names,
        "language": guess.language,
        "model_version": model.version,
        "threshold": round(threshold, 6),
        "policy_version": policy.version,
    }
    if not guess.supported:
        return TicketScore(
            route="human",
            needs_human=None,
            dimensions=None,
            priority=min(rule_priority, "normal", key=PRIORITY_ORDER.__getitem__),
            reasons=[Reason(rule="unsupported_language"), *rule_reasons],
            language_supported=False,
            **{**common, "rules": ["unsupported_language", *rule_names]},
        )
    proba = model.calibrate(scored.floats[: len(HEADS)])
    needs_human = float(proba[NEEDS_HUMAN])
    by_model = needs_human >= threshold
    route = "human" if by_model or matches else "automation"
    priority = (
        min(policy.band(needs_human) if by_model else "normal", rule_priority, key=PRIORITY_ORDER.__getitem__)
        if route == "human"
        else "low"
    )
    flagged = [j for j, t in enumerate(scorer.dimension_thresholds) if proba[j] >= t]
    if by_model:
        flagged.append(NEEDS_HUMAN)
    subject = ticket.subject or ""
    offset = len(subject) + len(SUBJECT_SEPARATOR) if subject else 0
    phrase_reasons = []
    for head, phrase in model.phrases(scored, flagged) if flagged else []:
        start, end = phrase.start, phrase.end
        field: Literal["text", "subject"]
        if subject and start < offset:
            field, source = "subject", subject
        else:
            field, source = "text", ticket.text
            start, end = max(start, offset) - offset, end - offset
        phrase_reasons.append(
            Reason(
                dimension=HEADS[head],
                text=source[start:end],
                field=field,
                start=start,
                end=end,
                weight=round(phrase.weight, 4),
            )
        )
    return TicketScore(
        route=route,
        needs_human=round(needs_human, 6),
        dimensions=DimensionScores(
            emotional=round(float(proba[0]), 6),
            complex=round(float(proba[1]), 6),
            nuanced=round(float(proba[2]), 6),
        ),
        priority=priority,
        reasons=rule_reasons + phrase_reasons,
        language_supported=True,
        **common,
    )


def tickets(seed_rows: list[LabelledTicket]) -> list[TicketScoreRequest]:
    out = [TicketScoreRequest(text=r.text, subject=r.subject, id=r.id) for r in seed_rows if r.text.strip()]
    out += [TicketScoreRequest(text=t, id=f"other-{i}") for i, t in enumerate(OTHER_LANGUAGES)]
    # Subjects carry phrases too; offsets must land in the right field.
    out += [
        TicketScoreRequest(text=r.text, subject="URGENT: третий раз, still NOT fixed!!", language="en")
        for r in seed_rows[::50]
        if r.text.strip()
    ]
    return out


def assert_same(fast: TicketScore, slow: TicketScore) -> None:
    # Scores are the same sums in the same order; only exp() could differ in its last bit
    # between numpy and compiled code on some CPUs, hence a tolerance on the rounded floats.
    floats = {"needs_human", "dimensions", "reasons"}
    assert fast.model_dump(exclude=floats) == slow.model_dump(exclude=floats)
    assert (fast.needs_human is None) == (slow.needs_human is None)
    if slow.needs_human is not None:
        assert fast.needs_human == pytest.approx(slow.needs_human, abs=2e-6)
        assert fast.dimensions is not None and slow.dimensions is not None
        np.testing.assert_allclose(
            list(fast.dimensions.model_dump().values()),
            list(slow.dimensions.model_dump().values()),
            atol=2e-6,
        )
    assert len(fast.reasons) == len(slow.reasons)
    for x, y in zip(fast.reasons, slow.reasons, strict=True):
        assert x.model_dump(exclude={"weight"}) == y.model_dump(exclude={"weight"})
        assert (x.weight is None) == (y.weight is None)
        if x.weight is not None and y.weight is not None:
            assert x.weight == pytest.approx(y.weight, abs=1e-4)


@pytest.mark.parametrize("which", ["tiny", "default"])
def test_one_call_plan_answers_as_the_step_by_step_path(
    which: str, seed_rows: list[LabelledTicket], tiny_model: TriageModel, default_model: TriageModel
) -> None:
    model = tiny_model if which == "tiny" else default_model
    scorer = Scorer.build(model=model, policy=load_policy(REPO / "policy.toml"))
    batch = tickets(seed_rows)
    assert len(batch) >= 3000
    exact = 0
    for ticket in batch:
        answer = answer_ticket(scorer=scorer, ticket=ticket)
        fast, slow = TicketScore.model_validate(answer), stepwise(scorer, ticket)
        # The routes send the plain answer's JSON: the bytes of the validated TicketScore.
        assert answer_json(answer) == fast.model_dump_json().encode()
        assert_same(fast, slow)
        exact += fast == slow
    # On the machines we run on the two paths agree to the last bit.
    assert exact >= 0.99 * len(batch)


def test_a_non_finite_score_is_written_as_the_model_writes_it() -> None:
    """A broken model's NaN or infinity is null in the JSON, never a token JSON parsers refuse."""
    answer: TicketAnswer = {
        "id": "t-1", "route": "human", "needs_human": float("nan"),
        "dimensions": {"emotional": float("inf"), "complex": 0.5, "nuanced": float("-inf")},
        "priority": "normal", "reasons": [], "rules": [], "language": "en", "language_supported": True,
        "model_version": "m", "threshold": 0.5, "policy_version": "p",
    }  # fmt: skip
    written = answer_json({"results": [answer]})
    assert (
        written == BatchScoreResponse(results=[TicketScore.model_validate(answer)]).model_dump_json().encode()
    )
    assert b"NaN" not in written and b"Infinity" not in written


def test_plan_probabilities_and_phrases_match_the_model(tiny_model: TriageModel) -> None:
    scorer = Scorer.build(model=tiny_model, policy=load_policy(REPO / "policy.toml"))
    latin1 = [  # one byte a character: the Latin-1 path, with its lower-casing and digit folding
        "ÉNORME FACTURE : £99 À PAYER, ÀÉÎÕÜ ÆØ ß ÿ µ café 2024 !! Ça suffit.",
        "Ik ben ÉCHT boos: 3× gebeld, geldloos? Nee, £ 120,50 teruggevorderd. Geëxtraheerd ÖÄÜ",
    ]
    assert all(max(t) < "\u0100" and not t.isascii() for t in latin1)
    for text in [*OTHER_LANGUAGES, *latin1, "I am FURIOUS, third time!!", "Mijn moeder is overleden…"]:
        scored = tiny_model.score_text(text)
        proba = tiny_model.calibrate(scored.floats[: len(HEADS)])
        plan = scorer.plan.score(text)
        np.testing.assert_allclose(plan.proba, proba, rtol=1e-12)
        heads = [h for h in range(len(HEADS)) if plan.proba[h] >= scorer.plan.fparams[3 * len(HEADS) + h]]
        expected = [(h, p.start, p.end, p.weight) for h, p in tiny_model.phrases(scored, heads)]
        assert plan.phrases == expected


def test_phrases_never_span_a_blank_line(default_model: TriageModel, seed_rows: list[LabelledTicket]) -> None:
    """A phrase's weight is its own tokens' share: one that ran from the subject into the body
    was reported as its subject part, with the body's share in its weight (251 of the 2,467 seed
    tickets with a subject did)."""
    scorer = Scorer.build(model=default_model, policy=load_policy(REPO / "policy.toml"))
    pairs = [(r.subject, r.text) for r in seed_rows if r.subject]
    pairs += [
        ("I am so angry", "angry furious upset"),
        (None, "I am FURIOUS, third time!!\n\nMy mother passed away and you keep billing her."),
        (None, "Still NOT fixed!!\r\n\r\nAbsolutely disgusted, I want to complain."),
    ]
    crossing = 0
    for subject, text in pairs:
        joined = model_text(text, subject)
        scored = default_model.score_text(joined)
        everything = list(range(len(HEADS)))
        fast = scorer.plan.score(joined).phrases
        for _, phrase in default_model.phrases(scored, everything, limit=50):
            crossing += "\n\n" in joined[phrase.start : phrase.end].replace("\r", "")
        for _, start, end, _ in fast:
            crossing += "\n\n" in joined[start:end].replace("\r", "")
        answer = answer_ticket(scorer=scorer, ticket=TicketScoreRequest(text=text, subject=subject))
        for reason in answer["reasons"]:
            if reason["rule"] is None:
                source = subject if reason["field"] == "subject" else text
                assert source is not None and source[reason["start"] : reason["end"]] == reason["text"]
    assert crossing == 0
