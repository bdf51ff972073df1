"""Webhooks: receipt rate and latency, then how fast the inbox is scored and written back.

Starts the service (1 worker, SQLite in a fresh temporary folder or ``--database-url``) with one
generic (Standard Webhooks) integration that writes back to a receiver on loopback answering 200.
Posts ``--count`` signed webhooks, each a new 100-word English ticket, from ``--connections``
concurrent clients, and reports: the 202s per second and their p50/p99 latency; the time from
the first post until every ticket is stored (inbox rows done) and until every decision is
delivered to the receiver.

    python bench/webhooks.py [--count 2000] [--connections 32] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from common import machine, seed_rows, server, tickets_of_words
from sqlalchemy import create_engine, text

KEY = b"bench standard webhooks key 32by"
SECRET = "whsec_" + base64.b64encode(KEY).decode()


def signed(i: int, body: bytes) -> dict[str, str]:
    webhook_id, stamp = f"msg_{i}", str(int(time.time()))
    mac = hmac.new(KEY, f"{webhook_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
        "content-type": "application/json",
    }


def receiver() -> tuple[ThreadingHTTPServer, list[float]]:
    arrivals: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            arrivals.append(time.monotonic())
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, arrivals


async def post_all(port: int, bodies: list[bytes], connections: int) -> list[float]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(bodies)):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60) as client:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post(
                    "/v1/webhooks/bench", content=bodies[i], headers=signed(i, bodies[i])
                )
                latencies.append(time.perf_counter() - started)
                if response.status_code != 202:
                    raise RuntimeError(f"webhook answered {response.status_code}: {response.text}")

        await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--database-url", default=None, help="Default: SQLite in a temporary folder.")
    args = parser.parse_args()
    texts = [str(r["text"]) for r in seed_rows() if r["language"] == "en"]
    ticket_texts = tickets_of_words(texts, 100, args.count)
    bodies = [
        json.dumps({"type": "ticket.created", "data": {"id": f"B-{i}", "text": t}}).encode()
        for i, t in enumerate(ticket_texts)
    ]
    httpd, arrivals = receiver()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as data_dir:
        url = args.database_url or f"sqlite:///{data_dir}/triage.db"
        integration = {
            "provider": "generic",
            "secret": SECRET,
            "url": f"http://127.0.0.1:{httpd.server_address[1]}/in",
        }
        env = {
            "TRIAGE_DATA_DIR": data_dir,
            "TRIAGE_DATABASE_URL": url,
            "TRIAGE_INTEGRATIONS": json.dumps({"bench": integration}),
            "TRIAGE_LOG_LEVEL": "warning",
            **({"TRIAGE_INBOX_POLL_SECONDS": os.environ["BENCH_POLL"]} if "BENCH_POLL" in os.environ else {}),
        }
        engine = create_engine(url)
        with server("service.main:create_app", 1, ready_path="/readyz", env=env) as (port, _):
            started = time.monotonic()
            latencies = sorted(asyncio.run(post_all(port, bodies, args.connections)))
            received = time.monotonic() - started
            stored_at = delivered_at = None
            while stored_at is None or delivered_at is None:
                with engine.connect() as conn:
                    pending = conn.execute(
                        text("SELECT count(*) FROM webhook_inbox WHERE status <> 'done'")
                    ).scalar()
                if stored_at is None and pending == 0:
                    stored_at = time.monotonic() - started
                if delivered_at is None and len(arrivals) >= args.count:
                    delivered_at = max(arrivals) - started
                if time.monotonic() - started > 600:
                    raise RuntimeError("not done within 10 minutes")
                time.sleep(0.05)
        engine.dispose()
    httpd.shutdown()
    where = "PostgreSQL" if args.database_url else "SQLite"
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    print(f"{args.count} webhooks, {args.connections} connections, 1 worker, {where}")
    print(
        f"receipt: {args.count / received:,.0f} webhooks/s (202 after commit), p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
    )
    print(f"all stored after {stored_at:.1f} s ({args.count / stored_at:,.0f} tickets/s from the first post)")
    print(f"all written back after {delivered_at:.1f} s ({args.count / delivered_at:,.0f} deliveries/s)")


if __name__ == "__main__":
    main()
