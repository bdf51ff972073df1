"""The contract shared by training and serving: features, the model bundle, language detection.

Nothing here imports FastAPI or a database; ``training`` and ``service`` both import it.
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
from service.model.features import Featurizer, FeaturizerConfig

__all__ = [
    "DIMENSIONS",
    "HEADS",
    "BundleError",
    "Featurizer",
    "FeaturizerConfig",
    "TriageModel",
    "load_bundle",
    "resolve_bundle_dir",
    "save_bundle",
]
