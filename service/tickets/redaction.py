"""Redaction of personal data in free-text notes before they are stored.

Agents' notes are free text that outlives the ticket's own text (they go into exports and so into
training data), so e-mail addresses, phone numbers, IBANs and Dutch citizen service numbers (BSN)
are replaced by a tag (``[email]``, ``[phone]``, ``[iban]``, ``[bsn]``) before a note is written.

Candidates are found by pattern and kept only when they validate: an IBAN by its mod-97 check and
a BSN by the eleven test (python-stdnum), a phone number by libphonenumber's rules for the regions
in ``PHONE_REGIONS`` (numbers written with ``+`` and a country code are found whatever the region).
Validation is what keeps order numbers, amounts and dates readable; the cost is that a mistyped
IBAN or BSN is left as written.
"""

from __future__ import annotations

import re

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum.nl import bsn as stdnum_bsn

PHONE_REGIONS = ("NL", "BE", "DE", "GB", "FR", "US")
# Letters of any script on both sides of the @ (internationalised addresses).
EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}")
# Country code, check digits, then groups of up to four; written with or without spaces.
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b", re.IGNORECASE)
BSN = re.compile(r"(?<![\d.-])(?:\d{9}|\d{4}\.\d{2}\.\d{3}|\d{3}[ .]\d{3}[ .]\d{3})(?![\d-]|\.\d)")

# When spans overlap, the earlier kind in this order names the redaction.
_KINDS = ("iban", "bsn", "email", "phone")


def _iban_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for match in IBAN.finditer(text):
        # The pattern may run into a following group of capitals or digits: keep the longest
        # prefix, ending at a group boundary, that validates.
        candidate = match.group()
        for end in range(len(candidate), 14, -1):
            if (end == len(candidate) or candidate[end] == " ") and stdnum_iban.is_valid(
                candidate[:end].upper()
            ):
                spans.append((match.start(), match.start() + end))
                break
    return spans


def _bsn_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in BSN.finditer(text) if stdnum_bsn.is_valid(m.group())]


def _phone_spans(text: str) -> list[tuple[int, int]]:
    spans = set()
    for region in PHONE_REGIONS:
        for match in phonenumbers.PhoneNumberMatcher(text, region):
            spans.add((match.start, match.end))
    return sorted(spans)


def redact(text: str) -> str:
    """``text`` with its e-mail addresses, phone numbers, IBANs and BSNs replaced by tags."""
    found: list[tuple[int, int, str]] = []
    finders = {
        "iban": _iban_spans,
        "bsn": _bsn_spans,
        "email": lambda t: [m.span() for m in EMAIL.finditer(t)],
        "phone": _phone_spans,
    }
    for kind in _KINDS:
        for start, end in finders[kind](text):
            if not any(start < e and s < end for s, e, _ in found):
                found.append((start, end, kind))
    out, last = [], 0
    for start, end, kind in sorted(found):
        out.append(text[last:start])
        out.append(f"[{kind}]")
        last = end
    out.append(text[last:])
    return "".join(out)


def redact_note(note: str | None) -> str | None:
    return None if note is None else redact(note)
