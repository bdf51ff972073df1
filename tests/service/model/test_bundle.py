"""Bundle round trip, and the refusal of tampered or hostile bundles."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from service.model.bundle import (
    CARD_FILE,
    METADATA_FILE,
    MODEL_FILE,
    BundleError,
    TriageModel,
    load_bundle,
    resolve_bundle_dir,
    save_bundle,
    sha256_file,
)
from service.model.bundle_file import TRUSTED_TYPES, read_arrays

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def bundle_copy(tmp_path: Path, tiny_models_dir: Path) -> Path:
    return Path(shutil.copytree(tiny_models_dir / "tiny" / "1", tmp_path / "tiny" / "1"))


def test_round_trip_gives_identical_scores(tiny_model: TriageModel, tmp_path: Path) -> None:
    saved = save_bundle(tiny_model, tmp_path / "copy", card="# card\n")
    again = load_bundle(saved)
    texts = ["Ik ben woedend, derde keer!", "what are your opening hours?"]
    np.testing.assert_allclose(
        again.predict_proba_texts(texts), tiny_model.predict_proba_texts(texts), rtol=1e-6
    )
    assert again.threshold == tiny_model.threshold
    assert (saved / "MODEL_CARD.md").read_text() == "# card\n"
    with zipfile.ZipFile(saved / MODEL_FILE) as zf:
        assert all(not name.endswith(".pkl") for name in zf.namelist())


def test_tampered_model_file_is_refused(bundle_copy: Path) -> None:
    with (bundle_copy / MODEL_FILE).open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(BundleError, match="does not match metadata"):
        load_bundle(bundle_copy)


def test_untrusted_type_is_refused_even_with_a_matching_checksum(bundle_copy: Path) -> None:
    # A hostile bundle that carries a scikit-learn object and a correct sha256 in its metadata.
    sio.dump({"format": np.asarray(1), "weights": LogisticRegression()}, bundle_copy / MODEL_FILE)
    meta = json.loads((bundle_copy / METADATA_FILE).read_text())
    meta["model_sha256"] = sha256_file(bundle_copy / MODEL_FILE)
    (bundle_copy / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="untrusted types"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize("which", ["tiny", "default"])
def test_numpy_reader_gives_the_arrays_skops_gives(which: str, tiny_models_dir: Path) -> None:
    folder = (
        tiny_models_dir / "tiny" / "1"
        if which == "tiny"
        else resolve_bundle_dir(REPO / "models", "default", None)
    )
    ours = read_arrays(folder / MODEL_FILE)
    theirs = sio.load(folder / MODEL_FILE, trusted=list(TRUSTED_TYPES))
    assert ours.keys() == theirs.keys()
    for key, array in ours.items():
        assert array.dtype == theirs[key].dtype and array.shape == theirs[key].shape, key
        assert array.tobytes() == theirs[key].tobytes(), key


def _resigned(bundle: Path, state: Any) -> Path:
    sio.dump(state, bundle / MODEL_FILE)
    meta = json.loads((bundle / METADATA_FILE).read_text())
    meta["model_sha256"] = sha256_file(bundle / MODEL_FILE)
    (bundle / METADATA_FILE).write_text(json.dumps(meta))
    return bundle


@pytest.mark.parametrize(
    ("state", "message"),
    [
        # Types skops would load under the allow-list, but no bundle holds: refused all the same.
        ({"format": np.asarray(1), "idf": ["a", "b"]}, "'idf' is not an array stored in numpy's format"),
        ({"format": np.asarray(1), "idf": {"nested": np.zeros(2)}}, "'idf' is not an array"),
        (["not", "a", "dict"], "not a dict of arrays"),
        # skops writes an object array's shape as a tuple, outside the allow-list.
        ({"format": np.asarray(1), "idf": np.asarray(["a", "b"], dtype=object)}, "untrusted types"),
    ],
)
def test_anything_but_a_dict_of_arrays_is_refused(bundle_copy: Path, state: Any, message: str) -> None:
    with pytest.raises(BundleError, match=message):
        load_bundle(_resigned(bundle_copy, state))


def test_another_skops_layout_is_refused_not_guessed_at(bundle_copy: Path) -> None:
    with zipfile.ZipFile(bundle_copy / MODEL_FILE) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    schema = json.loads(members["schema.json"])
    schema["protocol"] = 3
    members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(bundle_copy / MODEL_FILE, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    meta = json.loads((bundle_copy / METADATA_FILE).read_text())
    meta["model_sha256"] = sha256_file(bundle_copy / MODEL_FILE)
    (bundle_copy / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="skops protocol 3"):
        load_bundle(bundle_copy)


def test_a_loaded_bundle_scores_matrices_as_the_trained_model_does(
    tiny_model: TriageModel, tmp_path: Path
) -> None:
    """Loading builds no scikit-learn object; the transformer for whole matrices is made on demand."""
    assert type(tiny_model.featurizer).__name__ == "HashingFeaturizer"
    again = load_bundle(save_bundle(tiny_model, tmp_path / "again", card="# card\n"))
    texts = ["Ik ben woedend, derde keer!", "what are your opening hours?", ""]
    assert (again.transform(texts) != tiny_model.transform(texts)).nnz == 0
    assert (tmp_path / "again" / CARD_FILE).is_file()


def test_missing_files_and_versions(tmp_path: Path, bundle_copy: Path) -> None:
    (bundle_copy / METADATA_FILE).unlink()
    with pytest.raises(BundleError, match="missing"):
        load_bundle(bundle_copy)
    with pytest.raises(BundleError, match="no such model"):
        resolve_bundle_dir(tmp_path, "nothing", None)


def test_newest_version_is_chosen_by_creation_time(tmp_path: Path, tiny_models_dir: Path) -> None:
    for version, created in (("v9", "2026-01-01T00:00:00+00:00"), ("v10", "2026-02-01T00:00:00+00:00")):
        target = Path(shutil.copytree(tiny_models_dir / "tiny" / "1", tmp_path / "m" / version))
        meta = json.loads((target / METADATA_FILE).read_text())
        meta["created_at"] = created
        (target / METADATA_FILE).write_text(json.dumps(meta))
    assert resolve_bundle_dir(tmp_path, "m", None).name == "v10"
    assert resolve_bundle_dir(tmp_path, "m", "v9").name == "v9"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.pop("thresholds"), "thresholds: Field required"),
        (lambda m: m["thresholds"].update(needs_human="high"), "thresholds.needs_human"),
        (lambda m: m["thresholds"].update(needs_human=1.5), "thresholds.needs_human"),
        (lambda m: m["featurizer"].update(hashing="python-hash"), "featurizer.hashing"),
        (lambda m: m["featurizer"].update(extra=1), "featurizer.extra"),
        (lambda m: m.update(languages=[]), "languages"),
    ],
)
def test_invalid_metadata_is_refused_with_the_reason(bundle_copy: Path, change: Any, message: str) -> None:
    meta = json.loads((bundle_copy / METADATA_FILE).read_text())
    change(meta)
    (bundle_copy / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=f"invalid metadata.*{message}"):
        load_bundle(bundle_copy)


def test_reason_shares_add_up_to_the_logit_the_batch_path_computes(tiny_model: TriageModel) -> None:
    """Reasons are exact: the per-occurrence shares the phrases are cut from sum to the logit."""
    texts = [
        "Ik ben woedend, dit is de DERDE keer!!",
        "what are your opening hours?",
        "Mijn moeder is overleden…",
    ]
    batch_logits = tiny_model.transform(texts) @ tiny_model.weights + tiny_model.intercepts
    for text, expected in zip(texts, batch_logits, strict=True):
        scored = tiny_model.score_text(text)
        for head in range(4):
            from_shares = float(np.sum(scored.share * tiny_model.weights[scored.index, head]))
            assert from_shares + tiny_model.intercepts[head] == pytest.approx(float(expected[head]), abs=1e-5)
        assert tiny_model.calibrate(np.asarray(expected)) == pytest.approx(scored.proba, abs=1e-6)
