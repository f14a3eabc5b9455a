"""Every write the server acknowledged survives ``kill -9`` of the server."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from killing import make_table

WRITERS = 4
WRITES_PER_WRITER = 150


@pytest.mark.slow
@pytest.mark.server
def test_acknowledged_puts_survive_sigkill(server_process: Callable[..., Any], tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    server = server_process("--data-dir", data_dir)
    client = server.client()
    make_table(client, "acked")

    acknowledged: list[str] = []
    lock = threading.Lock()
    go_kill = threading.Event()

    def writer(number: int) -> None:
        # Keep writing until the server dies under us; only a returned call counts.
        own = server.client()
        for i in range(WRITES_PER_WRITER * 10):
            key = f"w{number}-{i}"
            try:
                own.put_item(TableName="acked", Item={"pk": {"S": key}, "n": {"N": str(i)}})
            except Exception:  # noqa: BLE001 - the server was killed mid-request
                return
            with lock:
                acknowledged.append(key)
                if len(acknowledged) >= WRITERS * WRITES_PER_WRITER:
                    go_kill.set()

    threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    assert go_kill.wait(120), "writers did not reach their target"
    server.kill()  # SIGKILL while the writers are still going
    for thread in threads:
        thread.join(120)

    with lock:
        expected = set(acknowledged)
    assert len(expected) >= WRITERS * WRITES_PER_WRITER

    restarted = server_process("--data-dir", data_dir)
    found: set[str] = set()
    paginator = restarted.client().get_paginator("scan")
    for page in paginator.paginate(TableName="acked"):
        found.update(item["pk"]["S"] for item in page["Items"])
    missing = expected - found
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {sorted(missing)[:5]}"
    assert restarted.terminate() == 0
