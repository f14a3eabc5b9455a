"""The HTTP edge against a real server (issue 21 items 2 and 3): compression, CORS, Server, limits, the host used.

Through boto3 where the SDK can express it — a compressed request body (a
``before-sign`` hook gzips it, as botocore does for operations whose model
asks for compression), DescribeEndpoints, TagResource — and over a raw
socket where it cannot: botocore never asks for a compressed answer (it
reads the body undecoded), and never sends a broken body, a preflight or an
oversized head.
"""

from __future__ import annotations

import gzip
import http.client
import socket
import zlib
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import orjson
import pytest
from botocore.config import Config

from cellstore.protocol import compression

pytestmark = pytest.mark.server

AUTH = "AWS4-HMAC-SHA256 Credential=a/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x"
SERIALIZATION = {"__type": "com.amazon.coral.service#SerializationException"}


def exchange(
    endpoint: str,
    method: str = "POST",
    path: str = "/",
    body: bytes = b"{}",
    headers: dict[str, str] | None = None,
    target: str = "DynamoDB_20120810.ListTables",
) -> tuple[int, dict[str, str], bytes]:
    url = urlsplit(endpoint)
    sent = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Date": "20240101T000000Z",
        "X-Amz-Target": target,
        "Authorization": AUTH,
    }
    sent.update(headers or {})
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    try:
        conn.request(method, path, body=body if method == "POST" else None, headers=sent)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def client(endpoint: str, **config: Any) -> Any:
    return boto3.session.Session().client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x",
        config=Config(**{"retries": {"max_attempts": 1}, **config}),  # a test may set its own retries
    )


@pytest.fixture
def table(cellstore_endpoint: str, table_name: str) -> Iterator[str]:
    ddb = client(cellstore_endpoint)
    ddb.create_table(
        TableName=table_name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )
    yield table_name
    ddb.delete_table(TableName=table_name)


def compressing(squeeze: Callable[[bytes], bytes], coding: str) -> Callable[..., None]:
    """A ``before-sign`` hook compressing the body, as botocore's request compression does (before signing)."""

    def hook(request: Any, **kwargs: Any) -> None:
        body = request.data if isinstance(request.data, bytes) else request.data.encode()
        request.data = squeeze(body)
        request.headers["Content-Encoding"] = coding

    return hook


# --- item 2: compressed requests ---------------------------------------------------------


@pytest.mark.parametrize(("coding", "squeeze"), [("gzip", gzip.compress), ("deflate", zlib.compress)])
def test_boto3_with_a_compressed_body(cellstore_endpoint: str, table: str, coding: str, squeeze: Any) -> None:
    ddb = client(cellstore_endpoint)
    ddb.meta.events.register("before-sign.dynamodb.PutItem", compressing(squeeze, coding))
    item = {"pk": {"S": "big"}, "data": {"S": "x" * 20_000}}  # over botocore's 10 KB compression threshold
    ddb.put_item(TableName=table, Item=item)
    assert client(cellstore_endpoint).get_item(TableName=table, Key={"pk": {"S": "big"}})["Item"] == item


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip", gzip.compress(b'{"TableName": "t"}')[:-4]),  # truncated
        ("gzip", b"\x1f\x8bnot really gzip"),  # broken
        ("gzip, gzip", gzip.compress(gzip.compress(b"{}"))),  # doubled
        ("gzip", gzip.compress(gzip.compress(b"{}"))),  # compressed twice, named once
        ("br", gzip.compress(b"{}")),  # unknown
    ],
)
def test_a_body_that_does_not_inflate_is_a_serialization_error(cellstore_endpoint: str, coding: str, body: bytes) -> None:
    status, headers, answer = exchange(cellstore_endpoint, body=body, headers={"Content-Encoding": coding})
    assert (status, orjson.loads(answer)) == (400, SERIALIZATION)
    assert headers["server"] == "Server"


def test_a_bomb_is_refused_as_too_large(cellstore_endpoint: str) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = b"".join(compressor.compress(bytes(1 << 20)) for _ in range(64)) + compressor.flush()
    assert len(bomb) < 128 * 1024
    status, _, answer = exchange(
        cellstore_endpoint, body=bomb, headers={"Content-Encoding": "gzip"}, target="DynamoDB_20120810.PutItem"
    )
    assert (status, orjson.loads(answer)) == (
        413, {"__type": "com.amazon.coral.service#SerializationException", "Message": "Request entity too large"},
    )


# --- item 2: compressed answers ----------------------------------------------------------


