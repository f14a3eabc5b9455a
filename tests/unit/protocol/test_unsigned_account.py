"""``wire.unsigned_account``: the account of a request under ``--auth none``, from the access key id ``check_auth`` parsed."""

from __future__ import annotations

import pytest

from cellstore.errors import IncompleteSignatureException, MissingAuthenticationTokenException
from cellstore.protocol import wire


def account_of(authorization: str | None = None, query: str = "") -> str:
    """What ``wire.respond`` does under ``--auth none``: one parse, checked, and the account out of it."""
    return wire.unsigned_account(wire.check_auth(authorization, query, has_date=True))


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
    assert wire.check_auth(header(key), "", has_date=True) == key
    assert account_of(header(key)) == account


def test_a_header_in_another_order_names_its_account_too() -> None:
    """Not what SDKs send, so not the one-regex path: the token-by-token parse finds the key id."""
    reordered = "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc, Credential=111122223333/20261204/us-east-1/sqs/aws4_request"
    assert account_of(reordered) == "111122223333"


def test_presigned_query_credentials_name_the_account_too() -> None:
    params = "Action=ListQueues&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261204T000000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=abc"
    assert account_of(query=f"{params}&X-Amz-Credential=111122223333%2F20261204%2Fus-east-1") == "111122223333"
    assert account_of(query=f"{params}&X-Amz-Credential=111122223333/20261204/us-east-1") == "111122223333"
    assert account_of(query=f"{params}&X-Amz-Credential=111122223333%2f20261204") == "111122223333"
    assert account_of(query=f"{params}&X-Amz-Credential=1111222233334%2F20261204") == "000000000000"


def test_no_access_key_is_refused_before_any_account() -> None:
    with pytest.raises(IncompleteSignatureException):
        account_of("AWS4-HMAC-SHA256 Signature=abc")
    with pytest.raises(MissingAuthenticationTokenException):
        account_of(query="Action=ListQueues")
