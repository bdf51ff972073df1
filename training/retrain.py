"""``triage retrain``: a candidate trained on the original data plus what agents and helpdesks said.

The feedback rows (``service.queue.export``) are merged into the original training rows by
ticket text: where a ticket is in both, the feedback's labels win, and among feedback the latest
verdict wins. The merged rows are written to one file, trained on with the chosen recipe,
registered as a candidate and compared with the champion through the promotion gate. Nothing
is promoted: ops decide, with ``triage models promote``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from service.model.bundle import DIMENSIONS
from service.model.hashing import model_text
from service.model.labelled import LabelledTicket, text_digest

COLUMNS = ("id", "text", "subject", "language", "domain", *DIMENSIONS, "needs_human")


def _blank(value: Any) -> Any:
    return "" if value is None else value


def merge_feedback(
    original: list[LabelledTicket], feedback: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], int]:
    """The original rows with the feedback's labels laid over them; returns the rows and how many
    original rows the feedback relabelled."""
    merged: dict[str, dict[str, Any]] = {}
    for row in original:
        merged[text_digest(row.model_text)] = {
            "id": row.id or "",
            "text": row.text,
            "subject": row.subject or "",
            "language": row.language or "",
            "domain": row.domain or "",
            **{dim: _blank(row.labels.get(dim)) for dim in DIMENSIONS},
            "needs_human": _blank(row.labels.get("needs_human")),
        }
    relabelled = 0
    for item in feedback:
        key = text_digest(model_text(item["text"], item["subject"] or None))
        base = merged.get(key)
        if base is not None:
            relabelled += 1
            labels: dict[str, Any] = {dim: item[dim] if item[dim] != "" else base[dim] for dim in DIMENSIONS}
        else:
            labels = {str(dim): item[dim] for dim in DIMENSIONS}
        merged[key] = {
            # Namespaced: a helpdesk's ticket id must not collide with an id of the original data.
            "id": f"feedback:{item['source']}:{item['id']}",
            "text": item["text"],
            "subject": item["subject"],
            "language": item["language"],
            "domain": base["domain"] if base else "",
            **labels,
            "needs_human": item["needs_human"],
        }
    return list(merged.values()), relabelled


def write_rows(rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
