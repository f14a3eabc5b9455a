"""Real clients drive a served cellstore: the AWS CLI, the JS SDK v3, kombu and Celery, botocore 1.33 (query protocol).

Each script asserts its own results and prints one "<step>: ok" line per
step; a test passes only when every step of its script said so.  PynamoDB is
tested in tests/api/test_pynamodb.py (it installs with cellstore's test extra).
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Callable
from typing import TypeVar

import pytest
from environments import HERE, InstallFailed, node_env, python_env, unavailable

T = TypeVar("T")
_runs = itertools.count()


def installed(install: Callable[[], T]) -> T:
    """``install()``, skipping the test (failing it under CI=true) when a registry cannot be reached."""
    try:
        return install()
    except InstallFailed as exc:
        if exc.unreachable:
            unavailable(f"a package registry could not be reached: {exc}")
        raise


def run_script(command: list[str], *, env: dict[str, str] | None = None, timeout: float = 180) -> list[str]:
    """Run a client script; its "ok" lines, after checking it exited 0."""
    done = subprocess.run(
        command, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{command[:2]} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return [line for line in done.stdout.splitlines() if line.endswith(": ok")]


@pytest.fixture
def run_id() -> str:
    """A suffix for table and queue names, unique in this session (the server is shared)."""
    return f"{os.getpid()}-{next(_runs)}"


def test_aws_cli(client_endpoint: str, run_id: str) -> None:
    bin_dir = installed(lambda: python_env("awscli"))
    steps = run_script(
        ["bash", str(HERE / "awscli" / "session.sh"), client_endpoint, run_id],
        env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "AWS_CONFIG_FILE": os.devnull,
             "AWS_SHARED_CREDENTIALS_FILE": os.devnull},
    )
    assert steps == [
        "create table, waiter: ok",
        "items, conditions: ok",
        "paging, --output table: ok",
        "transactions, delete table: ok",
        "sqs, dead-letter queue, move task: ok",
        "fifo, batch, purge, delete: ok",
    ]


def _node(script: str, endpoint: str, run_id: str) -> list[str]:
    node_modules = installed(node_env)
    return run_script(
        ["node", str(HERE / "js" / script), endpoint, run_id],
        env={"NODE_PATH": str(node_modules), "NODE_NO_WARNINGS": "1"},
    )


def test_javascript_sdk_v3_dynamodb(client_endpoint: str, run_id: str) -> None:
    assert _node("dynamodb.js", client_endpoint, run_id) == [
        "create table, waiter: ok",
        "document client: ok",
        "paginators: ok",
        "transactions: ok",
        "delete table, waiter: ok",
    ]


def test_javascript_sdk_v3_sqs(client_endpoint: str, run_id: str) -> None:
    assert _node("sqs.js", client_endpoint, run_id) == [
        "create, empty receive: ok",
        "send/receive with MD5 checks: ok",
        "dead-letter queue and move task: ok",
        "batches: ok",
        "fifo: ok",
        "list, delete, errors: ok",
    ]


def test_kombu_sqs_transport(client_endpoint: str, run_id: str) -> None:
    bin_dir = installed(lambda: python_env("kombu"))
    steps = run_script([str(bin_dir / "python"), str(HERE / "kombu" / "sqs_transport.py"), client_endpoint, run_id])
    assert steps == ["simple queue: ok", "producer, consumer, requeue: ok", "queue drained: ok"]


def test_celery_worker_on_sqs(client_endpoint: str, run_id: str) -> None:
    """A real ``celery worker``: kombu's asynchronous SQS client (pycurl), retries, late acks."""
    bin_dir = installed(lambda: python_env("kombu"))
    steps = run_script([str(bin_dir / "python"), str(HERE / "kombu" / "celery_worker.py"), client_endpoint, run_id])
    assert steps == ["publish: ok", "worker ran 101/101 tasks: ok", "every task acknowledged: ok"]


def test_botocore_on_the_sqs_query_protocol(client_endpoint: str, run_id: str) -> None:
    """boto3 1.33 speaks SQS's query protocol (XML): its empty answers once raised KeyError."""
    bin_dir = installed(lambda: python_env("query"))
    steps = run_script([str(bin_dir / "python"), str(HERE / "query" / "sqs_query.py"), client_endpoint, run_id])
    assert steps == [
        "empty answers: ok",
        "send/receive/delete: ok",
        "batches: ok",
        "attributes, tags, redrive: ok",
        "fifo: ok",
        "errors: ok",
    ]
