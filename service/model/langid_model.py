"""py3langid's model held in 12 MB instead of 67 MB, and its walk compiled; the same answers.

py3langid keeps two tables per process. The byte automaton is a dense next-state table, 38,346
distinct rows of 256 uint32 (39 MB; its 104,583 states do not fit in 16 bits), and the naive Bayes
log-probabilities are 100,053 features by 142 classes of float16 (28 MB). Both are mostly
repetition, and each is stored here as a default plus its exceptions:

- The automaton is an Aho-Corasick automaton over byte n-grams: a state's row differs from its
  failure state's row only at its own children in the trie. Each state keeps the bytes where its
  row differs from the row of a shallower state (its failure state) and the walk follows failure
  links until a stored byte or the root, whose row is kept whole. The failure states and the
  differences are computed from py3langid's own table, so this is that table whatever its
  shape: for an automaton that were not Aho-Corasick's, more differences would be stored.
- In each class's column of probabilities, 68 to 98% of the features hold one value (the
  smoothed probability of a feature never seen in that language). Each column keeps that value
  and each feature row the (class, value) pairs that differ from it, as float16 bits.

Scoring rebuilds the float16 rows of the features a text reaches and multiplies them exactly as
py3langid does, so every score is bit for bit py3langid's (a test compares ``rank`` and
``classify`` on the seed tickets and on other languages). Looking up the short exception lists
is no slower than the dense table was: that table, at 39 MB, missed the CPU caches at every byte.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from py3langid.langid import MODEL_DIR, MODEL_FILE

from service.model.jit import njit


def _read_model() -> dict[str, np.ndarray]:
    """py3langid's model file, as ``py3langid.modelio.load_model`` reads it, but as arrays: that
    reader copies the transitions into a 39 MB ``array`` and the outputs into a list of Python
    ints, which left about 1.5 MB of fragments in every worker once freed."""
    with tempfile.TemporaryFile(suffix=".npz") as tmp:
        with lzma.open(MODEL_DIR / MODEL_FILE) as src:
            shutil.copyfileobj(src, tmp, length=1 << 20)
        tmp.seek(0)
        with np.load(tmp, allow_pickle=False) as data:
            return {
                key: data[key] for key in ("ptc", "pc", "classes", "nextmove", "nextmove_row", "out_feat")
            }


def default_cache_dir() -> Path:
    """numba's cache directory when one is set (the Docker image sets one and fills it at build),
    else this package's ``__pycache__``, where numba keeps the compiled kernels by default."""
    configured = os.environ.get("NUMBA_CACHE_DIR")
    return Path(configured) if configured else Path(__file__).parent / "__pycache__"


