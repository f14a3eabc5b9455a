"""SigV4 verification with no server: AWS's published examples, then botocore as the signer."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from cellstore.errors import IncompleteSignatureException, InvalidSignatureException, UnrecognizedClientException
from cellstore.protocol import sigv4, wire
from cellstore.protocol.credentials import Key, Keyring, Principal

# The example credentials of AWS's "Signature Version 4 signing process" pages and test suite.
EXAMPLE_KEY_ID = "AKIDEXAMPLE"
EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


# --- AWS's published vectors ---------------------------------------------------


def test_signing_key_example() -> None:
    """"Examples of how to derive a signing key for Signature Version 4" (20120215, us-east-1, iam)."""
    key = sigv4.signing_key(EXAMPLE_SECRET, "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def test_iam_list_users_example() -> None:
    """The GET ListUsers example of "Create a canonical request" / "Create a string to sign" / "Calculate the signature"."""
    headers = [
        (b"host", b"iam.amazonaws.com"),
        (b"content-type", b"application/x-www-form-urlencoded; charset=utf-8"),
        (b"x-amz-date", b"20150830T123600Z"),
    ]
    canonical = sigv4.canonical_request(
        "GET", "/", "Action=ListUsers&Version=2010-05-08", headers,
        ("content-type", "host", "x-amz-date"), EMPTY_SHA256,
    )
    assert canonical == (
        "GET\n/\nAction=ListUsers&Version=2010-05-08\n"
        "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
        "host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
        "content-type;host;x-amz-date\n" + EMPTY_SHA256
    )
    assert hashlib.sha256(canonical.encode()).hexdigest() == (
        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    )
    to_sign = sigv4.string_to_sign("20150830T123600Z", "20150830/us-east-1/iam/aws4_request", canonical)
    assert to_sign == (
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n"
        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    )
    key = sigv4.signing_key(EXAMPLE_SECRET, "20150830", "us-east-1", "iam")
    assert key.hex() == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    assert sigv4.signature(key, to_sign) == "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"


def test_get_vanilla_from_the_test_suite() -> None:
    """``get-vanilla`` of AWS's SigV4 test suite (service "service", example.amazonaws.com)."""
    headers = [(b"host", b"example.amazonaws.com"), (b"x-amz-date", b"20150830T123600Z")]
    canonical = sigv4.canonical_request("GET", "/", "", headers, ("host", "x-amz-date"), EMPTY_SHA256)
    assert hashlib.sha256(canonical.encode()).hexdigest() == (
        "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
    )
    key = sigv4.signing_key(EXAMPLE_SECRET, "20150830", "us-east-1", "service")
    to_sign = sigv4.string_to_sign("20150830T123600Z", "20150830/us-east-1/service/aws4_request", canonical)
    assert sigv4.signature(key, to_sign) == "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"


# --- canonical pieces --------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, canonical",
    [
        ("", "/"),
        ("/", "/"),
        ("/000000000000/my-queue", "/000000000000/my-queue"),
        ("/example/../other", "/other"),
        ("/./a/./b", "/a/b"),
        ("//example//", "/example/"),
        ("/a%20b", "/a%2520b"),  # every service but S3 encodes the encoded path again
        ("/~user", "/~user"),
    ],
)
def test_canonical_uri(raw: str, canonical: str) -> None:
    assert sigv4.canonical_uri(raw) == canonical


@pytest.mark.parametrize(
    "raw, canonical",
    [
        ("", ""),
        ("b=2&a=1", "a=1&b=2"),
        ("Param1=value2&Param1=Value1", "Param1=Value1&Param1=value2"),
        ("a=%7E&b=%2F", "a=~&b=%2F"),
        ("a=b+c", "a=b%2Bc"),
        ("a=b%20c", "a=b%20c"),
        ("flag", "flag="),
        ("ü=é", "%C3%BC=%C3%A9"),
    ],
)
def test_canonical_query(raw: str, canonical: str) -> None:
    assert sigv4.canonical_query(raw) == canonical


def test_canonical_query_without_the_signature() -> None:
    assert sigv4.canonical_query("X-Amz-Signature=abc&A=1", drop_signature=True) == "A=1"


def test_canonical_headers_trim_collapse_and_join() -> None:
    headers = [(b"my-header1", b"  a   b   c  "), (b"x-multi", b"one"), (b"x-multi", b" two "), (b"host", b"h")]
    assert sigv4.canonical_headers(headers, ("host", "my-header1", "x-multi", "x-missing")) == (
        "host:h\nmy-header1:a b c\nx-multi:one,two\nx-missing:\n"
    )


