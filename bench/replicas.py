"""Several replicas on loopback: two ``triage serve`` processes on one PostgreSQL behind nginx,
configured by ``deploy/nginx.conf`` (the compose file's proxy), and a promotion during load.

What ``docker-compose.yml`` runs, without Docker: the replicas start at the same moment (so their
migrations and the first registration of the default model race), nginx balances them, one
``Idempotency-Key`` is sent twice (round robin takes it to both replicas), a candidate (trained
on the seed set into a temporary folder) is registered and promoted with the CLI while a client
scores through the proxy, and nginx's log says which replica answered each request. It prints
how many requests were answered by the old model after the switch moment and by the new one
before it (both must be 0), what each replica serves at the end and its resident memory before
and after the promotion (one worker per replica: the process is the worker); exit status 1
otherwise.

    python bench/replicas.py [--nginx PATH] [--database-url URL] [--seconds 15]

nginx: Debian's ``nginx`` package (``apt-get install nginx-light``, or ``apt-get download nginx``
and ``dpkg -x`` it to run the binary without installing the service).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

import httpx
from common import REPO, SEED_DIR, free_port, rss_mb
from fault_checks import reset_database
from sqlalchemy import create_engine, text

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_replicas"
TRIAGE = str(Path(sys.executable).parent / "triage")
CANDIDATE = "replicas-candidate"


def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the replica on port {port} did not start")
        time.sleep(0.2)


def nginx_conf(tmp: Path, ports: list[int], listen: int) -> Path:
    """deploy/nginx.conf with the replicas on loopback ports and its files in ``tmp``."""
    conf = (REPO / "deploy" / "nginx.conf").read_text()
    conf = conf.replace("triage-1:8000", f"127.0.0.1:{ports[0]}").replace(
        "triage-2:8000", f"127.0.0.1:{ports[1]}"
    )
    conf = conf.replace("listen 8000;", f"listen 127.0.0.1:{listen};").replace(
        "/dev/stdout", str(tmp / "access.log")
    )
    temps = "".join(
        f"    {k}_temp_path {tmp}/{k};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = conf.replace("http {\n", "http {\n" + temps).replace(
        "worker_processes auto;", f"worker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;"
    )
    (tmp / "logs").mkdir(exist_ok=True)
    path = tmp / "nginx.conf"
    path.write_text(conf)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nginx", default="nginx")
    parser.add_argument(
        "--database-url", default=DEFAULT_URL, help="Reset before the run (created if missing)."
    )
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    reset_database(args.database_url)
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="replicas-") as name:
        tmp = Path(name)
        base_env = {**os.environ, "TRIAGE_DATABASE_URL": args.database_url, "TRIAGE_LOG_LEVEL": "warning"}
        subprocess.run(
            [TRIAGE, "train", "--data", str(SEED_DIR), "--name", "default", "--version", CANDIDATE, "--models-dir", str(tmp / "models")],
            cwd=REPO, env=base_env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        ports, listen = [free_port(), free_port()], free_port()
        replicas = []
        started = time.monotonic()
        for i, port in enumerate(ports):
            env = {
                **base_env,
                "TRIAGE_DATA_DIR": str(tmp / f"replica-{i}"),
                "TRIAGE_AUTH": "open",
                "TRIAGE_PORT": str(port),
            }
            with (tmp / f"replica-{i}.log").open("wb") as log:
                replicas.append(
                    subprocess.Popen(
                        [TRIAGE, "serve"],
                        cwd=REPO,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        nginx = None
        try:
            for port, proc in zip(ports, replicas, strict=True):
                wait_ready(port, proc)
            print(f"two replicas started together, both ready in {time.monotonic() - started:.1f} s")
            rss_before = [rss_mb(p.pid) for p in replicas]
            conf = nginx_conf(tmp, ports, listen)
            nginx = subprocess.Popen(
                [
                    args.nginx,
                    "-p",
                    str(tmp),
                    "-c",
                    str(conf),
                    "-g",
                    "daemon off;",
                    "-e",
                    str(tmp / "error.log"),
                ]
            )
            time.sleep(1)
            with httpx.Client(base_url=f"http://127.0.0.1:{listen}", timeout=30) as client:
                ticket = {
                    "id": "same-key",
                    "text": "My mother died and you keep billing her. Third time I write.",
                }
                first = client.post("/v1/score", json=ticket, headers={"Idempotency-Key": "k-1"})
                again = client.post("/v1/score", json=ticket, headers={"Idempotency-Key": "k-1"})
                replayed = again.headers.get("Idempotent-Replayed") == "true" and again.text == first.text
                print(
                    f"one Idempotency-Key through both replicas: {first.status_code}, then {again.status_code} replayed={replayed}"
                )
                if not replayed:
                    failures.append("the second replica did not replay the first one's response")
                cli = {**base_env, "TRIAGE_DATA_DIR": str(tmp / "cli")}
                subprocess.run([TRIAGE, "models", "register", str(tmp / "models" / "default" / CANDIDATE)], cwd=REPO, env=cli, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
                promote = subprocess.Popen([TRIAGE, "models", "promote", f"default/{CANDIDATE}", "--force"], cwd=REPO, env=cli, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
                answers: list[tuple[float, float, str]] = []
                end = time.monotonic() + args.seconds
                while time.monotonic() < end:
                    sent = time.time()
                    version = client.post(
                        "/v1/score", json={"text": "Where is my parcel? I ordered it last week."}
                    ).json()["model_version"]
                    answers.append((sent, time.time(), version))
                if promote.wait() != 0:
                    raise SystemExit("triage models promote failed")
            engine = create_engine(args.database_url)
            with engine.connect() as conn:
                moment = conn.execute(
                    text("SELECT serving_from FROM model_versions WHERE status = 'champion'")
                ).scalar_one()
            engine.dispose()
            switch = moment.timestamp()
            old_after = sum(1 for sent, _, v in answers if sent >= switch and v != CANDIDATE)
            new_before = sum(1 for _, done, v in answers if done < switch and v == CANDIDATE)
            per_replica = Counter(re.findall(r" 127\.0\.0\.1:(\d+) ", (tmp / "access.log").read_text()))
            print(f"{len(answers)} requests during the promotion; switch at {moment:%H:%M:%S.%f} UTC")
            print(
                f"  answered by the old model after the switch: {old_after}; by the new one before it: {new_before}"
            )
            print(
                "  answers per replica: "
                + ", ".join(f"replica {i + 1}: {per_replica[str(p)]}" for i, p in enumerate(ports))
            )
            failures += [f"{old_after} answers by the old model after the switch"] * bool(old_after)
            failures += [f"{new_before} answers by the new model before the switch"] * bool(new_before)
            for i, port in enumerate(ports):
                served = httpx.post(f"http://127.0.0.1:{port}/v1/score", json={"text": "hello"}).json()[
                    "model_version"
                ]
                print(
                    f"  replica {i + 1} now serves {served}; resident {rss_before[i]:.0f} MB before, {rss_mb(replicas[i].pid):.0f} MB after"
                )
                if served != CANDIDATE:
                    failures.append(f"replica {i + 1} still serves {served}")
        finally:
            if nginx is not None:
                nginx.send_signal(signal.SIGQUIT)
                nginx.wait(timeout=30)
            for proc in replicas:
                os.killpg(proc.pid, signal.SIGTERM)
            for proc in replicas:
                proc.wait(timeout=60)
    print("ok" if not failures else "FAILED: " + "; ".join(failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
