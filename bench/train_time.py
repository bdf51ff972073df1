"""Wall time of ``triage train`` on 100,000 labelled tickets, against a plain scikit-learn fit.

Ours: the whole command in a fresh process (reading and validating the file, featurizing,
cross-validation of four heads, calibration, threshold, evaluation, writing the bundle).
Reference, in the same run: a fresh process that reads the same file and fits the plain pipeline
(word 1-2-gram + char_wb 3-5-gram TfidfVectorizer + one LogisticRegression on needs_human), which
is one model with no cross-validation, so the ratio is the price of the rest.

    python bench/train_time.py [--rows 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from common import labelled_rows, machine, median, run_command

REFERENCE = """
import json, sys
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, make_pipeline
rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
y = [int(r["emotional"] or r["complex"] or r["nuanced"]) for r in rows]
make_pipeline(
    FeatureUnion([
        ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)),
    ]),
    LogisticRegression(C=8.0, max_iter=2000),
).fit([r["text"] for r in rows], y)
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    triage = str(Path(sys.executable).with_name("triage"))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "tickets.jsonl"
        with data.open("w", encoding="utf-8") as fh:
            for row in labelled_rows(args.rows):
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        ours, reference = [], []
        for i in range(args.repeats):
            ours.append(
                run_command(
                    [
                        triage,
                        "train",
                        "--data",
                        str(data),
                        "--models-dir",
                        f"{tmp}/models",
                        "--version",
                        f"r{i}",
                    ]
                )
            )
            reference.append(run_command([sys.executable, "-c", REFERENCE, str(data)]))
    print(f"machine: {machine()}")
    print(f"triage train on {args.rows:,} tickets, median of {args.repeats}:")
    print(f"  ours       {median(ours):7.1f} s   (runs: {', '.join(f'{t:.1f}' for t in ours)})")
    print(f"  reference  {median(reference):7.1f} s   (one plain TF-IDF + LogisticRegression fit)")
    print(f"  ratio      {median(ours) / median(reference):7.2f}x the reference's time")


if __name__ == "__main__":
    main()
