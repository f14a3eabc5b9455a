"""``cellstore serve --auth sigv4``: signatures verified, policies enforced, over real HTTP.

One server (a child process) is shared by the module; botocore is the
reference signer, both through boto3 clients and on hand-built requests that
are then tampered with.  Expected messages are AWS's own.
"""

from __future__ import annotations

import datetime
import http.client
import json
import signal
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

pytestmark = [pytest.mark.server, pytest.mark.slow]

REGION = "us-east-1"
ADMIN = ("AKIDADMIN", "admin-secret")
TENANT = ("AKIDTENANT", "tenant-key-s3cret")
TOKEN_KEY = ("AKIDSESSION", "session-secret")
NOBODY = ("AKIDNOPOLICY", "nobody-s3cret")  # a principal with no policies: allowed nothing
TOKEN = "session-token-1"
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
BAD_TOKEN = "The security token included in the request is invalid."
TABLE = "tenants"
TENANT_ARN = "arn:aws:iam::000000000000:user/tenant1"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:000000000000:table/{TABLE}"

TENANT_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem",
                "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:BatchGetItem",
                "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable",
            ],
            "Resource": [f"arn:aws:dynamodb:*:*:table/{TABLE}", f"arn:aws:dynamodb:*:*:table/{TABLE}/index/*"],
            "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:username}"]}},
        },
        {"Effect": "Allow", "Action": "sqs:Send*", "Resource": "arn:aws:sqs:*:*:tenant-*"},
        {"Effect": "Deny", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:*:*:tenant-private"},
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "arn:aws:dynamodb:*:*:table/shared"},
        {"Effect": "Deny", "Action": "dynamodb:DeleteTable", "Resource": "*"},
        # Everything on the "numbers" table except the partition 42 ...
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "arn:aws:dynamodb:*:*:table/numbers"},
        {"Effect": "Deny", "Action": "dynamodb:*", "Resource": "arn:aws:dynamodb:*:*:table/numbers",
         "Condition": {"ForAnyValue:StringEquals": {"dynamodb:LeadingKeys": ["42"]}}},
        # ... and everything on the tenant's own queues.
        {"Effect": "Allow", "Action": "sqs:*", "Resource": "arn:aws:sqs:*:*:tenant1-*"},
    ],
}
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def credentials_toml(extra_key: str = "") -> str:
    return f"""
[keys.{ADMIN[0]}]
secret = "{ADMIN[1]}"
principal = "admin"

[keys.{TOKEN_KEY[0]}]
secret = "{TOKEN_KEY[1]}"
principal = "admin"
session_tokens = ["{TOKEN}"]

[keys.{TENANT[0]}]
secret = "{TENANT[1]}"
principal = "tenant1"

[keys.{NOBODY[0]}]
secret = "{NOBODY[1]}"
principal = "nobody"
{extra_key}
[principals.admin]
policies = ['{json.dumps(ADMIN_POLICY)}']

[principals.tenant1]
policies = ['''{json.dumps(TENANT_POLICY)}''']
"""


@pytest.fixture(scope="module")
def creds_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("auth")
    (directory / "creds.toml").write_text(credentials_toml())
    return directory


@pytest.fixture(scope="module")
def server(module_server_process: Callable[..., Any], creds_dir: Path) -> Any:
    return module_server_process(
        "--in-memory", "--auth", "sigv4", "--credentials", str(creds_dir / "creds.toml"),
        "--audit-log", str(creds_dir / "audit.jsonl"),
    )


def client(server: Any, service: str, key: tuple[str, str] | None = ADMIN, token: str | None = None, **config: Any) -> Any:
    kwargs: dict[str, Any] = {"region_name": REGION, "endpoint_url": server.endpoint_url}
    options: dict[str, Any] = {"retries": {"max_attempts": 1}, **config}
    if key is None:
        options["signature_version"] = UNSIGNED
    else:
        kwargs.update(aws_access_key_id=key[0], aws_secret_access_key=key[1], aws_session_token=token)
    return boto3.session.Session().client(service, config=Config(**options), **kwargs)


def error_of(call: Callable[[], Any]) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as excinfo:
        call()
    response = excinfo.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def table(server: Any) -> str:
    ddb = client(server, "dynamodb")
    for name in (TABLE, "shared"):
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    ddb.put_item(TableName=TABLE, Item={"pk": {"S": "tenant1"}, "sk": {"S": "a"}, "v": {"N": "1"}})
    ddb.put_item(TableName=TABLE, Item={"pk": {"S": "tenant2"}, "sk": {"S": "a"}, "v": {"N": "2"}})
    return TABLE


# --- signed requests by hand ------------------------------------------------


def signed_request(
    server: Any,
    target: str,
    payload: dict[str, Any],
    key: tuple[str, str] = ADMIN,
    *,
    service: str = "dynamodb",
    prefix: str = "DynamoDB_20120810",
) -> AWSRequest:
    request = AWSRequest(
        method="POST",
        url=server.endpoint_url + "/",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"{prefix}.{target}"},
    )
    SigV4Auth(Credentials(*key), service, REGION).add_auth(request)
    return request


