"""Resident memory of one worker serving the default model, against the echo app's worker.

Each app runs with one uvicorn worker (the server process itself); after start-up and 500
scored requests, the process's VmRSS is read from /proc. Median of ``--repeats`` fresh starts.
The service uses the quick start's database (``./data``): the first start on a clone migrates
it and so also holds Alembic (about 7 MB more); later starts find it migrated, as a deployment
does at every start but the first after an upgrade.

    python bench/memory.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import urllib.request

from common import machine, median, rss_mb, seed_rows, server, tickets_of_words


def load(port: int, bodies: list[bytes]) -> None:
    for body in bodies:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/score", data=body, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = seed_rows()
    texts = [str(r["text"]) for r in rows]
    english = tickets_of_words(
        [t for t, r in zip(texts, rows, strict=True) if r["language"] == "en"], 100, 250
    )
    dutch = tickets_of_words([t for t, r in zip(texts, rows, strict=True) if r["language"] == "nl"], 100, 250)
    bodies = [json.dumps({"id": str(i), "text": t}).encode() for i, t in enumerate(english + dutch)]
    results: dict[str, list[float]] = {"score": [], "echo": []}
    for _ in range(args.repeats):
        for name, factory in (("score", "service.main:create_app"), ("echo", "bench.echo_app:create_app")):
            with server(factory, 1) as (port, proc):
                load(port, bodies)
                results[name].append(rss_mb(proc.pid))
    score, echo = median(results["score"]), median(results["echo"])
    print(f"machine: {machine()}")
    print(f"resident memory of one worker after 500 requests, median of {args.repeats} starts:")
    print(f"  scoring service  {score:6.0f} MB")
    print(f"  echo app         {echo:6.0f} MB")
    print(f"  ratio            {score / echo:6.2f}x (the model, numba with LLVM, the language model)")


if __name__ == "__main__":
    main()
