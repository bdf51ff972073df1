"""A synthetic public-data folder: the real layout and file formats, a few hundred rows per file.

Labels follow words: angry or sad words make a row emotional, calm words leave it calm, puzzled
words mark GoEmotions confusion, legal and fraud words go with the complex CFPB Issues. Every text
is unique across the folder, so no row is dropped as an evaluation text, and a tiny model trains
on it in seconds.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.config import get_settings
from training.public_data import PublicData

EN_EMOTIONAL = (
    "furious",
    "angry",
    "outraged",
    "livid",
    "disgusted",
    "heartbroken",
    "miserable",
    "devastated",
    "terrified",
    "fuming",
    "awful",
    "horrible",
    "hate",
    "upset",
)
EN_CALM = (
    "thanks",
    "great",
    "lovely",
    "wonderful",
    "appreciate",
    "happy",
    "glad",
    "pleased",
    "nice",
    "cheers",
    "helpful",
    "perfect",
)
EN_PUZZLED = ("confused", "unclear", "puzzled", "baffled", "unsure", "wondering", "mixed", "ambiguous")
EN_FILLER = (
    "the",
    "order",
    "today",
    "my",
    "account",
    "again",
    "really",
    "about",
    "this",
    "week",
    "service",
    "app",
    "update",
    "message",
    "morning",
    "team",
    "just",
    "still",
    "with",
    "evening",
    "parcel",
    "friend",
    "movie",
    "phone",
)
NL_EMOTIONAL = (
    "woedend",
    "boos",
    "verdrietig",
    "bang",
    "walgelijk",
    "kwaad",
    "bedroefd",
    "angstig",
    "razend",
)
NL_CALM = ("prima", "bedankt", "leuk", "rustig", "gezellig", "fijn", "mooi", "tevreden", "blij")
NL_FILLER = (
    "de",
    "het",
    "een",
    "vandaag",
    "morgen",
    "huis",
    "straat",
    "film",
    "avond",
    "trein",
    "samen",
    "weer",
    "nog",
    "ook",
    "daar",
    "buren",
    "fiets",
)
AIR_FILLER = (
    "flight",
    "gate",
    "bag",
    "seat",
    "crew",
    "boarding",
    "plane",
    "today",
    "my",
    "the",
    "again",
    "tonight",
    "connection",
    "terminal",
    "ticket",
    "app",
)
CFPB_COMPLEX = (
    "lawsuit",
    "attorney",
    "fraud",
    "scam",
    "stolen",
    "court",
    "foreclosure",
    "garnishment",
    "threatened",
    "lawyer",
    "unauthorized",
    "criminal",
)
CFPB_ROUTINE = (
    "address",
    "balance",
    "statement",
    "typo",
    "spelling",
    "autopay",
    "portal",
    "login",
    "mailing",
    "paperless",
    "nickname",
    "reminder",
)
CFPB_FILLER = (
    "my",
    "the",
    "account",
    "credit",
    "bank",
    "company",
    "letter",
    "month",
    "payment",
    "called",
    "they",
    "card",
    "please",
    "since",
    "asked",
    "told",
)
CFPB_ISSUES = {
    "Fraud or scam": True,
    "Took or threatened to take negative or legal action": True,
    "Attempts to collect debt not owed": True,
    "Incorrect information on your report": False,
    "Managing an account": False,
    "Trouble during payment process": False,
}
AIRLINES = {"United": "@united", "Delta": "@delta", "Southwest": "@southwestair"}
TWEETS_PER_AIRLINE = 160


class _Texts:
    """Unique texts: a few filler words with signal words among them."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.seen: set[str] = set()

    def make(self, filler: tuple[str, ...], signal: tuple[str, ...], n_signal: int, prefix: str = "") -> str:
        while True:
            words = self.rng.sample(filler, self.rng.randint(4, 7))
            for word in self.rng.sample(signal, n_signal) if signal else []:
                words.insert(self.rng.randint(0, len(words)), word)
            text = (prefix + " " + " ".join(words)).strip()
            if text not in self.seen:
                self.seen.add(text)
                return text


