"""ReceiveMessage as the writer process runs it (grouped rounds of 8), with and without the read-only peek.

``engine/queues/receive.py`` peeks in a read transaction before it takes
the write lock, so an empty poll never waits for the writer lock; inside a
group commit (``Store.grouping()``, the writer process) the lock is already
held and the peek is skipped.  This times both, in one process on one SQLite
file, interleaved round by round (the peek forced back by making
``grouping`` answer False), and prints CPU per receive and the ratio.  Not a
test: it prints numbers and never fails on them.

    PYTHONPATH=src python bench/receive_peek.py [messages-per-round] [rounds]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cellstore.engine.wiring import open_database
from cellstore.protocol.server import services_for
from cellstore.storage import open_store

ENDPOINT = "http://127.0.0.1:1"
ROUND = 8  # requests per group commit, as the writer saw at 16 connections


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    with tempfile.TemporaryDirectory(prefix="bench-receive-peek-") as directory:
        db = open_database(open_store(str(Path(directory) / "db.sqlite")))
        sqs = services_for(db)["sqs"]
        url = sqs.dispatch("CreateQueue", {"QueueName": "q"}, ENDPOINT)["QueueUrl"]
        store: Any = db.store
        grouping = store.grouping

        def grouped(calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
            answers = []
            for start in range(0, len(calls), ROUND):
                with db.group():
                    answers += [sqs.dispatch(op, payload, ENDPOINT) for op, payload in calls[start:start + ROUND]]
            return answers

        cpu: dict[str, list[float]] = {"with the peek": [], "without": []}
        for number in range(rounds * 2):
            mode = "with the peek" if number % 2 == 0 else "without"
            store.grouping = (lambda: False) if mode == "with the peek" else grouping
            grouped([("SendMessage", {"QueueUrl": url, "MessageBody": "x" * 200})] * count)
            started = time.process_time()
            got = grouped([("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 1})] * count)
            cpu[mode].append((time.process_time() - started) / count * 1e6)
            handles = [m["ReceiptHandle"] for answer in got for m in answer.get("Messages", [])]
            if len(handles) != count:
                raise SystemExit(f"received {len(handles)} of {count}")
            grouped([("DeleteMessage", {"QueueUrl": url, "ReceiptHandle": h}) for h in handles])
        store.grouping = grouping
        db.close()
    print(f"ReceiveMessage in grouped rounds of {ROUND}, {rounds} interleaved rounds of {count:,} each way")
    for mode, times in cpu.items():
        print(f"  {mode:14} {statistics.median(times):6.1f} µs CPU/receive (median; rounds: "
              f"{', '.join(f'{t:.1f}' for t in times)})")
    ratios = [a / b for a, b in zip(cpu["with the peek"], cpu["without"], strict=True)]
    print(f"  with ÷ without, per round: {', '.join(f'{r:.2f}×' for r in ratios)}; median {statistics.median(ratios):.2f}×")


if __name__ == "__main__":
    main()
