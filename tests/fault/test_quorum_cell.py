"""``cellstore quorum up|status|down``: a six-copy cell from the command line that cellstore serves.

Runs the real commands as a user would (``python -m cellstore quorum ...``):
``up`` prints the storage URL last and records every node in quorum.json,
``serve --storage URL`` answers boto3 on it, ``status`` says healthy, and
``down`` leaves no process behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cellstore.quorum.cluster import alive
from quorum_cell import tools

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.quorum]


def cellstore(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cellstore", *args], capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def directory(pytestconfig: pytest.Config) -> Iterator[Path]:
    if pytestconfig.getoption("--postgres") == "off":
        pytest.skip("--postgres=off")
    found = tools()
    os.environ.setdefault("CELLSTORE_PATRONI", str(found.patroni))
    parent = Path(tempfile.mkdtemp(prefix="cellstore-quorum-"))
    os.chmod(parent, 0o755)
    yield parent / "cell"
    if (parent / "cell" / "quorum.json").exists():
        cellstore("quorum", "down", str(parent / "cell"))
    shutil.rmtree(parent, ignore_errors=True)


def test_up_serve_status_down(directory: Path, server_process: Callable[..., Any]) -> None:
    up = cellstore("quorum", "up", str(directory))
    assert up.returncode == 0, up.stderr
    url = up.stdout.strip().splitlines()[-1]
    assert url.startswith("postgresql://") and url.count("127.0.0.1:") == 6 and "target_session_attrs=read-write" in url

    state = json.loads((directory / "quorum.json").read_text())
    assert state["url"] == url
    nodes = state["nodes"]
    assert [(n["name"], n["zone"]) for n in nodes] == [
        ("a1", "zone-a"), ("a2", "zone-a"), ("b1", "zone-b"), ("b2", "zone-b"), ("c1", "zone-c"), ("c2", "zone-c"),
    ]
    assert sorted(n["role"] for n in nodes) == ["leader"] + ["quorum_standby"] * 5
    assert all(alive(n["patroni_pid"]) and alive(n["postmaster_pid"]) for n in nodes)
    assert all(n["port"] < 32768 for n in nodes)
    leader = next(n for n in nodes if n["role"] == "leader")
    cmdline = Path(f"/proc/{leader['postmaster_pid']}/cmdline").read_bytes()
    assert b"postgres" in cmdline and str(directory).encode() in cmdline

    status = cellstore("quorum", "status", str(directory))
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.startswith("healthy")
    assert status.stdout.strip().splitlines()[-1] == url

    server = server_process("--storage", url, "--workers", "1")
    client = server.client()
    client.create_table(
        TableName="six",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(TableName="six", Item={"pk": {"S": "k"}, "v": {"S": "six copies"}})
    assert client.get_item(TableName="six", Key={"pk": {"S": "k"}}, ConsistentRead=True)["Item"]["v"] == {"S": "six copies"}
    server.terminate()

    again = cellstore("quorum", "up", str(directory))
    assert again.returncode == 2 and "already running" in again.stderr

    # A replica crashes: status says so (exit 1), restore starts it and it rejoins.
    replica = next(n for n in nodes if n["role"] != "leader")
    for pid in (replica["patroni_pid"], replica["postmaster_pid"]):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(replica["patroni_pid"]) or alive(replica["postmaster_pid"]):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    broken = cellstore("quorum", "status", str(directory))
    assert broken.returncode == 1 and broken.stdout.startswith("NOT healthy")
    assert re.search(rf"^{replica['name']} .* down ", broken.stdout, re.MULTILINE), broken.stdout
    restored = cellstore("quorum", "restore", str(directory))
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.strip() == f"started {replica['name']}; healthy"
    assert cellstore("quorum", "status", str(directory)).returncode == 0
    nodes = json.loads((directory / "quorum.json").read_text())["nodes"]

    down = cellstore("quorum", "down", str(directory))
    assert down.returncode == 0, down.stderr
    stopped = json.loads((directory / "quorum.json").read_text())
    assert all(not alive(n["patroni_pid"]) for n in nodes) and all(not alive(e["pid"]) for e in stopped["etcd"])
    assert all(not alive(n["postmaster_pid"]) for n in nodes)
    assert cellstore("quorum", "status", str(directory)).returncode == 1


def test_a_shape_that_cannot_keep_its_promise_is_refused(tmp_path: Path) -> None:
    refused = cellstore("quorum", "up", str(tmp_path / "cell"), "--zones", "3", "--copies-per-zone", "2", "--ack", "7")
    assert refused.returncode == 2
    assert "--ack must be between 2 and the number of copies (6)" in refused.stderr
    assert not (tmp_path / "cell").exists()


