"""Tables most API tests start from; ``ddb`` and ``table_name`` come from tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config


def create(ddb: Any, name: str, *, range_key: str | None = None, hash_type: str = "S", range_type: str = "S") -> str:
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    definitions = [{"AttributeName": "pk", "AttributeType": hash_type}]
    if range_key is not None:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
        definitions.append({"AttributeName": range_key, "AttributeType": range_type})
    ddb.create_table(
        TableName=name, KeySchema=schema, AttributeDefinitions=definitions, BillingMode="PAY_PER_REQUEST"
    )
    return name


@pytest.fixture
def hash_table(ddb: Any, table_name: str) -> Iterator[str]:
    """A table keyed by ``pk`` (S) alone."""
    yield create(ddb, table_name)
    ddb.delete_table(TableName=table_name)


@pytest.fixture
def range_table(ddb: Any, table_name: str) -> Iterator[str]:
    """A table keyed by ``pk`` (S) and ``sk`` (S)."""
    yield create(ddb, table_name, range_key="sk")
    ddb.delete_table(TableName=table_name)


@pytest.fixture
def number_range_table(ddb: Any, table_name: str) -> Iterator[str]:
    """A table keyed by ``pk`` (S) and ``n`` (N)."""
    yield create(ddb, table_name, range_key="n", range_type="N")
    ddb.delete_table(TableName=table_name)


@pytest.fixture
def ddb_resource(ddb: Any) -> Any:
    """A boto3 resource in the same mode (and database) as ``ddb``.

    In-process mode intercepts every DynamoDB client created while ``ddb`` is
    alive, so a resource built on the same endpoint reaches the same database.
    """
    return boto3.resource(
        "dynamodb",
        endpoint_url=ddb.meta.endpoint_url,
        region_name=ddb.meta.region_name,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture
def raw(ddb: Any) -> Any:
    """A client on ``ddb``'s endpoint that skips botocore's own parameter checks (for requests the SDK refuses)."""
    return boto3.client(
        "dynamodb",
        endpoint_url=ddb.meta.endpoint_url,
        region_name=ddb.meta.region_name,
        aws_access_key_id="cellstore",
        aws_secret_access_key="cellstore",
        config=ddb.meta.config.merge(Config(parameter_validation=False, retries={"max_attempts": 1})),
    )