def send(request: AWSRequest, *, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any] | str]:
    prepared = request.prepare()
    url = urllib.parse.urlsplit(prepared.url)
    sent_headers = {**dict(prepared.headers), **(headers or {})}
    data = prepared.body if body is None else body
    if body is not None:
        sent_headers = {k: v for k, v in sent_headers.items() if k.lower() != "content-length"}
        sent_headers["Content-Length"] = str(len(body))
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.request(prepared.method, url.path + (f"?{url.query}" if url.query else ""), body=data, headers=sent_headers)
        response = conn.getresponse()
        raw = response.read().decode()
    finally:
        conn.close()
    try:
        return response.status, json.loads(raw)
    except json.JSONDecodeError:
        return response.status, raw


@pytest.fixture
def shifted_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Make botocore sign as if it were ``seconds`` from now."""
    import botocore.auth

    def shift(seconds: float) -> None:
        monkeypatch.setattr(
            botocore.auth,
            "get_current_datetime",
            lambda: datetime.datetime.now(datetime.UTC).replace(tzinfo=None) + datetime.timedelta(seconds=seconds),
        )

    return shift


# --- correct keys work everywhere ---------------------------------------------


def test_dynamodb_with_correct_keys(server: Any, table: str) -> None:
    ddb = client(server, "dynamodb")
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "tenant1"}, "sk": {"S": "a"}})["Item"]["v"] == {"N": "1"}
    assert table in ddb.list_tables()["TableNames"]


def test_streams_with_correct_keys(server: Any, table: str) -> None:
    assert client(server, "dynamodbstreams").list_streams()["Streams"] == []


def test_sqs_with_correct_keys(server: Any) -> None:
    sqs = client(server, "sqs")
    url = sqs.create_queue(QueueName="admin-queue")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "hello"


def test_sqs_query_protocol_with_correct_keys(server: Any) -> None:
    request = AWSRequest(
        method="POST",
        url=server.endpoint_url + "/",
        data=urllib.parse.urlencode({"Action": "ListQueues", "Version": "2012-11-05"}),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(Credentials(*ADMIN), "sqs", REGION).add_auth(request)
    status, body = send(request)
    assert status == 200, body
    assert "<ListQueuesResponse" in str(body)


def test_session_token(server: Any) -> None:
    assert client(server, "dynamodb", TOKEN_KEY, token=TOKEN).list_tables()
    assert error_of(lambda: client(server, "dynamodb", TOKEN_KEY).list_tables())[:2] == ("UnrecognizedClientException", BAD_TOKEN)
    assert error_of(lambda: client(server, "dynamodb", TOKEN_KEY, token="stolen").list_tables())[0] == "UnrecognizedClientException"
    assert error_of(lambda: client(server, "dynamodb", ADMIN, token=TOKEN).list_tables())[0] == "UnrecognizedClientException"


# --- authentication failures ------------------------------------------------


def test_wrong_secret(server: Any) -> None:
    assert error_of(lambda: client(server, "dynamodb", (ADMIN[0], "wrong")).list_tables()) == (
        "InvalidSignatureException", BAD_SIGNATURE, 400,
    )
    assert error_of(lambda: client(server, "sqs", (ADMIN[0], "wrong")).list_queues()) == (
        "SignatureDoesNotMatch", BAD_SIGNATURE, 403,
    )
    assert error_of(lambda: client(server, "dynamodbstreams", (ADMIN[0], "wrong")).list_streams())[0] == (
        "InvalidSignatureException"
    )


def test_unknown_key(server: Any) -> None:
    assert error_of(lambda: client(server, "dynamodb", ("AKIDNOBODY", "x")).list_tables()) == (
        "UnrecognizedClientException", BAD_TOKEN, 400,
    )
    assert error_of(lambda: client(server, "sqs", ("AKIDNOBODY", "x")).list_queues()) == (
        "InvalidClientTokenId", BAD_TOKEN, 403,
    )


def test_unsigned(server: Any) -> None:
    assert error_of(lambda: client(server, "dynamodb", None).list_tables()) == (
        "MissingAuthenticationTokenException", "Request is missing Authentication Token", 400,
    )
    assert error_of(lambda: client(server, "sqs", None).list_queues())[0::2] == ("MissingAuthenticationToken", 403)


def test_a_good_hand_signed_request_passes(server: Any) -> None:
    status, body = send(signed_request(server, "ListTables", {}))
    assert status == 200, body


def test_tampered_body(server: Any) -> None:
    request = signed_request(server, "ListTables", {"Limit": 1})
    status, body = send(request, body=b'{"Limit": 2}')
    assert (status, body) == (400, {"__type": "com.amazon.coral.service#InvalidSignatureException", "message": BAD_SIGNATURE})


def test_tampered_content_sha256(server: Any) -> None:
    request = signed_request(server, "ListTables", {"Limit": 1})
    status, body = send(request, body=b'{"Limit": 2}', headers={"X-Amz-Content-SHA256": "0" * 64})
    assert status == 400 and body["message"] == BAD_SIGNATURE  # type: ignore[index]


def test_tampered_signed_header(server: Any) -> None:
    request = signed_request(server, "DescribeLimits", {})
    status, body = send(request, headers={"X-Amz-Target": "DynamoDB_20120810.ListTables"})
    assert status == 400 and body["message"] == BAD_SIGNATURE  # type: ignore[index]


def test_expired_date(server: Any, shifted_clock: Callable[[float], None]) -> None:
    shifted_clock(-20 * 60)
    code, message, status = error_of(lambda: client(server, "dynamodb").list_tables())
    assert (code, status) == ("InvalidSignatureException", 400)
    assert message.startswith("Signature expired: ") and " is now earlier than " in message and message.endswith(" - 15 min.)")


def test_future_date(server: Any, shifted_clock: Callable[[float], None]) -> None:
    shifted_clock(20 * 60)
    code, message, _ = error_of(lambda: client(server, "dynamodb").list_tables())
    assert code == "InvalidSignatureException"
    assert message.startswith("Signature not yet current: ") and message.endswith(" + 15 min.)")


def test_small_skew_is_accepted(server: Any, shifted_clock: Callable[[float], None]) -> None:
    shifted_clock(-10 * 60)
    assert client(server, "dynamodb").list_tables()


def test_wrong_region_in_scope(server: Any) -> None:
    ddb = boto3.session.Session().client(
        "dynamodb", region_name="eu-west-1", endpoint_url=server.endpoint_url,
        aws_access_key_id=ADMIN[0], aws_secret_access_key=ADMIN[1], config=Config(retries={"max_attempts": 1}),
    )
    assert error_of(ddb.list_tables)[:2] == (
        "InvalidSignatureException", "Credential should be scoped to a valid region, not 'eu-west-1'. ",
    )


@pytest.mark.parametrize("minutes", [-20, 20])
def test_the_date_is_judged_before_the_scope(server: Any, shifted_clock: Callable[[float], None], minutes: int) -> None:
    """Issue 21 item 13: a stale or future date is reported even with a wrongly scoped credential, as AWS does."""
    shifted_clock(minutes * 60)
    ddb = boto3.session.Session().client(
        "dynamodb", region_name="eu-west-1", endpoint_url=server.endpoint_url,
        aws_access_key_id=ADMIN[0], aws_secret_access_key=ADMIN[1], config=Config(retries={"max_attempts": 1}),
    )
    code, message, _ = error_of(ddb.list_tables)
    assert code == "InvalidSignatureException"
    assert message.startswith("Signature expired: " if minutes < 0 else "Signature not yet current: ")


def test_a_compressed_body_is_verified_as_sent(server: Any, table: str) -> None:
    """The signature covers the gzipped body (botocore compresses before it signs); the item is stored inflated."""
    import gzip

    ddb = client(server, "dynamodb")

    def compress(request: Any, **kwargs: Any) -> None:
        request.data = gzip.compress(request.data if isinstance(request.data, bytes) else request.data.encode())
        request.headers["Content-Encoding"] = "gzip"

    ddb.meta.events.register("before-sign.dynamodb.PutItem", compress)
    item = {"pk": {"S": "gzip"}, "sk": {"S": "a"}, "data": {"S": "g" * 12_000}}
    ddb.put_item(TableName=table, Item=item)
    assert client(server, "dynamodb").get_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})["Item"] == item


# --- presigned URLs (query-string auth) ---------------------------------------


def presigned_list_queues(server: Any, expires: int) -> str:
    request = AWSRequest(method="GET", url=server.endpoint_url + "/?Action=ListQueues&Version=2012-11-05")
    SigV4QueryAuth(Credentials(*ADMIN), "sqs", REGION, expires=expires).add_auth(request)
    return request.prepare().url


def get(url: str) -> tuple[int, str]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", f"{parts.path}?{parts.query}")
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_presigned_url(server: Any) -> None:
    status, body = get(presigned_list_queues(server, 60))
    assert status == 200 and "<ListQueuesResponse" in body


def test_presigned_url_replayed_after_expiry(server: Any, shifted_clock: Callable[[float], None]) -> None:
    shifted_clock(-120)  # signed two minutes ago, valid for one
    status, body = get(presigned_list_queues(server, 60))
    assert status == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in body and "Signature expired: " in body


def test_presigned_url_tampered(server: Any) -> None:
    url = presigned_list_queues(server, 60).replace("Action=ListQueues", "Action=ListQueues&QueueNamePrefix=x")
    status, body = get(url)
    assert status == 403 and "<Code>SignatureDoesNotMatch</Code>" in body


def test_presigned_dynamodb_post(server: Any) -> None:
    request = AWSRequest(
        method="POST",
        url=server.endpoint_url + "/",
        data=b"{}",
        headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.ListTables"},
    )
    SigV4QueryAuth(Credentials(*ADMIN), "dynamodb", REGION, expires=60).add_auth(request)
    # botocore presigns the request with its body emptied (and that empty body's hash):
    # the signature is accepted, and the empty body is what DynamoDB then refuses.
    status, body = send(request)
    assert (status, body) == (400, {"__type": "com.amazon.coral.service#SerializationException"})
    status, body = send(request, body=b"{}")
    assert status == 400 and body["__type"] == "com.amazon.coral.service#InvalidSignatureException"  # type: ignore[index]


# --- authorization ------------------------------------------------------------


def denied(action: str, resource: str, explicit: bool = False) -> str:
    reason = (
        "with an explicit deny in an identity-based policy"
        if explicit
        else f"because no identity-based policy allows the {action} action"
    )
    return f"User: {TENANT_ARN} is not authorized to perform: {action} on resource: {resource} {reason}"


def own(sk: str = "a") -> dict[str, Any]:
    return {"pk": {"S": "tenant1"}, "sk": {"S": sk}}


def other(sk: str = "a") -> dict[str, Any]:
    return {"pk": {"S": "tenant2"}, "sk": {"S": sk}}


def test_leading_keys_items(server: Any, table: str) -> None:
    ddb = client(server, "dynamodb", TENANT)
    assert ddb.get_item(TableName=table, Key=own())["Item"]["v"] == {"N": "1"}
    ddb.put_item(TableName=table, Item={**own("b"), "v": {"N": "3"}})
    ddb.update_item(TableName=table, Key=own("b"), UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": {"N": "4"}})
    ddb.delete_item(TableName=table, Key=own("b"))
    for call, action in (
        (lambda: ddb.get_item(TableName=table, Key=other()), "dynamodb:GetItem"),
        (lambda: ddb.put_item(TableName=table, Item=other("z")), "dynamodb:PutItem"),
        (lambda: ddb.delete_item(TableName=table, Key=other()), "dynamodb:DeleteItem"),
    ):
        assert error_of(call) == ("AccessDeniedException", denied(action, TABLE_ARN), 400)
    assert client(server, "dynamodb").get_item(TableName=table, Key=other())["Item"]["v"] == {"N": "2"}


def test_leading_keys_query(server: Any, table: str) -> None:
    ddb = client(server, "dynamodb", TENANT)

    def query(pk: str) -> Any:
        return ddb.query(
            TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": pk}}
        )

    assert query("tenant1")["Count"] == 1
    assert error_of(lambda: query("tenant2")) == ("AccessDeniedException", denied("dynamodb:Query", TABLE_ARN), 400)
    # Scan has no leading key to check, and the policy does not allow it.
    assert error_of(lambda: ddb.scan(TableName=table))[1] == denied("dynamodb:Scan", TABLE_ARN)


def test_leading_keys_of_a_multi_attribute_index_are_every_partition_value(server: Any, table: str) -> None:
    """Each partition attribute's value is a leading key; ``ForAllValues`` must allow them all."""
    admin = client(server, "dynamodb")
    admin.update_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "owner", "AttributeType": "S"}, {"AttributeName": "geo", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": {
            "IndexName": "by_owner_geo",
            "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}, {"AttributeName": "geo", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }}],
    )
    for _ in range(200):
        indexes = admin.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes", [])
        if all(i["IndexStatus"] == "ACTIVE" for i in indexes):
            break
        time.sleep(0.05)
    admin.put_item(TableName=table, Item={**own("g1"), "owner": {"S": "tenant1"}, "geo": {"S": "tenant1"}})
    admin.put_item(TableName=table, Item={**own("g2"), "owner": {"S": "tenant1"}, "geo": {"S": "eu"}})
    ddb = client(server, "dynamodb", TENANT)

    def query(owner: str, geo: str) -> Any:
        return ddb.query(
            TableName=table, IndexName="by_owner_geo", KeyConditionExpression="#o = :o AND geo = :g",
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues={":o": {"S": owner}, ":g": {"S": geo}},
        )

    assert query("tenant1", "tenant1")["Count"] == 1
    index_arn = f"{TABLE_ARN}/index/by_owner_geo"
    # The first attribute alone is the tenant's, but the second is not: refused.
    assert error_of(lambda: query("tenant1", "eu")) == ("AccessDeniedException", denied("dynamodb:Query", index_arn), 400)


