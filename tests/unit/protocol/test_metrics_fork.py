"""``serve --workers N``'s counters across a fork, with the pid kept by an at-fork hook (``metrics._Pid``).

prometheus-client picks its multiprocess values when first imported, so each
case runs in a fresh interpreter with ``PROMETHEUS_MULTIPROC_DIR`` set, as
``cli.py`` sets it before the server imports the metrics module.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "src"

SCRIPT = textwrap.dedent("""
    import os, sys
    from cellstore.protocol import metrics
    from cellstore.protocol.metrics import Metrics

    m = Metrics()
    m.know({"dynamodb": frozenset({"PutItem"})})
    m.count("dynamodb", "PutItem", 200, 0.001)
    child = os.fork()
    if child == 0:  # a worker: its counts must land in its own file, not in the parent's
        m.count("dynamodb", "PutItem", 200, 0.001)
        m.count("dynamodb", "PutItem", 400, 0.001)
        os._exit(0)
    os.waitpid(child, 0)
    m.count("dynamodb", "PutItem", 200, 0.001)
    print(os.getpid(), child)
    sys.stdout.write(m.exposition().decode())
""")


def test_a_forked_process_counts_in_its_own_file_and_a_scrape_merges_both(tmp_path: Path) -> None:
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path), PYTHONPATH=str(SRC))
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, check=True, capture_output=True,
                         text=True).stdout
    pids, _, exposition = out.partition("\n")
    parent, child = pids.split()
    files = {p.name for p in tmp_path.iterdir()}
    assert {f"counter_{parent}.db", f"counter_{child}.db", f"histogram_{parent}.db",
            f"histogram_{child}.db"} <= files
    lines = exposition.splitlines()
    assert ('cellstore_requests_total{operation="PutItem",outcome="success",service="dynamodb"} 3.0' in lines)
    assert ('cellstore_requests_total{operation="PutItem",outcome="client_error",service="dynamodb"} 1.0'
            in lines)
    assert 'cellstore_request_duration_seconds_count{operation="PutItem",service="dynamodb"} 4.0' in lines


def test_the_values_ask_the_kept_pid_not_os_getpid(tmp_path: Path) -> None:
    check = textwrap.dedent("""
        import os
        from cellstore.protocol import metrics
        from cellstore.protocol.metrics import Metrics

        asked = []
        real = metrics._Pid.__call__
        metrics._Pid.__call__ = lambda self: asked.append(1) or real(self)
        m = Metrics()
        m.count("dynamodb", "PutItem", 200, 0.001)
        print(len(asked))
    """)
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path), PYTHONPATH=str(SRC))
    out = subprocess.run([sys.executable, "-c", check], env=env, check=True, capture_output=True, text=True)
    assert int(out.stdout) >= 3  # a counter and a histogram's sum and bucket, each checked on increment
