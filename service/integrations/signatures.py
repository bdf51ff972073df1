"""Each provider's webhook signature, checked over the raw body with a constant-time compare.

- Zendesk: ``X-Zendesk-Webhook-Signature`` is base64 HMAC-SHA256 of the timestamp header
  (``X-Zendesk-Webhook-Signature-Timestamp``, ISO 8601) followed by the body.
- Zammad: ``X-Hub-Signature`` is ``sha1=`` and the hex HMAC-SHA1 of the body; no timestamp.
- Freshdesk: automations sign nothing, so the rule sends the shared secret in a custom header,
  ``X-Webhook-Secret``; no timestamp.
- generic (Standard Webhooks): ``webhook-signature`` holds space-separated ``v1,<base64>``
  entries, each an HMAC-SHA256 of ``"{webhook-id}.{webhook-timestamp}.{body}"`` keyed with the
  base64 after the secret's ``whsec_`` prefix; the timestamp is in Unix seconds.

A timestamp further than the tolerance from now, either way, is refused like a bad signature:
a captured request cannot be replayed later. Every check returns the delivery id the inbox
deduplicates on, taken only from what the signature covers: Standard Webhooks' signed
``webhook-id``, else the SHA-256 of the body (an unsigned id header could be changed by whoever
replays a captured request, making it look new).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

from service.config import Integration
from service.errors import UnauthorizedError

FRESHDESK_SECRET_HEADER = "x-webhook-secret"  # noqa: S105 - a header name, not a secret
MAX_DELIVERY_ID = 200


class SignatureError(UnauthorizedError):
    code = "bad_signature"


def _body_digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _delivery_id(value: str | None, body: bytes) -> str:
    if not value:
        return _body_digest(body)
    # A provider's id is short; a very long one is kept as its digest so that it fits the column.
    return value if len(value) <= MAX_DELIVERY_ID else "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def _within(moment: float, now: float, tolerance: float) -> None:
    if abs(now - moment) > tolerance:
        raise SignatureError("the webhook's timestamp is outside the tolerance (replayed or clock skew)")


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise SignatureError(f"the {name} header is missing")
    return value


def verify_zendesk(
    *, secret: bytes, headers: Mapping[str, str], body: bytes, now: float, tolerance: float
) -> str:
    """Zendesk's signature and timestamp; the delivery id is the body's digest."""
    signature = _header(headers, "x-zendesk-webhook-signature")
    stamp = _header(headers, "x-zendesk-webhook-signature-timestamp")
    expected = base64.b64encode(hmac.new(secret, stamp.encode() + body, hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise SignatureError("the Zendesk signature does not match")
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SignatureError("the Zendesk timestamp is not ISO 8601") from exc
    if moment.tzinfo is None:
        raise SignatureError("the Zendesk timestamp has no time zone")
    _within(moment.timestamp(), now, tolerance)
    # The invocation id is not signed: a replay with a new one inside the tolerance would pass as
    # a new delivery. The body is signed, and an event's body names the event (id and time).
    return _body_digest(body)


def verify_zammad(
    *, secret: bytes, headers: Mapping[str, str], body: bytes, now: float, tolerance: float
) -> str:
    """Zammad's ``X-Hub-Signature`` (HMAC-SHA1); the delivery id is the body's digest."""
    scheme, _, signature = _header(headers, "x-hub-signature").partition("=")
    expected = hmac.new(secret, body, hashlib.sha1).hexdigest()
    if scheme.strip().lower() != "sha1" or not hmac.compare_digest(
        expected.encode(), signature.strip().encode()
    ):
        raise SignatureError("the Zammad signature does not match")
    # X-Zammad-Delivery is not signed and Zammad sends no timestamp: deduplicating on it would let
    # a captured request be replayed for ever under new ids. The signed body is the identity.
    return _body_digest(body)


def verify_freshdesk(
    *, secret: bytes, headers: Mapping[str, str], body: bytes, now: float, tolerance: float
) -> str:
    """The shared secret in ``X-Webhook-Secret``; the delivery id is the body's digest."""
    sent = _header(headers, FRESHDESK_SECRET_HEADER)
    if not hmac.compare_digest(secret, sent.encode()):
        raise SignatureError("the shared secret does not match")
    return _body_digest(body)


def verify_standard(
    *, secret: bytes, headers: Mapping[str, str], body: bytes, now: float, tolerance: float
) -> str:
    """Standard Webhooks: any one ``v1`` signature may match; the delivery id is ``webhook-id``."""
    webhook_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    key = base64.b64decode(secret.decode().partition("_")[2])
    signed = f"{webhook_id}.{stamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    matched = False
    for entry in signatures.split():
        version, _, value = entry.partition(",")
        # Every entry is compared (no early exit), so the time taken says nothing about which matched.
        matched |= version == "v1" and hmac.compare_digest(expected, value.encode())
    if not matched:
        raise SignatureError("no webhook-signature matches")
    try:
        moment = float(int(stamp))
    except ValueError as exc:
        raise SignatureError("webhook-timestamp is not Unix seconds") from exc
    _within(moment, now, tolerance)
    return _delivery_id(webhook_id, body)


VERIFIERS = {
    "zendesk": verify_zendesk,
    "zammad": verify_zammad,
    "freshdesk": verify_freshdesk,
    "generic": verify_standard,
}


def verify(
    *, integration: Integration, headers: Mapping[str, str], body: bytes, now: float, tolerance: float
) -> str:
    """Check the request's signature for ``integration``; returns its delivery id, raises 401 if bad."""
    assert integration.provider is not None  # settled by Settings
    secret = integration.secret.get_secret_value().encode()
    return VERIFIERS[integration.provider](
        secret=secret, headers=headers, body=body, now=now, tolerance=tolerance
    )
