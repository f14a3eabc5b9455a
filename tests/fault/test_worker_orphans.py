"""Workers do not outlive a supervisor killed with kill -9."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from procfs import children_of

pytestmark = [pytest.mark.slow, pytest.mark.server]


def test_workers_stop_when_the_supervisor_is_killed(server_process: Callable[..., Any], tmp_path: Path) -> None:
    server = server_process("--workers", "2", "--data-dir", str(tmp_path / "data"))
    workers = children_of(server.process.pid)
    assert len(workers) == 2
    server.process.kill()  # the supervisor alone: the workers must notice by themselves
    server.process.wait()
    deadline = time.monotonic() + 15
    while any(os.path.exists(f"/proc/{pid}") for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if os.path.exists(f"/proc/{pid}")]
