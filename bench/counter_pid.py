"""CPU per counted request in prometheus-client's multiprocess mode: ``os.getpid`` per increment vs the kept pid.

``serve --workers N`` counts every request in memory-mapped files
(``protocol/metrics.py``); prometheus-client checks the pid on each
increment to notice a fork, and cellstore hands it a pid kept current by an
at-fork hook instead of ``os.getpid`` (a system call).  This times
``Metrics.count`` both ways, each in a fresh process (prometheus-client picks
its value class at import), interleaved, and prints the median per count and
the ratio.  Not a test: it prints numbers and never fails on them.

    PYTHONPATH=src python bench/counter_pid.py [rounds] [counts-per-round]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time


def one_round(mode: str, counts: int) -> float:
    """In this (fresh) process: µs of CPU per ``Metrics.count``, the value class per ``mode``."""
    from prometheus_client import values

    from cellstore.protocol.metrics import Metrics

    if mode == "getpid":  # prometheus-client's own choice: before any metric exists, so no file is shared
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    metrics = Metrics()
    metrics.know({"dynamodb": frozenset({"PutItem"})})
    for _ in range(1000):
        metrics.count("dynamodb", "PutItem", 200, 0.0003)
    started = time.process_time()
    for _ in range(counts):
        metrics.count("dynamodb", "PutItem", 200, 0.0003)
    return (time.process_time() - started) / counts * 1e6


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--round":
        print(one_round(sys.argv[2], int(sys.argv[3])))
        return
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    counts = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    cpu: dict[str, list[float]] = {"getpid": [], "kept": []}
    for _ in range(rounds):
        for mode, times in cpu.items():
            with tempfile.TemporaryDirectory(prefix="bench-counter-pid-") as directory:
                env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=directory)
                out = subprocess.run([sys.executable, __file__, "--round", mode, str(counts)], env=env,
                                     check=True, capture_output=True, text=True).stdout
                times.append(float(out))
    print(f"Metrics.count in multiprocess mode, {rounds} interleaved rounds of {counts:,} counts each way")
    for mode, label in (("getpid", "os.getpid per increment"), ("kept", "pid kept by an at-fork hook")):
        runs = ", ".join(f"{v:.2f}" for v in cpu[mode])
        print(f"  {label:28} {statistics.median(cpu[mode]):.2f} µs CPU/count (median; rounds: {runs})")
    ratios = [g / k for g, k in zip(cpu["getpid"], cpu["kept"], strict=True)]
    print(f"  getpid ÷ kept, per round: {', '.join(f'{r:.2f}×' for r in ratios)}; median "
          f"{statistics.median(ratios):.2f}×; saved {statistics.median(cpu['getpid']) - statistics.median(cpu['kept']):.2f} µs/count")


if __name__ == "__main__":
    main()
