"""Each provider's signature: valid, tampered, wrong secret, missing, expired or future timestamps."""

from __future__ import annotations

import time

import pytest

from service.integrations.signatures import SignatureError, verify
from tests.service.integrations.conftest import (
    freshdesk_headers,
    integrations,
    payload,
    standard_headers,
    zammad_headers,
    zendesk_headers,
)

CONFIG = integrations()
TOLERANCE = 300.0


def check(source: str, headers: dict[str, str], body: bytes, now: float | None = None) -> str:
    lowered = {k.lower(): v for k, v in headers.items()}
    return verify(
        integration=CONFIG[source], headers=lowered, body=body, now=now or time.time(), tolerance=TOLERANCE
    )


def test_zendesk_and_zammad_deduplicate_on_what_is_signed() -> None:
    """Their id headers are not signed: a replay under a new id is still the same delivery."""
    zendesk = payload("zendesk_ticket_created")
    first = check("zendesk", zendesk_headers(zendesk, invocation="inv-77"), zendesk)
    assert first.startswith("sha256:") and len(first) == 71
    assert check("zendesk", zendesk_headers(zendesk, invocation="replayed"), zendesk) == first
    assert check("zendesk", zendesk_headers(zendesk, invocation=None), zendesk) == first
    zammad = payload("zammad_ticket_created")
    one = check("zammad", zammad_headers(zammad, delivery="9b1c"), zammad)
    assert (
        one.startswith("sha256:") and check("zammad", zammad_headers(zammad, delivery="other"), zammad) == one
    )
    assert check("zammad", zammad_headers(payload("zammad_agent_note")), payload("zammad_agent_note")) != one


@pytest.mark.parametrize("case", ["tampered", "wrong_secret", "missing", "expired", "future"])
def test_zendesk_refused(case: str) -> None:
    body = payload("zendesk_ticket_created")
    now = time.time()
    headers = {
        "tampered": zendesk_headers(body),
        "wrong_secret": zendesk_headers(body, secret="not-the-secret"),
        "missing": {},
        "expired": zendesk_headers(body, at=now - 301),
        "future": zendesk_headers(body, at=now + 301),
    }[case]
    sent = body.replace(b"third", b"first") if case == "tampered" else body
    with pytest.raises(SignatureError):
        check("zendesk", headers, sent, now)


def test_zendesk_within_tolerance() -> None:
    body = payload("zendesk_ticket_created")
    now = time.time()
    assert check("zendesk", zendesk_headers(body, at=now - 290), body, now).startswith("sha256:")


def test_zammad_valid_and_refused() -> None:
    body = payload("zammad_ticket_created")
    assert check("zammad", zammad_headers(body, delivery="9b1c"), body).startswith("sha256:")
    with pytest.raises(SignatureError):
        check("zammad", zammad_headers(body, secret="other"), body)
    with pytest.raises(SignatureError):
        check("zammad", zammad_headers(body), body + b" ")
    bad_scheme = zammad_headers(body)
    bad_scheme["X-Hub-Signature"] = bad_scheme["X-Hub-Signature"].replace("sha1=", "sha256=")
    with pytest.raises(SignatureError):
        check("zammad", bad_scheme, body)


def test_freshdesk_shared_secret() -> None:
    body = payload("freshdesk_ticket_created")
    assert check("freshdesk", freshdesk_headers(), body).startswith("sha256:")
    with pytest.raises(SignatureError):
        check("freshdesk", freshdesk_headers(secret="freshdesk-shared-secreT"), body)
    with pytest.raises(SignatureError):
        check("freshdesk", {}, body)


def test_standard_webhooks_valid_with_several_signatures() -> None:
    body = payload("generic_ticket_created")
    assert check("acme", standard_headers(body, webhook_id="msg_2Kx"), body) == "msg_2Kx"
    # A rotated secret: the old key's signature first, then the current one; v2 entries are skipped.
    rotated = standard_headers(body, extra="v1,bm90IHRoZSByaWdodCBvbmU= v2,whatever ")
    assert check("acme", rotated, body) == "msg_1"


@pytest.mark.parametrize(
    "case", ["tampered", "wrong_secret", "expired", "other_id", "not_seconds", "missing"]
)
def test_standard_webhooks_refused(case: str) -> None:
    body = payload("generic_ticket_created")
    now = time.time()
    headers = standard_headers(body)
    if case == "wrong_secret":
        headers = standard_headers(body, secret="whsec_" + "b3RoZXIga2V5")
    elif case == "expired":
        headers = standard_headers(body, at=now - 400)
    elif case == "other_id":
        headers["webhook-id"] = "msg_other"  # the id is signed
    elif case == "not_seconds":
        headers["webhook-timestamp"] = "2026-11-27T10:00:00Z"
    elif case == "missing":
        del headers["webhook-signature"]
    sent = body + b"\n" if case == "tampered" else body
    with pytest.raises(SignatureError):
        check("acme", headers, sent, now)
