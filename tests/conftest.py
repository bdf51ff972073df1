"""Shared fixtures: a tiny model trained on part of the seed set, apps and clients around it."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from service.config import Settings
from service.main import create_app
from service.model.bundle import TriageModel, load_bundle, resolve_bundle_dir, save_bundle
from service.model.labelled import LabelledTicket, read_labelled
from training.card import render_card
from training.pipeline import SEED_DIR
from training.train import Recipe, train_model

REPO = Path(__file__).resolve().parent.parent
TINY_RECIPE = Recipe(name="tiny", bits=14, folds=3, test_size=0.25)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def seed_rows() -> list[LabelledTicket]:
    return read_labelled([SEED_DIR])


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory, seed_rows: list[LabelledTicket]) -> Path:
    """A models folder holding ``tiny/1``: trained in about a second on every fourth seed ticket."""
    models_dir = tmp_path_factory.mktemp("models")
    rows = seed_rows[::4]
    result = train_model(rows, TINY_RECIPE, extra_metadata={"name": "tiny", "version": "1"})
    save_bundle(result.model, models_dir / "tiny" / "1", card=render_card(result.model.metadata))
    return models_dir


@pytest.fixture(scope="session")
def candidates_dir(tmp_path_factory: pytest.TempPathFactory, seed_rows: list[LabelledTicket]) -> Path:
    """Candidate bundles beside the served tiny/1: ``tiny/2``, trained like it, and ``tiny/3``,
    trained on shuffled labels (worse: for the promotion gate to refuse)."""
    models_dir = tmp_path_factory.mktemp("candidates")
    rows = seed_rows[::4]
    good = train_model(rows, TINY_RECIPE, extra_metadata={"name": "tiny", "version": "2"})
    save_bundle(good.model, models_dir / "tiny" / "2", card=render_card(good.model.metadata))
    labels = [r.labels for r in rows]
    random.Random(7).shuffle(labels)
    shuffled = [replace(r, labels=label) for r, label in zip(rows, labels, strict=True)]
    worse = train_model(shuffled, TINY_RECIPE, extra_metadata={"name": "tiny", "version": "3"})
    save_bundle(worse.model, models_dir / "tiny" / "3", card=render_card(worse.model.metadata))
    return models_dir


@pytest.fixture(scope="session")
def tiny_model(tiny_models_dir: Path) -> TriageModel:
    return load_bundle(tiny_models_dir / "tiny" / "1")


@pytest.fixture(scope="session")
def default_model() -> TriageModel:
    """The committed default model, as a fresh install serves it."""
    return load_bundle(resolve_bundle_dir(REPO / "models", "default", None))


@pytest.fixture
def settings(tiny_models_dir: Path, tmp_path: Path) -> Settings:
    return Settings(
        models_dir=tiny_models_dir,
        model_name="tiny",
        policy_path=REPO / "policy.toml",
        data_dir=tmp_path / "data",
    )


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


@pytest.fixture
def unseen_file(tmp_path: Path, seed_rows: list[LabelledTicket]) -> Path:
    """Seed tickets neither tiny model trained on (they train on every fourth one), as JSONL."""
    out = tmp_path / "unseen.jsonl"
    with out.open("w") as fh:
        for row in seed_rows[1::4]:
            labels = {k: row.labels[k] for k in ("emotional", "complex", "nuanced")}
            fh.write(json.dumps({"id": row.id, "language": row.language, "text": row.text, **labels}) + "\n")
    return out


@pytest.fixture(scope="module")
def serve() -> Iterator[Callable[[FastAPI], str]]:
    """Runs apps with uvicorn on free loopback ports in threads; ``serve(app)`` returns the base URL
    once the lifespan has run. The servers stop when the module's tests are done."""
    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app: FastAPI) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        running.append((server, thread))
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the service did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in running:
        server.should_exit = True
        thread.join(timeout=10)
