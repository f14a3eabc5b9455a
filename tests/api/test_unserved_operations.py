"""An operation AWS has and cellstore does not serve, as boto3 users meet it: served, in-process, on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError


def test_dynamodb_names_the_operation(ddb: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        ddb.describe_global_table(GlobalTableName="music")
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert excinfo.value.response["Error"] == {
        "Code": "UnknownOperationException",
        "Message": "cellstore does not implement DynamoDB DescribeGlobalTable yet; docs/OPERATIONS.md lists what it serves",
    }
