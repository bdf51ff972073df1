"""Crash safety: SIGKILL the service mid-load and check that nothing acknowledged was lost or doubled.

``triage serve --workers 2`` runs on a freshly reset database (PostgreSQL by default) in its own
process group. Concurrent clients (asyncio + httpx) send every ticket of a plan: single
``POST /v1/score`` requests and batches, a share of each with an ``Idempotency-Key``, and a share
of tickets sent a second time under the same (source, id), with and without the same key. The
texts are the seed set's, so a fair share of the tickets goes to the human queue.

When half the tickets are acknowledged (or at ``--kills`` points spread evenly), the whole
process group (the uvicorn master and its workers) is killed with SIGKILL while requests are in
flight, and the script checks that no process of the group survives. A request that fails is retried after the restart, as a helpdesk
would: with the same key when it had one. The server is started again on the same port, the
plan is finished, the server is stopped, and the database is read directly:

- every ticket acknowledged with a 2xx is stored exactly once ((source, id) appears once), with
  the route and scores of its last acknowledged response;
- each stored ticket was scored at least as often as it was acknowledged and at most as often
  as it was sent (a replayed key never scores again), and its history holds one event per scoring;
- every ticket routed to a human has exactly one queue item, with the ticket's priority and
  language, open and unclaimed; no queue item lacks its ticket or belongs to an automated one;
- every acknowledged key's stored response names exactly the tickets of its request.

Tickets whose response was lost in the kill but whose commit had gone through are counted and
reported (a replayed key, or a ticket scored more often than acknowledged): that is allowed.
The exit status is 1 on any violation.

    python bench/faults.py [--tickets 20000] [--clients 32] [--workers 2] [--kills 1] [--database-url URL]
    python bench/faults.py --smoke          # 2,000 tickets, 16 clients: about half a minute
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from common import REPO, free_port, machine, seed_rows
from fault_checks import check_database, reset_database

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_faults"
SOURCES = ("helpdesk-a", "helpdesk-b")
MAX_ATTEMPTS = 20
START_TIMEOUT_SECONDS = 180


@dataclass
class Unit:
    """One request of the plan: a single ticket or a batch, with or without an idempotency key."""

    tickets: list[dict[str, Any]]
    batch: bool
    key: str | None
    attempts: int = 0


@dataclass
class Tally:
    """What the clients saw: every 2xx, every failure, per ticket."""

    acked: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # last 2xx answer
    acked_scorings: Counter[tuple[str, str]] = field(default_factory=Counter)
    sent_scorings: Counter[tuple[str, str]] = field(default_factory=Counter)
    acked_keys: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    keys_sent: set[str] = field(default_factory=set)
    requests: int = 0
    answers: Counter[int] = field(default_factory=Counter)
    connection_errors: Counter[str] = field(default_factory=Counter)
    replays: int = 0
    replays_after_failure: int = 0
    replayed_tickets_after_failure: int = 0
    gave_up: int = 0
    in_flight: int = 0
    failed_keys: set[str] = field(default_factory=set)


def ticket_key(ticket: dict[str, Any]) -> tuple[str, str]:
    return (str(ticket["source"]), str(ticket["id"]))


def plan(count: int, seed: int, run: str) -> list[Unit]:
    """``count`` distinct tickets as singles and batches (2-20), a share keyed, a share sent twice."""
    rng = random.Random(seed)
    rows = seed_rows()
    tickets = []
    for i in range(count):
        row = rows[rng.randrange(len(rows))]
        ticket = {
            "id": f"{run}-{i}",
            "source": SOURCES[i % 2],
            "text": row["text"],
            "language": row["language"],
        }
        if row.get("subject"):
            ticket["subject"] = row["subject"]
        tickets.append(ticket)
    units: list[Unit] = []
    i, keys = 0, 0
    while i < count:
        size = rng.randint(2, 20) if rng.random() < 0.1 else 1
        group = tickets[i : i + size]
        i += size
        keyed = rng.random() < (0.5 if len(group) > 1 else 0.25)
        keys += keyed
        units.append(Unit(group, batch=len(group) > 1, key=f"{run}-key-{keys}" if keyed else None))
    again: list[Unit] = []
    for unit in units:
        if not unit.batch and rng.random() < 0.1:
            # The same ticket again: a keyed one with its key (a helpdesk that retried too early,
            # answered by a replay), a keyless one as a plain resend (scored again, one record).
            again.append(Unit(list(unit.tickets), batch=False, key=unit.key))
    for unit in again:
        units.insert(rng.randrange(len(units) // 2, len(units) + 1), unit)
    return units


class Server:
    """``triage serve`` in a process group of its own, so that one SIGKILL takes every worker."""

    def __init__(self, *, port: int, workers: int, env: dict[str, str], log_path: Path) -> None:
        self.port, self.workers, self.env, self.log_path = port, workers, env, log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start and wait for ``/readyz``; the seconds it took."""
        started = time.monotonic()
        triage = str(Path(sys.executable).parent / "triage")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [triage, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers)],
                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                    if r.status == 200:
                        return time.monotonic() - started
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() - started > START_TIMEOUT_SECONDS:
                raise SystemExit(f"the service did not start: see {self.log_path}")
            time.sleep(0.1)

    def group(self) -> list[int]:
        """Live processes of the server's group (zombies excluded)."""
        assert self.proc is not None
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # Fields after the command (which may hold spaces) start at the last ')'.
            state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
            if int(pgrp) == self.proc.pid and state != "Z":
                found.append(int(entry.name))
        return found

    def kill(self) -> None:
        """SIGKILL the whole group at once: no process gets to finish a request or a commit."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)

    def survivors(self) -> list[int]:
        """After :meth:`kill`: the processes of the group still alive a moment later (must be none)."""
        assert self.proc is not None
        self.proc.wait()
        deadline = time.monotonic() + 5
        while self.group() and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.group()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


async def send(http: httpx.AsyncClient, unit: Unit, tally: Tally) -> bool:
    """One attempt; True on a 2xx (recorded), False on a failure to retry."""
    unit.attempts += 1
    tally.requests += 1
    headers = {"Idempotency-Key": unit.key} if unit.key else {}
    if unit.key is None:
        for t in unit.tickets:
            tally.sent_scorings[ticket_key(t)] += 1
    elif unit.key not in tally.keys_sent:
        tally.keys_sent.add(unit.key)
        for t in unit.tickets:
            tally.sent_scorings[ticket_key(t)] += 1
    path, body = (
        ("/v1/score/batch", {"tickets": unit.tickets}) if unit.batch else ("/v1/score", unit.tickets[0])
    )
    tally.in_flight += 1
    try:
        response = await http.post(path, json=body, headers=headers)
    except httpx.HTTPError as exc:
        tally.connection_errors[type(exc).__name__] += 1
        if unit.key:
            tally.failed_keys.add(unit.key)
        return False
    finally:
        tally.in_flight -= 1
    tally.answers[response.status_code] += 1
    if not response.is_success:
        return False
    data = response.json()
    results = data["results"] if unit.batch else [data]
    if [r["id"] for r in results] != [t["id"] for t in unit.tickets]:
        raise SystemExit(f"answer for {path} names other tickets than were sent")
    replayed = response.headers.get("Idempotent-Replayed") == "true"
    tally.replays += replayed
    first_for_key = unit.key is None or unit.key not in tally.acked_keys
    # A key's first 2xx being a replay after a failed attempt: that attempt had committed.
    if replayed and first_for_key and unit.key in tally.failed_keys:
        tally.replays_after_failure += 1
        tally.replayed_tickets_after_failure += len(unit.tickets)
    for t, r in zip(unit.tickets, results, strict=True):
        key = ticket_key(t)
        tally.acked[key] = {"route": r["route"], "needs_human": r["needs_human"], "priority": r["priority"]}
        if first_for_key:
            tally.acked_scorings[key] += 1
    if unit.key is not None:
        tally.acked_keys[unit.key] = [ticket_key(t) for t in unit.tickets]
    return True


async def client(http: httpx.AsyncClient, work: asyncio.Queue[Unit], tally: Tally, up: asyncio.Event) -> None:
    while True:
        try:
            unit = work.get_nowait()
        except asyncio.QueueEmpty:
            return
        while True:
            await up.wait()
            if await send(http, unit, tally):
                break
            if unit.attempts >= MAX_ATTEMPTS:
                tally.gave_up += 1
                break
            # Retried once the service answers again (a short pause: a helpdesk backs off too).
            await asyncio.sleep(min(0.05 * unit.attempts, 1.0))


async def chaos(
    server: Server, tally: Tally, up: asyncio.Event, kill_points: list[int], out: dict[str, Any]
) -> None:
    """Kill the server's group each time the acknowledged tickets reach a point, then restart it."""
    for point in kill_points:
        while len(tally.acked) < point:
            await asyncio.sleep(0.005)
        members = server.group()
        if len(members) < 1 + server.workers:
            raise SystemExit(
                f"expected a master and {server.workers} workers, found {len(members)} processes"
            )
        server.kill()
        up.clear()
        kill = {"acknowledged": len(tally.acked), "in_flight": tally.in_flight, "processes": len(members)}
        killed = time.monotonic()
        kill["survivors"] = len(await asyncio.to_thread(server.survivors))
        kill["restart_seconds"] = round(await asyncio.to_thread(server.start), 2)
        kill["down_seconds"] = round(time.monotonic() - killed, 2)
        out["kills"].append(kill)
        up.set()


