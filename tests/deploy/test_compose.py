"""docker-compose.yml and deploy/nginx.conf: PostgreSQL, two replicas and a proxy that balances both.

No Docker engine runs on our machines: the file is read as YAML and its wiring checked (the
services, health checks, environment and the proxy's upstreams). Where a compose command exists
(``docker compose`` or Debian's ``docker-compose``) it validates the file against its schema too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.config import Settings

REPO = Path(__file__).resolve().parents[2]
REPLICAS = ("triage-1", "triage-2")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def nginx_conf() -> str:
    return (REPO / "deploy" / "nginx.conf").read_text()


def test_the_services_are_postgres_two_replicas_and_a_proxy() -> None:
    assert set(compose()["services"]) == {"postgres", *REPLICAS, "proxy"}


def test_postgres_is_the_official_image_with_a_health_check_and_a_volume() -> None:
    spec = compose()
    postgres = spec["services"]["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume, mount = postgres["volumes"][0].split(":")[:2]
    assert mount == "/var/lib/postgresql/data" and volume in spec["volumes"]
    # No password is written into the file: it comes from the environment, and is required.
    assert postgres["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


@pytest.mark.parametrize("name", REPLICAS)
def test_each_replica_is_the_image_on_postgres_with_keys_required(name: str) -> None:
    replica = compose()["services"][name]
    assert replica["build"] == "."
    env = replica["environment"]
    assert re.fullmatch(
        r"postgresql\+psycopg://triage:\$\{POSTGRES_PASSWORD:\?[^}]*\}@postgres:5432/triage",
        env["TRIAGE_DATABASE_URL"],
    )
    assert env["TRIAGE_AUTH"] == "required"
    assert replica["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    # They migrate at start and take turns (tests/service/storage/test_database.py).
    assert env.get("TRIAGE_MIGRATE_ON_START", "true") == "true"
    assert {"interval", "timeout", "retries", "start_period"} <= set(replica["healthcheck"])


def test_the_proxy_balances_both_replicas_on_port_8000() -> None:
    proxy = compose()["services"]["proxy"]
    assert proxy["image"].startswith("nginx:")
    assert proxy["ports"] == ["8000:8000"]
    conf_path, mounted = proxy["volumes"][0].split(":")[:2]
    assert (
        REPO / conf_path
    ).resolve() == REPO / "deploy" / "nginx.conf" and mounted == "/etc/nginx/nginx.conf"
    assert proxy["depends_on"] == {r: {"condition": "service_healthy"} for r in REPLICAS}
    conf = nginx_conf()
    upstreams = re.findall(r"^\s*server\s+([\w.-]+):(\d+)", conf, re.M)
    # Each replica listens on the image's TRIAGE_PORT.
    assert upstreams == [(r, "8000") for r in REPLICAS]
    assert re.search(r"^\s*listen\s+8000;", conf, re.M)
    assert re.search(r"proxy_pass\s+http://triage;", conf)


def test_the_proxy_lets_the_service_refuse_large_bodies_itself() -> None:
    size = re.search(r"client_max_body_size\s+(\d+)m;", nginx_conf())
    assert size is not None and int(size.group(1)) * 1024 * 1024 > Settings().max_body_bytes


def test_the_compose_command_accepts_the_file() -> None:
    docker = shutil.which("docker")
    has_plugin = (
        docker is not None
        and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0
    )
    command = [docker, "compose"] if has_plugin and docker else None
    if command is None and shutil.which("docker-compose"):
        command = ["docker-compose"]
    if command is None:
        pytest.skip(
            "no compose command here (docker compose or Debian's docker-compose): validated as YAML only"
        )
    env = {**os.environ, "POSTGRES_PASSWORD": "checked"}
    run = subprocess.run(
        [*command, "config", "-q"], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
