"""The featurizer's inner loops, compiled with numba.

Scoring one ticket walks every character a few times; in Python or in many small numpy calls that
costs far more than the model itself. These functions are compiled once per machine (numba caches
the machine code beside this file, or under ``NUMBA_CACHE_DIR``) and need no C compiler at
install time: llvmlite ships LLVM in its wheel.

Hashing is a polynomial hash over Unicode code points in wrap-around uint64 arithmetic, then a
multiplicative mix: it depends only on the text, never on the process or the machine.
"""

from __future__ import annotations

import numpy as np

from service.model.jit import njit

P = np.uint64(1_000_003)
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
BIGRAM_MULT = np.uint64(0x100000001B3)
SEED_UNIGRAM = np.uint64(0x1234567)
SEED_BIGRAM = np.uint64(0x2345678)
SEED_CAPS = np.uint64(0x3456789)
SEED_CHAR = np.uint64(0x4567890)
CAPS_HASH = np.uint64(0x5A5A5A5A)
SPACE = np.uint64(32)
SEPARATOR = 0
# emotional, complex, nuanced, needs_human: a constant, so the compiler unrolls the head loops.
N_HEADS = 4


@njit(cache=True, nogil=True)
def _mix(h: np.uint64, seed: np.uint64, shift: np.uint64) -> np.int64:
    return np.int64(((h ^ seed) * GOLDEN) >> shift)


