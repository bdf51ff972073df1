"""Public-data label mappings and the splits that must never train."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.public_data import PublicData, dedup_key, is_cfpb_eval, is_xed_nl_eval

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture
def fake_public(tmp_path: Path) -> PublicData:
    (tmp_path / "goemotions-glean").mkdir()
    (tmp_path / "goemotions-glean" / "train.tsv").write_text(
        "text\tlabel\nthis is infuriating\tanger\nthanks so much\tgratitude\nwait what do you mean\tconfusion\nhmm why\tcuriosity\n",
        encoding="utf-8",
    )
    (tmp_path / "xed").mkdir()
    (tmp_path / "xed" / "en-annotated.tsv").write_text("I hate you\t1, 3\nLovely day\t5\n", encoding="utf-8")
    (tmp_path / "xed" / "neu_en.txt").write_text("9\tPass the salt.\n", encoding="utf-8")
    nl = [f"zin nummer {i} met angst\t4" for i in range(40)]
    (tmp_path / "xed" / "nl-projections.tsv").write_text("\n".join(nl) + "\n", encoding="utf-8")
    (tmp_path / "cfpb-complaints").mkdir()
    header = "Issue,Sub-issue,Consumer complaint narrative,Company response to consumer,Product\n"
    rows = [
        f'Fraud or scam,,"narrative {i} about a scam",Closed with explanation,Credit card\n'
        for i in range(20)
    ]
    rows += [
        f'Incorrect information on your report,,"narrative {i} about my report",Closed with explanation,Credit reporting\n'
        for i in range(20)
    ]
    rows += [
        'Incorrect information on your report,,"they broke the FCRA again",Closed with explanation,Credit reporting\n'
    ]
    rows += ["Managing an account,,,Closed,Bank\n"]
    (tmp_path / "cfpb-complaints" / "complaints_sample.csv").write_text(
        header + "".join(rows), encoding="utf-8"
    )
    (tmp_path / "airline-tweets").mkdir()
    (tmp_path / "airline-tweets" / "Tweets.csv").write_text(
        "tweet_id,airline_sentiment,negativereason,airline,text,tweet_created\n1,negative,Late Flight,United,@united late again,x\n2,positive,,Delta,@delta thanks,x\n",
        encoding="utf-8",
    )
    return PublicData(tmp_path)


def test_goemotions_mapping(fake_public: PublicData) -> None:
    rows = {r.text: r.labels for r in fake_public.goemotions(("train",))}
    assert rows["this is infuriating"] == {"emotional": 1, "complex": None, "nuanced": None, "needs_human": 1}
    assert rows["thanks so much"] == {"emotional": 0, "complex": None, "nuanced": 0, "needs_human": None}
    assert rows["wait what do you mean"] == {"emotional": 0, "complex": None, "nuanced": 1, "needs_human": 1}
    assert rows["hmm why"]["nuanced"] is None


def test_xed_mapping(fake_public: PublicData) -> None:
    rows = {r.text: r.labels["emotional"] for r in fake_public.xed_en()}
    assert rows == {"I hate you": 1, "Lovely day": 0, "Pass the salt.": 0}


def test_xed_nl_evaluation_split_never_trains(fake_public: PublicData) -> None:
    train = fake_public.xed_nl(evaluation=False)
    held = fake_public.xed_nl(evaluation=True)
    assert train
    assert held
    assert len(train) + len(held) == 40
    assert not any(is_xed_nl_eval(r.text) for r in train)
    assert not {r.text for r in held} & {r.text for r in fake_public.training_rows()}


def test_cfpb_mapping_and_split(fake_public: PublicData) -> None:
    rows = fake_public.cfpb(evaluation=False) + fake_public.cfpb(evaluation=True)
    assert len(rows) == 41  # the row without a narrative is left out
    by_issue = {r.extra["issue"]: r.labels["complex"] for r in rows if "FCRA" not in r.text}
    assert by_issue == {"Fraud or scam": 1, "Incorrect information on your report": 0}
    assert next(r for r in rows if "FCRA" in r.text).labels["complex"] == 1
    assert all(r.labels["emotional"] is None for r in rows)
    assert not any(is_cfpb_eval(r.text) for r in fake_public.cfpb(evaluation=False))


def test_airline_tweets_are_evaluation_only(fake_public: PublicData) -> None:
    tweets = fake_public.airline_tweets()
    assert [t.labels["emotional"] for t in tweets] == [1, 0]
    training = {r.text for r in fake_public.training_rows()}
    assert not training & {t.text for t in tweets}


def test_absent_folder_gives_nothing(tmp_path: Path) -> None:
    public = PublicData(tmp_path / "absent")
    assert not public.present()
    assert public.training_rows() == []
    assert public.airline_tweets() == []


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"public data not found at {SHARED}")
def test_real_public_data_splits() -> None:
    public = PublicData(SHARED)
    training = public.training_rows()
    assert {r.source for r in training} == {"goemotions", "xed_en", "xed_nl", "cfpb"}
    keys = {dedup_key(r.text) for r in training}
    assert not keys & {dedup_key(r.text) for r in public.xed_nl(evaluation=True)}
    assert not keys & {dedup_key(r.text) for r in public.cfpb(evaluation=True)}
    assert not keys & {dedup_key(r.text) for r in public.goemotions(("test",))}
    assert not keys & {dedup_key(r.text) for r in public.airline_tweets()}
    assert not {r.extra.get("split") for r in training if r.source == "goemotions"} & {"test"}


def test_texts_shared_with_an_evaluation_set_never_train(fake_public: PublicData, tmp_path: Path) -> None:
    eval_text = next(r.text for r in fake_public.xed_nl(evaluation=True))
    # The same texts as the model reads them: other case, spacing, digits, "@" and "#".
    respelled = eval_text.upper().replace(" ", "  ").replace("1", "9").replace("2", "9")
    with (tmp_path / "xed" / "en-annotated.tsv").open("a", encoding="utf-8") as fh:
        fh.write(f"{eval_text}\t1\n@united late again\t1\n{respelled}\t1\n#United LATE   again\t1\n")
    training = {r.text for r in fake_public.training_rows()}
    assert eval_text not in training
    assert "@united late again" not in training
    assert respelled not in training
    assert "#United LATE   again" not in training
    assert "I hate you" in training
    assert dedup_key("United late again!") != dedup_key("@united late again")


def test_dedup_key_reads_texts_as_the_featurizer_does() -> None:
    assert dedup_key("Fuck.") == dedup_key("fuck .") == "fuck ."
    assert dedup_key("@United I paid $120!!  #fail") == "united i paid $ 000 !! fail"
    assert dedup_key("Mijn\tfactuur\n\nklopt niet") == "mijn factuur klopt niet"
    assert dedup_key("can't") == "can ' t"
