"""Fixtures every test can use.

``ddb`` runs each test that takes it twice: against the session's HTTP server
(``cellstore_server`` from cellstore's own pytest plugin, so the plugin is
exercised by the whole suite) and in-process on a fresh in-memory database.
Served-mode tests share one server, so tables need ``table_name``'s unique names.

One suite, two backends: ``ddb``, ``sqs`` (and ``streams``, through ``ddb``)
also run a third time, in-process on PostgreSQL (param ``postgres``), and the
storage contract runs on every backend.  The PostgreSQL half starts a
throwaway cluster on loopback once per session (``tests/pg_cluster.py``,
installing Debian's package if needed).  ``--postgres=off`` skips that half;
when PostgreSQL cannot be had it is skipped too, except with ``CI=true`` or
``--postgres=require``, where it fails.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_table_numbers = itertools.count()

# Every Database the suite builds (the session server's included) sweeps
# expired items this often, so TTL tests wait well under a second.
os.environ.setdefault("CELLSTORE_TTL_INTERVAL", "0.2")


@pytest.fixture(scope="session")
def cellstore_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The session server: one backend in memory, or with ``--cells`` a deployment of three cells.

    ``--cells`` runs every served test through the cell router (docs/CELLS.md):
    two PostgreSQL cells and one SQLite cell (three SQLite cells with
    ``--postgres=off``), the default account — the suite's clients' — pinned
    to a PostgreSQL cell, so the API suite passes through the router, its
    bulkheads and a fenced keyspace.
    """
    from cellstore.embedded import serve, serve_cells

    if not request.config.getoption("--cells"):
        with serve() as server:
            yield server
        return
    directory = tmp_path_factory.mktemp("cells")
    if request.config.getoption("--postgres") == "off":
        b, c = "b", "c"
    else:
        new_database = request.getfixturevalue("new_postgres_database")
        b, c = new_database(), new_database()
    (directory / "cells.toml").write_text(
        f'[cells.a]\nstorage = "a"\n[cells.b]\nstorage = "{b}"\n[cells.c]\nstorage = "{c}"\n'
        '[tenants]\n"000000000000" = "b"\n'
    )
    with serve_cells(directory / "cells.toml") as server:
        yield server


@pytest.fixture(scope="session")
def served_client(cellstore_server: Any) -> Any:
    """One boto3 client against the session server (clients are thread-safe)."""
    return cellstore_server.client()


@pytest.fixture(params=["server", "inprocess", "postgres"])
def ddb(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A boto3 DynamoDB client, served over HTTP, in-process, or in-process on PostgreSQL."""
    if request.param == "server":
        yield request.getfixturevalue("served_client")
        return
    from cellstore.embedded import in_process

    storage = request.getfixturevalue("postgres_dsn") if request.param == "postgres" else None
    # CELLSTORE_TEST_INPROCESS=wire runs the in-process half through botocore's
    # full HTTP serialize/parse path: the fast path must pass the same tests.
    fast = os.environ.get("CELLSTORE_TEST_INPROCESS", "fast") != "wire"
    with in_process(fast=fast, storage=storage) as store:
        yield store.client()


@pytest.fixture
def table_name(request: pytest.FixtureRequest) -> str:
    """A table name no other test in this session uses, readable in failures."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "-", request.node.name)[:200]
    return f"{stem}-{next(_table_numbers)}"


class ServerProcess:
    """``python -m cellstore serve`` in a child process, on a port it picks itself.

    The port is read from the startup banner, which also proves the banner
    names the real URL.  Output goes to a file so a chatty server can never
    block on a full pipe.
    """

    def __init__(self, log_path: Path, *args: str) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cellstore", "serve", "--port", "0", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill() reaches every worker
        )
        self.endpoint_url = self._wait_for_banner()

    def _wait_for_banner(self, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(r"listening on (https?://\S+)", self.log_path.read_text())
            if match:
                return match.group(1)
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"cellstore did not start:\n{self.log_path.read_text()}")

    @property
    def port(self) -> int:
        return int(self.endpoint_url.rsplit(":", 1)[1])

    def client(self) -> Any:
        from cellstore.embedded.clients import new_client

        return new_client("dynamodb", self.endpoint_url)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, then the exit code."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self._log.close()

    def close_log(self) -> None:
        self._log.close()

    def kill(self) -> None:
        """SIGKILL to the supervisor and every worker at once: no shutdown code runs anywhere."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        self._log.close()


def _server_processes(directory: Path) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def start(*args: str) -> ServerProcess:
        server = ServerProcess(directory / f"server-{len(started)}.log", *args)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.kill()
        else:
            server.close_log()


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start ``cellstore serve`` child processes; any still running at teardown are killed."""
    yield from _server_processes(tmp_path)


@pytest.fixture(scope="module")
def module_server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ServerProcess]]:
    """``server_process`` shared by a whole test module (for expensive multi-worker servers)."""
    yield from _server_processes(tmp_path_factory.mktemp("servers"))


