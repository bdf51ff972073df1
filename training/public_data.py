"""Public datasets from ``../shared/data`` and the label mappings that turn them into our labels.

None of these sets has a "needs human" label; the mappings below are our rubric, written down
before looking at any result and versioned by :data:`MAPPING_VERSION`. A change to a mapping is
its own commit with the reason, and bumps the version (it is stored in every model's metadata).

A label the source says nothing about is ``None`` and that row does not train that head.
The airline tweets are non-commercial: they are read for evaluation only, never for training.
Evaluation splits are fixed by a hash of the text, so they do not depend on row order or seed.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from service.model.labelled import LabelledTicket

MAPPING_VERSION = "public-mappings-1"

# GoEmotions (Glean single-label copy) and XED: what counts as "emotional".
GOEMOTIONS_EMOTIONAL = frozenset(
    [
        "anger",
        "annoyance",
        "disappointment",
        "disapproval",
        "disgust",
        "fear",
        "nervousness",
        "sadness",
        "grief",
        "remorse",
        "embarrassment",
    ]
)
GOEMOTIONS_CALM = frozenset(
    [
        "admiration",
        "amusement",
        "approval",
        "caring",
        "desire",
        "excitement",
        "gratitude",
        "joy",
        "love",
        "optimism",
        "pride",
        "relief",
        "surprise",
    ]
)
GOEMOTIONS_NUANCED = frozenset({"confusion"})
# curiosity and realization are borderline for "nuanced": they train "emotional" (as 0) only.
XED_EMOTIONAL = frozenset({1, 3, 4, 6})  # anger, disgust, fear, sadness

CFPB_COMPLEX_ISSUES = frozenset(
    {
        "Took or threatened to take negative or legal action",
        "Struggling to pay mortgage",
        "Closing on a mortgage",
        "Fraud or scam",
        "Problem with fraud alerts or security freezes",
        "Attempts to collect debt not owed",
        "Cont'd attempts collect debt not owed",
        "False statements or representation",
        "Taking/threatening an illegal action",
    }
)
CFPB_STATUTE_RE = re.compile(
    r"\b(FCRA|FDCPA|1681[a-z]?|1692[a-z]?|fair credit reporting act|fair debt collection)\b", re.I
)

LICENCES = {
    "goemotions": "GoEmotions (Google), Glean copy: Apache-2.0",
    "xed_en": "XED (Helsinki-NLP), English: CC BY 4.0 (Öhman et al., COLING 2020)",
    "xed_nl": "XED (Helsinki-NLP), Dutch projections: CC BY 4.0 (Öhman et al., COLING 2020)",
    "cfpb": "CFPB Consumer Complaint Database sample: U.S. federal government data, public domain in the U.S.",
    "airline_tweets": "Twitter US Airline Sentiment (CrowdFlower): CC BY-NC-SA 4.0, evaluation only",
}


def text_bucket(text: str, modulo: int) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16) % modulo


_TOKEN_RE = re.compile(r"\w+|[^\w\s@#＠＃]+")


def dedup_key(text: str) -> str:
    """The text as the model reads it, near enough to call two texts the same: lower-cased, digits
    as 0, its word and punctuation runs joined by one space (spacing, "@" and "#" dropped).

    The featurizer reads texts this way, so "Fuck." and "fuck ." are one training example for it,
    whichever split their exact bytes fall in; comparing raw texts let 46 of XED nl's 1,612
    evaluation lines be trained on in another spelling (README, Quality).
    """
    return " ".join(_TOKEN_RE.findall(re.sub(r"\d", "0", text.lower())))


def is_xed_nl_eval(text: str) -> bool:
    """The fixed XED nl evaluation split: never training data."""
    return text_bucket(text, 10) < 3


def is_cfpb_eval(text: str) -> bool:
    """A held-out 30% of the CFPB narratives, by the same rule as XED nl."""
    return text_bucket(text, 10) < 3


@dataclass(frozen=True)
class PublicData:
    root: Path

    def present(self) -> bool:
        return self.root.is_dir()

    def _file(self, *parts: str) -> Path | None:
        path = self.root.joinpath(*parts)
        return path if path.is_file() else None

    def goemotions(self, splits: tuple[str, ...]) -> list[LabelledTicket]:
        rows: list[LabelledTicket] = []
        for split in splits:
            path = self._file("goemotions-glean", f"{split}.tsv")
            if path is None:
                continue
            with path.open(encoding="utf-8", newline="") as fh:
                reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
                next(reader, None)
                for rec in reader:
                    if len(rec) < 2 or not rec[0].strip():
                        continue
                    text, label = rec[0], rec[1].strip()
                    emotional = 1 if label in GOEMOTIONS_EMOTIONAL else 0
                    if label in GOEMOTIONS_NUANCED:
                        nuanced: int | None = 1
                    elif label in GOEMOTIONS_CALM:
                        nuanced = 0
                    else:
                        nuanced = None
                    rows.append(
                        _public(
                            text,
                            "goemotions",
                            "en",
                            emotional=emotional,
                            nuanced=nuanced,
                            extra={"emotion": label, "split": split},
                        )
                    )
        return rows

    def _xed(
        self, path: Path | None, source: str, language: str, *, reversed_cols: bool = False
    ) -> list[tuple[str, set[int]]]:
        if path is None:
            return []
        out: list[tuple[str, set[int]]] = []
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 2:
                    continue
                text, labels = (parts[1], parts[0]) if reversed_cols else (parts[0], parts[1])
                try:
                    codes = {int(x) for x in labels.split(",") if x.strip()}
                except ValueError:
                    continue  # a header line
                if text.strip():
                    out.append((text, codes))
        return out

    def xed_en(self) -> list[LabelledTicket]:
        rows = [
            _public(t, "xed_en", "en", emotional=int(bool(c & XED_EMOTIONAL)), extra={"codes": sorted(c)})
            for t, c in self._xed(self._file("xed", "en-annotated.tsv"), "xed_en", "en")
        ]
        rows += [
            _public(t, "xed_en", "en", emotional=0, extra={"codes": [9]})
            for t, _ in self._xed(self._file("xed", "neu_en.txt"), "xed_en", "en", reversed_cols=True)
        ]
        return rows

    def xed_nl(self, *, evaluation: bool) -> list[LabelledTicket]:
        return [
            _public(t, "xed_nl", "nl", emotional=int(bool(c & XED_EMOTIONAL)), extra={"codes": sorted(c)})
            for t, c in self._xed(self._file("xed", "nl-projections.tsv"), "xed_nl", "nl")
            if is_xed_nl_eval(t) == evaluation
        ]

    def cfpb(self, *, evaluation: bool) -> list[LabelledTicket]:
        path = self._file("cfpb-complaints", "complaints_sample.csv")
        if path is None:
            return []
        rows: list[LabelledTicket] = []
        with path.open(encoding="utf-8", newline="") as fh:
            for rec in csv.DictReader(fh):
                text = (rec.get("Consumer complaint narrative") or "").strip()
                if not text or is_cfpb_eval(text) != evaluation:
                    continue
                issue = rec.get("Issue", "")
                complex_ = (
                    issue in CFPB_COMPLEX_ISSUES
                    or "identity theft" in (rec.get("Sub-issue") or "").lower()
                    or rec.get("Company response to consumer") == "Closed with monetary relief"
                    or bool(CFPB_STATUTE_RE.search(text))
                )
                rows.append(
                    _public(
                        text,
                        "cfpb",
                        "en",
                        complex_=int(complex_),
                        extra={"issue": issue, "product": rec.get("Product", "")},
                    )
                )
        return rows

    def airline_tweets(self) -> list[LabelledTicket]:
        """Evaluation only (CC BY-NC-SA): emotional = negative sentiment."""
        path = self._file("airline-tweets", "Tweets.csv")
        if path is None:
            return []
        with path.open(encoding="utf-8", newline="") as fh:
            return [
                _public(
                    rec["text"],
                    "airline_tweets",
                    "en",
                    emotional=int(rec["airline_sentiment"] == "negative"),
                    extra={"airline": rec.get("airline", ""), "reason": rec.get("negativereason", "")},
                )
                for rec in csv.DictReader(fh)
                if rec.get("text", "").strip()
            ]

    def evaluation_keys(self) -> set[str]:
        """:func:`dedup_key` of every evaluation text: XED nl and CFPB evaluation splits, GoEmotions
        test, airline tweets."""
        rows = (
            self.xed_nl(evaluation=True)
            + self.cfpb(evaluation=True)
            + self.goemotions(("test",))
            + self.airline_tweets()
        )
        return {dedup_key(r.text) for r in rows}

    def training_rows(self) -> list[LabelledTicket]:
        """The commercially usable training rows: GoEmotions train+dev, XED en, XED nl and CFPB training splits.

        A row that reads the same as an evaluation text (:func:`dedup_key`: short subtitle lines
        recur across XED's files, spelled apart only by case or spacing) is dropped, so no
        evaluation text is ever trained on, in any spelling.
        """
        rows = (
            self.goemotions(("train", "dev"))
            + self.xed_en()
            + self.xed_nl(evaluation=False)
            + self.cfpb(evaluation=False)
        )
        held = self.evaluation_keys()
        return [r for r in rows if dedup_key(r.text) not in held]

    def files(self) -> list[Path]:
        names = [
            ("goemotions-glean", "train.tsv"),
            ("goemotions-glean", "dev.tsv"),
            ("xed", "en-annotated.tsv"),
            ("xed", "neu_en.txt"),
            ("xed", "nl-projections.tsv"),
            ("cfpb-complaints", "complaints_sample.csv"),
        ]
        return [p for p in (self._file(*n) for n in names) if p is not None]


def _public(
    text: str,
    source: str,
    language: str,
    *,
    emotional: int | None = None,
    complex_: int | None = None,
    nuanced: int | None = None,
    extra: dict[str, object] | None = None,
) -> LabelledTicket:
    labels: dict[str, int | None] = {"emotional": emotional, "complex": complex_, "nuanced": nuanced}
    known = [v for v in labels.values() if v is not None]
    # needs_human is known when any dimension is 1, or when all three are known to be 0.
    if any(known):
        labels["needs_human"] = 1
    elif len(known) == 3:
        labels["needs_human"] = 0
    else:
        labels["needs_human"] = None
    return LabelledTicket(text=text, labels=labels, source=source, language=language, extra=dict(extra or {}))