@pytest.mark.parametrize(("coding", "decode"), [("gzip", gzip.decompress), ("deflate", zlib.decompress)])
def test_a_large_answer_is_compressed_with_the_crc_of_the_wire_bytes(
    cellstore_endpoint: str, table: str, coding: str, decode: Any
) -> None:
    ddb = client(cellstore_endpoint)
    for n in range(4):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"k{n}"}, "data": {"S": "y" * 2000}})
    scan = orjson.dumps({"TableName": table})
    status, headers, body = exchange(
        cellstore_endpoint, body=scan, headers={"Accept-Encoding": f"{coding}, br"}, target="DynamoDB_20120810.Scan"
    )
    assert status == 200
    assert headers["content-encoding"] == coding
    assert int(headers["content-length"]) == len(body)
    assert int(headers["x-amz-crc32"]) == zlib.crc32(body)
    assert orjson.loads(decode(body))["Count"] == 4
    assert len(body) < compression.MIN_COMPRESS_BYTES


def test_a_small_answer_stays_uncompressed(cellstore_endpoint: str) -> None:
    status, headers, body = exchange(cellstore_endpoint, headers={"Accept-Encoding": "gzip"})
    assert status == 200 and "content-encoding" not in headers
    assert "TableNames" in orjson.loads(body)


def test_boto3_still_reads_every_answer(cellstore_endpoint: str, table: str) -> None:
    """botocore sends ``Accept-Encoding: identity``: a large Scan comes back plain and its CRC checks out."""
    ddb = client(cellstore_endpoint, retries={"mode": "legacy", "max_attempts": 1})
    ddb.put_item(TableName=table, Item={"pk": {"S": "k"}, "data": {"S": "z" * 8000}})
    assert ddb.scan(TableName=table)["Count"] == 1


# --- item 3: CORS, Server, limits, the host used, empty tag answers ---------------------


def test_a_browser_preflight_is_granted(cellstore_endpoint: str) -> None:
    status, headers, body = exchange(
        cellstore_endpoint, "OPTIONS",
        headers={
            "Origin": "https://app.example.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-amz-date,x-amz-target",
        },
    )
    assert (status, body) == (200, b"")
    assert headers["access-control-allow-origin"] == "*"
    assert headers["access-control-allow-methods"] == "POST"
    assert headers["access-control-allow-headers"] == "authorization,content-type,x-amz-date,x-amz-target"
    assert headers["access-control-max-age"] == "172800"
    assert headers["server"] == "Server"


def test_answers_carry_cors_and_server_headers(cellstore_endpoint: str) -> None:
    for method, target in (("POST", "DynamoDB_20120810.ListTables"), ("POST", "DynamoDB_20120810.Nope"), ("GET", "")):
        _, headers, _ = exchange(cellstore_endpoint, method, headers={"Origin": "https://app.example.test"}, target=target)
        assert headers["access-control-allow-origin"] == "*"
        assert "x-amz-crc32" in headers["access-control-expose-headers"]
        assert headers["server"] == "Server"


def raw(endpoint: str, request: bytes) -> bytes:
    url = urlsplit(endpoint)
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_too_long_request_target_is_a_bare_400(cellstore_endpoint: str) -> None:
    answer = raw(cellstore_endpoint, b"POST /" + b"x" * 17_000 + b" HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"server: Server" in head and b"connection: close" in head
    assert body == b""


def test_too_long_headers_are_a_bare_400(cellstore_endpoint: str) -> None:
    answer = raw(cellstore_endpoint, b"POST / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_the_health_check_names_the_host_used(cellstore_endpoint: str) -> None:
    status, _, body = exchange(cellstore_endpoint, "GET")
    assert (status, body) == (200, f"healthy: {urlsplit(cellstore_endpoint).netloc} ".encode())
    status, _, body = exchange(cellstore_endpoint, "GET", headers={"Host": "dynamo.internal.test:4566"})
    assert (status, body) == (200, b"healthy: dynamo.internal.test:4566 ")


def test_describe_endpoints_names_the_host_used(cellstore_endpoint: str) -> None:
    endpoints = client(cellstore_endpoint).describe_endpoints()["Endpoints"]
    assert endpoints == [{"Address": cellstore_endpoint, "CachePeriodInMinutes": 1440}]


def test_tag_and_untag_answer_with_an_empty_body(cellstore_endpoint: str, table: str) -> None:
    ddb = client(cellstore_endpoint)
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    response = ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "blue"}])
    assert set(response) == {"ResponseMetadata"}
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "blue"}]
    for target, payload in (
        ("TagResource", {"ResourceArn": arn, "Tags": [{"Key": "env", "Value": "prod"}]}),
        ("UntagResource", {"ResourceArn": arn, "TagKeys": ["env"]}),
    ):
        status, headers, body = exchange(
            cellstore_endpoint, body=orjson.dumps(payload), target=f"DynamoDB_20120810.{target}"
        )
        assert (status, body, headers["content-length"]) == (200, b"", "0")
        assert int(headers["x-amz-crc32"]) == zlib.crc32(b"")
