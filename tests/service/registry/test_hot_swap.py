"""A promotion under load, on two worker processes: no request fails, and the version switches once.

``triage serve --workers 2`` runs on SQLite with tiny/1 as champion. Eight clients send tickets
one after another while tiny/2 is promoted. Every worker loads tiny/2 ahead and swaps at the
champion's ``serving_from``: so every request sent after that moment is scored by tiny/2, every
answer received before it came from tiny/1, and each client sees 1 … 1 2 … 2.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC
from pathlib import Path

import httpx

from service.registry import service as registry
from service.storage.database import make_engine, session_factory

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = Path(os.environ.get("TRIAGE_TEST_ARTIFACTS", REPO / "test-artifacts"))
CLIENTS = 8
AT_LEAST = 5_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, server: subprocess.Popen[bytes]) -> None:
    # A bound for a server that never comes up, not a speed check (a busy CI machine is slow to start).
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited"
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not become ready")


def test_promotion_under_load_on_two_workers(
    tiny_models_dir: Path, candidates_dir: Path, tmp_path: Path
) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    db = f"sqlite:///{tmp_path / 'data' / 'triage.db'}"
    env = {
        **os.environ,
        "TRIAGE_PORT": str(port),
        "TRIAGE_WORKERS": "2",
        "TRIAGE_DATA_DIR": str(tmp_path / "data"),
        "TRIAGE_MODELS_DIR": str(tiny_models_dir),
        "TRIAGE_MODEL_NAME": "tiny",
        "TRIAGE_POLICY_PATH": str(REPO / "policy.toml"),
        "TRIAGE_MODEL_POLL_SECONDS": "0.5",
        "TRIAGE_LOG_LEVEL": "warning",
        "OPENBLAS_NUM_THREADS": "1",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "training.cli", "serve"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_ready(url, server)
        seen: list[list[tuple[float, float, int, str]]] = [[] for _ in range(CLIENTS)]
        stop = threading.Event()
        counter = iter(range(10**9))

        def client(log: list[tuple[float, float, int, str]]) -> None:
            with httpx.Client(base_url=url, timeout=30) as http:
                while not stop.is_set():
                    sent = time.time()
                    r = http.post(
                        "/v1/score", json={"id": f"h-{next(counter)}", "text": "Where is my parcel?"}
                    )
                    version = r.json().get("model_version", "?") if r.status_code == 200 else "?"
                    log.append((sent, time.time(), r.status_code, version))

        threads = [threading.Thread(target=client, args=(log,)) for log in seen]
        for t in threads:
            t.start()
        time.sleep(1.5)
        engine = make_engine(db)
        with session_factory(engine)() as session:
            registry.register(session=session, directory=candidates_dir / "tiny" / "2", actor="test")
            promoted_at = time.time()
            row = registry.promote(
                session=session,
                name="tiny",
                version="2",
                actor="test",
                forced=False,
                gate={},
                delay_seconds=3,
            )
            serving_from = (
                row.serving_from.replace(tzinfo=UTC) if row.serving_from.tzinfo is None else row.serving_from
            )  # type: ignore[union-attr]
        engine.dispose()
        switch = serving_from.timestamp()
        while sum(len(log) for log in seen) < AT_LEAST or time.time() < switch + 2:
            time.sleep(0.1)
        stop.set()
        for t in threads:
            t.join()
        # Whichever worker answers /metrics, it counts both workers' tickets (multiprocess mode).
        exposition = [httpx.get(f"{url}/metrics", timeout=10).text for _ in range(4)]
    finally:
        server.terminate()
        server.wait(timeout=30)

    everything = [entry for log in seen for entry in log]
    assert len(everything) >= AT_LEAST
    for text in exposition:
        scored = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("triage_tickets_scored_total{")
        )
        assert scored == len(everything)
        info = {
            line.split('version="')[-1].split('"')[0]: line.rsplit(" ", 1)[1]
            for line in text.splitlines()
            if line.startswith("triage_model_info{")
        }
        assert info == {"1": "0.0", "2": "1.0"}, info
    assert [e for e in everything if e[2] != 200] == []  # zero errors
    for log in seen:  # each client: tiny/1 until the switch, tiny/2 after, never back
        versions = [v for _, _, _, v in log]
        flips = sum(a != b for a, b in itertools.pairwise(versions))
        assert versions[0] == "1" and versions[-1] == "2" and flips == 1
    late = [
        (sent - switch, received - switch, v)
        for sent, received, _, v in everything
        if sent > switch and v != "2"
    ]
    early = [
        (sent - switch, received - switch, v)
        for sent, received, _, v in everything
        if received < switch and v != "1"
    ]
    assert not late, f"sent after the switch, scored by tiny/1 (s after the switch): {late[:5]}"
    assert not early, f"answered before the switch by tiny/2: {early[:5]}"
    first_new = min(received for _, received, _, v in everything if v == "2")
    assert first_new - promoted_at < 10
    figures = {
        "requests": len(everything),
        "errors": sum(e[2] != 200 for e in everything),
        "clients": CLIENTS,
        "workers": 2,
        "scored_by_old": sum(v == "1" for *_, v in everything),
        "scored_by_new": sum(v == "2" for *_, v in everything),
        "seconds_from_promotion_to_switch": round(switch - promoted_at, 3),
        "seconds_from_promotion_to_first_new_answer": round(first_new - promoted_at, 3),
        "requests_per_second": round(
            len(everything) / (max(e[1] for e in everything) - min(e[0] for e in everything)), 1
        ),
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "hot-swap.json").write_text(json.dumps(figures, indent=2) + "\n")
