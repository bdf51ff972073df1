"""py3langid's model held compactly: every transition and every probability is the file's own."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from numba import njit
from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
from py3langid.modelio import load_model

from service.model import langid_model
from service.model.langid_model import LangidModel, next_state
from service.model.language import _identifier


@njit(cache=False)
def _every_transition_differs(
    nextmove: np.ndarray, rows: np.ndarray, automaton: tuple[np.ndarray, ...]
) -> int:
    root, fail, start, byte, target, _ = automaton
    wrong = 0
    for s in range(len(rows)):
        base = np.int64(rows[s]) << 8
        for c in range(256):
            if next_state(np.int64(s), np.uint8(c), root, fail, start, byte, target) != nextmove[base + c]:
                wrong += 1
    return wrong


def test_every_transition_and_probability_is_py3langids() -> None:
    ptc, pc, classes, nextmove, rows, output = load_model(MODEL_DIR / MODEL_FILE)
    compact = LangidModel.load()
    dense = np.frombuffer(nextmove, dtype=np.uint32 if nextmove.itemsize == 4 else np.uint16)
    row_of = np.frombuffer(rows, dtype=np.uint16 if rows.itemsize == 2 else np.uint32)
    assert _every_transition_differs(dense, row_of, compact.automaton) == 0
    assert np.array_equal(compact.automaton[-1], np.asarray(output))
    every = np.arange(len(ptc), dtype=np.int64)
    assert np.array_equal(compact.ptc_rows(every).view(np.uint16), np.asarray(ptc).view(np.uint16))
    assert compact.classes == list(classes) and np.array_equal(compact.pc, pc)
    # The point of it: a fifth of the 67 MB py3langid holds.
    assert compact.nbytes < 14e6


def _mixed_texts(count: int) -> list[str]:
    """Texts across scripts, with the bytes of emoji, digits and stray punctuation between them."""
    rng = random.Random(20261128)
    alphabets = [
        "abcdefghijklmnopqrstuvwxyz      ",
        "αβγδεζηθικλμνξοπρστυφχψω    ",
        "абвгдежзийклмнопрстуфхцчшщыэюя    ",
        "אבגדהוזחטיכלמנסעפצקרשת   ",
        "ابتثجحخدذرزسشصضطظعغفقكلمنهوي   ",
        "अआइईउऊएऐओऔकखगघचछजझटठडढणतथदधनपफबभमयरलवशसह  ",
        "กขคงจฉชซญดตถทนบปผพฟมยรลวศสหอฮ  ",
        "あいうえおかきくけこさしすせそたちつてとなにぬねの日本語  ",
        "가나다라마바사아자차카타파하한국어  ",
        "0123456789!?.,;:()@#€$%&*😡🙂👍 \n\t",
    ]
    texts = []
    for _ in range(count):
        picked = rng.sample(alphabets, rng.randint(1, 3))
        texts.append("".join(rng.choice(rng.choice(picked)) for _ in range(rng.randint(0, 400))))
    return texts


def test_scores_are_py3langids_bit_for_bit_across_scripts() -> None:
    stock = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    compact = _identifier()
    for text in _mixed_texts(400):
        assert np.array_equal(compact._decide(text), stock._decide(text)), text
        assert compact.classify(text) == stock.classify(text), text


def _same_tables(a: LangidModel, b: LangidModel) -> bool:
    if len(a.automaton) != len(b.automaton) or len(a.probabilities) != len(b.probabilities):
        return False
    pairs = [
        (a.pc, b.pc),
        *zip(a.automaton, b.automaton, strict=True),
        *zip(a.probabilities, b.probabilities, strict=True),
    ]
    return a.classes == b.classes and all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in pairs)


def test_a_cached_load_reads_the_tables_a_fresh_derivation_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = LangidModel.load()
    stale = tmp_path / "cache" / "py3langid-compact-0123456789abcdef01234567.npz"
    stale.parent.mkdir()
    stale.write_bytes(b"tables derived by an older version")
    first = LangidModel.load(cache_dir=tmp_path / "cache")
    # The stale file is gone, and the new one is readable by every user of a shared directory.
    (cached,) = (tmp_path / "cache").iterdir()
    assert cached != stale and cached.stat().st_mode & 0o777 == 0o644
    assert _same_tables(first, fresh)

    def no_derivation() -> None:
        raise AssertionError("the cached tables should have been read")

    monkeypatch.setattr(langid_model, "_read_model", no_derivation)
    assert _same_tables(LangidModel.load(cache_dir=tmp_path / "cache"), fresh)
    monkeypatch.undo()
    # A file cut short (a full disk, a crash) is derived again and replaced.
    cached.write_bytes(cached.read_bytes()[:1000])
    assert _same_tables(LangidModel.load(cache_dir=tmp_path / "cache"), fresh)
    assert cached.stat().st_size > 1e6
    # So is an empty one (a rename that reached the disk before the data did).
    cached.write_bytes(b"")
    assert _same_tables(LangidModel.load(cache_dir=tmp_path / "cache"), fresh)
    assert cached.stat().st_size > 1e6


def test_the_cache_names_the_model_file_and_the_code_that_derived_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = langid_model._cache_file(tmp_path)
    source = tmp_path / "langid_model.py"
    source.write_bytes(Path(langid_model.__file__).read_bytes() + b"# changed\n")
    monkeypatch.setattr(langid_model, "__file__", str(source))
    assert langid_model._cache_file(tmp_path) != before


def test_a_cache_directory_that_cannot_be_made_still_loads(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the cache directory would be")
    assert _same_tables(LangidModel.load(cache_dir=blocked / "cache"), LangidModel.load())
    assert blocked.read_text().startswith("a file")


def _walk_without_memo(model: LangidModel, text: bytes) -> tuple[list[int], list[float]]:
    """py3langid's visit counts, one failure-link walk per byte, in order of first visit."""
    root, fail, start, byte, target, output = model.automaton
    counts: dict[int, float] = {}
    state = 0
    for letter in text:
        state = int(next_state(state, letter, root, fail, start, byte, target))
        if output[state] >= 0:
            counts[int(output[state])] = counts.get(int(output[state]), 0.0) + 1.0
    return list(counts), list(counts.values())


@pytest.mark.parametrize("memo_size", [2, langid_model.MEMO_SIZE])
def test_the_transition_memo_never_changes_a_walk(memo_size: int) -> None:
    """Cold, warm, and two entries that every transition evicts: the walk without a memo."""
    tables = LangidModel.load()
    model = LangidModel(
        tables.classes, tables.pc, tables.automaton, tables.probabilities, langid_model.new_memo(memo_size)
    )
    texts = [t.encode() for t in _mixed_texts(120)] + [b"the same words, the same words again"] * 2
    for text in texts:
        features, counts = model.visits(text)
        expected = _walk_without_memo(model, text)
        assert (features.tolist(), counts.tolist()) == expected
    assert np.count_nonzero(model.memo) >= min(memo_size, 1000)  # it was used


def test_a_memo_is_a_power_of_two() -> None:
    for size in (0, 3, 100):
        with pytest.raises(ValueError, match="power of two"):
            langid_model.new_memo(size)
