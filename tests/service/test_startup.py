"""Start-up refuses a bundle or policy that does not verify, and says why."""

from __future__ import annotations

import gc
import shutil
from pathlib import Path

import pytest

from service.config import Settings
from service.lifecycle import YOUNG_COLLECTION_THRESHOLD
from service.main import create_app
from service.model.bundle import MODEL_FILE, BundleError
from service.scoring.policy import PolicyError

pytestmark = pytest.mark.anyio


async def test_tampered_bundle_stops_startup(
    tmp_path: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(settings.models_dir / "tiny" / "1", tmp_path / "tiny" / "1")
    with (tmp_path / "tiny" / "1" / MODEL_FILE).open("r+b") as fh:
        fh.seek(100)
        fh.write(b"XXXX")
    app = create_app(settings.model_copy(update={"models_dir": tmp_path}))
    with pytest.raises(BundleError, match="sha256"):
        async with app.router.lifespan_context(app):
            pass
    assert "refusing to start" in capsys.readouterr().out
    assert app.state.scorer is None


async def test_invalid_policy_stops_startup(tmp_path: Path, settings: Settings) -> None:
    bad = tmp_path / "policy.toml"
    bad.write_text('version = "1"\n[routing]\nthreshold = "sometimes"\n', encoding="utf-8")
    app = create_app(settings.model_copy(update={"policy_path": bad}))
    with pytest.raises(PolicyError, match="line 3"):
        async with app.router.lifespan_context(app):
            pass


async def test_missing_model_stops_startup(tmp_path: Path, settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"models_dir": tmp_path}))
    with pytest.raises(BundleError, match="no such model"):
        async with app.router.lifespan_context(app):
            pass


async def test_a_serving_worker_leaves_its_startup_heap_out_of_collections_and_restores_it(
    settings: Settings,
) -> None:
    threshold = gc.get_threshold()
    first, second = create_app(settings), create_app(settings)
    async with first.router.lifespan_context(first):
        # What start-up loaded (the model among it) is frozen; young collections wait longer.
        assert gc.get_freeze_count() > 10_000
        assert gc.get_threshold()[0] == YOUNG_COLLECTION_THRESHOLD
        async with second.router.lifespan_context(second):
            pass
        # Another app stopping in the same process leaves the first one's settings alone.
        assert gc.get_freeze_count() > 10_000
        assert gc.get_threshold()[0] == YOUNG_COLLECTION_THRESHOLD
    if threshold[0] != YOUNG_COLLECTION_THRESHOLD:  # no other app of this test session still serving
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == threshold