def _cache_file(cache_dir: Path) -> Path:
    """Where the tables derived from py3langid's file are kept between processes.

    Deriving them means decompressing that 70 MB file and two passes over it: a fifth of
    ``triage score-file``'s time on 20,000 tickets (py-spy), at every start. The name holds a
    digest of the file and of this module's source, so that another py3langid or another
    derivation never reads tables derived by the old one.
    """
    digest = hashlib.sha256()
    digest.update((MODEL_DIR / MODEL_FILE).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return cache_dir / f"py3langid-compact-{digest.hexdigest()[:24]}.npz"


@njit(cache=True)
def _automaton(
    nextmove: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The root's row, each state's failure state, and per state the (byte, next state) pairs
    where its row differs from its failure state's row (CSR: ``start``, ``byte``, ``target``)."""
    n = len(rows)
    # Breadth first from the root: a state's depth is its trie depth, since any other transition
    # leads to a state no deeper than the one it leaves.
    depth = np.full(n, -1, np.int64)
    order = np.empty(n, np.int64)
    fail = np.zeros(n, np.int32)
    depth[0] = 0
    order[0] = 0
    head, tail = 0, 1
    while head < tail:
        s = order[head]
        head += 1
        base = np.int64(rows[s]) << 8
        for c in range(256):
            t = np.int64(nextmove[base + c])
            if depth[t] >= 0:
                continue
            depth[t] = depth[s] + 1
            order[tail] = t
            tail += 1
            # Aho-Corasick's failure state: where the failure state of s goes on the same byte.
            f = np.int64(0) if s == 0 else np.int64(nextmove[(np.int64(rows[fail[s]]) << 8) + c])
            fail[t] = f if depth[f] < depth[t] else 0  # shallower, so the walk always ends
    start = np.zeros(n + 1, np.int32)
    for s in range(1, n):
        a, b = np.int64(rows[s]) << 8, np.int64(rows[fail[s]]) << 8
        differ = 0
        for c in range(256):
            if nextmove[a + c] != nextmove[b + c]:
                differ += 1
        start[s + 1] = differ
    start = np.cumsum(start).astype(np.int32)
    byte = np.empty(start[n], np.uint8)
    target = np.empty(start[n], np.int32)
    for s in range(1, n):
        a, b = np.int64(rows[s]) << 8, np.int64(rows[fail[s]]) << 8
        k = start[s]
        for c in range(256):
            if nextmove[a + c] != nextmove[b + c]:
                byte[k] = c
                target[k] = nextmove[a + c]
                k += 1
    root = np.empty(256, np.int32)
    for c in range(256):
        root[c] = nextmove[(np.int64(rows[0]) << 8) + c]
    return root, fail, start, byte, target


@njit(cache=True)
def _probabilities(ptc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``ptc`` (float16 bits, features by classes) as each column's commonest value and, per
    feature row (CSR), the (class, value) pairs that differ from it."""
    n, classes = ptc.shape
    default = np.empty(classes, np.uint16)
    histogram = np.zeros(1 << 16, np.int64)
    for c in range(classes):
        histogram[:] = 0
        for f in range(n):
            histogram[ptc[f, c]] += 1
        default[c] = np.argmax(histogram)
    start = np.zeros(n + 1, np.int64)
    for f in range(n):
        for c in range(classes):
            if ptc[f, c] != default[c]:
                start[f + 1] += 1
    start = np.cumsum(start)
    cls = np.empty(start[n], np.uint8)
    value = np.empty(start[n], np.uint16)
    k = 0
    for f in range(n):
        for c in range(classes):
            if ptc[f, c] != default[c]:
                cls[k] = c
                value[k] = ptc[f, c]
                k += 1
    return default, start.astype(np.int32), cls, value


@njit(cache=True, nogil=True)
def next_state(
    state: np.int64,
    letter: np.uint8,
    root: np.ndarray,
    fail: np.ndarray,
    start: np.ndarray,
    byte: np.ndarray,
    target: np.ndarray,
) -> np.int64:
    """py3langid's ``nextmove[rowbase[state] + letter]``."""
    while state != 0:
        lo, hi = np.int64(start[state]), np.int64(start[state + 1])
        while lo < hi:  # a state's bytes are sorted
            mid = (lo + hi) >> 1
            if byte[mid] < letter:
                lo = mid + 1
            else:
                hi = mid
        if lo < start[state + 1] and byte[lo] == letter:
            return np.int64(target[lo])
        state = np.int64(fail[state])
    return np.int64(root[letter])


# Transitions remembered per process: 2**16 entries, 512 KB.
MEMO_SIZE = 1 << 16


def new_memo(size: int = MEMO_SIZE) -> np.ndarray:
    """An empty transition memo for :func:`_visits` (``size`` a power of two)."""
    if size < 1 or size & (size - 1):
        raise ValueError(f"a memo's size is a power of two, not {size}")
    return np.zeros(size, np.int64)


@njit(cache=True, nogil=True)
def _visits(
    text: np.ndarray,
    root: np.ndarray,
    fail: np.ndarray,
    start: np.ndarray,
    byte: np.ndarray,
    target: np.ndarray,
    output: np.ndarray,
    memo: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """py3langid's ``visit_counts``: the feature of every state the bytes reach, counted, in order
    of first visit (a ``Counter``'s order, which the score's summation follows).

    ``memo`` remembers transitions already computed, direct-mapped by (state, byte): following
    failure links, a binary search at each, was half of the walk's time, and text repeats its
    transitions. Each entry is one int64, (state << 8 | byte) + 1 in the high half and the next
    state in the low half (a key fits in 31 bits: LangidModel holds fewer than 2**23 states),
    written in one aligned store. On x86-64 and arm64 such a store is never seen half done, so
    threads sharing the memo read either an old entry or a new one, each of them correct, and a
    miss only costs the search.
    """
    mask = len(memo) - 1
    size = 16
    while size < 2 * len(text):
        size <<= 1
    slot_feature = np.full(size, -1, np.int64)  # open addressing: feature -> its slot
    slot_index = np.empty(size, np.int64)
    seen = np.empty(len(text), np.int64)
    counts = np.zeros(len(text), np.float32)
    state = np.int64(0)
    k = 0
    for letter in text:
        key = (state << 8) | np.int64(letter)
        at = ((key * 2654435761) >> 16) & mask  # Knuth's multiplicative hash; below 2**63, no overflow
        entry = memo[at]
        if (entry >> 32) == key + 1:
            state = entry & 0xFFFFFFFF
        else:
            state = next_state(state, letter, root, fail, start, byte, target)
            memo[at] = ((key + 1) << 32) | state
        f = output[state]
        if f < 0:
            continue
        pos = (f * 0x9E3779B1) & (size - 1)
        while slot_feature[pos] != -1 and slot_feature[pos] != f:
            pos = (pos + 1) & (size - 1)
        if slot_feature[pos] == -1:
            slot_feature[pos] = f
            slot_index[pos] = k
            seen[k] = f
            k += 1
        counts[slot_index[pos]] += 1
    return seen[:k], counts[:k]


@lru_cache(maxsize=1)
def _half_to_single() -> np.ndarray:
    """Every float16 bit pattern as float32, by numpy's conversion (256 KB)."""
    return np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)


@njit(cache=True, nogil=True)
def _rows(
    features: np.ndarray, default: np.ndarray, start: np.ndarray, cls: np.ndarray, value: np.ndarray
) -> np.ndarray:
    """The float16 bits of ``ptc[features]``, as py3langid's fancy indexing gives them."""
    out = np.empty((len(features), len(default)), np.uint16)
    for i in range(len(features)):
        out[i, :] = default
        f = features[i]
        for k in range(start[f], start[f + 1]):
            out[i, cls[k]] = value[k]
    return out


@njit(cache=True, nogil=True)
def _visit_rows(
    text: np.ndarray,
    root: np.ndarray,
    fail: np.ndarray,
    start: np.ndarray,
    byte: np.ndarray,
    target: np.ndarray,
    output: np.ndarray,
    memo: np.ndarray,
    default: np.ndarray,
    row_start: np.ndarray,
    cls: np.ndarray,
    value: np.ndarray,
    half_to_single: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_visits`' counts and ``ptc[features]`` as float32, in one call.

    numpy multiplies py3langid's float32 counts by its float16 rows by first casting the rows to
    float32 (exact) and then running the float32 product; the cast, element by element outside
    the compiled code, cost more than the product (py-spy). Rows built as float32 here, through
    numpy's own float16 conversion of every bit pattern (``half_to_single``), give that product
    the same operands, so the same scores.
    """
    features, counts = _visits(text, root, fail, start, byte, target, output, memo)
    out = np.empty((len(features), len(default)), np.float32)
    for i in range(len(features)):
        for c in range(len(default)):
            out[i, c] = half_to_single[default[c]]
        f = features[i]
        for k in range(row_start[f], row_start[f + 1]):
            out[i, cls[k]] = half_to_single[value[k]]
    return counts, out


@dataclass(frozen=True)
class LangidModel:
    """py3langid's model, compact: see the module's docstring."""

    classes: list[str]
    pc: np.ndarray
    automaton: tuple[np.ndarray, ...]  # root, fail, start, byte, target, output
    probabilities: tuple[np.ndarray, ...]  # default, start, class, value
    # Derived as the texts are read, never saved: see _visits. It holds this automaton's
    # transitions, so a model with another automaton needs a memo of its own, never this one.
    memo: np.ndarray = field(default_factory=new_memo, compare=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.automaton[1]) >= 1 << 23:  # the failure table: one entry per state
            raise ValueError("an automaton of 2**23 states or more does not fit the memo's keys")

    @classmethod
    def load(cls, cache_dir: Path | None = None) -> LangidModel:
        """Derived from py3langid's file, or read from ``cache_dir`` where an earlier load left
        the tables derived from the same file by the same code (see :func:`_cache_file`)."""
        cached = _cache_file(cache_dir) if cache_dir is not None else None
        if cached is not None:
            try:
                # Opened here: np.load leaves its own handle open when the zip is cut short.
                with cached.open("rb") as fh, np.load(fh, allow_pickle=False) as data:
                    arrays = [data[f"arr_{i}"] for i in range(len(data.files))]
                return cls([str(c) for c in arrays[0]], arrays[1], tuple(arrays[2:8]), tuple(arrays[8:]))
            except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile):
                pass  # absent, unreadable, empty or cut short: derive it again
        model = _read_model()
        automaton = _automaton(model["nextmove"], model["nextmove_row"])
        probabilities = _probabilities(np.ascontiguousarray(model["ptc"], dtype=np.float16).view(np.uint16))
        loaded = cls(
            [str(c) for c in model["classes"]],
            model["pc"],
            (*automaton, model["out_feat"].astype(np.int32)),
            probabilities,
        )
        if cached is not None:
            loaded._save(cached)
        return loaded

    def _save(self, path: Path) -> None:
        arrays = [np.array(self.classes), self.pc, *self.automaton, *self.probabilities]
        tmp: Path | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written aside and renamed, so that a process starting meanwhile never reads half a file.
            with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as fh:
                tmp = Path(fh.name)
                np.savez(fh, *arrays)
                # On disk before the rename: after a power loss the name holds the whole file or none.
                fh.flush()
                os.fsync(fh.fileno())
            # Readable by every user of a shared cache directory (the temporary file is 0600).
            tmp.chmod(0o644)
            os.replace(tmp, path)
            # Tables derived by another py3langid or another version of this module: never read again.
            for stale in path.parent.glob("py3langid-compact-*.npz"):
                if stale != path:
                    stale.unlink(missing_ok=True)
        except OSError:
            # A read-only install: every start derives the tables, as before the cache.
            if tmp is not None:
                tmp.unlink(missing_ok=True)

    def visits(self, text: bytes) -> tuple[np.ndarray, np.ndarray]:
        """The features ``text`` reaches and their counts, as py3langid's ``visit_counts``."""
        args = (np.frombuffer(text, dtype=np.uint8), *self.automaton, self.memo)
        features_counts: tuple[np.ndarray, np.ndarray] = _visits(*args)
        return features_counts

    def visit_rows(self, text: bytes) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`visits`' counts and the float32 value of :meth:`ptc_rows` for those features."""
        args = (
            np.frombuffer(text, dtype=np.uint8),
            *self.automaton,
            self.memo,
            *self.probabilities,
            _half_to_single(),
        )
        counts_rows: tuple[np.ndarray, np.ndarray] = _visit_rows(*args)
        return counts_rows

    def ptc_rows(self, features: np.ndarray) -> np.ndarray:
        """``ptc[features]``: float16, one row per feature, the file's own values."""
        rows: np.ndarray = _rows(features, *self.probabilities).view(np.float16)
        return rows

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (*self.automaton, *self.probabilities, self.pc, self.memo))
