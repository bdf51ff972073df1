"""Signed webhook requests as each helpdesk sends them, sample payloads, and a fake helpdesk on loopback."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from service.config import Integration, Settings

PAYLOADS = Path(__file__).parent / "payloads"
ZENDESK_SECRET = "dGhpcyBpcyB6ZW5kZXNrJ3Mgc2lnbmluZyBzZWNyZXQ"
ZAMMAD_SECRET = "zammad-hmac-secret"
FRESHDESK_SECRET = "freshdesk-shared-secret"
GENERIC_SECRET = "whsec_" + base64.b64encode(b"standard webhooks test key 32by").decode()


def payload(name: str) -> bytes:
    return (PAYLOADS / f"{name}.json").read_bytes()


def zendesk_headers(
    body: bytes, *, at: float | None = None, secret: str = ZENDESK_SECRET, invocation: str | None = "inv-1"
) -> dict[str, str]:
    stamp = datetime.fromtimestamp(at if at is not None else time.time(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = base64.b64encode(
        hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
    ).decode()
    headers = {
        "X-Zendesk-Webhook-Signature": signature,
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "X-Zendesk-Webhook-Id": "01HWEBHOOK",
        "content-type": "application/json",
    }
    if invocation is not None:
        headers["X-Zendesk-Webhook-Invocation-Id"] = invocation
    return headers


def zammad_headers(body: bytes, *, delivery: str = "d-1", secret: str = ZAMMAD_SECRET) -> dict[str, str]:
    return {
        "X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest(),
        "X-Zammad-Delivery": delivery,
        "X-Zammad-Trigger": "triage",
        "content-type": "application/json",
    }


def freshdesk_headers(*, secret: str = FRESHDESK_SECRET) -> dict[str, str]:
    return {"X-Webhook-Secret": secret, "content-type": "application/json"}


def standard_headers(
    body: bytes,
    *,
    webhook_id: str = "msg_1",
    at: float | None = None,
    secret: str = GENERIC_SECRET,
    extra: str = "",
) -> dict[str, str]:
    stamp = str(int(at if at is not None else time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signature = base64.b64encode(
        hmac.new(key, f"{webhook_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    )
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": stamp,
        "webhook-signature": f"{extra}v1,{signature.decode()}".strip(),
        "content-type": "application/json",
    }


def integrations(url: str | None = None, **overrides: Any) -> dict[str, Integration]:
    """All four providers; with ``url``, each writes back to that fake helpdesk."""
    config: dict[str, Any] = {
        "zendesk": {
            "secret": ZENDESK_SECRET,
            "url": url,
            "token": "agent@example.com/token:zd-token",
            "auth": "basic",
            "human_group_id": 42,
        },
        "zammad": {
            "secret": ZAMMAD_SECRET,
            "url": url,
            "token": "zm-token",
            "auth": "token",
            "human_group_id": 3,
        },
        "freshdesk": {"secret": FRESHDESK_SECRET, "url": url, "token": "fd-key:X", "auth": "basic"},
        "acme": {
            "provider": "generic",
            "secret": GENERIC_SECRET,
            "url": f"{url}/hooks/triage" if url else None,
            "token": "acme-token",
        },
    }
    for name, values in overrides.items():
        config[name] = {**config[name], **values}
    return Settings(integrations=config).integrations


@dataclass
class FakeHelpdesk:
    """A helpdesk API on loopback that answers from a script: each request takes the next answer
    (status, headers, seconds to stall first); when the script is empty it answers 200."""

    url: str = ""
    script: list[tuple[int, dict[str, str], float]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    seen_keys: set[str] = field(default_factory=set)
    conflict_on_duplicate: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(
        self, status: int, headers: dict[str, str] | None = None, stall: float = 0.0, times: int = 1
    ) -> None:
        self.script.extend([(status, headers or {}, stall)] * times)


@contextlib.contextmanager
def fake_helpdesk() -> Iterator[FakeHelpdesk]:
    """A :class:`FakeHelpdesk` served by a thread on a free loopback port."""
    fake = FakeHelpdesk()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            key = self.headers.get("idempotency-key") or ""
            with fake.lock:
                fake.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "json": json.loads(body or b"null"),
                    }
                )
                status, headers, stall = fake.script.pop(0) if fake.script else (200, {}, 0.0)
                if fake.conflict_on_duplicate and key in fake.seen_keys:
                    status = 409
                if status < 300:
                    fake.seen_keys.add(key)
            if stall:
                time.sleep(stall)
            reply = b'{"ok": true}'
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                pass

        do_PUT = do_POST = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def helpdesk() -> Iterator[FakeHelpdesk]:
    with fake_helpdesk() as fake:
        yield fake
