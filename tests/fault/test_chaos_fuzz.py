"""The chaos suite's short mode for the wire fuzzer: mutated requests, auth off and on, never a 5xx.

``make chaos`` sends 20,000 per mode; here a few hundred with fixed seeds.
The answers must include successes, validation errors and (signed, as the
tenant) policy refusals, so the mutations demonstrably reach every layer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chaos import fuzz

pytestmark = [pytest.mark.slow, pytest.mark.server]


def test_fuzzed_requests_without_auth_never_get_a_5xx(server_process: Callable[..., Any]) -> None:
    server = server_process("--in-memory")
    figures = fuzz.run(server.endpoint_url, server.port, requests=400, signed=False, seed=1)
    assert figures.five_xx == 0, figures.five_xx_samples
    assert {200, 400} <= set(figures.statuses)
    assert figures.statuses[0] == 0  # no connection dropped without an answer


def test_fuzzed_signed_requests_never_get_a_5xx(server_process: Callable[..., Any], tmp_path: Path) -> None:
    credentials = fuzz.credentials_file(tmp_path)
    server = server_process("--in-memory", "--auth", "sigv4", "--credentials", str(credentials))
    figures = fuzz.run(server.endpoint_url, server.port, requests=400, signed=True, seed=2)
    assert figures.five_xx == 0, figures.five_xx_samples
    assert {200, 400, 403} <= set(figures.statuses)
    assert figures.statuses[0] == 0
