"""A mover killed part-way (kill -9, mid-copy) under write load, run again: nothing acknowledged is lost.

A served deployment of two cells (``a`` on SQLite, ``b`` on PostgreSQL) with
one tenant in ``a``, preloaded so that its copy takes a while.  Writers add
unique items through boto3 the whole time; each write the server
acknowledged is recorded.  ``cellstore cells move`` runs as a subprocess and
is SIGKILLed as soon as it reports copy progress; the map must then show the
move still in its ``copying`` phase.  The same command, run again, resumes
it (a new copy, the change log restarted) and finishes: the tenant is in
``b``, every acknowledged item is there, the tenant's table still serves
reads and writes, and the source keeps only the fence.

The same kill, then ``cellstore cells move ACCOUNT --abort`` instead: the
move is called off, the tenant stays in ``a`` with every acknowledged item,
no longer logs its writes, and ``b`` keeps nothing of it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from killing import make_table

TENANT = "444444444444"
PRELOAD = 12_000
WRITERS = 3

pytestmark = [pytest.mark.slow, pytest.mark.server]


def client(endpoint: str) -> Any:
    return boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=TENANT,
        aws_secret_access_key="secret", config=Config(retries={"mode": "standard", "max_attempts": 10}),
    )


def move_command(cells_file: Path, *how: str) -> list[str]:
    return [sys.executable, "-m", "cellstore", "cells", "move", TENANT, *(how or ("--to", "b")), "--cells", str(cells_file)]


def status(cells_file: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "cellstore", "cells", "status", "--json", "--cells", str(cells_file)],
        capture_output=True, text=True, check=True, timeout=120,
    )
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def preload(ddb: Any, items: int = PRELOAD) -> None:
    def load(first: int) -> None:
        own = client(ddb.meta.endpoint_url)
        for start in range(first, items, 25 * 4):
            own.batch_write_item(RequestItems={"items": [
                {"PutRequest": {"Item": {"pk": {"S": f"pre{n}"}, "pad": {"S": "x" * 300}}}}
                for n in range(start, min(start + 25, items))
            ]})

    loaders = [threading.Thread(target=load, args=(25 * k,)) for k in range(4)]
    for loader in loaders:
        loader.start()
    for loader in loaders:
        loader.join()


def count_items(ddb: Any) -> int:
    """The table's item count, read consistently, page by page."""
    count, start_key = 0, None
    while True:
        page = ddb.scan(TableName="items", Select="COUNT", ConsistentRead=True,
                        **({"ExclusiveStartKey": start_key} if start_key else {}))
        count += page["Count"]
        start_key = page.get("LastEvaluatedKey")
        if start_key is None:
            return count


