"""The contract shared by training and serving: features, the model bundle, language detection.

Nothing here imports FastAPI or a database; ``training`` and ``service`` both import it. Nor does
importing the package import scikit-learn or scipy: only ``service.model.features`` (the
scikit-learn transformer, for training and the promotion gate) does, and a serving worker never
imports it.
"""

from service.model.bundle import (
    DIMENSIONS,
    HEADS,
    BundleError,
    TriageModel,
    load_bundle,
    resolve_bundle_dir,
    save_bundle,
)
from service.model.hashing import FeaturizerConfig, HashingFeaturizer

__all__ = [
    "DIMENSIONS",
    "HEADS",
    "BundleError",
    "FeaturizerConfig",
    "HashingFeaturizer",
    "TriageModel",
    "load_bundle",
    "resolve_bundle_dir",
    "save_bundle",
]