def test_leading_keys_batch_write(server: Any, table: str) -> None:
    ddb = client(server, "dynamodb", TENANT)
    ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": own("c")}}, {"PutRequest": {"Item": own("d")}}]})
    mixed = {table: [{"PutRequest": {"Item": own("e")}}, {"DeleteRequest": {"Key": other()}}]}
    assert error_of(lambda: ddb.batch_write_item(RequestItems=mixed)) == (
        "AccessDeniedException", denied("dynamodb:BatchWriteItem", TABLE_ARN), 400,
    )
    admin = client(server, "dynamodb")
    assert "Item" not in admin.get_item(TableName=table, Key=own("e"))  # nothing of the refused batch was written
    assert admin.get_item(TableName=table, Key=other())["Item"]
    assert ddb.batch_get_item(RequestItems={table: {"Keys": [own("c"), own("d")]}})["Responses"][table]
    assert error_of(lambda: ddb.batch_get_item(RequestItems={table: {"Keys": [own("c"), other()]}}))[1] == (
        denied("dynamodb:BatchGetItem", TABLE_ARN)
    )


def test_leading_keys_transactions(server: Any, table: str) -> None:
    ddb = client(server, "dynamodb", TENANT)
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": own("t1")}},
            {"ConditionCheck": {"TableName": table, "Key": own(), "ConditionExpression": "attribute_exists(pk)"}},
        ]
    )
    assert error_of(
        lambda: ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": own("t2")}},
                {"Update": {"TableName": table, "Key": other(), "UpdateExpression": "SET v = :v",
                            "ExpressionAttributeValues": {":v": {"N": "9"}}}},
            ]
        )
    ) == ("AccessDeniedException", denied("dynamodb:UpdateItem", TABLE_ARN), 400)
    # TransactGetItems is authorized as GetItem on each item, which the policy allows for own items only.
    assert ddb.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": own()}}])["Responses"][0]["Item"]
    assert error_of(
        lambda: ddb.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": other()}}])
    )[1] == denied("dynamodb:GetItem", TABLE_ARN)