@njit(cache=True, nogil=True)
def analyze_codepoints(
    cp: np.ndarray,
    original: np.ndarray,
    classes: np.ndarray,
    bits: int,
    char_min: int,
    char_max: int,
    bigrams: bool,
    caps: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tokens and hashed feature occurrences of one text.

    ``cp``: lower-cased, digit-folded code points; ``original``: the code points as written (for
    the shouting marker); ``classes``: 0 separator, 1 word character, 2 punctuation. A token is a
    maximal run of one non-separator class. Returns token starts, ends and raw unigram hashes, then
    for each occurrence its bucket, block (0 words, 1 characters) and first and last token.
    """
    n = len(cp)
    shift = np.uint64(64 - bits)
    starts = np.empty(n, np.int64)
    ends = np.empty(n, np.int64)
    n_tok = 0
    i = 0
    while i < n:
        c = classes[i]
        if c == SEPARATOR:
            i += 1
            continue
        j = i + 1
        while j < n and classes[j] == c:
            j += 1
        starts[n_tok] = i
        ends[n_tok] = j
        n_tok += 1
        i = j
    starts = starts[:n_tok]
    ends = ends[:n_tok]

    # Upper bound on occurrences: unigram + bigram + caps per token, and per token at most
    # (len + 2) windows for each n-gram size.
    n_sizes = max(char_max - char_min + 1, 0)
    cap = 3 * n_tok + n_sizes * (n + 2 * n_tok)
    index = np.empty(cap, np.int64)
    block = np.empty(cap, np.int8)
    tok_a = np.empty(cap, np.int64)
    tok_b = np.empty(cap, np.int64)
    uni = np.empty(n_tok, np.uint64)
    k = 0
    for t in range(n_tok):
        h = np.uint64(0)
        for p in range(starts[t], ends[t]):
            h = h * P + np.uint64(cp[p])
        uni[t] = h
        index[k] = _mix(h, SEED_UNIGRAM, shift)
        block[k] = 0
        tok_a[k] = t
        tok_b[k] = t
        k += 1
    if bigrams:
        for t in range(n_tok - 1):
            index[k] = _mix(uni[t] * BIGRAM_MULT + uni[t + 1], SEED_BIGRAM, shift)
            block[k] = 0
            tok_a[k] = t
            tok_b[k] = t + 1
            k += 1
    if caps:
        for t in range(n_tok):
            upper = 0
            lower = 0
            for p in range(starts[t], ends[t]):
                o = original[p]
                if 65 <= o <= 90:
                    upper += 1
                elif 97 <= o <= 122:
                    lower += 1
            if upper >= 3 and lower == 0:
                index[k] = _mix(CAPS_HASH, SEED_CAPS, shift)
                block[k] = 0
                tok_a[k] = t
                tok_b[k] = t
                k += 1
    # Character n-grams of " token ", as scikit-learn's char_wb analyzer makes them; each start
    # extends one hash through the sizes, so a 5-gram costs one step more than its 4-gram.
    for t in range(n_tok):
        length = ends[t] - starts[t] + 2
        for w in range(length - char_min + 1):
            h = np.uint64(0)
            for q in range(w, min(w + char_max, length)):
                c = SPACE if q == 0 or q == length - 1 else np.uint64(cp[starts[t] + q - 1])
                h = h * P + c
                size = q - w + 1
                if size >= char_min:
                    index[k] = _mix(h, SEED_CHAR + np.uint64(size), shift)
                    block[k] = 1
                    tok_a[k] = t
                    tok_b[k] = t
                    k += 1
    return starts, ends, uni, index[:k], block[:k], tok_a[:k], tok_b[:k]


@njit(cache=True, nogil=True)
def _count(index: np.ndarray, block: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique ``bucket + (block << bits)`` keys in order of first occurrence, their counts, and
    each occurrence's slot among them. A small open-addressing table keeps it linear in time."""
    m = len(index)
    size = 16
    while size < 2 * m:
        size <<= 1
    table_key = np.full(size, -1, np.int64)
    table_slot = np.empty(size, np.int64)
    keys = np.empty(m, np.int64)
    counts = np.zeros(m, np.int64)
    slot = np.empty(m, np.int64)
    n_unique = 0
    for r in range(m):
        key = index[r] + (np.int64(block[r]) << bits)
        pos = (key * np.int64(0x9E3779B1)) & (size - 1)
        while table_key[pos] != -1 and table_key[pos] != key:
            pos = (pos + 1) & (size - 1)
        if table_key[pos] == -1:
            table_key[pos] = key
            table_slot[pos] = n_unique
            keys[n_unique] = key
            n_unique += 1
        u = table_slot[pos]
        counts[u] += 1
        slot[r] = u
    return keys[:n_unique], counts[:n_unique], slot


@njit(cache=True, nogil=True)
def weigh(
    index: np.ndarray, block: np.ndarray, idf: np.ndarray, bits: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sublinear tf-idf per (block, bucket), each block L2-normalised.

    Returns the unique buckets (in order of first occurrence), their values, and each
    occurrence's share of its bucket's value.
    """
    buckets, values, share, _ = weigh_slots(index, block, idf, bits)
    return buckets, values, share


@njit(cache=True, nogil=True)
def weigh_slots(
    index: np.ndarray, block: np.ndarray, idf: np.ndarray, bits: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`weigh`, and each occurrence's slot among the unique buckets."""
    keys, counts, slot = _count(index, block, bits)
    n_unique = len(keys)
    mask = np.int64((1 << bits) - 1)
    buckets = keys & mask
    ublock = keys >> bits
    values = np.empty(n_unique, np.float64)
    norms = np.zeros(2)
    for u in range(n_unique):
        # Most n-grams occur once, and 1 + log(1) is exactly 1: the logarithm only where it counts.
        c = counts[u]
        value = idf[buckets[u]] if c == 1 else (1.0 + np.log(c)) * idf[buckets[u]]
        values[u] = value
        norms[ublock[u]] += value * value
    for b in range(2):
        norms[b] = np.sqrt(norms[b]) if norms[b] > 0 else 1.0
    for u in range(n_unique):
        values[u] /= norms[ublock[u]]
    share = np.empty(len(index), np.float64)
    for r in range(len(index)):
        u = slot[r]
        share[r] = values[u] / counts[u]
    return buckets, values, share, slot


@njit(cache=True, nogil=True)
def paragraph_starts(cp: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per token, 1 where a blank line (two line feeds in the gap, as "\n\n" or "\r\n\r\n")
    separates it from the token before: a phrase never runs across one, and the subject and the
    body are joined by one (``hashing.SUBJECT_SEPARATOR``)."""
    n = len(starts)
    out = np.zeros(n, np.int64)
    for t in range(1, n):
        feeds = 0
        for i in range(ends[t - 1], starts[t]):
            if cp[i] == 10:
                feeds += 1
        if feeds >= 2:
            out[t] = 1
    return out


@njit(cache=True, nogil=True)
def top_phrases(
    contribution: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    breaks: np.ndarray,
    limit: int,
    floor_share: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of adjacent tokens each carrying at least ``floor_share`` of the top token's share,
    never across a blank line (``breaks``: :func:`paragraph_starts`).

    Returns the ``limit`` runs with the largest summed contribution: start, end and weight.
    """
    n = len(contribution)
    top = 0.0
    for i in range(n):
        if contribution[i] > top:
            top = contribution[i]
    run_start = np.empty(n, np.int64)
    run_end = np.empty(n, np.int64)
    run_weight = np.empty(n, np.float64)
    if top <= 0.0:
        return run_start[:0], run_end[:0], run_weight[:0]
    floor = floor_share * top
    k = 0
    i = 0
    while i < n:
        if contribution[i] < floor:
            i += 1
            continue
        j = i
        total = contribution[i]
        while j + 1 < n and contribution[j + 1] >= floor and breaks[j + 1] == 0:
            j += 1
            total += contribution[j]
        run_start[k] = starts[i]
        run_end[k] = ends[j]
        run_weight[k] = total
        k += 1
        i = j + 1
    order = np.argsort(-run_weight[:k])[:limit]
    return run_start[order], run_end[order], run_weight[order]


@njit(cache=True, nogil=True)
def count_buckets(index: np.ndarray, block: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Occurrence counts per (block, bucket) key, keyed as ``bucket + (block << bits)``."""
    keys, counts, _ = _count(index, block, bits)
    return keys, counts


@njit(cache=True, nogil=True)
def prepare_ascii(text: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For an ASCII text: normalised code points (lower case, digits as 0), as written, classes."""
    n = len(text)
    cp = np.empty(n, np.int64)
    original = np.empty(n, np.int64)
    classes = np.empty(n, np.int8)
    for i in range(n):
        c = np.int64(text[i])
        original[i] = c
        classes[i] = table[c]
        if 65 <= c <= 90:
            c += 32
        elif 48 <= c <= 57:
            c = np.int64(48)
        cp[i] = c
    return cp, original, classes


@njit(cache=True, nogil=True)
def featurize_and_score(
    cp: np.ndarray,
    original: np.ndarray,
    classes: np.ndarray,
    bits: int,
    char_min: int,
    char_max: int,
    bigrams: bool,
    caps: bool,
    table: np.ndarray,
    intercepts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Serving in one call: tokens, occurrences, their tf-idf shares and every head's logit.

    Returns three arrays, since handing each array back to Python costs a few microseconds:
    ``tokens`` (4, n) int64: start, end, raw unigram hash (as int64), and 1 where a blank line
    comes before the token (:func:`paragraph_starts`); ``occurrences`` (3, m)
    int64: bucket, first token, last token; ``floats`` (N_HEADS + m): the logits, then each
    occurrence's share of its bucket's tf-idf value.

    ``table`` packs each bucket's head weights and its idf into one 32-byte row (see
    ``TriageModel.table``): a ticket touches about a thousand random buckets, and one cache line
    per bucket instead of two halves the time.
    """
    starts, ends, uni, index, block, tok_a, tok_b = analyze_codepoints(
        cp, original, classes, bits, char_min, char_max, bigrams, caps
    )
    n_tok = len(starts)
    m = len(index)
    tokens = np.empty((4, n_tok), np.int64)
    tokens[0] = starts
    tokens[1] = ends
    tokens[2] = uni.view(np.int64)
    tokens[3] = paragraph_starts(cp, starts, ends)
    occurrences = np.empty((3, m), np.int64)
    occurrences[0] = index
    occurrences[1] = tok_a
    occurrences[2] = tok_b
    floats = np.empty(N_HEADS + m, np.float64)
    logits = floats[:N_HEADS]
    logits[:] = intercepts
    if m == 0:
        return tokens, occurrences, floats
    # The idf column of the packed table: read from the same cache line as the weights.
    buckets, values, share = weigh(index, block, table[:, N_HEADS], bits)
    for u in range(len(buckets)):
        for h in range(N_HEADS):
            logits[h] += values[u] * table[buckets[u], h]
    floats[N_HEADS:] = share
    return tokens, occurrences, floats


@njit(cache=True, nogil=True)
def head_phrases(
    index: np.ndarray,
    share: np.ndarray,
    tok_a: np.ndarray,
    tok_b: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    breaks: np.ndarray,
    weights: np.ndarray,
    head: int,
    limit: int,
    floor_share: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each token's exact share of one head's logit, then its strongest runs (see top_phrases)."""
    per_token = np.zeros(len(starts))
    for r in range(len(index)):
        c = 0.5 * share[r] * weights[index[r], head]
        per_token[tok_a[r]] += c
        per_token[tok_b[r]] += c
    return top_phrases(per_token, starts, ends, breaks, limit, floor_share)


@njit(cache=True, nogil=True)
def heads_phrases(
    tokens: np.ndarray,
    occurrences: np.ndarray,
    floats: np.ndarray,
    table: np.ndarray,
    heads: np.ndarray,
    limit: int,
    floor_share: float,
) -> np.ndarray:
    """head_phrases for several heads of one ``featurize_and_score`` result, in one call.

    Returns a (4, k) float64 array: head, start, end and weight of every phrase.
    """
    share = floats[N_HEADS:]
    out = np.empty((4, len(heads) * limit), np.float64)
    k = 0
    for head in heads:
        s, e, w = head_phrases(
            occurrences[0],
            share,
            occurrences[1],
            occurrences[2],
            tokens[0],
            tokens[1],
            tokens[3],
            table,
            head,
            limit,
            floor_share,
        )
        for i in range(len(s)):
            out[0, k] = head
            out[1, k] = s[i]
            out[2, k] = e[i]
            out[3, k] = w[i]
            k += 1
    return out[:, :k]


@njit(cache=True, nogil=True)
def count_members(values: np.ndarray, table: np.ndarray, labels: np.ndarray, n_labels: int) -> np.ndarray:
    """How many of ``values`` are in the sorted ``table``, per label of the matching entry."""
    counts = np.zeros(n_labels, np.int64)
    for v in values:
        pos = np.searchsorted(table, v)
        if pos < len(table) and table[pos] == v:
            counts[labels[pos]] += 1
    return counts
