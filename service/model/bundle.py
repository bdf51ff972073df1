"""The model bundle: what training writes and serving reads.

A bundle is a folder ``<models_dir>/<name>/<version>/`` holding ``model.skops`` (numpy arrays
only, saved with skops), ``metadata.json`` and ``MODEL_CARD.md``. Loading verifies the sha256 of
``model.skops`` against the metadata and refuses any type outside :data:`TRUSTED_TYPES` before
skops constructs a single object, so a tampered or hostile file never gets to run code.

The scorer is one linear layer over the hashed features: columns ``emotional``, ``complex``,
``nuanced`` and ``needs_human`` (the stacked combination of the three, folded into the same
weights), each followed by a Platt calibration ``sigmoid(a * z + b)``. Because everything up to
the calibration is linear, each token's share of the logit is exact, and the reasons are those
shares.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import skops.io as sio
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from service.model import kernels
from service.model.features import HASHING, Featurizer, FeaturizerConfig

HeadName = Literal["emotional", "complex", "nuanced", "needs_human"]
HEADS: tuple[HeadName, ...] = ("emotional", "complex", "nuanced", "needs_human")
DIMENSIONS: tuple[HeadName, ...] = HEADS[:3]
MODEL_FILE = "model.skops"
METADATA_FILE = "metadata.json"
CARD_FILE = "MODEL_CARD.md"
BUNDLE_FORMAT = 1
# A phrase is a run of adjacent tokens each carrying at least this share of the top token's push.
PHRASE_FLOOR = 0.25
# skops refuses everything else; the bundle holds plain arrays in a dict, nothing executable.
TRUSTED_TYPES: tuple[str, ...] = (
    "numpy.ndarray",
    "numpy.dtype",
    "builtins.dict",
    "builtins.list",
    "builtins.str",
)


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
    """Featurizer plus calibrated linear heads; ``weights`` has shape (n_features, 4)."""

    featurizer: Featurizer
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
        table = np.zeros((self.featurizer.n_features, 8), dtype=np.float32)
        table[:, : len(HEADS)] = self.weights
        table[:, len(HEADS)] = self.featurizer.idf_
        return table

    def calibrate(self, logits: np.ndarray) -> np.ndarray:
        z = self.calibration[:, 0] * logits + self.calibration[:, 1]
        proba: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return proba

    def predict_proba_texts(self, texts: list[str]) -> np.ndarray:
        """Calibrated probabilities, shape (len(texts), 4), in :data:`HEADS` order."""
        return self.predict_proba_matrix(self.featurizer.transform(texts))

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

    ``tokens``: start, end, raw unigram hash per token; ``occurrences``: bucket, first and last
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
    sio.dump(state, model_path, compression=zipfile.ZIP_DEFLATED, compresslevel=6)
    metadata = dict(model.metadata)
    metadata["bundle_format"] = BUNDLE_FORMAT
    metadata["featurizer"] = model.featurizer.config.__dict__
    metadata["model_sha256"] = sha256_file(model_path)
    model.metadata = metadata
    (directory / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    (directory / CARD_FILE).write_text(card)
    return directory


def _types_in(path: Path) -> set[str]:
    """Every type named in the skops schema.

    skops trusts much of scikit-learn by default; a bundle is stricter and holds only arrays.
    """
    with zipfile.ZipFile(path) as zf:
        schema = json.loads(zf.read("schema.json"))
    found: set[str] = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__class__" in node and "__module__" in node:
                found.add(f"{node['__module__']}.{node['__class__']}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


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
        found = _types_in(model_path) | set(sio.get_untrusted_types(file=model_path))
    except Exception as exc:  # a corrupt zip or schema surfaces as many exception types
        raise BundleError(f"{model_path}: unreadable ({exc})") from exc
    refused = sorted(found - set(TRUSTED_TYPES))
    if refused:
        raise BundleError(f"{model_path}: refusing untrusted types {refused}")
    state = sio.load(model_path, trusted=list(TRUSTED_TYPES))
    if not isinstance(state, dict) or int(state.get("format", -1)) != BUNDLE_FORMAT:
        raise BundleError(f"{model_path}: not a bundle of format {BUNDLE_FORMAT}")
    try:
        checked = BundleMetadata.model_validate(metadata)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise BundleError(f"{meta_path}: invalid metadata ({problems})") from exc
    config = FeaturizerConfig(**checked.featurizer.model_dump())
    weights = np.ascontiguousarray(state["weights"], dtype=np.float32)
    if weights.shape != (config.n_features, len(HEADS)):
        raise BundleError(f"{model_path}: weights have shape {weights.shape}")
    return TriageModel(
        featurizer=Featurizer.from_config(config, idf=np.asarray(state["idf"], dtype=np.float32)),
        weights=weights,
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
