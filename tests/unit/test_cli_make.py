"""``make test`` says what it installs and starts before the suite's silence begins."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-C", str(ROOT), "--no-print-directory", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_make_test_announces_postgresql_and_the_clients() -> None:
    plan = make("-n", "test").stdout  # the recipe, not run
    for promise in ("PostgreSQL cluster on loopback", "cellstore servers on free loopback ports", ".clients/"):
        assert promise in plan, promise


def test_make_says_where_postgresql_comes_from() -> None:
    result = make("postgres-tools")
    assert result.returncode == 0
    assert result.stdout.startswith("make test: PostgreSQL ")
