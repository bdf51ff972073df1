"""``triage score-file`` on 100,000 tickets: tickets per second, process start and model load included.

Ours: ``triage score-file IN OUT`` in a fresh process, one core (with ``--workers N``, N worker
processes, whose rate is also given per worker). Reference, in the same run: a
fresh process that loads the plain scikit-learn pipeline (word 1-2-gram + char_wb 3-5-gram
TfidfVectorizer + LogisticRegression, trained here on the seed set and saved with joblib), reads
the same JSONL, scores it in batches of 1,000 with ``predict_proba`` and writes one JSON line per
ticket with its probability: the same job without reasons, rules, language checks or validation.

    python bench/score_file.py [--tickets 100000] [--repeats 3] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import joblib
from common import machine, median, run_command, seed_rows
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, make_pipeline

REFERENCE = """
import json, sys
import joblib
model = joblib.load(sys.argv[1])
def flush(batch, out):
    proba = model.predict_proba([t["text"] for t in batch])[:, 1]
    for t, p in zip(batch, proba):
        out.write(json.dumps({"id": t.get("id"), "needs_human": float(p)}) + "\\n")
with open(sys.argv[2], encoding="utf-8") as src, open(sys.argv[3], "w", encoding="utf-8") as out:
    batch = []
    for line in src:
        batch.append(json.loads(line))
        if len(batch) == 1000:
            flush(batch, out)
            batch = []
    if batch:
        flush(batch, out)
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="score-file's --workers")
    args = parser.parse_args()
    rows = seed_rows()
    triage = str(Path(sys.executable).with_name("triage"))
    with tempfile.TemporaryDirectory() as tmp:
        reference_file = Path(tmp) / "reference.joblib"
        pipeline = make_pipeline(
            FeatureUnion(
                [
                    ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
                    ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)),
                ]
            ),
            LogisticRegression(C=8.0, max_iter=2000),
        ).fit(
            [str(r["text"]) for r in rows],
            [int(bool(r["emotional"] or r["complex"] or r["nuanced"])) for r in rows],
        )
        joblib.dump(pipeline, reference_file)  # our own file, read back by our own script
        src = Path(tmp) / "tickets.jsonl"
        with src.open("w", encoding="utf-8") as fh:
            for i in range(args.tickets):
                row = rows[i % len(rows)]
                fh.write(
                    json.dumps({"id": f"t{i}", "text": f"{row['text']} (ref {i})"}, ensure_ascii=False) + "\n"
                )
        ours, reference = [], []
        for _ in range(args.repeats):
            ours.append(
                run_command(
                    [triage, "score-file", str(src), f"{tmp}/ours.jsonl", "--workers", str(args.workers)]
                )
            )
            reference.append(
                run_command(
                    [sys.executable, "-c", REFERENCE, str(reference_file), str(src), f"{tmp}/ref.jsonl"]
                )
            )
        lines = len(Path(f"{tmp}/ours.jsonl").read_text(encoding="utf-8").splitlines())
        assert lines == args.tickets, lines
    ours_rate = args.tickets / median(ours)
    ref_rate = args.tickets / median(reference)
    print(f"machine: {machine()}")
    print(
        f"score-file on {args.tickets:,} tickets (seed texts, mean {sum(len(str(r['text']).split()) for r in rows) / len(rows):.0f} words), median of {args.repeats}:"
    )
    if args.workers == 1:
        print(f"  ours       {median(ours):6.1f} s  {ours_rate:9,.0f} tickets/s on one core")
    else:
        print(
            f"  ours       {median(ours):6.1f} s  {ours_rate:9,.0f} tickets/s with {args.workers} workers"
            f" ({ours_rate / args.workers:,.0f} per worker)"
        )
    print(f"  reference  {median(reference):6.1f} s  {ref_rate:9,.0f} tickets/s (probability only)")
    print(f"  ratio      {ours_rate / ref_rate:6.1f}x the reference's rate")


if __name__ == "__main__":
    main()
