"""``wire.unsigned_account``: the account of a request under ``--auth none``."""

from __future__ import annotations

import pytest

from cellstore.protocol import wire


def request(authorization: str | None = None, query: str = "") -> wire.Request:
    return wire.Request("DynamoDB_20120810.ListTables", authorization, True, query, b"{}")


def header(key: str) -> str:
    return (
        f"AWS4-HMAC-SHA256 Credential={key}/20261204/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=abc"
    )


@pytest.mark.parametrize(
    ("key", "account"),
    [
        ("111122223333", "111122223333"),
        ("AKIDEXAMPLE", "000000000000"),
        ("1111222233334", "000000000000"),  # thirteen digits: not an account id
        ("11112222333", "000000000000"),
        ("\uff11" * 12, "000000000000"),  # full-width digits are not ASCII
        ("test", "000000000000"),
    ],
)
def test_a_twelve_digit_access_key_is_the_account(key: str, account: str) -> None:
    assert wire.unsigned_account(request(header(key))) == account


def test_presigned_query_credentials_name_the_account_too() -> None:
    signed = "Action=ListQueues&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=111122223333%2F20261204%2Fus-east-1"
    assert wire.unsigned_account(request(query=signed)) == "111122223333"
    longer = "X-Amz-Credential=1111222233334%2F20261204"
    assert wire.unsigned_account(request(query=longer)) == "000000000000"


def test_no_credential_is_the_default_account() -> None:
    assert wire.unsigned_account(request("AWS4-HMAC-SHA256 Signature=abc")) == "000000000000"
    assert wire.unsigned_account(request(query="Action=ListQueues")) == "000000000000"
