"""The client tier: real clients, each in its own environment, against one served cellstore.

Every test here runs a short script as a subprocess (the AWS CLI, the AWS SDK
for JavaScript v3, kombu's SQS transport and a Celery worker, botocore 1.33 on
SQS's query protocol) against ``cellstore serve`` started once for the tier.  The
clients are installed by the tests themselves (``environments.py``); skip the
tier with ``--ignore=tests/clients`` for a fast run.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def client_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``cellstore serve --in-memory`` in a child process, as a user starts it; its URL."""
    log_path = tmp_path_factory.mktemp("clients") / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "cellstore", "serve", "--in-memory", "--port", "0"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            yield _wait_for_banner(server, log_path)
        finally:
            server.terminate()
            server.wait(30)


def _wait_for_banner(server: subprocess.Popen[bytes], log_path: Path, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(r"listening on (http://\S+)", log_path.read_text())
        if match:
            return match.group(1)
        if server.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"cellstore did not start:\n{log_path.read_text()}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say why a client test was skipped even without ``-rs``: a skipped tier must not pass unseen."""
    for report in terminalreporter.stats.get("skipped", []):
        if report.nodeid.startswith("tests/clients/") and isinstance(report.longrepr, tuple):
            terminalreporter.write_line(f"client tier SKIPPED {report.nodeid}: {report.longrepr[2]}", yellow=True)