def test_wildcard_and_explicit_deny(server: Any, table: str) -> None:
    ddb = client(server, "dynamodb", TENANT)
    assert ddb.put_item(TableName="shared", Item=other())  # dynamodb:* on table/shared, any key
    shared_arn = TABLE_ARN.replace(TABLE, "shared")
    assert error_of(lambda: ddb.delete_table(TableName="shared"))[1] == denied("dynamodb:DeleteTable", shared_arn, explicit=True)
    assert error_of(lambda: ddb.list_tables())[1] == denied("dynamodb:ListTables", TABLE_ARN.replace(TABLE, "*"))


def test_sqs_policies(server: Any) -> None:
    admin = client(server, "sqs")
    allowed = admin.create_queue(QueueName="tenant-jobs")["QueueUrl"]
    secret = admin.create_queue(QueueName="tenant-private")["QueueUrl"]
    sqs = client(server, "sqs", TENANT)
    sqs.send_message(QueueUrl=allowed, MessageBody="x")
    sqs.send_message_batch(QueueUrl=allowed, Entries=[{"Id": "1", "MessageBody": "y"}])
    arn = f"arn:aws:sqs:{REGION}:000000000000:tenant-private"
    assert error_of(lambda: sqs.send_message(QueueUrl=secret, MessageBody="x")) == (
        "AccessDenied", denied("sqs:SendMessage", arn, explicit=True), 403,
    )
    assert error_of(lambda: sqs.receive_message(QueueUrl=allowed))[1] == denied(
        "sqs:ReceiveMessage", arn.replace("tenant-private", "tenant-jobs")
    )


