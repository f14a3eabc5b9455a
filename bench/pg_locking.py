"""PostgreSQL write serialisation: a global advisory lock vs SERIALIZABLE with retry.

Usage: python bench/pg_locking.py POSTGRES_DSN [--seconds 3]
(``python tests/pg_cluster.py`` prints the DSN of a throwaway cluster.)

Each client thread has its own connection and runs the engine's shape of
write transaction — read the old values, decide, write — as fast as it can:

* ``transfer``: move 1 between two random accounts out of 1,000 (low contention);
* ``hot``: increment one counter (every transaction conflicts).

(a) ``lock``: READ COMMITTED, ``pg_advisory_xact_lock`` first — what
    ``PostgresStore`` does: writers queue, none ever fails.
(b) ``serializable``: SERIALIZABLE, the whole transaction re-run on 40001/40P01
    (what a retry hook in the Store API would have to do).

Prints committed transactions per second and retries per commit; the numbers
are recorded in docs/POSTGRES.md.
"""

from __future__ import annotations

import argparse
import random
import threading
import time

import psycopg
from psycopg import errors

LOCK = int.from_bytes(b"cellstor", "big")
ACCOUNTS = 1000


def setup(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS kv_bench")
        conn.execute("CREATE TABLE kv_bench (k bytea PRIMARY KEY, v bytea NOT NULL) WITH (fillfactor = 80)")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO kv_bench VALUES (%s, %s)",
                [(i.to_bytes(4, "big"), b"100") for i in range(ACCOUNTS)] + [(b"hot", b"0")],
            )


def body(conn: psycopg.Connection, rng: random.Random, workload: str) -> None:
    keys = [b"hot"] if workload == "hot" else [i.to_bytes(4, "big") for i in rng.sample(range(ACCOUNTS), 2)]
    values = [int(conn.execute("SELECT v FROM kv_bench WHERE k = %s", (k,)).fetchone()[0]) for k in keys]  # type: ignore[index]
    new = [values[0] + 1] if workload == "hot" else [values[0] - 1, values[1] + 1]
    for k, v in zip(keys, new, strict=True):
        conn.execute("UPDATE kv_bench SET v = %s WHERE k = %s", (str(v).encode(), k))


def client(dsn: str, mode: str, workload: str, stop: threading.Event, counts: list[int], seed: int) -> None:
    rng = random.Random(seed)
    committed = retried = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        begin = (
            f"BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({LOCK})"
            if mode == "lock"
            else "BEGIN ISOLATION LEVEL SERIALIZABLE"
        )
        while not stop.is_set():
            try:
                conn.execute(begin)  # type: ignore[arg-type]
                body(conn, rng, workload)
                conn.execute("COMMIT")
                committed += 1
            except (errors.SerializationFailure, errors.DeadlockDetected):
                conn.execute("ROLLBACK")
                retried += 1
    counts.extend((committed, retried))


def run(dsn: str, mode: str, workload: str, clients: int, seconds: float) -> tuple[float, float]:
    stop = threading.Event()
    results: list[list[int]] = [[] for _ in range(clients)]
    threads = [
        threading.Thread(target=client, args=(dsn, mode, workload, stop, results[n], n)) for n in range(clients)
    ]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    committed = sum(r[0] for r in results)
    retried = sum(r[1] for r in results)
    return committed / seconds, retried / max(committed, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dsn")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    setup(args.dsn)
    print("| workload | clients | (a) advisory lock, txn/s | (b) SERIALIZABLE, txn/s | (b) retries per commit |")
    print("|---|---:|---:|---:|---:|")
    for workload in ("transfer", "hot"):
        for clients in (1, 4, 16):
            a, _ = run(args.dsn, "lock", workload, clients, args.seconds)
            b, retries = run(args.dsn, "serializable", workload, clients, args.seconds)
            print(f"| {workload} | {clients} | {a:,.0f} | {b:,.0f} | {retries:.2f} |", flush=True)


if __name__ == "__main__":
    main()
