"""HTTP: requests/s and latency of ``POST /v1/score`` against echo endpoints with no model.

The references (``bench/echo_app.py``) validate the same body with the same schema and return a
small JSON: ``echo`` on the event loop (``async def``, like our route), ``echo-def`` from the
thread pool (plain ``def``).

All apps run under the same uvicorn settings (uvloop, httptools, no access log), one after the
other, with 1 and then 2 workers; wrk (Debian package ``wrk``) loads them from a second process on
loopback with the same body: a 100-word English ticket. Per app and worker count:

1. saturation: 32 connections for ``--seconds``; requests/s and p50/p99;
2. half load: connections paced by a per-request delay so that the offered rate is half the
   saturated rate of *that* app; achieved requests/s and p50/p99.

The wrk process shares the machine's two cores with the server, as any loopback test must.

    python bench/http_load.py [--seconds 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import shutil

from common import machine, median, run_wrk, seed_rows, server, tickets_of_words

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[%s]]
%s
"""
DELAY = """
function delay()
  return %d
end
"""


def wrk(port: int, body: str, seconds: int, connections: int, delay_ms: int | None) -> dict[str, float]:
    return run_wrk(port, LUA % (body, DELAY % delay_ms if delay_ms else ""), seconds, connections)


def measure(
    factory: str, workers: int, body: str, seconds: int, repeats: int, env: dict[str, str] | None = None
) -> dict[str, float]:
    with server(factory, workers, env=env) as (port, _):
        wrk(port, body, 2, 8, None)  # warm-up
        full = [wrk(port, body, seconds, 32, None) for _ in range(repeats)]
        rps = median([r["rps"] for r in full])
        connections = 16
        delay = max(1, round(connections / (rps / 2) * 1000))
        half = [wrk(port, body, seconds, connections, delay) for _ in range(repeats)]
    return {
        "rps": rps,
        "p50": median([r["p50"] for r in full]),
        "p99": median([r["p99"] for r in full]),
        "half_rps": median([r["rps"] for r in half]),
        "half_p50": median([r["p50"] for r in half]),
        "half_p99": median([r["p99"] for r in half]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    texts = [str(r["text"]) for r in seed_rows() if r["language"] == "en"]
    body = json.dumps({"id": "bench-1", "text": tickets_of_words(texts, 100, 1)[0]})
    print(f"machine: {machine()}")
    print(
        f"POST /v1/score, 100-word English ticket ({len(body)} bytes), medians of {args.repeats} x {args.seconds}s"
    )
    print(
        f"{'app':<8} {'workers':>7} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} | {'half-load req/s':>15} {'p50 ms':>7} {'p99 ms':>7}"
    )
    for workers in (1, 2):
        results = {
            "echo": measure("bench.echo_app:create_app", workers, body, args.seconds, args.repeats),
            "echo-def": measure(
                "bench.echo_app:create_threaded_app", workers, body, args.seconds, args.repeats
            ),
            # Scoring alone: what storage costs is bench/storage_load.py's question.
            "score": measure(
                "service.main:create_app",
                workers,
                body,
                args.seconds,
                args.repeats,
                {"TRIAGE_STORAGE": "false"},
            ),
        }
        for name, r in results.items():
            print(
                f"{name:<8} {workers:>7} {r['rps']:>8.0f} {r['p50']:>7.2f} {r['p99']:>7.2f} | "
                f"{r['half_rps']:>15.0f} {r['half_p50']:>7.2f} {r['half_p99']:>7.2f}"
            )
        score = results["score"]["rps"]
        print(
            f"{'':<8} {workers:>7} score/echo requests/s: {score / results['echo']['rps']:.0%}, "
            f"score/echo-def: {score / results['echo-def']['rps']:.0%}"
        )


if __name__ == "__main__":
    main()