def test_denials_are_audited_without_secrets(server: Any, creds_dir: Path, table: str) -> None:
    ddb = client(server, "dynamodb", TENANT)
    error_of(lambda: ddb.get_item(TableName=table, Key=other("audit")))
    error_of(lambda: client(server, "dynamodb", (TENANT[0], "wrong-secret")).list_tables())
    deadline = time.monotonic() + 5
    lines: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in (creds_dir / "audit.jsonl").read_text().splitlines()]
        if any(r["stage"] == "authentication" and r["access_key"] == TENANT[0] for r in lines):
            break
        time.sleep(0.05)
    assert any(r["principal"] == TENANT_ARN and r["action"] == "dynamodb:GetItem" for r in lines if "principal" in r)
    assert any(r["stage"] == "authentication" and r["code"] == "InvalidSignatureException" for r in lines)
    text = (creds_dir / "audit.jsonl").read_text() + server.log_path.read_text()
    for secret in (ADMIN[1], TENANT[1], TOKEN_KEY[1], TOKEN, "wrong-secret"):
        assert secret not in text


# --- every queue an operation touches (issue 14, item 1) -------------------------


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:000000000000:{name}"


@pytest.fixture(scope="module")
def redrive_queues(server: Any) -> dict[str, str]:
    admin = client(server, "sqs")
    urls = {name: admin.create_queue(QueueName=name)["QueueUrl"] for name in ("tenant1-dlq", "tenant2-q")}
    urls["tenant1-src"] = admin.create_queue(
        QueueName="tenant1-src",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": queue_arn("tenant1-dlq"), "maxReceiveCount": 1})},
    )["QueueUrl"]
    return urls


