"""The Dockerfile: its shape (two stages, slim base, a named user without privileges, health check
on /healthz, exec-form CMD, the default model inside), and its install replayed outside Docker.

No Docker engine runs on our machines, so the build stage's steps are run as written in a fresh
folder holding exactly what the Dockerfile copies: the README's ``make install`` into a new
virtual environment, then the warm-up scoring. The image's own CMD and HEALTHCHECK are then run
against that install (paths under /app mapped to the folder, the port to a free one).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Instruction:
    stage: int
    name: str
    args: str


def instructions(path: Path = REPO / "Dockerfile") -> list[Instruction]:
    """The Dockerfile's instructions with continuation lines joined and comments left out."""
    out: list[Instruction] = []
    stage, pending = -1, ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1].strip() + " "
            continue
        whole = (pending + line.strip()).strip()
        pending = ""
        name, _, args = whole.partition(" ")
        stage += name.upper() == "FROM"
        out.append(Instruction(stage, name.upper(), args.strip()))
    return out


def stage(index: int) -> list[Instruction]:
    found = instructions()
    last = max(i.stage for i in found)
    return [i for i in found if i.stage == (last if index == -1 else index)]


def one(items: list[Instruction], name: str) -> Instruction:
    matching = [i for i in items if i.name == name]
    assert len(matching) == 1, f"expected one {name}, found {len(matching)}"
    return matching[0]


def env_of(items: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for i in items:
        if i.name == "ENV":
            env.update(part.split("=", 1) for part in shlex.split(i.args))
    return env


def test_the_image_is_two_stages_on_a_slim_base() -> None:
    froms = [i.args for i in instructions() if i.name == "FROM"]
    assert froms == ["python:3.11-slim AS build", "python:3.11-slim"]
    final = stage(-1)
    assert (
        one(final, "WORKDIR").args == one(stage(0), "WORKDIR").args == "/app"
    )  # the editable install's path
    copies = [i.args for i in final if i.name == "COPY"]
    assert "--from=build /app /app" in copies and "--from=build /var/cache/numba /var/cache/numba" in copies
    # Only the build stage installs system packages (make); the image carries no build tools.
    assert not any("apt-get" in i.args for i in final)


def test_the_image_runs_as_a_named_user_without_privileges() -> None:
    final = stage(-1)
    user = one(final, "USER").args
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    created = " ".join(i.args for i in final if i.name == "RUN")
    assert f"useradd --system --uid {uid} --gid triage" in created and f"--gid {gid} triage" in created
    assert final[-1].name == "CMD"


def test_health_check_and_command_are_exec_form() -> None:
    final = stage(-1)
    check = one(final, "HEALTHCHECK").args
    assert check.split(" CMD ", 1)[1].startswith("[")
    probe = json.loads(check.split(" CMD ", 1)[1])
    assert "http://127.0.0.1:8000/healthz" in probe[-1]
    assert json.loads(one(final, "CMD").args) == ["/app/.venv/bin/triage", "serve"]
    assert env_of(final)["TRIAGE_PORT"] == "8000"


def test_the_default_model_is_copied_into_the_image() -> None:
    copies = [i.args for i in stage(0) if i.name == "COPY"]
    assert "models ./models" in copies
    assert list((REPO / "models" / "default").glob("*/model.skops")), "no default model in the repository"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_build_steps_install_and_serve_in_a_fresh_environment(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed (Debian: apt-get install make)")
    build = stage(0)
    app, root = tmp_path / "app", tmp_path / "root"
    app.mkdir()

    def here(path: str) -> str:
        """A path of the image, in the test's folder."""
        if path == "/app" or path.startswith("/app/"):
            return str(app / path.removeprefix("/app").lstrip("/"))
        return str(root / path.lstrip("/")) if path.startswith("/") else path

    def env_here(env: dict[str, str]) -> dict[str, str]:
        """The image's variables with their paths in the test's folder (PATH-like lists too), and
        ``$VAR`` taken from outside."""
        return {k: ":".join(os.path.expandvars(here(p)) for p in v.split(":")) for k, v in env.items()}

    for copy in (i for i in build if i.name == "COPY"):
        *sources, dest = copy.args.split()
        for source in sources:
            target = app / dest / source if dest.endswith("/") else app / dest
            if (REPO / source).is_dir():
                shutil.copytree(REPO / source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(REPO / source, target)

    # The install is the README's, word for word; installing make itself (apt-get) is the machine's.
    runs = [i.args for i in build if i.name == "RUN" and "apt-get" not in i.args]
    assert [r.split(" && ")[0] for r in runs] == ["make install"]
    assert "`make install`" in (REPO / "README.md").read_text()
    outside = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env = {**outside, **env_here(env_of(build))}
    for run in runs:
        subprocess.run(["/bin/sh", "-c", run], cwd=app, env=env, check=True, timeout=600)
    assert list(Path(env["NUMBA_CACHE_DIR"]).rglob("*.nbi")), "the warm-up left no compiled kernels"

    final = stage(-1)
    port = _free_port()
    serve_env = {**outside, **env_here(env_of(final))}
    serve_env.update(TRIAGE_HOST="127.0.0.1", TRIAGE_PORT=str(port))
    Path(serve_env["TRIAGE_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    command = [here(part) for part in json.loads(one(final, "CMD").args)]
    probe = [
        here(p).replace(":8000/", f":{port}/")
        for p in json.loads(one(final, "HEALTHCHECK").args.split(" CMD ", 1)[1])
    ]
    server = subprocess.Popen(
        command, cwd=app, env=serve_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        # A bound for a service that never comes up, not a speed check: a busy 2-core CI machine has
        # taken over a minute to import, migrate and load the model.
        deadline = time.monotonic() + 240
        while subprocess.run(probe, env=serve_env, capture_output=True, check=False).returncode != 0:
            assert server.poll() is None, "the service exited at start"
            assert time.monotonic() < deadline, "the health check never passed"
            time.sleep(0.5)
        scored = httpx.post(
            f"http://127.0.0.1:{port}/v1/score",
            json={"text": "My father died last week and you are still charging his account. Please stop."},
            timeout=30,
        )
        assert scored.status_code == 200 and scored.json()["route"] == "human"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_triage_command_is_on_the_images_path() -> None:
    """So that ``docker compose exec triage-1 triage keys create ...`` works as the README says."""
    assert env_of(stage(-1))["PATH"].split(":")[0] == "/app/.venv/bin"