async def load(
    server: Server, units: list[Unit], clients: int, kill_points: list[int]
) -> tuple[Tally, dict[str, Any]]:
    tally: Tally = Tally()
    out: dict[str, Any] = {"kills": []}
    work: asyncio.Queue[Unit] = asyncio.Queue()
    for unit in units:
        work.put_nowait(unit)
    up = asyncio.Event()
    up.set()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    started = time.monotonic()
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{server.port}", limits=limits, timeout=httpx.Timeout(120.0)
    ) as http:
        killer = asyncio.create_task(chaos(server, tally, up, kill_points, out))
        await asyncio.gather(*(client(http, work, tally, up) for _ in range(clients)))
        if not killer.done():
            killer.cancel()
            raise SystemExit("the plan finished before the kill: use more tickets")
        await killer
    out["load_seconds"] = round(time.monotonic() - started, 1)
    return tally, out


def summarize(tally: Tally, units: list[Unit], out: dict[str, Any], found: dict[str, Any]) -> dict[str, Any]:
    planned = {ticket_key(t) for u in units for t in u.tickets}
    violations = {name: n for name, n in found["violations"].items() if n}
    survivors = sum(k["survivors"] for k in out["kills"])
    if survivors:
        violations["processes_surviving_a_kill"] = survivors
    if tally.gave_up:
        violations["requests_given_up"] = tally.gave_up
    rejected = sum(n for status, n in tally.answers.items() if 400 <= status < 500)
    if rejected:
        violations["requests_rejected_4xx"] = rejected
    return {
        "tickets_sent": len(planned),
        "requests": tally.requests,
        "acknowledged": len(tally.acked),
        "stored": found["stored"],
        "duplicates": found["violations"]["duplicates"],
        "missing": found["violations"]["missing"],
        "queue_items": found["queue_items"],
        "inconsistent": sum(n for k, n in found["violations"].items() if k not in ("duplicates", "missing")),
        "stored_not_acknowledged": found["stored_not_acknowledged"],
        # Tickets: scored again by a keyless retry, or answered by a replay of their key.
        "committed_but_response_lost": found["scored_more_than_acknowledged"]
        + tally.replayed_tickets_after_failure,
        "replays": tally.replays,
        "replays_after_failure": tally.replays_after_failure,
        "kills": out["kills"],
        "connection_errors": dict(tally.connection_errors),
        "answers": {str(k): v for k, v in sorted(tally.answers.items())},
        "restart_seconds": max(k["restart_seconds"] for k in out["kills"]),
        "load_seconds": out["load_seconds"],
        "violations": violations,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default=DEFAULT_URL, help="Reset before the run (created if missing)."
    )
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--kills", type=int, default=1, help="SIGKILLs, evenly spread (one: at half the tickets)."
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--smoke", action="store_true", help="2,000 tickets from 16 clients.")
    parser.add_argument("--json-out", type=Path, help="Also write the summary here.")
    args = parser.parse_args()
    if args.smoke:
        args.tickets, args.clients = 2_000, 16
    run = f"f{int(time.time())}"
    units = plan(args.tickets, args.seed, run)
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
        url = (
            args.database_url if not args.database_url.startswith("sqlite") else f"sqlite:///{tmp}/triage.db"
        )
        reset_database(url)
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "TRIAGE_DATABASE_URL": url,
            "TRIAGE_DATA_DIR": tmp,
            "TRIAGE_AUTH": "open",
            "TRIAGE_LOG_LEVEL": "warning",
            "OPENBLAS_NUM_THREADS": "1",
        }
        log_path = Path(tmp) / "server.log"
        server = Server(port=free_port(), workers=args.workers, env=env, log_path=log_path)
        print(f"machine: {machine()}", flush=True)
        where = url.split("@")[-1]
        print(
            f"{args.tickets} tickets in {len(units)} requests, {args.clients} clients, {args.workers} workers, {where}"
        )
        first_start = server.start()
        try:
            points = [args.tickets * (i + 1) // (args.kills + 1) for i in range(args.kills)]
            tally, out = asyncio.run(load(server, units, args.clients, points))
        finally:
            server.stop()
        found = check_database(url, tally.acked, tally.acked_scorings, tally.sent_scorings, tally.acked_keys)
        summary = {"first_start_seconds": round(first_start, 2), **summarize(tally, units, out, found)}
        if summary["violations"]:
            print(log_path.read_text(errors="replace")[-4000:], file=sys.stderr)
    for name, value in summary.items():
        print(f"{name:28} {value}")
    if args.json_out:
        args.json_out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))
    sys.exit(1 if summary["violations"] else 0)


if __name__ == "__main__":
    main()
