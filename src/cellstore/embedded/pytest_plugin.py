"""pytest fixtures for testing code that uses DynamoDB, loaded by installing cellstore.

* ``dynamodb_client`` / ``dynamodb_resource``: boto3 objects answered in-process
  by a fresh in-memory database per test — no socket, no cleanup, no sharing.
* ``cellstore_server`` / ``cellstore_endpoint``: one real HTTP server for the
  whole session, for code that needs an endpoint URL; tests sharing it should
  use distinct table names.

Imports happen inside the fixtures so that merely having cellstore installed
costs a pytest run nothing, and needs no boto3 unless a fixture is used: a
plain ``pip install cellstore`` (no ``embedded`` extra) must leave every
pytest run working, and a test that asks for a boto3 fixture fails with the
command that installs it rather than a bare ``ModuleNotFoundError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from cellstore.embedded import Cellstore, InProcessCellstore


def _require_boto3() -> None:
    """Fail the requesting test, saying how to install boto3, when it is missing."""
    try:
        import boto3  # noqa: F401
        import botocore  # noqa: F401
    except ImportError as exc:
        missing = str(exc)
    else:
        return
    # Outside the except block, so the report is this one line, not a chained traceback.
    pytest.fail(
        "cellstore's in-process fixtures (dynamodb_client, dynamodb_resource, cellstore_in_process) "
        f"need boto3, which is not installed ({missing}); install it with: pip install 'cellstore[embedded]'",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def cellstore_server() -> Iterator[Cellstore]:
    """A cellstore served on a free loopback port for the whole test session."""
    from cellstore.embedded import serve

    with serve() as server:
        yield server


@pytest.fixture
def cellstore_endpoint(cellstore_server: Cellstore) -> str:
    """The session server's endpoint URL, e.g. for ``boto3.client(endpoint_url=...)``."""
    return cellstore_server.endpoint_url


@pytest.fixture
def cellstore_in_process() -> Iterator[InProcessCellstore]:
    """A fresh in-memory cellstore answering every DynamoDB client made during the test."""
    _require_boto3()
    from cellstore.embedded import in_process

    with in_process() as store:
        yield store


@pytest.fixture
def dynamodb_client(cellstore_in_process: InProcessCellstore) -> Any:
    """A boto3 DynamoDB client on a fresh in-memory database, in-process."""
    return cellstore_in_process.client()


@pytest.fixture
def dynamodb_resource(cellstore_in_process: InProcessCellstore) -> Any:
    """A boto3 DynamoDB service resource on the same database as ``dynamodb_client``."""
    return cellstore_in_process.resource()
