"""``make chaos`` keeps working: the long mode, run with tiny parameters, writes a passing report.

It runs ``python -m tests.fault.chaos`` exactly as the Makefile does, in a
child process, and reads the JSON it wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.server]

ROOT = Path(__file__).resolve().parents[2]


def test_the_long_mode_writes_a_passing_report(tmp_path: Path) -> None:
    out = tmp_path / "report"
    tiny = ["--cycles", "1", "--load-seconds", "0.3", "--worker-kills", "0", "--postgres", "off", "--hold", "1",
            "--idle", "50", "--slowloris", "10", "--uploads", "2", "--fuzz", "100", "--duration", "1", "--out", str(out)]
    result = subprocess.run([sys.executable, "-m", "tests.fault.chaos", *tiny], check=False, cwd=ROOT, capture_output=True,
                            text=True, timeout=240, env={**os.environ})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((out / "latest.json").read_text())
    totals = report["totals"]
    assert totals["cycles"] == 1 and totals["acknowledged"] > 0
    assert {name: totals[name] for name in ("lost", "duplicated", "half_applied", "resurrected", "5xx", "lockouts")} == {
        "lost": 0, "duplicated": 0, "half_applied": 0, "resurrected": 0, "5xx": 0, "lockouts": 0}
    assert totals["peak_rss_mib"] > 0
    assert [a["name"] for a in report["abuse"]] == [
        "slowloris", "idle connections", "pipelining", "malformed HTTP", "oversized bodies", "unauthenticated uploads"]
    assert [z["auth"] for z in report["fuzz"]] == ["none", "sigv4"]
    assert (out / "latest.md").read_text().startswith("# Chaos run")
