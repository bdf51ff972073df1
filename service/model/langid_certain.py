"""py3langid's choice of language for a text, without its float32 product, where it is certain.

py3langid scores a text as ``log1p(counts) @ ptc[features] + pc`` in float32, one row of 142
classes per feature reached; building those rows and the product was most of the language
fallback's time (py-spy, score-file). But the only thing scoring reads from it, for a text whose
likeliest language the model supports, is which class wins. The same sum here, from each
class's commonest value and the few entries that differ (:class:`LangidModel`), costs a pass over
those entries, in float64.

float64 is not py3langid's float32, so the winner is only taken where no rounding could change
it: the sum of n products in any order is within ``n * 2**-24`` of its terms' magnitudes
(``sum(w) * max|ptc| + |pc|``, bounded here eight times over), and after py3langid divides the
scores by ``sqrt(bytes)`` the winner must lead every class of another label by more than
``CERTAIN_MARGIN`` beyond both bounds. That margin (over ln 2) keeps the winner ahead even where
py3langid adds two aliased columns (srl and sr) together after its softmax; the rounding after
its scaling (``exp`` and the division of scores under about 10**4) is far below the slack between
1.0 and ln 2. The ``+ 16`` terms cover float32's ``log1p`` of each count and the sum with ``pc``.
It relies on py3langid's ``norm_probs=True`` and no confidence floor, as ``language.py`` calls
it. Anything closer, and a text with no features, returns -1: the caller asks py3langid's own
arithmetic.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from service.model.jit import njit
from service.model.langid_model import LangidModel, _half_to_single, _visits

CERTAIN_MARGIN = 1.0  # in py3langid's scaled log-probabilities; its softmax then gives the winner > 2.7x
_ERROR_PER_TERM = 2.0**-21  # float32's 2**-24 per rounding, eight times over


@njit(cache=True, nogil=True)
def _certain_class(
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
    pc: np.ndarray,
    largest: np.ndarray,
    label: np.ndarray,
) -> np.int64:
    features, counts = _visits(text, root, fail, start, byte, target, output, memo)
    n = len(features)
    if n == 0:
        return np.int64(-1)
    classes = len(default)
    total = 0.0
    weights = np.empty(n, np.float64)
    for i in range(n):
        weights[i] = math.log1p(np.float64(counts[i]))
        total += weights[i]
    scores = np.empty(classes, np.float64)
    for c in range(classes):
        scores[c] = np.float64(half_to_single[default[c]]) * total
    for i in range(n):
        f = features[i]
        for k in range(row_start[f], row_start[f + 1]):
            c = cls[k]
            scores[c] += weights[i] * (
                np.float64(half_to_single[value[k]]) - np.float64(half_to_single[default[c]])
            )
    bound = np.empty(classes, np.float64)
    for c in range(classes):
        bound[c] = (n + 16) * _ERROR_PER_TERM * (largest[c] * total + abs(pc[c]))
        scores[c] += pc[c]
    best = np.int64(np.argmax(scores))
    scale = 1.0 / math.sqrt(len(text))
    for c in range(classes):
        lead = (scores[best] - scores[c] - bound[best] - bound[c]) * scale
        if label[c] != label[best] and lead <= CERTAIN_MARGIN:
            return np.int64(-1)
    return best


class CertainLanguage:
    """:meth:`label` gives py3langid's ``classify`` label for the bytes, or None when unsure."""

    def __init__(self, model: LangidModel) -> None:
        default, row_start, cls, value = model.probabilities
        half = _half_to_single()
        # The largest |ptc| of the table, for every class: a per-class maximum (np.maximum.at
        # over the 2.6 million exceptions) took a third of a second at every start.
        largest = np.full(
            len(default), max(np.abs(half[default]).max(), np.abs(half[value]).max(initial=0.0)), np.float64
        )
        labels = {name: i for i, name in reversed(list(enumerate(model.classes)))}
        self._classes = model.classes
        self._arrays = (
            *model.automaton,
            model.memo,
            default,
            row_start,
            cls,
            value,
            half,
            np.asarray(model.pc, dtype=np.float64),
            largest,
            np.array([labels[name] for name in model.classes], dtype=np.int64),
        )
        # A table holding an infinity or a NaN would make every bound meaningless, and the margin
        # covers a label summed from two columns at most (e > 2, not > 3): otherwise never certain.
        self._usable = bool(
            np.isfinite(half[default]).all()
            and np.isfinite(half[value]).all()
            and max(Counter(model.classes).values()) <= 2
        )

    def label(self, encoded: bytes) -> str | None:
        """``encoded``: the text as py3langid's ``_encode`` gives it."""
        if not self._usable or not encoded:
            return None
        best = _certain_class(np.frombuffer(encoded, dtype=np.uint8), *self._arrays)
        return None if best < 0 else self._classes[best]
