"""Reading and validating labelled tickets (CSV or JSONL): the training data format.

It lives in the shared package because both sides read it: training trains on it, and the
service's promotion gate scores a candidate and the champion on it.

A file is read whole and checked whole before anything is trained or written: every error names
the file, the line and the field, and all of them are reported at once so a data owner can fix a
file in one pass.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.model.bundle import DIMENSIONS, HEADS
from service.model.hashing import model_text

REQUIRED_COLUMNS: tuple[str, ...] = ("text", *DIMENSIONS)
OPTIONAL_COLUMNS: tuple[str, ...] = ("needs_human", "id", "language", "subject", "domain")
MAX_ERRORS = 50


@dataclass
class LabelledTicket:
    """One training row; a label is ``None`` where the source does not say (public data)."""

    text: str
    labels: dict[str, int | None]
    source: str
    id: str | None = None
    language: str | None = None
    subject: str | None = None
    domain: str | None = None
    origin: str = ""  # "file:line", for error messages
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def model_text(self) -> str:
        return model_text(self.text, self.subject)


@dataclass(frozen=True)
class DataIssue:
    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.message}"


class DataValidationError(Exception):
    """Raised with every problem found in a data file."""

    def __init__(self, issues: list[DataIssue]) -> None:
        self.issues = issues
        shown = "\n".join(str(i) for i in issues[:MAX_ERRORS])
        more = f"\n... and {len(issues) - MAX_ERRORS} more" if len(issues) > MAX_ERRORS else ""
        super().__init__(f"{len(issues)} problem(s) in the training data:\n{shown}{more}")


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, record) pairs; a record that cannot be parsed is yielded as an error string."""
    suffix = path.suffix.lower()
    if suffix not in {".jsonl", ".ndjson", ".csv"}:
        yield 0, f"unsupported file type {suffix!r} (use .csv or .jsonl)"
        return
    raw = path.read_bytes()
    try:
        # utf-8-sig: spreadsheet programs often start a UTF-8 CSV with a byte-order mark.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield raw[: exc.start].count(b"\n") + 1, "not UTF-8 text (save the file as UTF-8)"
        return
    if suffix in {".jsonl", ".ndjson"}:
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, f"not valid JSON ({exc.msg})"
                continue
            yield number, obj if isinstance(obj, dict) else "not a JSON object"
        return
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        yield 1, "empty file"
        return
    header = [h.strip() for h in header]
    yield 1, {"__header__": header}
    start = reader.line_num + 1
    for row in reader:
        if any(cell.strip() for cell in row):
            if len(row) != len(header):
                yield start, f"has {len(row)} fields, the header has {len(header)}"
            else:
                yield start, dict(zip(header, row, strict=True))
        start = reader.line_num + 1


def _label(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if value in (0, 1):
        return int(value)
    if isinstance(value, str) and value.strip() in {"0", "1"}:
        return int(value.strip())
    return None


def read_labelled_file(path: Path, *, source: str | None = None) -> list[LabelledTicket]:
    """Read and validate one CSV or JSONL file; raises :class:`DataValidationError`."""
    issues: list[DataIssue] = []
    rows: list[LabelledTicket] = []
    seen_ids: dict[str, int] = {}
    name = str(path)
    if not path.is_file():
        raise DataValidationError([DataIssue(name, 0, "-", "no such file")])
    checked_header = False
    for line, record in _records(path):
        if isinstance(record, str):
            issues.append(DataIssue(name, line, "-", record))
            continue
        if "__header__" in record:
            missing = [c for c in REQUIRED_COLUMNS if c not in record["__header__"]]
            for col in missing:
                issues.append(DataIssue(name, line, col, "missing column"))
            checked_header = True
            if missing:
                break
            continue
        if not checked_header:
            missing = [c for c in REQUIRED_COLUMNS if c not in record]
            for col in missing:
                issues.append(DataIssue(name, line, col, "missing field"))
            if missing:
                continue
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            issues.append(DataIssue(name, line, "text", "empty or not a string"))
            continue
        labels: dict[str, int | None] = {}
        bad = False
        for dim in HEADS:
            raw = record.get(dim)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                # Blank: the owner does not know this label; the row does not train that head.
                labels[dim] = None
                continue
            value = _label(raw)
            if value is None:
                issues.append(DataIssue(name, line, dim, f"label must be 0 or 1 (or blank), got {raw!r}"))
                bad = True
            else:
                labels[dim] = value
        if bad:
            continue
        if labels["needs_human"] is None:
            dims = [labels[d] for d in DIMENSIONS]
            if any(dims):
                labels["needs_human"] = 1
            elif None in dims:
                issues.append(
                    DataIssue(name, line, "needs_human", "required when a dimension label is blank")
                )
                continue
            else:
                labels["needs_human"] = 0
        ticket_id = _optional_str(record.get("id"))
        if ticket_id is not None:
            if ticket_id in seen_ids:
                issues.append(
                    DataIssue(
                        name, line, "id", f"duplicate id {ticket_id!r} (first on line {seen_ids[ticket_id]})"
                    )
                )
                continue
            seen_ids[ticket_id] = line
        rows.append(
            LabelledTicket(
                text=text,
                labels=labels,
                source=source or path.stem,
                id=ticket_id,
                language=_optional_str(record.get("language")),
                subject=_optional_str(record.get("subject")),
                domain=_optional_str(record.get("domain")),
                origin=f"{name}:{line}",
            )
        )
    if not issues and not rows:
        issues.append(DataIssue(name, 0, "-", "holds no rows"))
    if issues:
        raise DataValidationError(issues)
    return rows


def _optional_str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def read_labelled(paths: Iterable[Path], *, source: str | None = None) -> list[LabelledTicket]:
    """Read several files (a folder means its ``*.csv`` and ``*.jsonl``), all validated first."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in {".csv", ".jsonl"}))
        else:
            files.append(path)
    issues: list[DataIssue] = []
    rows: list[LabelledTicket] = []
    for file in files:
        try:
            rows.extend(read_labelled_file(file, source=source))
        except DataValidationError as exc:
            issues.extend(exc.issues)
    first_seen: dict[str, str] = {}
    for row in rows:
        if row.id is None:
            continue
        if row.id in first_seen:
            where, _, line = row.origin.rpartition(":")
            issues.append(
                DataIssue(where, int(line), "id", f"duplicate id {row.id!r} (first at {first_seen[row.id]})")
            )
        else:
            first_seen[row.id] = row.origin
    if issues:
        raise DataValidationError(issues)
    return rows


def data_files(paths: Sequence[Path]) -> list[Path]:
    """The labelled files named: files as given, folders expanded to their CSV and JSONL files."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in {".csv", ".jsonl"}))
        else:
            out.append(path)
    return out


def text_digest(text: str) -> str:
    """A short digest naming a row without storing its text (held-out split membership)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def files_sha256(paths: Iterable[Path]) -> str:
    """One digest over the given files' bytes, in sorted path order."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