def test_move_task_destination_is_authorized(server: Any, redrive_queues: dict[str, str], creds_dir: Path) -> None:
    admin, sqs = client(server, "sqs"), client(server, "sqs", TENANT)
    admin.send_message(QueueUrl=redrive_queues["tenant1-dlq"], MessageBody="stuck")
    # sqs:* on tenant1-* only: moving into tenant2-q is a write to tenant2-q.
    assert error_of(lambda: sqs.start_message_move_task(
        SourceArn=queue_arn("tenant1-dlq"), DestinationArn=queue_arn("tenant2-q"),
    )) == ("AccessDenied", denied("sqs:SendMessage", queue_arn("tenant2-q")), 403)
    assert "Messages" not in admin.receive_message(QueueUrl=redrive_queues["tenant2-q"])
    assert admin.get_queue_attributes(QueueUrl=redrive_queues["tenant1-dlq"], AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"] == "1"
    # Into its own queue it may.
    sqs.start_message_move_task(SourceArn=queue_arn("tenant1-dlq"), DestinationArn=queue_arn("tenant1-src"))
    assert admin.receive_message(QueueUrl=redrive_queues["tenant1-src"])["Messages"][0]["Body"] == "stuck"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        audit = (creds_dir / "audit.jsonl").read_text()
        if '"resource":"' + queue_arn("tenant2-q") + '"' in audit:
            break
        time.sleep(0.05)
    refusal = [json.loads(line) for line in audit.splitlines() if queue_arn("tenant2-q") in line][-1]
    assert (refusal["operation"], refusal["action"], refusal["decision"]) == (
        "StartMessageMoveTask", "sqs:SendMessage", "implicit deny",
    )


def test_move_task_back_to_the_original_queue_is_authorized(server: Any, redrive_queues: dict[str, str]) -> None:
    admin, sqs = client(server, "sqs"), client(server, "sqs", TENANT)
    redrive = json.dumps({"deadLetterTargetArn": queue_arn("tenant1-dlq"), "maxReceiveCount": 1})
    admin.set_queue_attributes(QueueUrl=redrive_queues["tenant2-q"], Attributes={"RedrivePolicy": redrive})
    try:
        admin.send_message(QueueUrl=redrive_queues["tenant2-q"], MessageBody="from tenant2")
        for _ in range(2):  # the second receive dead-letters it into tenant1-dlq
            admin.receive_message(QueueUrl=redrive_queues["tenant2-q"], VisibilityTimeout=0)
        # No DestinationArn: the message would go back to tenant2-q.
        assert error_of(lambda: sqs.start_message_move_task(SourceArn=queue_arn("tenant1-dlq")))[1] == denied(
            "sqs:SendMessage", queue_arn("tenant2-q")
        )
    finally:
        # The admin may: the message goes home and the queues are as before.
        admin.start_message_move_task(SourceArn=queue_arn("tenant1-dlq"))
        admin.set_queue_attributes(QueueUrl=redrive_queues["tenant2-q"], Attributes={"RedrivePolicy": ""})


def test_redrive_attributes_authorize_the_queues_they_name(server: Any, redrive_queues: dict[str, str]) -> None:
    sqs = client(server, "sqs", TENANT)
    to_tenant2 = json.dumps({"deadLetterTargetArn": queue_arn("tenant2-q"), "maxReceiveCount": 1})
    assert error_of(lambda: sqs.set_queue_attributes(
        QueueUrl=redrive_queues["tenant1-src"], Attributes={"RedrivePolicy": to_tenant2},
    )) == ("AccessDenied", denied("sqs:SendMessage", queue_arn("tenant2-q")), 403)
    assert error_of(lambda: sqs.create_queue(QueueName="tenant1-new", Attributes={"RedrivePolicy": to_tenant2}))[1] == (
        denied("sqs:SendMessage", queue_arn("tenant2-q"))
    )
    allow = json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [queue_arn("tenant2-q")]})
    assert error_of(lambda: sqs.set_queue_attributes(
        QueueUrl=redrive_queues["tenant1-dlq"], Attributes={"RedriveAllowPolicy": allow},
    ))[1] == denied("sqs:GetQueueAttributes", queue_arn("tenant2-q"))
    own_dlq = json.dumps({"deadLetterTargetArn": queue_arn("tenant1-dlq"), "maxReceiveCount": 2})
    sqs.set_queue_attributes(QueueUrl=redrive_queues["tenant1-src"], Attributes={"RedrivePolicy": own_dlq})


def test_tags_are_authorized_on_the_table_they_change(server: Any, table: str) -> None:
    # dynamodb:* on table/shared does not let a TableName of "shared" tag another table.
    payload = {"TableName": "shared", "ResourceArn": TABLE_ARN, "Tags": [{"Key": "owner", "Value": "tenant1"}]}
    status, body = send(signed_request(server, "TagResource", payload, TENANT))
    assert status == 400 and isinstance(body, dict), body
    assert (body["__type"].rsplit("#", 1)[-1], body["message"]) == (
        "AccessDeniedException", denied("dynamodb:TagResource", TABLE_ARN),
    )
    assert client(server, "dynamodb").list_tags_of_resource(ResourceArn=TABLE_ARN)["Tags"] == []


# --- keys are compared canonically (issue 14, item 2) -------------------------------


@pytest.fixture(scope="module")
def numbers(server: Any) -> str:
    ddb = client(server, "dynamodb")
    ddb.create_table(
        TableName="numbers", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "N"}],
    )
    for pk in ("42", "43"):
        ddb.put_item(TableName="numbers", Item={"pk": {"N": pk}, "v": {"S": "secret " + pk}})
    return "numbers"


