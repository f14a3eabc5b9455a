"""The chaos suite's short mode for hostile clients: every pressure answered with a 4xx or a close, never a
5xx, and a fresh client always served while it lasts.

Memory and descriptor figures are printed here and asserted in ``make
chaos``'s verdict; what these tests assert about them is only what holds
today (see docs/RELIABILITY.md for the bounds the HTTP server's limits add).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chaos import abuse, fuzz
from chaos.clients import client
from chaos.sampler import Sampler

pytestmark = [pytest.mark.slow, pytest.mark.server]

MAX_BODY_BYTES = 16 * 1024 * 1024


@pytest.fixture(scope="module")
def server(module_server_process: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    return module_server_process("--data-dir", str(tmp_path_factory.mktemp("abuse")), "--workers", "2")


@pytest.fixture
def sampler(server: Any) -> Iterator[Sampler]:
    with Sampler(interval=0.05) as sampler:
        sampler.watch(server.process.pid)
        yield sampler


def _probe(server: Any) -> abuse.Probe:
    return lambda: client("dynamodb", server.endpoint_url).list_tables()


def _served_throughout(figures: abuse.AbuseFigures) -> None:
    assert figures.five_xx == 0, figures
    assert figures.probe_ok, figures.probe_error
    assert figures.probe_seconds < 5


def test_slowloris_does_not_lock_out_a_fresh_client(server: Any, sampler: Sampler) -> None:
    with sampler.phase("slowloris") as peak:
        figures = abuse.slowloris(server.port, _probe(server), connections=100, seconds=2)
    _served_throughout(figures)
    print(figures.detail, f"peak RSS {peak.rss_mib:.0f} MiB, {peak.fds} descriptors")


def test_idle_connections_do_not_lock_out_a_fresh_client(server: Any, sampler: Sampler) -> None:
    with sampler.phase("idle") as peak:
        figures = abuse.idle_crowd(server.port, _probe(server), connections=400, seconds=1)
    _served_throughout(figures)
    assert figures.detail["refused"] == 0
    print(figures.detail, f"peak RSS {peak.rss_mib:.0f} MiB, {peak.fds} descriptors")


def test_pipelined_requests_are_answered_in_order_and_clients_that_never_read_are_held_off(
    server: Any, sampler: Sampler
) -> None:
    with sampler.phase("pipelining") as peak:
        figures = abuse.pipelining(server.port, _probe(server), requests=300, never_reading=1)
    _served_throughout(figures)
    assert figures.statuses[200] == 300
    print(figures.detail, f"peak RSS {peak.rss_mib:.0f} MiB")


def test_malformed_http_gets_a_4xx_or_a_close(server: Any) -> None:
    figures = abuse.malformed(server.port, _probe(server))
    _served_throughout(figures)
    answers = figures.detail["answers"]
    unanswered = [name for name, status in answers.items() if status == 0]
    assert unanswered == []  # every malformed request gets a status line, not a silent close
    # llhttp accepts these two as HTTP (an absolute URI, 5,000 small headers under the head limit)
    assert {name for name, status in answers.items() if status == 200} <= {"absolute uri", "many headers"}


def test_oversized_bodies_are_refused_unread(server: Any) -> None:
    figures = abuse.oversized(server.port, _probe(server), MAX_BODY_BYTES)
    _served_throughout(figures)
    assert figures.statuses == {413: 2}


def test_unauthenticated_uploads_are_refused_and_memory_stays_bounded(
    module_server_process: Callable[..., Any], tmp_path: Path
) -> None:
    credentials = fuzz.credentials_file(tmp_path)
    signed = module_server_process("--in-memory", "--auth", "sigv4", "--credentials", str(credentials))
    with Sampler(interval=0.05) as sampler, sampler.phase("uploads") as peak:
        sampler.watch(signed.process.pid)
        before = peak.rss_mib
        figures = abuse.unsigned_uploads(
            signed.port, lambda: client("dynamodb", signed.endpoint_url, *fuzz.ADMIN).list_tables(),
            clients=4, body_bytes=8 * 2**20,
        )
    _served_throughout(figures)
    assert set(figures.statuses) <= {400, 403, 413, 0} and figures.statuses[0] == 0, figures.statuses
    growth = peak.rss_mib - before
    print(f"4 unsigned 8 MiB uploads: peak RSS {peak.rss_mib:.0f} MiB (+{growth:.0f} MiB)")
    # Unsigned bodies are refused on their headers and never read (docs/RELIABILITY.md,
    # "Limits of the HTTP server"), so four 8 MiB uploads cost the server almost nothing.
    assert growth < 32
