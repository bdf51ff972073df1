"""The model bundle: what training writes and serving reads.

A bundle is a folder ``<models_dir>/<name>/<version>/`` holding ``model.skops`` (numpy arrays
only, saved with skops), ``metadata.json`` and ``MODEL_CARD.md``. Loading verifies the sha256 of
``model.skops`` against the metadata and refuses any type outside ``bundle_file.TRUSTED_TYPES`` before
a single object is constructed, so a tampered or hostile file never gets to run code; the arrays
are read with numpy alone (``service.model.bundle_file``), so serving never imports scikit-learn.

The scorer is one linear layer over the hashed features: columns ``emotional``, ``complex``,
``nuanced`` and ``needs_human`` (the stacked combination of the three, folded into the same
weights), each followed by a Platt calibration ``sigmoid(a * z + b)``. Because everything up to
the calibration is linear, each token's share of the logit is exact, and the reasons are those
shares.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from service.model import kernels
from service.model.bundle_file import BundleFileError, read_arrays, write_arrays
from service.model.hashing import HASHING, FeaturizerConfig, HashingFeaturizer

if TYPE_CHECKING:
    import scipy.sparse as sp

    from service.model.features import Featurizer

HeadName = Literal["emotional", "complex", "nuanced", "needs_human"]
HEADS: tuple[HeadName, ...] = ("emotional", "complex", "nuanced", "needs_human")
DIMENSIONS: tuple[HeadName, ...] = HEADS[:3]
MODEL_FILE = "model.skops"
METADATA_FILE = "metadata.json"
CARD_FILE = "MODEL_CARD.md"
BUNDLE_FORMAT = 1
# A phrase is a run of adjacent tokens each carrying at least this share of the top token's push.
PHRASE_FLOOR = 0.25


class BundleError(Exception):
    """A bundle is missing, tampered with, or holds types we do not trust."""


Probability = Annotated[float, Field(gt=0, lt=1)]


class _Thresholds(BaseModel):
    emotional: Probability
    complex: Probability
    nuanced: Probability
    needs_human: Probability


class _FeaturizerMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bits: Annotated[int, Field(ge=8, le=24)]
    char_min: Annotated[int, Field(ge=1)]
    char_max: Annotated[int, Field(ge=1)]
    word_bigrams: bool
    caps_marker: bool
    hashing: str

    @field_validator("hashing")
    @classmethod
    def _same_hashing(cls, value: str) -> str:
        if value != HASHING:
            raise ValueError(
                f"made with feature hashing {value!r}; this version of the service uses {HASHING!r}"
            )
        return value


class BundleMetadata(BaseModel):
    """What serving relies on in ``metadata.json``; the rest is documentation."""

    model_config = ConfigDict(extra="allow")

    name: Annotated[str, Field(min_length=1)]
    version: Annotated[str, Field(min_length=1)]
    created_at: datetime
    bundle_format: Literal[1]
    model_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    languages: Annotated[list[str], Field(min_length=1)]
    thresholds: _Thresholds
    featurizer: _FeaturizerMetadata


@dataclass(frozen=True)
class Phrase:
    """A run of adjacent tokens that raised one head's logit."""

    start: int
    end: int
    weight: float


