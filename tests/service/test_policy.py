"""The routing policy file: the shipped one loads, rules fire, invalid files name the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.scoring.policy import PolicyError, load_policy

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_policy_loads_with_the_required_rules() -> None:
    policy = load_policy(REPO / "policy.toml")
    names = {r.spec.name for r in policy.rules}
    assert {
        "legal_threat",
        "regulator_or_ombudsman",
        "self_harm",
        "bereavement",
        "repeat_contact",
        "vip_tier",
    } <= names
    assert policy.threshold is None


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("I will have my solicitor contact you", "legal_threat"),
        ("Ik schakel een advocaat in", "legal_threat"),
        ("de deurwaarder stond voor de deur", "legal_threat"),
        ("I am taking this to the Financial Ombudsman", "regulator_or_ombudsman"),
        ("ik dien een klacht in bij het Kifid", "regulator_or_ombudsman"),
        ("some days I just don't want to be here anymore", "self_harm"),
        ("ik wil niet meer leven zo", "self_harm"),
        ("my wife passed away in March", "bereavement"),
        ("mijn moeder is vorige week overleden", "bereavement"),
        ("this is the fourth time I email you", "repeat_contact"),
        ("dit is de derde keer dat ik bel", "repeat_contact"),
        ("I want to die", "self_harm"),
        ("honestly I wish I was dead", "self_harm"),
        ("I can't go on like this", "self_harm"),
        ("ik wil dood", "self_harm"),
        ("ik maak er een eind aan", "self_harm"),
        ("soms doe ik mezelf wat aan", "self_harm"),
        ("ik zie het niet meer zitten", "self_harm"),
        ("my husband died in May", "bereavement"),
        ("I lost my wife last year", "bereavement"),
        ("I have contacted you three times", "repeat_contact"),
        ("I've called your helpdesk four times now", "repeat_contact"),
        ("ik heb al drie keer gebeld", "repeat_contact"),
        ("al 3 keer gebeld en niks", "repeat_contact"),
        ("I will sue you", "legal_threat"),
    ],
)
def test_rules_fire_on_english_and_dutch(text: str, rule: str) -> None:
    policy = load_policy(REPO / "policy.toml")
    matches = policy.matches(text=text, subject=None, previous_contacts=None, tier=None)
    assert rule in [m.rule for m in matches]
    hit = next(m for m in matches if m.rule == rule)
    assert hit.start is not None
    assert hit.end is not None
    assert text[hit.start : hit.end]


@pytest.mark.parametrize(
    "text", ["Can I change my password?", "Wat zijn jullie openingstijden?", "issue with my invoice"]
)
def test_rules_stay_quiet_on_routine_requests(text: str) -> None:
    policy = load_policy(REPO / "policy.toml")
    assert policy.matches(text=text, subject=None, previous_contacts=0, tier="standard") == []


def test_field_rules_previous_contacts_and_tier() -> None:
    policy = load_policy(REPO / "policy.toml")
    fired = {m.rule for m in policy.matches(text="hello", subject=None, previous_contacts=2, tier="VIP")}
    assert fired == {"repeat_contact", "vip_tier"}
    assert policy.matches(text="hello", subject=None, previous_contacts=1, tier=None) == []


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'version = "1"\n\n[routing]\nthreshold = = 3\n')
    with pytest.raises(PolicyError, match=r"line 4"):
        load_policy(path)


def test_bad_regex_names_the_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'version = "1"\n\n[[rules]]\nname = "ok"\npatterns = ["fine"]\n\n[[rules]]\nname = "broken"\n'
        'priority = "high"\npatterns = ["(unclosed"]\n',
    )
    with pytest.raises(PolicyError, match=r"line 10: rules\.1\.patterns: .*invalid regular expression"):
        load_policy(path)


def test_unknown_key_and_bad_values_name_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'version = "1"\n[priority]\nurgent = 0.9\nhihg = 0.5\n')
    with pytest.raises(PolicyError, match=r"line 4: priority\.hihg: Extra inputs are not permitted"):
        load_policy(path)
    path = write(tmp_path, 'version = "1"\n[routing]\n\nthreshold = 1.5\n')
    with pytest.raises(PolicyError, match=r"line 4: routing\.threshold"):
        load_policy(path)


def test_pattern_matching_the_empty_text_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, 'version = "1"\n[[rules]]\nname = "all"\npatterns = ["x*"]\n')
    with pytest.raises(PolicyError, match=r"line 4: rules\.0\.patterns: .*matches an empty text"):
        load_policy(path)


def test_out_of_range_threshold_says_so(tmp_path: Path) -> None:
    path = write(tmp_path, 'version = "1"\n[routing]\nthreshold = 1\n')
    with pytest.raises(PolicyError, match=r"line 3: routing\.threshold.*less than 1"):
        load_policy(path)


def test_duplicate_rule_names_and_missing_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'version = "1"\n[[rules]]\nname = "a"\n[[rules]]\nname = "a"\n')
    with pytest.raises(PolicyError, match=r"line 5: duplicate rule name 'a'"):
        load_policy(path)
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "absent.toml")


def test_number_threshold_overrides_the_model() -> None:
    policy = load_policy(REPO / "policy.toml")
    assert policy.threshold_for(0.7) == 0.7


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("Enough: my lawyer will call you.", "lawyer"),
        ("Ça suffit, één keer: my lawyer will call you.", "lawyer"),
        ("Mijn advocaat belt u, ’t is genoeg.", "advocaat"),
        ("“Déjà vu” – mijn advocaat belt u.", "advocaat"),
    ],
)
def test_a_rule_reports_the_characters_that_fired_in_ascii_and_other_texts(text: str, span: str) -> None:
    """ASCII texts are searched as bytes, the others as str: both give character offsets."""
    policy = load_policy(REPO / "policy.toml")
    (hit,) = policy.matches(text=text, subject=None, previous_contacts=None, tier=None)
    assert hit.rule == "legal_threat"
    assert hit.start is not None and hit.end is not None
    assert text[hit.start : hit.end] == span
