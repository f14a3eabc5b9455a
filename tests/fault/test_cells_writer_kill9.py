"""``serve --cells --workers 2`` over two SQLite cells: kill -9 of one cell's writer process under load.

Each SQLite cell has its own writer (``protocol/workers.py``).  Killing
cell a's writer while clients of both cells write must lose no acknowledged
write (a write in flight fails with a retryable 503, never a false
success), the supervisor must start a replacement that takes a's writes
again, and cell b's tenant must see no error at all: its writer is another
process.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from killing import Writers, make_table, raw_client, stored_keys, writer_pid

from procfs import children_of

pytestmark = [pytest.mark.slow, pytest.mark.server]

ALICE, BOB = "111111111111", "222222222222"  # pinned: alice in cell a, bob in cell b
CLIENTS = 3  # per tenant


def test_killing_one_cells_writer_loses_nothing_and_leaves_the_other_cell_alone(
    server_process: Callable[..., Any], tmp_path: Path
) -> None:
    cells_file = tmp_path / "cells.toml"
    cells_file.write_text(
        f'[cells.a]\nstorage = "{tmp_path / "a"}"\n[cells.b]\nstorage = "{tmp_path / "b"}"\n'
        f'[tenants]\n"{ALICE}" = "a"\n"{BOB}" = "b"\n'
    )
    server = server_process("--cells", str(cells_file), "--auth", "none", "--workers", "2")
    endpoint = server.endpoint_url
    for account in (ALICE, BOB):
        make_table(raw_client(endpoint, account), "acked")
    first, other = writer_pid(server, "a"), writer_pid(server, "b")
    assert {first, other} <= set(children_of(server.process.pid))

    alice = Writers(endpoint, account=ALICE, clients=CLIENTS)
    bob = Writers(endpoint, account=BOB, clients=CLIENTS)
    try:
        alice.wait_for(300)
        bob.wait_for(300)
        before = bob.count()
        os.kill(first, signal.SIGKILL)  # cell a's writer alone: the supervisor, the workers and b's writer live on
        second = writer_pid(server, "a", previous=first)
        assert second != first
        alice.wait_for(300)  # a's writes flow again through the replacement
        bob.wait_for(300)
        assert bob.count() > before
    finally:
        acknowledged = {ALICE: alice.finish(), BOB: bob.finish()}

    print(f"\ncell a: {len(acknowledged[ALICE])} acknowledged, {len(alice.failures)} failed ({set(alice.failures)}); "
          f"cell b: {len(acknowledged[BOB])} acknowledged, {len(bob.failures)} failed")
    assert bob.failures == [], f"cell b's tenant saw errors from cell a's writer dying: {bob.failures[:5]}"
    assert set(alice.failures) <= {"ServiceUnavailable"}, alice.failures
    assert writer_pid(server, "b") == other  # b's writer was never restarted
    assert server.process.poll() is None
    for account, keys in acknowledged.items():
        assert keys <= stored_keys(endpoint, account), account

    server.kill()  # and everything acknowledged is on disk, not only visible
    restarted = server_process("--cells", str(cells_file), "--auth", "none", "--workers", "1")
    for account, keys in acknowledged.items():
        missing = keys - stored_keys(restarted.endpoint_url, account)
        assert not missing, f"{account}: {len(missing)} acknowledged writes lost, e.g. {sorted(missing)[:5]}"
    assert restarted.terminate() == 0