NUMBERS_ARN = TABLE_ARN.replace(TABLE, "numbers")


@pytest.mark.parametrize("spelling", ["42", "42.0", "042", "4.2E1", "+42", "420e-1"])
def test_a_deny_on_a_number_key_holds_for_every_spelling(server: Any, numbers: str, spelling: str) -> None:
    ddb = client(server, "dynamodb", TENANT)
    key = {"pk": {"N": spelling}}
    for call, action in (
        (lambda: ddb.get_item(TableName=numbers, Key=key), "dynamodb:GetItem"),
        (lambda: ddb.update_item(TableName=numbers, Key=key, UpdateExpression="SET v = :v",
                                 ExpressionAttributeValues={":v": {"S": "changed"}}, ReturnValues="ALL_OLD"),
         "dynamodb:UpdateItem"),
        (lambda: ddb.batch_get_item(RequestItems={numbers: {"Keys": [key]}}), "dynamodb:BatchGetItem"),
        (lambda: ddb.query(TableName=numbers, KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [key["pk"]]}}),
         "dynamodb:Query"),
    ):
        assert error_of(call) == ("AccessDeniedException", denied(action, NUMBERS_ARN, explicit=True), 400)
    assert client(server, "dynamodb").get_item(TableName=numbers, Key={"pk": {"N": "42"}})["Item"]["v"] == {"S": "secret 42"}
    assert ddb.get_item(TableName=numbers, Key={"pk": {"N": spelling.replace("42", "43").replace("4.2E1", "4.3E1").replace("420e-1", "430e-1")}})["Item"]


@pytest.mark.parametrize("spelling", ["1_000", " 7 ", "١٢", "８"])
def test_numbers_python_accepts_but_dynamodb_does_not(server: Any, numbers: str, spelling: str) -> None:
    ddb = client(server, "dynamodb")
    message = f"The parameter cannot be converted to a numeric value: {spelling}"
    assert error_of(lambda: ddb.put_item(TableName=numbers, Item={"pk": {"N": spelling}})) == (
        "ValidationException", message, 400,
    )
    assert error_of(lambda: ddb.put_item(TableName=numbers, Item={"pk": {"N": "1"}, "n": {"NS": ["2", spelling]}}))[1] == message


# --- authorization before validation (issue 14, item 5) ----------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"TableName": TABLE, "Key": {"pk": {"S": "x"}, "sk": {"S": "a"}}, "AttributeUpdates": {"v": {"Value": [1]}}},
        {"TableName": TABLE, "Key": {"pk": {"S": "x"}, "sk": {"S": "a"}}, "AttributeUpdates": [1]},
        {"TableName": TABLE, "Key": {"pk": {"S": "x"}, "sk": {"S": "a"}}, "AttributeUpdates": {"v": ["PUT", {"S": "1"}]}},
        {"TableName": TABLE, "Key": {"pk": {"S": "x"}, "sk": {"S": "a"}}, "AttributesToGet": [["v"]]},
        {"TableName": "no-such-table", "Key": {"pk": {"S": "x"}}, "AttributesToGet": [{"a": 1}]},
        {"TableName": "no-such-table", "Key": {"pk": {"N": "1_0"}}},
        {"TableName": ["not", "a", "name"], "Key": 5},
    ],
)
def test_a_principal_without_permissions_is_denied_whatever_it_sends(server: Any, table: str, payload: dict[str, Any]) -> None:
    target = "GetItem" if "AttributeUpdates" not in payload else "UpdateItem"
    status, body = send(signed_request(server, target, payload, NOBODY))
    assert status == 400, body
    assert isinstance(body, dict) and body["__type"].endswith("AccessDeniedException"), body


def test_a_restricted_principal_gets_access_denied_for_an_unreadable_key(server: Any, table: str) -> None:
    # The policy allows only the tenant's own partition: a key it cannot read
    # is not "no key" (which ForAllValues would allow) but a refusal.
    for key in ({"pk": {"S": "tenant1", "N": "1"}, "sk": {"S": "a"}}, {"sk": {"S": "a"}}, {"pk": ["tenant1"]}):
        status, body = send(signed_request(server, "GetItem", {"TableName": table, "Key": key}, TENANT))
        assert (status, body["__type"].rsplit("#", 1)[-1]) == (400, "AccessDeniedException"), body  # type: ignore[index]


# --- lifecycle ------------------------------------------------------------------


def test_sighup_reloads_credentials(server_process: Callable[..., Any], tmp_path: Path) -> None:
    path = tmp_path / "creds.toml"
    path.write_text(credentials_toml())
    started = server_process("--in-memory", "--auth", "sigv4", "--credentials", str(path))
    newcomer = ("AKIDNEW", "new-secret")
    assert error_of(lambda: client(started, "dynamodb", newcomer).list_tables())[0] == "UnrecognizedClientException"
    path.write_text(credentials_toml(f'[keys.{newcomer[0]}]\nsecret = "{newcomer[1]}"\nprincipal = "admin"\n'))
    started.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "credentials reloaded" not in started.log_path.read_text():
        assert time.monotonic() < deadline, started.log_path.read_text()
        time.sleep(0.05)
    assert client(started, "dynamodb", newcomer).list_tables()
    path.write_text("not = [valid")  # a broken file keeps the previous keys
    started.process.send_signal(signal.SIGHUP)
    while "credentials not reloaded" not in started.log_path.read_text():
        assert time.monotonic() < deadline, started.log_path.read_text()
        time.sleep(0.05)
    assert client(started, "dynamodb", newcomer).list_tables()


