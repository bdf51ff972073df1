"""The customer-history protocols: fixed folds, and throwaway models trained on the airline tweets."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pytest

from training.history import customer_history, history_markdown, protocols
from training.public_data import PublicData


def _quiet(_: str) -> None:
    pass


def test_80_20_fold_is_fixed_by_the_text_hash(synthetic_public: PublicData) -> None:
    rows = synthetic_public.airline_tweets()
    [(name, train, test)] = protocols(rows)["80/20 split"]
    expected = {
        i for i, r in enumerate(rows) if int(hashlib.sha256(r.text.encode("utf-8")).hexdigest(), 16) % 5 == 0
    }
    assert name == "80/20"
    assert set(test.tolist()) == expected
    assert 0.1 < len(expected) / len(rows) < 0.3
    assert sorted([*train.tolist(), *test.tolist()]) == list(range(len(rows)))


def test_leave_one_airline_out_partitions_the_rows(synthetic_public: PublicData) -> None:
    rows = synthetic_public.airline_tweets()
    folds = protocols(rows)["leave one airline out"]
    airline = [str(r.extra["airline"]) for r in rows]
    assert [name for name, _, _ in folds] == ["Delta", "Southwest", "United"]
    tested = np.concatenate([test for _, _, test in folds])
    assert sorted(tested.tolist()) == list(range(len(rows)))  # every row tested exactly once
    for name, train, test in folds:
        assert {airline[i] for i in test} == {name}
        assert name not in {airline[i] for i in train}
        assert sorted([*train.tolist(), *test.tolist()]) == list(range(len(rows)))


@pytest.fixture(scope="module")
def history(synthetic_public: PublicData) -> tuple[dict[str, Any], list[str]]:
    skipped: list[str] = []
    found = customer_history(
        public=synthetic_public, peers=["tfidf"], skipped=skipped, cache_dir=None, report=_quiet
    )
    return found, skipped


def test_customer_history_reports_both_protocols(
    history: tuple[dict[str, Any], list[str]], synthetic_public: PublicData
) -> None:
    found, skipped = history
    rows = synthetic_public.airline_tweets()
    assert skipped == []
    assert list(found) == ["80/20 split", "leave one airline out"]
    # 80/20 scores its test fifth; leaving each airline out in turn scores every tweet once.
    test_fifth = [r for r in rows if int(hashlib.sha256(r.text.encode("utf-8")).hexdigest(), 16) % 5 == 0]
    assert found["80/20 split"]["n"] == len(test_fifth)
    assert found["80/20 split"]["positives"] == sum(r.labels["emotional"] or 0 for r in test_fifth)
    assert found["leave one airline out"]["n"] == len(rows)
    assert found["leave one airline out"]["positives"] == sum(r.labels["emotional"] or 0 for r in rows)
    for protocol, result in found.items():
        assert set(result["roc_auc"]) == {"ticket-triage", "tfidf (with public rows)", "tfidf (tweets only)"}
        for scorer, auc in result["roc_auc"].items():
            assert auc > 0.5, (protocol, scorer)
    text = history_markdown(found)
    assert "| leave one airline out | 480 |" in text
    assert "tfidf (tweets only)" in text


def test_customer_history_without_tweets(tmp_path: Any) -> None:
    assert (
        customer_history(
            public=PublicData(tmp_path), peers=["tfidf"], skipped=[], cache_dir=None, report=_quiet
        )
        == {}
    )
    assert "not run" in history_markdown({})