def test_a_mover_killed_mid_copy_resumes_and_loses_nothing(
    server_process: Callable[..., Any], new_postgres_database: Callable[[], str], tmp_path: Path
) -> None:
    cells_file = tmp_path / "cells.toml"
    cells_file.write_text(
        f'[cells.a]\nstorage = "a"\n[cells.b]\nstorage = "{new_postgres_database()}"\n[tenants]\n"{TENANT}" = "a"\n'
    )
    server = server_process("--cells", str(cells_file), "--auth", "none", "--workers", "2")
    ddb = client(server.endpoint_url)
    make_table(ddb, "items")
    preload(ddb)

    acknowledged: list[str] = []
    failed: list[str] = []
    stop = threading.Event()

    def write(number: int) -> None:
        own = client(server.endpoint_url)
        n = 0
        while not stop.is_set():
            key = f"w{number}-{n}"
            n += 1
            try:
                own.put_item(TableName="items", Item={"pk": {"S": key}, "n": {"N": str(n)}})
            except ClientError as err:  # its outcome is unknown to the client: not counted either way
                failed.append(f"{key}: {err.response['Error']['Code']}")
                continue
            acknowledged.append(key)

    writers = [threading.Thread(target=write, args=(k,)) for k in range(WRITERS)]
    for writer in writers:
        writer.start()
    try:
        while len(acknowledged) < 50:
            time.sleep(0.05)
        # The first mover: killed -9 as soon as it reports copy progress.
        seen: list[str] = []
        with subprocess.Popen(move_command(cells_file), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) as first:
            assert first.stderr is not None
            for line in first.stderr:
                seen.append(line)
                if line.startswith("copy:") and "segments" not in line:  # progress, the copy not finished
                    os.kill(first.pid, signal.SIGKILL)
                    break
            first.wait(timeout=60)
        assert first.returncode == -signal.SIGKILL, seen
        moves = status(cells_file)["map"]["moves"]
        assert moves == [{"account": TENANT, "source": "a", "target": "b", "phase": "copying"}], (moves, seen)
        killed_at = len(acknowledged)
        while len(acknowledged) < killed_at + 50:  # the tenant is still served from a meanwhile
            time.sleep(0.05)

        second = subprocess.run(move_command(cells_file), check=False, capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stderr
        assert "resuming from phase copying" in second.stdout
        assert "catch-up pass 1:" in second.stderr and "switched account" in second.stderr, second.stderr
        moved_at = len(acknowledged)
        while len(acknowledged) < moved_at + 50:  # and from b afterwards
            time.sleep(0.05)
    finally:
        stop.set()
        for writer in writers:
            writer.join()

    print(f"\nmove killed mid-copy and resumed: {len(acknowledged)} writes acknowledged, {len(failed)} failed; "
          f"the resumed mover said:\n{second.stderr}")
    state = status(cells_file)
    assert state["map"]["moves"] == []
    assert {cell["name"]: cell["tenants"] for cell in state["cells"]} == {"a": 0, "b": 1}
    missing = []
    for first_key in range(0, len(acknowledged), 100):
        keys = acknowledged[first_key:first_key + 100]
        got = ddb.batch_get_item(RequestItems={"items": {"Keys": [{"pk": {"S": key}} for key in keys],
                                                         "ConsistentRead": True}})
        assert not got.get("UnprocessedKeys")
        found = {item["pk"]["S"] for item in got["Responses"]["items"]}
        missing += [key for key in keys if key not in found]
    assert missing == []
    assert count_items(ddb) >= PRELOAD + len(acknowledged)
    ddb.put_item(TableName="items", Item={"pk": {"S": "after"}})
    assert ddb.get_item(TableName="items", Key={"pk": {"S": "after"}}, ConsistentRead=True)["Item"]["pk"] == {"S": "after"}


def kill_mid_copy(cells_file: Path) -> None:
    """Run ``cells move`` and SIGKILL it at its first copy progress line; the map must show it copying."""
    seen: list[str] = []
    with subprocess.Popen(move_command(cells_file), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as mover:
        assert mover.stderr is not None
        for line in mover.stderr:
            seen.append(line)
            if line.startswith("copy:") and "segments" not in line:
                os.kill(mover.pid, signal.SIGKILL)
                break
        mover.wait(timeout=60)
    assert mover.returncode == -signal.SIGKILL, seen
    assert status(cells_file)["map"]["moves"] == [{"account": TENANT, "source": "a", "target": "b", "phase": "copying"}]


def test_a_move_killed_mid_copy_is_called_off_with_abort(server_process: Callable[..., Any], tmp_path: Path) -> None:
    from cellstore.engine import keyspace, move_log, tenant_copy
    from cellstore.engine.tenants import Tenants
    from cellstore.storage.sqlite import SqliteStore

    cells_file = tmp_path / "cells.toml"
    cells_file.write_text(f'[cells.a]\nstorage = "a"\n[cells.b]\nstorage = "b"\n[tenants]\n"{TENANT}" = "a"\n')
    server = server_process("--cells", str(cells_file), "--auth", "none", "--workers", "2")
    ddb = client(server.endpoint_url)
    make_table(ddb, "items")
    preload(ddb, 6000)
    written: list[str] = []
    for n in range(20):
        ddb.put_item(TableName="items", Item={"pk": {"S": f"before{n}"}})
        written.append(f"before{n}")
    kill_mid_copy(cells_file)
    ddb.put_item(TableName="items", Item={"pk": {"S": "while-killed"}})  # logged: the account is still moving
    written.append("while-killed")

    called_off = subprocess.run(move_command(cells_file, "--abort"), check=False, capture_output=True, text=True,
                                timeout=120)
    assert called_off.returncode == 0, called_off.stderr
    assert f"called off the move of account {TENANT} to cell b" in called_off.stderr
    state = status(cells_file)
    assert state["map"]["moves"] == []
    assert {cell["name"]: cell["tenants"] for cell in state["cells"]} == {"a": 1, "b": 0}
    for n in range(20):  # served from a as before, and no longer logged
        ddb.put_item(TableName="items", Item={"pk": {"S": f"after{n}"}})
        written.append(f"after{n}")
    got = ddb.batch_get_item(RequestItems={"items": {"Keys": [{"pk": {"S": key}} for key in written],
                                                     "ConsistentRead": True}})
    assert {item["pk"]["S"] for item in got["Responses"]["items"]} == set(written)
    assert count_items(ddb) == 6000 + len(written)
    prefix = keyspace.account_prefix(TENANT)
    source = Tenants(SqliteStore(str(tmp_path / "a" / "cellstore.db")), background=False)
    target = Tenants(SqliteStore(str(tmp_path / "b" / "cellstore.db")), background=False)
    try:
        with source.store.transaction(write=False) as txn:
            assert txn.get(prefix + keyspace.TENANT_MOVING) is None
            assert move_log.read(txn, prefix) == []
        assert tenant_copy.account_size(target, TENANT) == (0, 0)
    finally:
        source.close()
        target.close()
    again = subprocess.run(move_command(cells_file, "--abort"), check=False, capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and f"no move of account {TENANT} is in progress" in again.stderr
    usage = subprocess.run(move_command(cells_file, "--abort", "--to", "b"), check=False, capture_output=True,
                           text=True, timeout=120)
    assert usage.returncode == 2 and "--abort takes neither --to nor --dry-run" in usage.stderr
