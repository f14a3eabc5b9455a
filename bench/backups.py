"""What a backup and a restore cost: CreateBackup (one write transaction) and a restore's steps, against a full Scan.

On a file SQLite database (as ``serve --data-dir``), engine calls, no
server: a table of ITEMS items of ~200 bytes with one global index is
backed up, then restored by running the backfill unit to completion.  Each
is timed against a consistent Scan of the same table in the same run
(the ratio is what to compare across machines); REPEAT rounds, interleaved,
median and spread.  CreateBackup holds the write lock for its whole copy,
so its time is how long writers wait (docs/BACKUPS.md).

    PYTHONPATH=src python3 bench/backups.py [ITEMS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from cellstore.engine import background, backups, catalog, items, reads
from cellstore.engine.catalog import TableSpec
from cellstore.engine.database import Database
from cellstore.engine.indexes import IndexSpec
from cellstore.engine.wiring import open_database
from cellstore.storage.sqlite import SqliteStore

REPEAT = 3


def fill(db: Database, count: int) -> None:
    catalog.create_table(db, TableSpec(
        name="bench", attribute_definitions=(("pk", "S"), ("g", "S")), hash_key="pk", range_key=None,
        billing_mode=catalog.PAY_PER_REQUEST, global_indexes=(IndexSpec("by-g", ("g",), (), "ALL", ()),),
    ))
    for n in range(count):
        items.put_item(db, "bench", {"pk": {"S": f"key-{n:08d}"}, "g": {"S": f"g{n % 100}"}, "body": {"S": "x" * 160}})


def scan_seconds(db: Database) -> float:
    started = time.perf_counter()
    start = None
    while True:
        page = reads.scan(db, "bench", exclusive_start=start)
        start = page.last_key
        if start is None:
            return time.perf_counter() - started


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with tempfile.TemporaryDirectory() as directory:
        db = open_database(SqliteStore(Path(directory) / "cellstore.db"), background=False)
        fill(db, count)
        rows: list[tuple[float, float, float]] = []
        for round_ in range(REPEAT):
            scan = scan_seconds(db)
            started = time.perf_counter()
            arn = backups.create_backup(db, "bench", f"round{round_}")["BackupArn"]
            backup = time.perf_counter() - started
            started = time.perf_counter()
            backups.restore_table(db, backups.RestoreRequest(f"copy{round_}", arn))
            background.run_backfills(db)
            restore = time.perf_counter() - started
            rows.append((scan, backup, restore))
            catalog.delete_table(db, f"copy{round_}")
            backups.delete_backup(db, arn)
        db.close()
    for name, column in (("scan", 0), ("create backup", 1), ("restore", 2)):
        values = [row[column] for row in rows]
        print(f"{name:14} median {statistics.median(values) * 1000:8.1f} ms  "
              f"({min(values) * 1000:.1f}-{max(values) * 1000:.1f}), "
              f"{count / statistics.median(values):,.0f} items/s")
    ratios = [row[1] / row[0] for row in rows], [row[2] / row[0] for row in rows]
    print(f"backup / scan  median {statistics.median(ratios[0]):.2f}x ({min(ratios[0]):.2f}-{max(ratios[0]):.2f})")
    print(f"restore / scan median {statistics.median(ratios[1]):.2f}x ({min(ratios[1]):.2f}-{max(ratios[1]):.2f})")


if __name__ == "__main__":
    main()
