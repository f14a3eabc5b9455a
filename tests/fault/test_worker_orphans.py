"""Workers do not outlive a supervisor killed with kill -9, nor keep the port from a restarted server."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from killing import make_table

from procfs import children_of

pytestmark = [pytest.mark.slow, pytest.mark.server]


def _alive(pids: list[int]) -> list[int]:
    """Those of ``pids`` still running (a zombie waiting for init to reap it has stopped)."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def test_workers_die_with_the_supervisor(server_process: Callable[..., Any], tmp_path: Path) -> None:
    server = server_process("--workers", "2", "--data-dir", str(tmp_path / "data"))
    workers = children_of(server.process.pid)
    assert len(workers) == 3  # two workers and the writer process (protocol/writer.py)
    server.process.kill()  # kill -9 of the supervisor alone, as a user kills "the server"
    server.process.wait()
    deadline = time.monotonic() + 1  # at once (PR_SET_PDEATHSIG), not after a polling thread's next look
    while _alive(workers) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(workers)


def test_a_server_restarted_at_once_on_the_same_port_serves_every_acknowledged_write(
    server_process: Callable[..., Any], tmp_path: Path
) -> None:
    data = str(tmp_path / "data")
    server = server_process("--workers", "2", "--data-dir", data)
    client = server.client()
    make_table(client, "kept")
    for n in range(20):
        client.put_item(TableName="kept", Item={"pk": {"S": str(n)}})
    server.process.kill()
    server.process.wait()
    again = server_process("--port", str(server.port), "--workers", "2", "--data-dir", data)
    assert again.port == server.port
    assert again.client().scan(TableName="kept", Select="COUNT")["Count"] == 20
    assert again.terminate() == 0
