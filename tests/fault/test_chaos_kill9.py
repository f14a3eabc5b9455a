"""The chaos suite's short mode for crashes: kill -9 of the server in a loop, and of one worker, under eight writers.

Each cycle the writers (PutItem, ADD, TransactWriteItems, SendMessage,
Receive+Delete) run until at least 50 more writes are acknowledged, the
whole server is killed with SIGKILL mid-load, a new one starts on the same
data and the checker compares it with the ledger.  ``make chaos`` runs the
same drivers for 70 cycles (docs/RELIABILITY.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chaos.faults import kill_loop, worker_kills
from chaos.sampler import Sampler

#: More `serve` options for the kill -9 loop, e.g. CHAOS_EXTRA=--ttl-interval=1.
EXTRA = tuple(os.environ.get("CHAOS_EXTRA", "").split())
pytestmark = [pytest.mark.slow, pytest.mark.server]


@pytest.mark.parametrize("writes", [(), ("--no-writer",)], ids=["writer", "no-writer"])
def test_kill9_cycles_lose_duplicate_and_half_apply_nothing(
    server_process: Callable[..., Any], tmp_path: Path, writes: tuple[str, ...]
) -> None:
    """With the writer process (the default with two workers on SQLite), and with every worker writing."""
    with Sampler() as sampler, sampler.phase("kill -9") as peak:
        figures = kill_loop(server_process, ("--data-dir", str(tmp_path / "data"), "--workers", "2", *writes, *EXTRA),
                            cycles=4, load_seconds=0.5, sampler=sampler)
    assert figures.cycles == 4
    assert figures.acknowledged >= 4 * 50
    assert figures.findings.ok(), figures.findings.summary()
    assert figures.five_xx == []
    assert figures.rejected == {}
    print(f"kill -9: {figures.acknowledged} acknowledged, {figures.unsure} cut mid-call "
          f"({figures.findings.consumed_by_cut_deletes} messages consumed by a cut delete), "
          f"peak RSS {peak.rss_mib:.0f} MiB, {peak.fds} descriptors")


def test_killing_one_worker_loses_nothing_and_it_is_replaced(server_process: Callable[..., Any], tmp_path: Path) -> None:
    figures = worker_kills(server_process, ("--data-dir", str(tmp_path / "data")), kills=2, load_seconds=0.5)
    assert figures.cycles == 2
    assert figures.findings.ok(), figures.findings.summary()
    assert figures.five_xx == []
    assert figures.rejected == {}
