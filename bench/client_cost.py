"""What the Python client costs: its own work per call, and the Idempotency-Key it sends.

1. ``TriageClient.score`` against a bare ``httpx.Client.post(json=...)`` plus ``.json()``, both
   on a mock transport answering a stored score, so only client-side work is timed.
2. Sequential scores against the service (default model, SQLite in a temporary folder, one
   uvicorn worker): bare httpx without a key, bare httpx with a key, and the client (which
   always sends one). Median and p95 of ``--calls`` calls each, interleaved over ``--rounds``.

    python bench/client_cost.py [--calls 400] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable

import httpx
from common import machine, server

from triage_client import Ticket, TriageClient

TEXT = "My invoice is wrong again and I am getting worried, can someone please look at it?"


def per_call_us(fn: Callable[[], object], calls: int) -> float:
    for _ in range(200):
        fn()
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1e6


def latencies_ms(fn: Callable[[int], object], calls: int) -> tuple[float, float]:
    times = []
    for i in range(calls):
        started = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return round(times[calls // 2], 2), round(times[int(0.95 * calls)], 2)


def client_side(answer: bytes, calls: int) -> dict[str, int]:
    mock = httpx.MockTransport(lambda request: httpx.Response(200, content=answer))
    ticket = Ticket(id="probe", text=TEXT)
    with (
        httpx.Client(base_url="http://t", transport=mock) as raw,
        TriageClient("http://t", transport=mock) as client,
    ):
        bare = per_call_us(lambda: raw.post("/v1/score", json={"id": "probe", "text": TEXT}).json(), calls)
        ours = per_call_us(lambda: client.score(ticket), calls)
    return {"bare_httpx": round(bare), "triage_client": round(ours)}


def against_the_service(
    raw: httpx.Client, client: TriageClient, calls: int, round_: int
) -> dict[str, object]:
    def bare(prefix: str, keyed: bool) -> Callable[[int], object]:
        def send(i: int) -> object:
            headers = {"Idempotency-Key": f"{prefix}{i}"} if keyed else {}
            body = {"id": f"{prefix}{i}", "text": TEXT}
            return raw.post("/v1/score", json=body, headers=headers).raise_for_status()

        return send

    return {
        "bare_httpx_no_key": latencies_ms(bare(f"n{round_}-", keyed=False), calls),
        "bare_httpx_key": latencies_ms(bare(f"k{round_}-", keyed=True), calls),
        "triage_client": latencies_ms(lambda i: client.score(Ticket(id=f"c{round_}-{i}", text=TEXT)), calls),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as data_dir:
        env = {"TRIAGE_DATA_DIR": data_dir}
        with server("service.main:create_app", 1, ready_path="/readyz", env=env) as (port, _):
            url = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=url) as raw, TriageClient(url) as client:
                answer = raw.post("/v1/score", json={"id": "probe", "text": TEXT}).content
                print(json.dumps({"mock_transport_us_per_call": client_side(answer, calls=3000)}))
                for round_ in range(args.rounds):
                    figures = against_the_service(raw, client, args.calls, round_)
                    print(json.dumps({"round": round_, "p50_p95_ms": figures}))


if __name__ == "__main__":
    main()
