"""What Prometheus's multiprocess mode (``triage serve`` with more than one worker) costs per
metric update: one histogram observation plus one counter increment, as every request makes
several of, in a process with the mode off (the reference) and one with it on, in the same run.

    python bench/metrics_cost.py [--repeats 5] [--updates 50000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

from common import machine, median

PROBE = """
import sys, time
from prometheus_client import Counter, Histogram
h = Histogram("probe_seconds", "probe", ["a"], buckets=(0.001, 0.01, 0.1, 1))
c = Counter("probe_total", "probe", ["r"])
n = int(sys.argv[1])
started = time.perf_counter()
for _ in range(n):
    h.labels("p").observe(0.002)
    c.labels("human").inc()
print((time.perf_counter() - started) / n * 1e6)
"""


def one_run(updates: int, folder: str | None) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    if folder is not None:
        env["PROMETHEUS_MULTIPROC_DIR"] = folder
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(updates)], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--updates", type=int, default=50_000)
    args = parser.parse_args()
    single, multi = [], []
    for _ in range(args.repeats):
        single.append(one_run(args.updates, None))
        with tempfile.TemporaryDirectory() as folder:
            multi.append(one_run(args.updates, folder))
    print(f"machine: {machine()}")
    print(f"one histogram observation + one counter increment, medians of {args.repeats} x {args.updates:,}")
    print(f"  one process (reference): {median(single):.2f} us")
    print(f"  multiprocess mode:       {median(multi):.2f} us  ({median(multi) / median(single):.2f}x)")


if __name__ == "__main__":
    main()
