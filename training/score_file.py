"""``triage score-file``: a JSONL file of tickets scored in chunks, in one process or several.

Design: the input's non-blank lines are cut into chunks of ``SCORE_FILE_CHUNK``; a chunk's valid
tickets are scored in one compiled call (``service.scoring.engine.score_many``), and the chunk
becomes one block of output lines in input order (an invalid line's error in its place). With
``workers > 1`` the chunks go to worker processes, each of which builds the scorer once; at most
two chunks per worker are in flight, so memory stays bounded on any file size, and the blocks
are written in input order as they come back. Processes, not threads: most of a chunk's time
(the answers, the JSON) holds the GIL.
"""

from __future__ import annotations

import json
import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO

from service.scoring.schemas import redact_loc

# Tickets per compiled call: long enough to spread the call's fixed cost, short enough that the
# chunk's arrays stay in the CPU's cache.
SCORE_FILE_CHUNK = 512

BOM = b"\xef\xbb\xbf"
Lines = list[tuple[int, bytes]]  # (line number, raw bytes) of a chunk's non-blank lines


@dataclass(frozen=True)
class ChunkResult:
    """A chunk's output lines (each ending in a newline) and its counts."""

    output: bytes
    scored: int
    errors: int


def score_chunk(scorer: Any, lines: Lines) -> ChunkResult:
    """The output lines of a chunk, in order: the API's answer for a ticket, an error for the rest."""
    from pydantic import ValidationError

    from service.scoring.engine import score_many
    from service.scoring.schemas import TicketScoreRequest

    out: list[bytes | None] = []  # an error line's bytes, or None for the next scored ticket
    tickets: list[TicketScoreRequest] = []
    for number, raw in lines:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            out.append(json.dumps({"line": number, "id": None, "error": "line is not UTF-8 text"}).encode())
            continue
        try:
            tickets.append(TicketScoreRequest.model_validate_json(line))
        except ValidationError as exc:
            out.append(json.dumps({"line": number, "id": _id_of(line), "error": _summarise(exc)}).encode())
            continue
        out.append(None)
    answers = iter(score_many(scorer=scorer, tickets=tickets) if tickets else [])
    return ChunkResult(
        b"".join((line or next(answers)) + b"\n" for line in out), len(tickets), len(out) - len(tickets)
    )


def chunks(src: Iterable[bytes], size: int = SCORE_FILE_CHUNK) -> Iterator[Lines]:
    """The non-blank lines of ``src`` with their line numbers, ``size`` at a time."""
    chunk: Lines = []
    for number, raw in enumerate(src, start=1):
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]  # a file saved as "UTF-8 with BOM" (Windows tools): not part of the ticket
        if raw.strip():
            chunk.append((number, raw))
            if len(chunk) == size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def score_stream(
    *, src: Iterable[bytes], dst: BinaryIO, scorer: Any, source: tuple[str, str], workers: int
) -> tuple[int, int]:
    """Score every chunk of ``src`` into ``dst``; returns (tickets scored, invalid lines).

    One worker scores in this process with ``scorer``; more start processes that each build
    their own from ``source`` (``training.cli.ScorerSource``: the model's folder and the policy's
    text, resolved once, so every worker gives the same answers).
    """
    scored = errors = 0
    for result in _results(src, scorer, source, workers):
        dst.write(result.output)
        scored, errors = scored + result.scored, errors + result.errors
    return scored, errors


def _results(
    src: Iterable[bytes], scorer: Any, source: tuple[str, str], workers: int
) -> Iterator[ChunkResult]:
    if workers <= 1:
        yield from (score_chunk(scorer, lines) for lines in chunks(src))
        return
    # spawn, not fork: the parent may hold threads (numba's, BLAS's), which fork would copy
    # half-way through whatever they were doing.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_start_worker, initargs=(source,)
    ) as pool:
        pending: deque[Future[ChunkResult]] = deque()
        for lines in chunks(src):
            pending.append(pool.submit(_score_in_worker, lines))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


_worker_scorer: Any = None


def _start_worker(source: tuple[str, str]) -> None:
    from training.cli import ScorerSource, scorer_from  # the command's own loader

    global _worker_scorer
    _worker_scorer = scorer_from(ScorerSource(*source))


def _score_in_worker(lines: Lines) -> ChunkResult:
    return score_chunk(_worker_scorer, lines)


def _id_of(line: str) -> str | None:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    value = obj.get("id") if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None


def _summarise(exc: Any) -> str:
    # Never echo the input: pydantic's messages name the field and the rule only.
    return "; ".join(
        f"{'.'.join(map(str, redact_loc(e['loc']))) or 'body'}: {e['msg']}" for e in exc.errors()
    )
