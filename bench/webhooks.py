"""Webhooks: receipt rate and latency, then how fast the inbox is scored and written back.

Starts the service (1 worker, SQLite in a fresh temporary folder or ``--database-url``) with one
generic (Standard Webhooks) integration that writes back to a receiver on loopback answering
200. wrk (Debian package ``wrk``) posts signed webhooks, each a new 100-word English ticket
(signed beforehand, cycled through by the Lua script), from 32 connections for ``--seconds``;
beside it, in the same run, ``POST /v1/score`` with the same tickets stored is the reference.
Reported: 202s per second with p50/p99, and the time from the first webhook until every ticket
received is scored and stored (its inbox row done) and until every decision has reached the
receiver.

    python bench/webhooks.py [--seconds 5] [--database-url URL]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from common import machine, run_wrk, seed_rows, server, tickets_of_words
from sqlalchemy import create_engine, text

KEY = b"bench standard webhooks key 32by"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
REQUESTS = 6000  # signed beforehand; more than one run sends, so none repeats

WEBHOOK_LUA = """
counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
reqs = {%s}
request = function()
  counter = counter + 1
  local r = reqs[(counter - 1) %% #reqs + 1]
  wrk.headers["webhook-id"] = r[1]
  wrk.headers["webhook-timestamp"] = r[2]
  wrk.headers["webhook-signature"] = r[3]
  return wrk.format(nil, "/v1/webhooks/bench", nil, r[4])
end
"""

SCORE_LUA = """
counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
texts = {%s}
request = function()
  counter = counter + 1
  return wrk.format(nil, "/v1/score", nil, '{"id": "s-' .. counter .. '", "text": ' .. texts[(counter - 1) %% #texts + 1] .. '}')
end
"""


def lua_string(value: str) -> str:
    return "[==[" + value + "]==]"


def webhook_script(texts: list[str]) -> str:
    stamp = str(int(time.time()))
    entries = []
    for i, t in enumerate(texts):
        body = json.dumps({"type": "ticket.created", "data": {"id": f"B-{i}", "text": t}})
        mac = hmac.new(KEY, f"msg_{i}.{stamp}.".encode() + body.encode(), hashlib.sha256).digest()
        signature = "v1," + base64.b64encode(mac).decode()
        entries.append("{" + ",".join(lua_string(v) for v in (f"msg_{i}", stamp, signature, body)) + "}")
    return WEBHOOK_LUA % ",".join(entries)


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--database-url", default=None, help="Default: SQLite in a temporary folder.")
    args = parser.parse_args()
    texts = tickets_of_words([str(r["text"]) for r in seed_rows() if r["language"] == "en"], 100, REQUESTS)
    httpd, arrivals = receiver()
    print(f"machine: {machine()}")
    where = "PostgreSQL" if args.database_url else "SQLite"
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
        }
        engine = create_engine(url)
        with server("service.main:create_app", 1, ready_path="/readyz", env=env) as (port, _):
            reference = run_wrk(
                port, SCORE_LUA % ",".join(lua_string(json.dumps(t)) for t in texts[:500]), args.seconds, 32
            )
            started = time.monotonic()
            hooks = run_wrk(port, webhook_script(texts), args.seconds, 32)
            sent_for = time.monotonic() - started
            with engine.connect() as conn:
                received = conn.execute(text("SELECT count(*) FROM webhook_inbox")).scalar() or 0
            stored_at = delivered_at = None
            while stored_at is None or delivered_at is None:
                with engine.connect() as conn:
                    pending = conn.execute(
                        text("SELECT count(*) FROM webhook_inbox WHERE status <> 'done'")
                    ).scalar()
                if stored_at is None and pending == 0:
                    stored_at = time.monotonic() - started
                if delivered_at is None and len(arrivals) >= received:
                    delivered_at = max(arrivals) - started
                if time.monotonic() - started > 600:
                    raise RuntimeError("not done within 10 minutes")
                time.sleep(0.05)
        engine.dispose()
    httpd.shutdown()
    print(f"1 worker, {where}, 32 connections, {args.seconds} s, 100-word tickets")
    print(
        f"POST /v1/webhooks (202 after the inbox commit): {hooks['rps']:,.0f}/s, p50 {hooks['p50']:.1f} ms, "
        f"p99 {hooks['p99']:.1f} ms | reference POST /v1/score stored: {reference['rps']:,.0f}/s, "
        f"p50 {reference['p50']:.1f} ms, p99 {reference['p99']:.1f} ms"
    )
    print(
        f"{received} webhooks sent in {sent_for:.1f} s: all scored and stored after {stored_at:.1f} s, "
        f"all written back after {delivered_at:.1f} s ({received / delivered_at:,.0f} tickets/s end to end)"
    )


if __name__ == "__main__":
    main()