# --- the verifier, against botocore ---------------------------------------------------

NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.UTC)


def keyring() -> Keyring:
    principal = Principal("alice")
    return Keyring(
        {
            "AKIDALICE": Key("AKIDALICE", "alice-secret", principal),
            "AKIDTOKEN": Key("AKIDTOKEN", "token-secret", principal, ("tok-1", "tok-2")),
        }
    )


def verifier(now: datetime.datetime = NOW) -> sigv4.Verifier:
    return sigv4.Verifier(keyring().get, "us-east-1", clock=lambda: now.timestamp())


def botocore_request(
    monkeypatch: pytest.MonkeyPatch,
    *,
    key: tuple[str, str] = ("AKIDALICE", "alice-secret"),
    token: str | None = None,
    region: str = "us-east-1",
    service: str = "dynamodb",
    when: datetime.datetime = NOW,
    body: bytes = b'{"TableName": "t"}',
    url: str = "http://localhost:8000/",
    presign: int | None = None,
    method: str = "POST",
) -> wire.Request:
    """A request signed by botocore, as the ASGI layer would hand it over."""
    import botocore.auth

    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: when.replace(tzinfo=None))
    request = AWSRequest(
        method=method, url=url, data=body,
        headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.GetItem"},
    )
    credentials = Credentials(key[0], key[1], token)
    if presign is None:
        SigV4Auth(credentials, service, region).add_auth(request)
    else:
        SigV4QueryAuth(credentials, service, region, expires=presign).add_auth(request)
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    headers = [(k.lower().encode(), v.encode() if isinstance(v, str) else v) for k, v in prepared.headers.items()]
    headers.append((b"host", parts.netloc.encode()))
    authorization = prepared.headers.get("Authorization")
    return wire.Request(
        "DynamoDB_20120810.GetItem",
        authorization.decode() if isinstance(authorization, bytes) else authorization,
        "X-Amz-Date" in prepared.headers,
        parts.query,
        prepared.body or b"",
        parts.netloc,
        parts.path or "/",
        headers,
        method,
        parts.path or "/",
    )


def with_header(request: wire.Request, name: bytes, value: bytes) -> wire.Request:
    headers = [(k, v) for k, v in request.headers if k != name] + [(name, value)]
    return request._replace(headers=headers)


def test_accepts_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    assert verifier().verify(botocore_request(monkeypatch), "dynamodb").access_key_id == "AKIDALICE"


def test_accepts_botocore_on_a_queue_path(monkeypatch: pytest.MonkeyPatch) -> None:
    request = botocore_request(monkeypatch, service="sqs", url="http://localhost:8000/000000000000/my%20queue?x=1")
    assert verifier().verify(request, "sqs").access_key_id == "AKIDALICE"


def test_streams_are_signed_as_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    assert verifier().verify(botocore_request(monkeypatch), "streams")
    with pytest.raises(InvalidSignatureException, match="correct service: 'sqs'"):
        verifier().verify(botocore_request(monkeypatch), "sqs")


def test_wrong_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidSignatureException) as excinfo:
        verifier().verify(botocore_request(monkeypatch, key=("AKIDALICE", "nope")), "dynamodb")
    assert excinfo.value.message == InvalidSignatureException.default_message


def test_unknown_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnrecognizedClientException, match=r"The security token included in the request is invalid."):
        verifier().verify(botocore_request(monkeypatch, key=("AKIDBOB", "x")), "dynamodb")


def test_tampered_body_and_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    request = botocore_request(monkeypatch)
    for tampered in (
        request._replace(body=b'{"TableName": "u"}'),
        with_header(request, b"x-amz-target", b"DynamoDB_20120810.DeleteItem"),
        with_header(request, b"x-amz-content-sha256", hashlib.sha256(b"other").hexdigest().encode()),
        with_header(request, b"x-amz-content-sha256", b"UNSIGNED-PAYLOAD"),
        request._replace(raw_path="/other"),
        request._replace(method="PUT"),
    ):
        with pytest.raises(InvalidSignatureException):
            verifier().verify(tampered, "dynamodb")


