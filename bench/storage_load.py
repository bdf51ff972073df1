"""Storage: ``POST /v1/score`` requests/s with every ticket committed, against storage off.

The same service, the same uvicorn settings and the same 100-word English ticket, run side by
side in the same session: with ``TRIAGE_STORAGE=false`` (the reference: scoring only) and with
storage on (SQLite in a fresh temporary folder, or ``--database-url``), loaded in turn. Every
request carries a new ticket id, so each one inserts a row and a history event. wrk (Debian
package ``wrk``) loads the server from a second process on loopback with 32, 128 and 256
connections; medians of ``--repeats`` runs; 1 and 2 workers.

Throughput is read where each service saturates: its best level ("saturated"). A stored request
holds its connection until its group commit, so by Little's law it needs more requests in flight
than scoring alone to keep the workers busy; at 32 connections the stored service leaves cores
idle (its CPU is printed). Every level is printed, so the lower figures stay in sight. The ratio
is what storage costs (also given as the median of the ratios of neighbouring runs); the target
is >= 70%. It also prints the CPU each party used while wrk ran (the service's processes,
PostgreSQL's server processes, wrk), from /proc: on a 2-core machine the database shares the
cores the workers would otherwise use.

    python bench/storage_load.py [--seconds 10] [--repeats 3] [--database-url URL]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import tempfile
from pathlib import Path

from common import machine, median, run_wrk, seed_rows, server, tickets_of_words

TICK = os.sysconf("SC_CLK_TCK")

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


def _processes() -> dict[int, tuple[str, int, float]]:
    """Every process: (name, parent, CPU seconds so far), from /proc."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        found[int(stat.parent.name)] = (name, int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK)
    return found


def cpu_split(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of the service's processes, of PostgreSQL's, and of finished children (wrk)."""
    procs = _processes()
    tree = {server_pid}
    for pid, (_, parent, _) in sorted(procs.items()):
        if parent in tree:
            tree.add(pid)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "service": sum(procs[p][2] for p in tree if p in procs),
        "postgres": sum(cpu for name, _, cpu in procs.values() if name == "postgres"),
        "load": children.ru_utime + children.ru_stime,
    }


CONNECTIONS = (32, 128, 256)


def stored_rps(port: int, prefix: str, text: str, seconds: int, connections: int) -> float:
    return run_wrk(port, LUA % (prefix, json.dumps(text)), seconds, connections)["rps"]


def _run(
    port: int, pid: int, prefix: str, text: str, seconds: int, connections: int
) -> tuple[float, dict[str, float]]:
    before = cpu_split(pid)
    rate = stored_rps(port, prefix, text, seconds, connections)
    after = cpu_split(pid)
    return rate, {k: (after[k] - before[k]) / seconds for k in before}


Measured = dict[tuple[str, int], tuple[list[float], dict[str, float]]]


def measure(workers: int, envs: dict[str, dict[str, str]], text: str, seconds: int, repeats: int) -> Measured:
    """Both services run side by side and are loaded in turn (off, stored, stored, off, ...), so
    that a machine that slows down or speeds up during the run weighs on both alike; an idle
    service costs nothing. Per service and number of connections: its rates, and the median CPU
    (in cores) each party used."""
    with contextlib.ExitStack() as stack:
        servers = {
            label: stack.enter_context(
                server("service.main:create_app", workers, ready_path="/readyz", env=env)
            )
            for label, env in envs.items()
        }
        for label, (port, _) in servers.items():
            stored_rps(port, f"{label}{workers}-warm", text, 2, CONNECTIONS[0])
        runs = [(label, conns) for label in servers for conns in CONNECTIONS]
        rates: dict[tuple[str, int], list[float]] = {run: [] for run in runs}
        cores: dict[tuple[str, int], list[dict[str, float]]] = {run: [] for run in runs}
        for i in range(repeats):
            for conns in CONNECTIONS:
                for label in list(servers) if i % 2 == 0 else list(servers)[::-1]:
                    port, proc = servers[label]
                    rate, used = _run(port, proc.pid, f"{label}{workers}-{conns}-{i}", text, seconds, conns)
                    rates[label, conns].append(rate)
                    cores[label, conns].append(used)
        return {
            run: (rates[run], {k: median([c[k] for c in cores[run]]) for k in cores[run][0]}) for run in runs
        }


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
            envs = {"off": {"TRIAGE_STORAGE": "false"}, "stored": stored_env}
            results = measure(workers, envs, text, args.seconds, args.repeats)
        where = "PostgreSQL" if args.database_url else "SQLite"
        best: dict[str, float] = {}
        for conns in CONNECTIONS:
            (off_rates, off_cpu), (on_rates, on_cpu) = results["off", conns], results["stored", conns]
            off, on = median(off_rates), median(on_rates)
            best = {"off": max(best.get("off", 0.0), off), "stored": max(best.get("stored", 0.0), on)}
            paired = median([b / a for a, b in zip(off_rates, on_rates, strict=True)])
            print(
                f"workers {workers}, {conns:3} connections: storage off {off:6.0f} req/s | stored ({where})"
                f" {on:6.0f} req/s | ratio {on / off:.0%} (median of the {args.repeats} paired runs' ratios:"
                f" {paired:.0%})"
            )
            for label, cpu, rate in (("off", off_cpu, off), ("stored", on_cpu, on)):
                print(
                    f"  cores used, {label:6}: service {cpu['service']:.2f}, PostgreSQL {cpu['postgres']:.2f},"
                    f" wrk {cpu['load']:.2f}; service CPU per request {cpu['service'] / rate * 1e6:.0f} us,"
                    f" PostgreSQL {cpu['postgres'] / rate * 1e6:.0f} us"
                )
        print(
            f"workers {workers}, saturated (each service's best level): storage off {best['off']:.0f} req/s |"
            f" stored ({where}) {best['stored']:.0f} req/s | ratio {best['stored'] / best['off']:.0%}"
        )


if __name__ == "__main__":
    main()
