"""The chaos suite's short mode for PostgreSQL: a crash (``pg_ctl restart -m immediate``) under eight writers.

Two front ends share the database.  While PostgreSQL is down a call may get
AWS's retryable 500 (StorageUnavailable) — the only 5xx allowed — and counts
as unsure; every acknowledged write must be there afterwards and no
transaction half-applied.  ``make chaos`` runs five crashes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from chaos.faults import postgres_restarts

pytestmark = [pytest.mark.slow, pytest.mark.server]


def test_a_postgres_crash_under_load_loses_nothing(
    server_process: Callable[..., Any], postgres_cluster: Any, new_postgres_database: Callable[[], str]
) -> None:
    figures = postgres_restarts(server_process, new_postgres_database(), postgres_cluster, restarts=1,
                                load_seconds=0.5)
    assert figures.cycles == 1
    assert figures.acknowledged >= 100
    assert figures.findings.ok(), figures.findings.summary()
    assert [line for line in figures.five_xx if "(InternalServerError)" not in line] == []
    assert figures.rejected == {}
    print(f"{figures.acknowledged} acknowledged, {len(figures.five_xx)} retryable 500s during the outage")
