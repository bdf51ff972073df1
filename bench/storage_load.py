"""Storage: ``POST /v1/score`` requests/s with every ticket committed, against storage off.

The same service, the same uvicorn settings and the same 100-word English ticket, run twice in
the same session: with ``TRIAGE_STORAGE=false`` (the reference: scoring only) and with storage on
(SQLite in a fresh temporary folder, or ``--database-url``). Every request carries a new ticket
id, so each one inserts a row and a history event. wrk (Debian package ``wrk``) loads the server
from a second process on loopback with 32 connections; medians of ``--repeats`` runs; 1 and 2
workers. The ratio is what storage costs; the target is >= 70%.

    python bench/storage_load.py [--seconds 10] [--repeats 3] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile

from common import machine, median, run_wrk, seed_rows, server, tickets_of_words

# A new id per request: wrk's request() builds each body.
LUA = """
counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, [[{"id": "%s-]] .. counter .. [[", "text": %s}]])
end
"""


def stored_rps(port: int, prefix: str, text: str, seconds: int) -> float:
    return run_wrk(port, LUA % (prefix, json.dumps(text)), seconds, 32)["rps"]


def measure(workers: int, env: dict[str, str], text: str, seconds: int, repeats: int, tag: str) -> float:
    with server("service.main:create_app", workers, ready_path="/readyz", env=env) as (port, _):
        stored_rps(port, f"{tag}-warm", text, 2)
        return median([stored_rps(port, f"{tag}-{i}", text, seconds) for i in range(repeats)])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="Default: SQLite in a temporary folder.")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    texts = [str(r["text"]) for r in seed_rows() if r["language"] == "en"]
    text = tickets_of_words(texts, 100, 1)[0]
    print(f"machine: {machine()}")
    print(
        f"POST /v1/score, 100-word ticket, a new id per request, medians of {args.repeats} x {args.seconds}s"
    )
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as data_dir:
            stored_env = {"TRIAGE_DATA_DIR": data_dir}
            if args.database_url:
                stored_env["TRIAGE_DATABASE_URL"] = args.database_url
            off = measure(workers, {"TRIAGE_STORAGE": "false"}, text, args.seconds, args.repeats, "off")
            on = measure(workers, stored_env, text, args.seconds, args.repeats, f"on{workers}")
        where = "PostgreSQL" if args.database_url else "SQLite"
        print(
            f"workers {workers}: storage off {off:8.0f} req/s | stored ({where}) {on:8.0f} req/s | ratio {on / off:.0%}"
        )


if __name__ == "__main__":
    main()
