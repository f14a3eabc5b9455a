"""``serve --access-log`` lines, from the request and answer as the HTTP server has them."""

from __future__ import annotations

import io

import orjson

from cellstore.protocol.access_log import FIELDS, AccessLog

AUTH = (
    b"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/dynamodb/aws4_request, "
    b"SignedHeaders=host, Signature=00"
)
ANSWER = [(b"content-type", b"application/x-amz-json-1.0"), (b"x-amzn-RequestId", b"REQ1")]
NOW = 1_700_000_000.25


def json_request(target: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"x-amz-target", target), (b"authorization", AUTH), (b"content-type", b"application/x-amz-json-1.0")]


def line(log: AccessLog, headers: list[tuple[bytes, bytes]], body: bytes, url: bytes = b"/", status: int = 200) -> str:
    return log.line("POST", url, headers, body, status, ANSWER, 0.0012345, NOW)


def test_a_text_line_has_every_field_in_order() -> None:
    body = b'{"TableName": "Music", "Key": {"a": {"S": "1"}}}'
    text = line(AccessLog(io.StringIO()), json_request(b"DynamoDB_20120810.GetItem"), body)
    assert text == "2023-11-14T22:13:20.250Z REQ1 AKIDEXAMPLE dynamodb GetItem Music 200 1.234\n"


def test_json_lines_name_the_fields() -> None:
    body = b'{"QueueUrl": "http://localhost:8000/000000000000/jobs", "WaitTimeSeconds": 20}'
    entry = orjson.loads(line(AccessLog(io.StringIO(), json_lines=True), json_request(b"AmazonSQS.ReceiveMessage"), body))
    assert list(entry) == list(FIELDS)
    assert entry["service"] == "sqs" and entry["operation"] == "ReceiveMessage" and entry["resource"] == "jobs"
    assert entry["principal"] == "AKIDEXAMPLE" and entry["request_id"] == "REQ1" and entry["status"] == 200


def test_batches_and_transactions_name_every_table() -> None:
    log = AccessLog(io.StringIO())
    batch = b'{"RequestItems": {"b": [], "a": []}}'
    assert " BatchWriteItem a,b 200 " in line(log, json_request(b"DynamoDB_20120810.BatchWriteItem"), batch)
    transact = b'{"TransactItems": [{"Put": {"TableName": "x"}}, {"Delete": {"TableName": "y"}}]}'
    assert " TransactWriteItems x,y 200 " in line(log, json_request(b"DynamoDB_20120810.TransactWriteItems"), transact)


def test_streams_name_the_table_of_the_stream() -> None:
    body = b'{"StreamArn": "arn:aws:dynamodb:us-east-1:000000000000:table/Music/stream/2024-01-01T00:00:00.000"}'
    assert " streams DescribeStream Music " in line(
        AccessLog(io.StringIO()), json_request(b"DynamoDBStreams_20120810.DescribeStream"), body
    )


def test_the_query_protocol_reads_the_form() -> None:
    headers = [(b"content-type", b"application/x-www-form-urlencoded"), (b"authorization", AUTH)]
    body = b"Action=SendMessage&MessageBody=hi&Version=2012-11-05"
    text = line(AccessLog(io.StringIO()), headers, body, url=b"/000000000000/orders", status=400)
    assert " AKIDEXAMPLE sqs SendMessage orders 400 " in text


def test_a_health_check_and_a_missing_signature() -> None:
    log = AccessLog(io.StringIO())
    text = log.line("GET", b"/", [], b"", 200, [], 0.0, NOW)
    assert text.split()[1:6] == ["-", "-", "-", "GET", "/"]


def test_with_credentials_the_principal_is_named() -> None:
    class Key:
        class principal:  # the attribute a credentials Key has
            name = "alice"

    class Credentials:
        def get(self, key_id: str) -> object | None:
            return Key() if key_id == "AKIDEXAMPLE" else None

    log = AccessLog(io.StringIO())
    log.credentials = Credentials()  # type: ignore[assignment]
    body = b'{"TableName": "t"}'
    assert " alice dynamodb GetItem t " in line(log, json_request(b"DynamoDB_20120810.GetItem"), body)


def test_record_writes_one_line() -> None:
    stream = io.StringIO()
    AccessLog(stream).record("GET", b"/", [], None, 200, ANSWER, 0.001)
    assert stream.getvalue().count("\n") == 1 and " REQ1 " in stream.getvalue()