@pytest.fixture
def streams(ddb: Any) -> Any:
    """A boto3 DynamoDB Streams client on the same server or in-process database as ``ddb``.

    In-process, the streams client reaches ``ddb``'s database because the
    ``in_process`` block behind ``ddb`` answers every client made while it is active.
    """
    from cellstore.embedded.clients import new_client

    return new_client("dynamodbstreams", ddb.meta.endpoint_url)


@pytest.fixture
def stream_settings() -> Iterator[Any]:
    """``engine.streams.SETTINGS``, restored after the test (served and in-process share this process)."""
    from dataclasses import replace

    from cellstore.engine import streams

    saved = replace(streams.SETTINGS)
    yield streams.SETTINGS
    for name in ("retention_seconds", "shard_max_age_seconds", "shard_max_records", "iterator_ttl_seconds", "clock"):
        setattr(streams.SETTINGS, name, getattr(saved, name))


# --- SQS --------------------------------------------------------------------

_queue_numbers = itertools.count()


@pytest.fixture(params=["server", "inprocess", "postgres"])
def sqs(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A boto3 SQS client, served over HTTP (the session server), in-process, or in-process on PostgreSQL."""
    if request.param == "server":
        yield request.getfixturevalue("cellstore_server").client("sqs")
        return
    from cellstore.embedded import in_process

    storage = request.getfixturevalue("postgres_dsn") if request.param == "postgres" else None
    fast = os.environ.get("CELLSTORE_TEST_INPROCESS", "fast") != "wire"
    with in_process(fast=fast, storage=storage) as store:
        yield store.client("sqs")


@pytest.fixture
def queue_name(request: pytest.FixtureRequest) -> str:
    """A queue name no other test in this session uses (SQS allows 80 of [A-Za-z0-9_-])."""
    stem = re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name)[:60]
    return f"{stem}-{next(_queue_numbers)}"


# --- PostgreSQL ---------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--postgres",
        choices=("auto", "require", "off"),
        default="auto",
        help="the PostgreSQL half of the suite: run it when PostgreSQL can be had (auto; "
        "CI=true means require), fail without it (require), or skip it (off)",
    )
    parser.addoption(
        "--cells",
        action="store_true",
        help="serve the session server as a deployment of three cells behind the cell router (docs/CELLS.md)",
    )


@pytest.fixture(scope="session")
def postgres_cluster(pytestconfig: pytest.Config) -> Iterator[Any]:
    """A throwaway PostgreSQL cluster on loopback for the whole session (``tests/pg_cluster.py``)."""
    mode = pytestconfig.getoption("--postgres")
    if mode == "off":
        pytest.skip("--postgres=off")
    from pg_cluster import Cluster, Unavailable

    try:
        cluster = Cluster().start()
    except Unavailable as exc:
        if mode == "require" or os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required (CI=true or --postgres=require): {exc}", pytrace=False)
        pytest.skip(str(exc))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def _postgres_scratch(postgres_cluster: Any) -> str:
    """One database, emptied before each test that asks for ``postgres_dsn``."""
    return str(postgres_cluster.create_database("scratch"))


@pytest.fixture
def postgres_dsn(_postgres_scratch: str) -> str:
    """The DSN of a PostgreSQL database holding no cellstore data (the schema may exist)."""
    import psycopg

    # A new connection each time: the fault tests restart the server.
    with psycopg.connect(_postgres_scratch, autocommit=True) as conn:
        conn.execute("DO $$ BEGIN IF to_regclass('kv') IS NOT NULL THEN TRUNCATE kv; END IF; END $$")
    return _postgres_scratch


_database_numbers = itertools.count()


@pytest.fixture(scope="session")
def new_postgres_database(postgres_cluster: Any) -> Callable[[], str]:
    """Make a new, empty PostgreSQL database; returns its DSN (for tests running several servers)."""
    return lambda: postgres_cluster.create_database(f"db{next(_database_numbers)}")


@pytest.fixture(autouse=True)
def _shared_tables_stay_unchanged() -> Iterator[None]:
    """After every test: no cached Table (engine.tables.load_table) was changed in place."""
    yield
    import orjson

    from cellstore.engine import tables

    for raw, table in list(tables._PARSED.items()):
        assert table == tables.Table.from_record(orjson.loads(raw)), (
            f"a shared Table of {table.name} was changed in place; change a find_table() result or a copy()"
        )


# --- memcached (the cache tier, tests/memcached_cluster.py) -------------------


@pytest.fixture(scope="session")
def memcached_binary() -> str:
    """memcached's binary, installing Debian's package if needed; skipped without it, failed with CI=true."""
    from memcached_cluster import Unavailable, find_or_install

    try:
        return find_or_install()
    except Unavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"memcached is required (CI=true): {exc}", pytrace=False)
        pytest.skip(str(exc))