@dataclass
class TriageModel:
    """Featurizer plus calibrated linear heads; ``weights`` has shape (n_features, 4) (in a
    loaded bundle, a view of :attr:`table`).

    A loaded bundle's featurizer is the numpy-only :class:`HashingFeaturizer`, which scores one
    text at a time; :meth:`transform` builds the scikit-learn transformer for whole matrices.
    """

    featurizer: HashingFeaturizer
    weights: np.ndarray
    intercepts: np.ndarray
    calibration: np.ndarray  # shape (4, 2): a, b per head
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "unversioned"))

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", "unnamed"))

    @property
    def threshold(self) -> float:
        return float(self.metadata["thresholds"]["needs_human"])

    @property
    def dimension_thresholds(self) -> dict[str, float]:
        return {d: float(self.metadata["thresholds"][d]) for d in DIMENSIONS}

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.metadata.get("languages", ("en", "nl")))

    @cached_property
    def table(self) -> np.ndarray:
        """Serving layout: per bucket, the four head weights, then the idf, padded to 32 bytes."""
        base = self.weights.base
        if (
            isinstance(base, np.ndarray)
            and base.shape == (self.featurizer.n_features, 8)
            and base.dtype == np.float32
            and np.shares_memory(base[:, : len(HEADS)], self.weights)
            and np.array_equal(base[:, len(HEADS)], self.featurizer.idf_)
        ):
            return base  # a loaded bundle's weights are a view of its table already
        return pack_table(self.weights, self.featurizer.idf_)

    def calibrate(self, logits: np.ndarray) -> np.ndarray:
        z = self.calibration[:, 0] * logits + self.calibration[:, 1]
        proba: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return proba

    @cached_property
    def transformer(self) -> Featurizer:
        """The featurizer as a fitted scikit-learn transformer (the same features, as sparse rows)."""
        # Imported here: scikit-learn and scipy are for training and the promotion gate, never
        # for a worker that only serves.
        from service.model.features import Featurizer

        if isinstance(self.featurizer, Featurizer):
            return self.featurizer
        return Featurizer.from_config(self.featurizer.config, idf=self.featurizer.idf_)

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        """Tf-idf rows of ``texts``, one per text, as the training pipeline built them."""
        return self.transformer.transform(texts)

    def predict_proba_texts(self, texts: list[str]) -> np.ndarray:
        """Calibrated probabilities, shape (len(texts), 4), in :data:`HEADS` order."""
        return self.predict_proba_matrix(self.transform(texts))

    def predict_proba_matrix(self, matrix: Any) -> np.ndarray:
        """Calibrated probabilities of rows the featurizer already built."""
        logits = matrix @ self.weights + self.intercepts
        z = logits * self.calibration[:, 0] + self.calibration[:, 1]
        return np.asarray(1.0 / (1.0 + np.exp(-z)))

    def score_text(self, text: str) -> Scored:
        """Calibrated probabilities of one text, with what the reasons need: one compiled call."""
        f = self.featurizer
        cp, original, classes = f.prepare(text)
        tokens, occurrences, floats = kernels.featurize_and_score(
            cp,
            original,
            classes,
            f.bits,
            f.char_min,
            f.char_max,
            f.word_bigrams,
            f.caps_marker,
            self.table,
            self.intercepts,
        )
        return Scored(self.calibrate(floats[: len(HEADS)]), tokens, occurrences, floats)

    def phrases(self, scored: Scored, heads: list[int], *, limit: int = 3) -> list[tuple[int, Phrase]]:
        """Per head, the runs of adjacent tokens whose features most raised its logit."""
        if scored.tokens.shape[1] == 0 or not heads:
            return []
        found = kernels.heads_phrases(
            scored.tokens,
            scored.occurrences,
            scored.floats,
            self.table,
            np.asarray(heads, dtype=np.int64),
            limit,
            PHRASE_FLOOR,
        )
        return [(int(h), Phrase(int(a), int(b), float(w))) for h, a, b, w in found.T.tolist()]


@dataclass(frozen=True)
class Scored:
    """One scored text: calibrated probabilities in HEADS order, and the kernel's arrays.

    ``tokens``: start, end, raw unigram hash and blank line before, per token; ``occurrences``: bucket, first and last
    token per feature occurrence; ``floats``: the logits, then each occurrence's tf-idf share.
    """

    proba: np.ndarray
    tokens: np.ndarray
    occurrences: np.ndarray
    floats: np.ndarray

    @property
    def unigrams(self) -> np.ndarray:
        unigrams: np.ndarray = self.tokens[2].view(np.uint64)
        return unigrams

    @property
    def index(self) -> np.ndarray:
        index: np.ndarray = self.occurrences[0]
        return index

    @property
    def share(self) -> np.ndarray:
        share: np.ndarray = self.floats[len(HEADS) :]
        return share


