"""The storage ceiling: SQLite point writes and reads from Python, nothing else.

The same layout and settings as cellstore's SqliteStore (one
``kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID`` table, WAL,
``synchronous=NORMAL``), one statement per operation inside its own
transaction (``BEGIN IMMEDIATE`` for writes), one thread, no network.

    python bench/rawsqlite.py --seconds 2 --item-bytes 200
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PARTITIONS = 200
PER_PARTITION = 10


def _key(partition: int, sort: int) -> bytes:
    return f"q{partition}\x00{sort}".encode()


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID")
    return conn


def _ops(conn: sqlite3.Connection, value: bytes) -> dict[str, Callable[[int], Any]]:
    execute = conn.execute

    def put(i: int) -> None:
        execute("BEGIN IMMEDIATE")
        execute("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", (b"w\x00%d" % i, value))
        execute("COMMIT")

    def get(i: int) -> None:
        key = _key(random.randrange(PARTITIONS), random.randrange(PER_PARTITION))
        execute("BEGIN")
        execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        execute("COMMIT")

    def query(i: int) -> None:
        start = b"q%d\x00" % random.randrange(PARTITIONS)
        execute("BEGIN")
        execute(
            "SELECT k, v FROM kv WHERE k >= ? AND k < ? ORDER BY k LIMIT ?",
            (start, start[:-1] + b"\x01", -1),
        ).fetchall()
        execute("COMMIT")

    return {"put_item": put, "get_item": get, "query": query}


def measure(item_bytes: int, seconds: float) -> list[dict[str, Any]]:
    """ops/s, p50/p99 and CPU per op for put, get and query (10 rows) of ``item_bytes`` values."""
    value = b"x" * item_bytes
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-rawsqlite-") as tmp:
        conn = _open(Path(tmp) / "raw.db")
        with conn:
            conn.executemany(
                "INSERT INTO kv (k, v) VALUES (?, ?)",
                [(_key(p, s), value) for p in range(PARTITIONS) for s in range(PER_PARTITION)],
            )
        for name, op in _ops(conn, value).items():
            latencies: list[int] = []
            clock = time.perf_counter_ns
            cpu0, start = time.process_time(), time.perf_counter()
            deadline = start + seconds
            i = 0
            while True:
                t0 = clock()
                op(i)
                latencies.append(clock() - t0)
                i += 1
                if i % 256 == 0 and time.perf_counter() > deadline:
                    break
            wall = time.perf_counter() - start
            cpu = time.process_time() - cpu0
            latencies.sort()
            results.append({
                "target": "raw-sqlite",
                "workload": name,
                "connections": 1,
                "item_bytes": item_bytes,
                "duration_s": round(wall, 3),
                "requests": i,
                "rps": round(i / wall, 1),
                "p50_ms": latencies[len(latencies) // 2] / 1e6,
                "p99_ms": latencies[len(latencies) * 99 // 100] / 1e6,
                "server_cpu_pct": round(100 * cpu / wall, 1),
                "cpu_us_per_request": round(1e6 * cpu / i, 2),
            })
        conn.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per operation")
    parser.add_argument("--item-bytes", type=int, nargs="+", default=[200])
    args = parser.parse_args()
    print(json.dumps([r for size in args.item_bytes for r in measure(size, args.seconds)]))


if __name__ == "__main__":
    main()
