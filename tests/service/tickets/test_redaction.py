"""Personal data in free-text notes is replaced before it is stored; other numbers stay readable."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.storage.tables import Feedback
from service.tickets.redaction import redact

FLAGGED = "This is the third time I write. My mother passed away and you keep sending her bills."


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        ("mail jan.de-vries+x@example.co.uk now", "mail [email] now"),
        ("belde van 06-12345678 en 0612345678", "belde van [phone] en [phone]"),
        ("call +44 20 7946 0958 or +1 212-555-0199", "call [phone] or [phone]"),
        ("IBAN NL91 ABNA 0417 1643 00 graag", "IBAN [iban] graag"),
        ("iban: NL91ABNA0417164300.", "iban: [iban]."),
        ("DE89370400440532013000 AB", "[iban] AB"),
        ("BSN 111222333, of 1112.22.333", "BSN [bsn], of [bsn]"),
        ("iban nl91abna0417164300 please", "iban [iban] please"),
        ("schrijf naar ïñtérnátiønål@exämple.de", "schrijf naar [email]"),
    ],
)
def test_personal_data_is_replaced(note: str, expected: str) -> None:
    assert redact(note) == expected


@pytest.mark.parametrize(
    "note",
    [
        "order 123456789 of EUR 1.234,56 on 12-03-2026 at 14:30",  # 123456789 fails the eleven test
        "ticket 4471, refund 250.00, app version 2.3.1, 3 parcels",
        "no personal data here at all",
    ],
)
def test_other_numbers_stay(note: str) -> None:
    assert redact(note) == note


def test_an_iban_that_fails_its_check_is_not_taken_for_one() -> None:
    # Its digits may still read as a phone number, and go: over-redacting a note is the safe side.
    assert "[iban]" not in redact("IBAN NL91 ABNA 0417 1643 01 (a typo)")


@pytest.mark.anyio
async def test_notes_are_stored_redacted(
    stored_client: httpx.AsyncClient, db_sessions: sessionmaker[Session]
) -> None:
    await stored_client.post("/v1/score", json={"id": "P-1", "text": FLAGGED})
    item_id = (await stored_client.get("/v1/queue")).json()["items"][0]["id"]
    note = "Spoke to her on +31 6 12345678, refund to NL91 ABNA 0417 1643 00, mail anna@example.nl"
    r = await stored_client.post(
        f"/v1/queue/{item_id}/feedback", json={"agent": "ann", "flag_correct": True, "note": note}
    )
    assert r.status_code == 201
    expected = "Spoke to her on [phone], refund to [iban], mail [email]"
    assert r.json()["note"] == expected
    missed = await stored_client.post("/v1/feedback", json={"id": "P-1", "note": "BSN 111222333 given"})
    assert missed.json()["note"] == "BSN [bsn] given"
    with db_sessions() as session:
        stored = sorted(n or "" for n in session.scalars(select(Feedback.note)))
    assert stored == ["BSN [bsn] given", expected]
