"""A worker that only serves never imports scikit-learn, scipy or skops (about 160 MB resident)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

# Run in a fresh interpreter: this test process has imported all of them already. It imports what
# a `triage serve` worker imports (the command line, then the app), starts the app with storage
# (so the first start registers and materialises the bundle), scores tickets that take the
# function-word path and py3langid's, and lists what got imported.
WORKER = """
import json, sys
from pathlib import Path
from fastapi.testclient import TestClient
import training.cli
from service.config import Settings
from service.main import create_app

settings = Settings(models_dir=Path(sys.argv[1]) / "models", policy_path=Path(sys.argv[1]) / "policy.toml",
                    data_dir=Path(sys.argv[2]))
tickets = [
    {"text": "Dit is de derde keer dat ik mail over mijn factuur en niemand belt terug."},
    {"text": "Ich möchte mich über die Rechnung beschweren, die ich letzte Woche bekommen habe."},
    {"text": "ok thx"},
]
with TestClient(create_app(settings)) as client:
    statuses = [client.post("/v1/score", json=t).status_code for t in tickets]
    statuses.append(client.post("/v1/score/batch", json={"tickets": tickets}).status_code)
print(json.dumps({"statuses": statuses, "modules": sorted(sys.modules)}))
"""


def fresh_run(script: str, *args: str, cwd: Path) -> Any:
    """``script`` in a fresh interpreter (no ``TRIAGE_`` settings): the JSON on its last line."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1"}
    env = {k: v for k, v in env.items() if not k.startswith("TRIAGE_")}
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_serving_tickets_imports_neither_scikit_learn_nor_scipy(tmp_path: Path) -> None:
    result = fresh_run(WORKER, str(REPO), str(tmp_path / "data"), cwd=tmp_path)
    assert result["statuses"] == [200, 200, 200, 200]
    heavy = [m for m in result["modules"] if m.split(".")[0] in ("sklearn", "scipy", "skops")]
    assert heavy == []


# A fresh interpreter again: here every kernel has been called already. After the start-up's
# warm-up, each way a text reaches the compiled code must be ready, so that no request pays for
# compiling (seconds) or loading it from numba's cache.
WARMED = """
import json, sys
from pathlib import Path
from service.config import Settings
from service.main import build_scorer
from service.model import serving

settings = Settings(policy_path=Path(sys.argv[1]) / "policy.toml")
bundle = sorted((Path(sys.argv[1]) / "models" / "default").iterdir())[-1]
build_scorer(bundle, settings)
kernels = ("score_ascii", "score_latin1", "score_unicode")
print(json.dumps({name: len(getattr(serving, name).signatures) for name in kernels}))
"""


def test_the_start_up_warms_every_kernel_a_ticket_can_reach(tmp_path: Path) -> None:
    ready = fresh_run(WARMED, str(REPO), cwd=tmp_path)
    assert all(count >= 1 for count in ready.values()), ready
