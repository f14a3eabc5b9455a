"""The in-process botocore hooks, with a fake dispatcher standing in for the api layer."""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from cellstore.embedded.clients import new_client
from cellstore.embedded.inprocess import IN_PROCESS_ENDPOINT, Router, intercepting
from cellstore.errors import ConditionalCheckFailedException, ResourceNotFoundException
from cellstore.protocol import wire

ITEM = {"pk": {"S": "a"}, "b": {"B": base64.b64encode(b"\x00\x01").decode()}}


class FakeApi:
    """Answers a few operations; counts calls and notices concurrent entry."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.inside = 0
        self.overlapped = False

    def __call__(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.inside += 1
        self.overlapped |= self.inside > 1
        try:
            self.calls.append(operation)
            if operation == "ListTables":
                time.sleep(0.0001)
                return {"TableNames": ["t"]}
            if operation == "DescribeTable":
                return {"Table": {"TableName": payload["TableName"], "CreationDateTime": 1700000000}}
            if operation == "GetItem":
                if payload["TableName"] == "missing":
                    raise ResourceNotFoundException()
                return {"Item": ITEM}
            if operation == "PutItem":
                raise ConditionalCheckFailedException(Item=ITEM)
            raise RuntimeError("a bug in the engine")
        finally:
            self.inside -= 1

    def service(self) -> wire.Service:
        return wire.Service(self, {"ListTables", "DescribeTable", "GetItem", "PutItem", "DeleteTable"})


@pytest.fixture(params=["fast", "wire"])
def fast(request: pytest.FixtureRequest) -> bool:
    return bool(request.param == "fast")


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def client(api: FakeApi, fast: bool) -> Any:
    client = new_client("dynamodb", IN_PROCESS_ENDPOINT)
    Router(api.service(), fast=fast).attach(client)
    return client


def test_success_converts_blobs_and_timestamps(client: Any) -> None:
    assert client.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"] == {
        "pk": {"S": "a"},
        "b": {"B": b"\x00\x01"},
    }
    created = client.describe_table(TableName="t")["Table"]["CreationDateTime"]
    assert created.timestamp() == 1700000000


def test_response_metadata(client: Any) -> None:
    metadata = client.list_tables()["ResponseMetadata"]
    assert metadata["HTTPStatusCode"] == 200
    assert metadata["RetryAttempts"] == 0
    assert len(metadata["RequestId"]) == 52


def test_modeled_error_raises_its_class_with_fields(client: Any, api: FakeApi) -> None:
    with pytest.raises(client.exceptions.ConditionalCheckFailedException) as excinfo:
        client.put_item(TableName="t", Item={"pk": {"S": "a"}})
    response = excinfo.value.response
    assert response["Error"] == {"Code": "ConditionalCheckFailedException", "Message": "The conditional request failed"}
    assert response["Item"]["b"] == {"B": b"\x00\x01"}
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert api.calls == ["PutItem"]  # a 400 is never retried


def test_resource_not_found(client: Any) -> None:
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_item(TableName="missing", Key={"pk": {"S": "a"}})


def test_unexpected_exception_is_internal_server_error(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    client = boto3.session.Session().client(  # no retries, so the test stays fast
        "dynamodb", region_name="us-east-1", endpoint_url=IN_PROCESS_ENDPOINT,
        aws_access_key_id="x", aws_secret_access_key="x", config=Config(retries={"total_max_attempts": 1}),
    )
    Router(FakeApi().service(), fast=False).attach(client)
    with pytest.raises(ClientError) as excinfo:
        client.delete_table(TableName="t")
    assert excinfo.value.response["Error"]["Code"] == "InternalServerError"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    # One line naming the exception type; its message (which may quote request data) stays out.
    assert "unexpected RuntimeError at " in caplog.text and "a bug in the engine" not in caplog.text


def test_fast_and_wire_paths_agree(api: FakeApi) -> None:
    def responses(fast: bool) -> list[Any]:
        client = new_client("dynamodb", IN_PROCESS_ENDPOINT)
        Router(api.service(), fast=fast).attach(client)
        out: list[Any] = [
            client.list_tables(),
            client.describe_table(TableName="t"),
            client.get_item(TableName="t", Key={"pk": {"S": "a"}}),
        ]
        try:
            client.put_item(TableName="t", Item={"pk": {"S": "a"}})
        except ClientError as err:
            out.append(err.response)
        for response in out:
            response.pop("ResponseMetadata")
        return out

    assert responses(fast=True) == responses(fast=False)


def test_calls_from_many_threads_are_serialised(client: Any, api: FakeApi) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                assert client.list_tables()["TableNames"] == ["t"]
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(api.calls) == 160
    assert not api.overlapped


def _plain_client() -> Any:
    return boto3.client(
        "dynamodb", region_name="us-east-1", endpoint_url=IN_PROCESS_ENDPOINT,
        aws_access_key_id="x", aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )


def test_calls_made_inside_the_block_are_intercepted(fast: bool) -> None:
    api = FakeApi()
    before = _plain_client()  # boto3's default session: routed while a block is active
    with intercepting(Router(api.service(), fast=fast)):
        inside = _plain_client()
        assert inside.list_tables()["TableNames"] == ["t"]
        assert before.list_tables()["TableNames"] == ["t"]
        assert boto3.resource(
            "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x",
        ).meta.client.list_tables()["TableNames"] == ["t"]
    with pytest.raises(EndpointConnectionError):
        inside.list_tables()  # after the block nothing routes it any more
    assert api.calls == ["ListTables"] * 3


def test_innermost_block_answers() -> None:
    outer, inner = FakeApi(), FakeApi()
    with intercepting(Router(outer.service())):
        with intercepting(Router(inner.service())):
            _plain_client().list_tables()
        _plain_client().list_tables()
    assert (outer.calls, inner.calls) == (["ListTables"], ["ListTables"])


def test_bound_client_ignores_global_routing() -> None:
    bound_api, global_api = FakeApi(), FakeApi()
    with intercepting(Router(global_api.service())):
        client = new_client("dynamodb", IN_PROCESS_ENDPOINT)
        Router(bound_api.service(), fast=False).attach(client)
        client.list_tables()
    assert (bound_api.calls, global_api.calls) == (["ListTables"], [])