def write_synthetic_public(root: Path, seed: int = 7) -> PublicData:
    rng = random.Random(seed)
    texts = _Texts(rng)

    go = root / "goemotions-glean"
    go.mkdir(parents=True)
    emotions = ("anger", "sadness", "fear", "disgust", "annoyance")
    calm = ("joy", "gratitude", "admiration", "love", "optimism")
    for split, n in (("train", 300), ("dev", 100), ("test", 150)):
        lines = ["text\tlabel"]
        for i in range(n):
            kind = i % 5
            if kind < 2:
                lines.append(f"{texts.make(EN_FILLER, EN_EMOTIONAL, 2)}\t{rng.choice(emotions)}")
            elif kind < 4:
                lines.append(f"{texts.make(EN_FILLER, EN_CALM, 2)}\t{rng.choice(calm)}")
            else:
                lines.append(f"{texts.make(EN_FILLER, EN_PUZZLED, 2)}\tconfusion")
        (go / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    xed = root / "xed"
    xed.mkdir()
    en = []
    for i in range(250):
        if i % 2:
            en.append(
                f"{texts.make(EN_FILLER, EN_EMOTIONAL, 2)}\t{rng.choice(['1', '3', '4', '6', '1, 3', '6, 8'])}"
            )
        else:
            en.append(f"{texts.make(EN_FILLER, EN_CALM, 2)}\t{rng.choice(['2', '5', '7', '8', '5, 8'])}")
    (xed / "en-annotated.tsv").write_text("\n".join(en) + "\n", encoding="utf-8")
    neutral = [f"9\t{texts.make(EN_FILLER, (), 0)}" for _ in range(100)]
    (xed / "neu_en.txt").write_text("\n".join(neutral) + "\n", encoding="utf-8")
    nl = []
    for i in range(300):
        if i % 2:
            nl.append(f"{texts.make(NL_FILLER, NL_EMOTIONAL, 2)}\t{rng.choice(['1', '3', '4', '6', '4, 8'])}")
        else:
            nl.append(f"{texts.make(NL_FILLER, NL_CALM, 2)}\t{rng.choice(['2', '5', '7', '8'])}")
    (xed / "nl-projections.tsv").write_text("\n".join(nl) + "\n", encoding="utf-8")

    cfpb = root / "cfpb-complaints"
    cfpb.mkdir()
    with (cfpb / "complaints_sample.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["Issue", "Sub-issue", "Consumer complaint narrative", "Company response to consumer", "Product"]
        )
        for i in range(300):
            issue, complex_ = list(CFPB_ISSUES.items())[i % len(CFPB_ISSUES)]
            narrative = texts.make(CFPB_FILLER, CFPB_COMPLEX if complex_ else CFPB_ROUTINE, 2)
            response = rng.choice(["Closed with explanation", "Closed with non-monetary relief"])
            writer.writerow(
                [issue, "", narrative, response, rng.choice(["Credit card", "Mortgage", "Debt collection"])]
            )

    air = root / "airline-tweets"
    air.mkdir()
    with (air / "Tweets.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["tweet_id", "airline_sentiment", "negativereason", "airline", "text", "tweet_created"]
        )
        tweet_id = 570_000_000_000_000_000
        for airline, handle in AIRLINES.items():
            for i in range(TWEETS_PER_AIRLINE):
                tweet_id += 1
                kind = i % 20
                if kind < 9:
                    sentiment, reason = (
                        "negative",
                        rng.choice(["Late Flight", "Lost Luggage", "Customer Service Issue"]),
                    )
                    text = texts.make(AIR_FILLER, EN_EMOTIONAL, 2, prefix=handle)
                elif kind < 15:
                    sentiment, reason, text = "neutral", "", texts.make(AIR_FILLER, (), 0, prefix=handle)
                else:
                    sentiment, reason = "positive", ""
                    text = texts.make(AIR_FILLER, EN_CALM, 2, prefix=handle)
                writer.writerow(
                    [tweet_id, sentiment, reason, airline, text, f"2/{10 + i % 15}/2015 11:{i % 60:02d}"]
                )
    return PublicData(root)


@pytest.fixture(scope="session")
def synthetic_public(tmp_path_factory: pytest.TempPathFactory) -> PublicData:
    return write_synthetic_public(tmp_path_factory.mktemp("public") / "data")


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """TRIAGE_DATA_DIR in a temporary folder, for the CLI's database."""
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()