def pack_table(weights: np.ndarray, idf: np.ndarray) -> np.ndarray:
    """The serving table (``TriageModel.table``) of head weights and idf."""
    table = np.zeros((len(idf), 8), dtype=np.float32)
    table[:, : weights.shape[1]] = weights
    table[:, weights.shape[1]] = idf
    return table


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_bundle(model: TriageModel, directory: Path, *, card: str) -> Path:
    """Write ``model.skops``, ``metadata.json`` (with the file's sha256) and the card."""
    directory.mkdir(parents=True, exist_ok=False)
    state = {
        "format": np.asarray(BUNDLE_FORMAT),
        "idf": np.asarray(model.featurizer.idf_, dtype=np.float32),
        "weights": np.asarray(model.weights, dtype=np.float32),
        "intercepts": np.asarray(model.intercepts, dtype=np.float64),
        "calibration": np.asarray(model.calibration, dtype=np.float64),
    }
    model_path = directory / MODEL_FILE
    write_arrays(state, model_path)
    metadata = dict(model.metadata)
    metadata["bundle_format"] = BUNDLE_FORMAT
    metadata["featurizer"] = model.featurizer.config.__dict__
    metadata["model_sha256"] = sha256_file(model_path)
    model.metadata = metadata
    (directory / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    (directory / CARD_FILE).write_text(card)
    return directory


def load_bundle(directory: Path) -> TriageModel:
    """Read and verify a bundle; raises :class:`BundleError` saying what is wrong."""
    model_path = directory / MODEL_FILE
    meta_path = directory / METADATA_FILE
    for path in (model_path, meta_path):
        if not path.is_file():
            raise BundleError(f"{path}: missing")
    try:
        metadata = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise BundleError(f"{meta_path}: not valid JSON ({exc})") from exc
    expected = metadata.get("model_sha256")
    actual = sha256_file(model_path)
    if expected != actual:
        raise BundleError(
            f"{model_path}: sha256 {actual} does not match metadata ({expected}); refusing to load"
        )
    try:
        state = read_arrays(model_path)
    except BundleFileError as exc:
        raise BundleError(f"{model_path}: {exc}") from exc
    if state.get("format") is None or state["format"].shape != () or int(state["format"]) != BUNDLE_FORMAT:
        raise BundleError(f"{model_path}: not a bundle of format {BUNDLE_FORMAT}")
    missing = sorted({"idf", "weights", "intercepts", "calibration"} - set(state))
    if missing:
        raise BundleError(f"{model_path}: not a bundle of format {BUNDLE_FORMAT} (no {', '.join(missing)})")
    try:
        checked = BundleMetadata.model_validate(metadata)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise BundleError(f"{meta_path}: invalid metadata ({problems})") from exc
    config = FeaturizerConfig(**checked.featurizer.model_dump())
    weights = np.asarray(state.pop("weights"), dtype=np.float32)
    if weights.shape != (config.n_features, len(HEADS)):
        raise BundleError(f"{model_path}: weights have shape {weights.shape}")
    idf = np.ascontiguousarray(state["idf"], dtype=np.float32)
    # The weights are kept only inside the serving table: a copy of their own would hold 4 MB
    # more in every worker.
    table = pack_table(weights, idf)
    del weights
    return TriageModel(
        featurizer=HashingFeaturizer.from_config(config, idf=idf),
        weights=table[:, : len(HEADS)],
        intercepts=np.asarray(state["intercepts"], dtype=np.float64),
        calibration=np.asarray(state["calibration"], dtype=np.float64),
        metadata=metadata,
    )


def resolve_bundle_dir(models_dir: Path, name: str, version: str | None) -> Path:
    """The folder of ``name``/``version``; without a version, the newest one."""
    base = models_dir / name
    if version:
        return base / version
    if not base.is_dir():
        raise BundleError(f"{base}: no such model (set TRIAGE_MODELS_DIR or TRIAGE_MODEL_NAME)")
    versions = [p for p in base.iterdir() if (p / METADATA_FILE).is_file()]
    if not versions:
        raise BundleError(f"{base}: holds no model version")
    # Newest by creation time, not by name: "v10" is newer than "v9".
    return max(versions, key=lambda p: (_created_at(p), p.name))


def _created_at(directory: Path) -> str:
    try:
        return str(json.loads((directory / METADATA_FILE).read_text()).get("created_at", ""))
    except (OSError, json.JSONDecodeError):
        return ""