def test_content_sha256_when_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A declared payload hash is the one signed, and must be the body's."""
    request = botocore_request(monkeypatch)
    declared = with_header(request, b"x-amz-content-sha256", hashlib.sha256(request.body).hexdigest().encode())
    assert verifier().verify(declared, "dynamodb")
    with pytest.raises(InvalidSignatureException):
        verifier().verify(declared._replace(body=b"{}"), "dynamodb")


def test_clock_skew(monkeypatch: pytest.MonkeyPatch) -> None:
    fourteen = datetime.timedelta(minutes=14)
    assert verifier().verify(botocore_request(monkeypatch, when=NOW - fourteen), "dynamodb")
    assert verifier().verify(botocore_request(monkeypatch, when=NOW + fourteen), "dynamodb")
    with pytest.raises(InvalidSignatureException) as excinfo:
        verifier().verify(botocore_request(monkeypatch, when=NOW - datetime.timedelta(minutes=16)), "dynamodb")
    assert excinfo.value.message == (
        "Signature expired: 20240501T114400Z is now earlier than 20240501T114500Z (20240501T120000Z - 15 min.)"
    )
    with pytest.raises(InvalidSignatureException) as excinfo:
        verifier().verify(botocore_request(monkeypatch, when=NOW + datetime.timedelta(minutes=16)), "dynamodb")
    assert excinfo.value.message == (
        "Signature not yet current: 20240501T121600Z is still later than 20240501T121500Z (20240501T120000Z + 15 min.)"
    )


@pytest.mark.parametrize(
    ("change", "old", "new"),
    [
        ("region", "/us-east-1/", "/eu-west-1/"),
        ("service", "/dynamodb/", "/sqs/"),
        ("terminator", "aws4_request", "aws4_other"),
        ("scope date", "/20240501/", "/20240502/"),
        ("host unsigned", "SignedHeaders=", "SignedHeaders=x-ignored;"),
    ],
)
@pytest.mark.parametrize("minutes", [-16, 16])
def test_the_date_is_checked_before_the_scope(
    monkeypatch: pytest.MonkeyPatch, change: str, old: str, new: str, minutes: int
) -> None:
    """Issue 21 item 13: AWS reports a stale or future date whatever else is unusual in the header."""
    request = botocore_request(monkeypatch, when=NOW + datetime.timedelta(minutes=minutes))
    assert request.authorization is not None and old in request.authorization
    odd = request.authorization.replace(old, new)
    if change == "host unsigned":
        odd = odd.replace("host;", "")
    with pytest.raises(InvalidSignatureException) as excinfo:
        verifier().verify(request._replace(authorization=odd), "dynamodb")
    expected = "Signature expired: " if minutes < 0 else "Signature not yet current: "
    assert excinfo.value.message.startswith(expected)


def test_scope(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidSignatureException) as excinfo:
        verifier().verify(botocore_request(monkeypatch, region="eu-west-1"), "dynamodb")
    assert excinfo.value.message == "Credential should be scoped to a valid region, not 'eu-west-1'. "
    request = botocore_request(monkeypatch)
    assert request.authorization is not None
    other_day = request._replace(authorization=request.authorization.replace("/20240501/", "/20240502/"))
    with pytest.raises(InvalidSignatureException) as excinfo:
        verifier().verify(other_day, "dynamodb")
    assert excinfo.value.message == (
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        "'20240502' != '20240501', from '20240501T120000Z'."
    )
    terminator = request._replace(authorization=request.authorization.replace("aws4_request", "aws4_other"))
    with pytest.raises(InvalidSignatureException, match="valid terminator: 'aws4_request', not 'aws4_other'"):
        verifier().verify(terminator, "dynamodb")


def test_host_and_date_must_be_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    request = botocore_request(monkeypatch)
    assert request.authorization is not None
    no_host = request._replace(authorization=request.authorization.replace("host;", ""))
    with pytest.raises(IncompleteSignatureException, match="'Host' or ':authority' must be a 'SignedHeader'"):
        verifier().verify(no_host, "dynamodb")
    no_date = request._replace(authorization=request.authorization.replace(";x-amz-date", ""))
    with pytest.raises(IncompleteSignatureException, match="'X-Amz-Date' must be a 'SignedHeader'"):
        verifier().verify(no_date, "dynamodb")


def test_session_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    token_key = ("AKIDTOKEN", "token-secret")
    assert verifier().verify(botocore_request(monkeypatch, key=token_key, token="tok-2"), "dynamodb")
    for token in (None, "tok-3"):
        with pytest.raises(UnrecognizedClientException):
            verifier().verify(botocore_request(monkeypatch, key=token_key, token=token), "dynamodb")
    with pytest.raises(UnrecognizedClientException):  # a key without tokens takes none
        verifier().verify(botocore_request(monkeypatch, token="tok-1"), "dynamodb")