def test_sighup_reaches_every_worker(server_process: Callable[..., Any], tmp_path: Path) -> None:
    path = tmp_path / "creds.toml"
    path.write_text(credentials_toml())
    started = server_process(
        "--data-dir", str(tmp_path / "data"), "--workers", "2", "--auth", "sigv4", "--credentials", str(path)
    )
    client(started, "dynamodb").list_tables()  # a worker answers: both have been forked
    newcomer = ("AKIDNEW", "new-secret")
    path.write_text(credentials_toml(f'[keys.{newcomer[0]}]\nsecret = "{newcomer[1]}"\nprincipal = "admin"\n'))
    started.process.send_signal(signal.SIGHUP)  # the parent forwards it to each worker
    deadline = time.monotonic() + 10
    while started.log_path.read_text().count("credentials reloaded") < 3:  # the parent and two workers
        assert time.monotonic() < deadline, started.log_path.read_text()
        time.sleep(0.05)
    for _ in range(20):  # a new client, a new connection: the kernel spreads them over both workers
        client(started, "dynamodb", newcomer).list_tables()


def test_sigv4_needs_credentials(tmp_path: Path) -> None:
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "cellstore", "serve", "--in-memory", "--port", "0", "--auth", "sigv4"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode != 0 and "--auth sigv4 needs --credentials FILE" in result.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"keys": {"AKID": {"secret": "s3cr3t-value"}}}')
    result = subprocess.run(
        [sys.executable, "-m", "cellstore", "serve", "--in-memory", "--port", "0", "--auth", "sigv4", "--credentials", str(bad)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode != 0 and "keys.AKID needs a 'principal' name" in result.stderr
    assert "s3cr3t-value" not in result.stderr


# --- TLS ------------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture
def tls_files(tmp_path: Path) -> Iterator[Path]:
    """A private CA and a certificate for 127.0.0.1 signed by it."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
             "-days", "1", "-subj", "/CN=cellstore test CA", cwd=tmp_path)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1", cwd=tmp_path)
    (tmp_path / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "1", "-extfile", "ext.cnf", cwd=tmp_path)
    yield tmp_path


def test_tls(server_process: Callable[..., Any], tls_files: Path) -> None:
    path = tls_files / "creds.toml"
    path.write_text(credentials_toml())
    started = server_process(
        "--in-memory", "--auth", "sigv4", "--credentials", str(path),
        "--tls-cert", str(tls_files / "server.pem"), "--tls-key", str(tls_files / "server.key"),
    )
    assert started.endpoint_url.startswith("https://")

    def tls_client(service: str, verify: Any) -> Any:
        return boto3.session.Session().client(
            service, region_name=REGION, endpoint_url=started.endpoint_url, verify=verify,
            aws_access_key_id=ADMIN[0], aws_secret_access_key=ADMIN[1], config=Config(retries={"max_attempts": 1}),
        )

    ca = str(tls_files / "ca.pem")
    assert tls_client("dynamodb", ca).list_tables()["TableNames"] == []
    url = tls_client("sqs", ca).create_queue(QueueName="over-tls")["QueueUrl"]
    assert url.startswith("https://")
    from botocore.exceptions import SSLError

    with pytest.raises(SSLError):
        tls_client("dynamodb", True).list_tables()  # the system store does not know our CA


def test_backups_are_authorized_on_the_table_the_backup_and_the_restore_target(server: Any, table: str) -> None:
    """CreateBackup needs the table; DescribeBackup and a restore the backup's own ARN (``…/backup/…``)."""
    tenant = client(server, "dynamodb", TENANT)
    arn = tenant.create_backup(TableName="shared", BackupName="by-tenant")["BackupDetails"]["BackupArn"]  # dynamodb:* on it
    assert error_of(lambda: tenant.describe_backup(BackupArn=arn))[1] == denied("dynamodb:DescribeBackup", arn)
    assert error_of(lambda: tenant.list_backups())[1] == denied("dynamodb:ListBackups", "*")
    assert error_of(lambda: tenant.restore_table_from_backup(BackupArn=arn, TargetTableName="shared-copy"))[1] == (
        denied("dynamodb:RestoreTableFromBackup", arn))
    admin = client(server, "dynamodb")
    admin.restore_table_from_backup(BackupArn=arn, TargetTableName="shared-copy")
    admin.get_waiter("table_exists").wait(TableName="shared-copy", WaiterConfig={"Delay": 1})
    admin.delete_table(TableName="shared-copy")
    assert admin.delete_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]["BackupStatus"] == "DELETED"
