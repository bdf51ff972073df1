"""Schemathesis against the service's own OpenAPI schema: every operation, with an ops key.

The service runs under uvicorn on loopback with keys required and SQLite storage, with a few
tickets stored first so that generated ids sometimes hit. Every response is checked by all of
schemathesis's checks: no server error, a documented status, a body and headers that match the
documented schema. At least ``MIN_CASES`` cases must run; the test prints the count per operation.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from service.access import service as access
from service.config import Settings
from service.main import create_app

MIN_CASES = 1_000
EXAMPLES_PER_OPERATION = 60
SEMANTIC_422 = {"invalid_cursor", "invalid_period"}
FLAGGED = "This is the third time I write. My mother passed away and you keep sending her bills."


class Live:
    """The running service, shared by the module's cases."""

    url = ""
    headers: ClassVar[dict[str, str]] = {}


@pytest.fixture(scope="module")
def api_schema(
    tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory, serve: Callable[[FastAPI], str]
) -> schemathesis.BaseSchema:
    folder = tmp_path_factory.mktemp("schemathesis")
    app = create_app(
        Settings(
            models_dir=tiny_models_dir,
            model_name="tiny",
            policy_path=Path(__file__).resolve().parents[3] / "policy.toml",
            data_dir=folder,
            database_url=f"sqlite:///{folder / 'triage.db'}",
            auth="required",
            rate_limit_ops="100000/second",
            # Generated webhooks reach the signature checks (and get their 401) rather than a 404.
            integrations={"zendesk": {"secret": "c2NoZW1hdGhlc2lz"}},
            log_level="warning",
        )
    )
    Live.url = serve(app)
    with app.state.store.sessions() as session:
        Live.headers = {
            "Authorization": f"Bearer {access.create_key(session=session, name='ops', role='ops')}"
        }
    for n in range(3):
        r = httpx.post(f"{Live.url}/v1/score", json={"id": str(n), "text": FLAGGED}, headers=Live.headers)
        assert r.status_code == 200
    return schemathesis.openapi.from_dict(app.openapi())


def _semantic_refusal(response: schemathesis.Response) -> bool:
    """A 422 for a value the schema cannot describe: a cursor this service did not issue, a
    dashboard period longer than a year. Every other check still applies to it."""
    if response.status_code != 422:
        return False
    return bool(response.json()["error"]["code"] in SEMANTIC_422)


def test_every_operation_conforms(api_schema: schemathesis.BaseSchema) -> None:
    ran: Counter[str] = Counter()
    failures: dict[str, str] = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: schemathesis.Case) -> None:
            ran[case.operation.label] += 1
            if case.headers and "Idempotency-Key" in case.headers:
                # Generated keys repeat across different bodies, which is a 422 by design
                # (tests/service/tickets cover it); a fresh key per case tests everything else.
                case.headers["Idempotency-Key"] = uuid.uuid4().hex
            response = case.call(base_url=Live.url, headers=Live.headers)
            excluded = [positive_data_acceptance] if _semantic_refusal(response) else []
            case.validate_response(response, excluded_checks=excluded)

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # every operation runs; failures are reported together
            failures[operation.label] = f"{type(exc).__name__}: {exc}"
    summary = "\n".join(f"{count:5d}  {label}" for label, count in sorted(ran.items()))
    print(f"schemathesis: {sum(ran.values())} cases over {len(ran)} operations\n{summary}")
    assert not failures, "\n\n".join(f"{label}\n{error}" for label, error in failures.items())
    assert sum(ran.values()) >= MIN_CASES, f"only {sum(ran.values())} cases ran"