def test_presigned(monkeypatch: pytest.MonkeyPatch) -> None:
    def presigned(when: datetime.datetime, expires: int = 300, **kwargs: Any) -> wire.Request:
        return botocore_request(monkeypatch, presign=expires, when=when, body=b"", method="GET", **kwargs)

    assert verifier().verify(presigned(NOW), "dynamodb")
    assert verifier().verify(presigned(NOW - datetime.timedelta(seconds=299)), "dynamodb")
    with pytest.raises(InvalidSignatureException) as excinfo:
        verifier().verify(presigned(NOW - datetime.timedelta(seconds=301)), "dynamodb")
    assert excinfo.value.message.startswith("Signature expired: 20240501T115459Z is now earlier than ")
    with pytest.raises(InvalidSignatureException, match="Signature not yet current"):
        verifier().verify(presigned(NOW + datetime.timedelta(minutes=16)), "dynamodb")
    tampered = presigned(NOW)
    with pytest.raises(InvalidSignatureException):
        verifier().verify(tampered._replace(query=tampered.query + "&Extra=1"), "dynamodb")
    with pytest.raises(IncompleteSignatureException, match="less than a week"):
        verifier().verify(presigned(NOW, expires=604801), "dynamodb")


def test_date_header_instead_of_x_amz_date(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request dated by ``Date`` alone signs that header (some SDKs do)."""
    request = botocore_request(monkeypatch)
    headers = [(k, v) for k, v in request.headers if k != b"x-amz-date"] + [(b"date", b"Wed, 01 May 2024 12:00:00 GMT")]
    canonical = sigv4.canonical_request(
        "POST", "/", "", headers, ("date", "host", "x-amz-target"), hashlib.sha256(request.body).hexdigest()
    )
    key = sigv4.signing_key("alice-secret", "20240501", "us-east-1", "dynamodb")
    signature = sigv4.signature(key, sigv4.string_to_sign("20240501T120000Z", "20240501/us-east-1/dynamodb/aws4_request", canonical))
    authorization = (
        "AWS4-HMAC-SHA256 Credential=AKIDALICE/20240501/us-east-1/dynamodb/aws4_request, "
        f"SignedHeaders=date;host;x-amz-target, Signature={signature}"
    )
    assert verifier().verify(request._replace(headers=headers, authorization=authorization), "dynamodb")


def test_signing_keys_are_cached_per_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    check = verifier()
    calls: list[tuple[str, ...]] = []
    original: Callable[..., bytes] = sigv4.signing_key
    monkeypatch.setattr(sigv4, "signing_key", lambda *args: calls.append(args) or original(*args))
    for _ in range(3):
        check.verify(botocore_request(monkeypatch), "dynamodb")
    assert len(calls) == 1


@pytest.mark.parametrize(
    "date",
    [
        "Mon, 31 Dec 9999 23:59:59 -2359",  # parses, then overflows past year 9999 in UTC (an OverflowError)
        "Mon, 31 Dec 99999 23:59:59 GMT",
        "Mon, 99 Jan 2020 00:00:00 GMT",
        "Mon, 31 Dec 2020 23:59:60 GMT",
        "yesterday",
        "",
    ],
)
def test_unusable_date_header_is_an_incomplete_signature(monkeypatch: pytest.MonkeyPatch, date: str) -> None:
    """Whatever the ``Date:`` header holds, verification raises only the typed auth error."""
    request = botocore_request(monkeypatch)
    headers = [(k, v) for k, v in request.headers if k != b"x-amz-date"] + [(b"date", date.encode("latin-1"))]
    with pytest.raises(IncompleteSignatureException) as info:
        verifier().verify(request._replace(headers=headers), "dynamodb")
    assert info.value.message == f"Date must be in ISO-8601 'basic format'. Got '{date}'."


@pytest.mark.parametrize("amz_date", ["99991231T235959Z", "00010101T000000Z"])
def test_extreme_but_valid_x_amz_dates_are_refused_by_the_clock(monkeypatch: pytest.MonkeyPatch, amz_date: str) -> None:
    request = with_header(botocore_request(monkeypatch), b"x-amz-date", amz_date.encode())
    with pytest.raises(InvalidSignatureException):
        verifier().verify(request, "dynamodb")
