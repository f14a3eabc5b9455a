"""With ``--auth sigv4`` on, malformed requests still get a typed error, never a 500.

The same mutated requests as test_bad_input_never_500.py and
test_sqs_bad_input.py (see mutations.py), signed by botocore and sent over
HTTP to one served instance, by two principals: one allowed everything, one
allowed nothing.  Authorization must not depend on a request being well
formed: the principal with no permissions gets a typed refusal for every
request, never a 500 and never a success.

Then the signature's date: any ``Date:`` header (the X-Amz-Date the SDK
signed removed) is a typed refusal, and the refusal is audited like every
other authentication failure.
"""

from __future__ import annotations

import datetime
import http.client
import json
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from mutations import (
    DEEP_EXPRESSIONS,
    DYNAMODB_VALID,
    WRONG_SHAPES,
    create_dynamodb_table,
    mutate,
)
from test_sqs_bad_input import VALID as SQS_VALID

pytestmark = [pytest.mark.server]

REGION = "us-east-1"
ADMIN = ("AKIDFUZZADMIN", "fuzz-admin-secret")
NOBODY = ("AKIDFUZZNOBODY", "fuzz-nobody-secret")
KEYS = {"admin": ADMIN, "nobody": NOBODY}

CREDENTIALS = f"""
[keys.{ADMIN[0]}]
secret = "{ADMIN[1]}"
principal = "admin"

[keys.{NOBODY[0]}]
secret = "{NOBODY[1]}"
principal = "nobody"

[principals.admin]
policies = ['{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "*", "Resource": "*"}}]}}']

[principals.nobody]
policies = []
"""

#: (service, X-Amz-Target, payload) per name: every DynamoDB and SQS request the other files fuzz.
REQUESTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    **{f"dynamodb {name}": ("dynamodb", f"DynamoDB_20120810.{operation}", payload)
       for name, (operation, payload) in DYNAMODB_VALID.items()},
    **{f"sqs {operation}": ("sqs", f"AmazonSQS.{operation}", payload) for operation, payload in SQS_VALID.items()},
}

WRONG = st.one_of(WRONG_SHAPES, DEEP_EXPRESSIONS, st.just({"S": 1}), st.just("no_such_table"))


@pytest.fixture(scope="module")
def auth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("fuzz-auth")
    (directory / "creds.toml").write_text(CREDENTIALS)
    return directory


@pytest.fixture(scope="module")
def server(module_server_process: Callable[..., Any], auth_dir: Path) -> Any:
    served = module_server_process(
        "--in-memory", "--auth", "sigv4", "--credentials", str(auth_dir / "creds.toml"),
        "--audit-log", str(auth_dir / "audit.jsonl"),
    )
    status, body = send(served, "dynamodb", "DynamoDB_20120810.CreateTable", json.dumps(create_dynamodb_table()).encode())
    assert status == 200, body
    for queue in ({"QueueName": "fuzzed"}, {"QueueName": "fuzzed.fifo", "Attributes": {"FifoQueue": "true"}}):
        status, body = send(served, "sqs", "AmazonSQS.CreateQueue", json.dumps(queue).encode())
        assert status == 200, body
    return served


def send(
    server: Any,
    service: str,
    target: str,
    body: bytes,
    key: tuple[str, str] = ADMIN,
    date: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """POST ``body`` signed by botocore with ``key``; with ``date``, the signed X-Amz-Date is swapped for ``Date:``."""
    request = AWSRequest(
        method="POST", url=server.endpoint_url + "/", data=body,
        headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target},
    )
    SigV4Auth(Credentials(*key), service, REGION).add_auth(request)
    prepared = request.prepare()
    headers = dict(prepared.headers)
    if date is not None:
        headers = {k: v for k, v in headers.items() if k.lower() != "x-amz-date"}
        headers["Date"] = date
    url = urllib.parse.urlsplit(prepared.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        connection.request("POST", url.path or "/", body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    return response.status, json.loads(raw) if raw else {}


def encoded(request: Any) -> bytes:
    """The request as JSON; values too deep for the encoder's own stack are skipped (the server never sees them)."""
    try:
        return json.dumps(request).encode()
    except (RecursionError, ValueError):
        reject()
        raise  # unreachable: reject() raises


@pytest.mark.parametrize("who", ["admin", "nobody"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
@given(data=st.data())
def test_signed_mutated_requests_never_500(server: Any, who: str, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(REQUESTS)), label="request")
    service, target, payload = REQUESTS[name]
    request = mutate(data, payload, WRONG)
    status, body = send(server, service, target, encoded(request), KEYS[who])
    assert status != 500, body
    if who == "nobody":
        assert status != 200, f"a principal with no permissions was allowed {name}: {body}"


# --- the signature's date --------------------------------------------------------------------

_WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _http_date(when: datetime.datetime, zone: str) -> str:
    """RFC 7231's form, as a ``Date:`` header carries it, with any zone."""
    return (
        f"{_WEEKDAYS[when.weekday()]}, {when.day:02d} {_MONTHS[when.month - 1]} {when.year:04d} "
        f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} {zone}"
    )


_OFFSETS = st.builds(lambda sign, hours, minutes: f"{sign}{hours:02d}{minutes:02d}",
                    st.sampled_from("-+"), st.integers(0, 23), st.integers(0, 59))
ZONES = st.one_of(_OFFSETS, st.sampled_from(["GMT", "UT", "EST", "PDT", "Z"]))

#: Any time on the first or last day a datetime holds: a zone offset moves it past year 9999 (or before year 1).
EDGES = st.builds(datetime.datetime.combine, st.sampled_from([datetime.date.max, datetime.date.min]), st.times())

EDGE_DATES = st.builds(_http_date, EDGES, ZONES)
DATES = st.one_of(
    st.builds(_http_date, st.datetimes(), ZONES),
    # Fields out of their ranges, or any text at all.
    st.builds(
        lambda weekday, day, month, year, h, m, sec, zone: f"{weekday}, {day:02d} {month} {year} {h:02d}:{m:02d}:{sec:02d} {zone}",
        st.sampled_from(_WEEKDAYS), st.integers(0, 99), st.sampled_from(_MONTHS), st.integers(0, 10**6),
        st.integers(0, 99), st.integers(0, 99), st.integers(0, 99), ZONES,
    ),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
)


def check_refused(server: Any, date: str) -> None:
    status, body = send(server, "dynamodb", "DynamoDB_20120810.ListTables", b"{}", date=date)
    assert status == 400, body
    assert body["__type"].rsplit("#", 1)[-1] in {
        "IncompleteSignatureException", "InvalidSignatureException", "MissingAuthenticationTokenException",
    }, body


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(date=DATES)
def test_any_date_header_is_a_typed_refusal(server: Any, date: str) -> None:
    check_refused(server, date)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(date=EDGE_DATES)
def test_dates_at_the_ends_of_time_are_a_typed_refusal(server: Any, date: str) -> None:
    """The first and last day a datetime holds, any time, any zone: some overflow once moved to UTC."""
    check_refused(server, date)


def test_date_past_year_9999_is_refused_and_audited(server: Any, auth_dir: Path) -> None:
    """The issue's header: parsed, then an OverflowError in UTC — a 500 before authentication, nothing audited."""
    date = "Mon, 31 Dec 9999 23:59:59 -2359"
    status, body = send(server, "dynamodb", "DynamoDB_20120810.ListTables", b"{}", date=date)
    assert (status, body.get("__type"), body.get("message")) == (
        400, "com.amazon.coral.service#IncompleteSignatureException",
        f"Date must be in ISO-8601 'basic format'. Got '{date}'.",
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        records = [json.loads(line) for line in (auth_dir / "audit.jsonl").read_text().splitlines()]
        if any(r.get("stage") == "authentication" and r.get("code") == "IncompleteSignatureException"
               and r.get("access_key") == ADMIN[0] for r in records):
            return
        time.sleep(0.05)
    pytest.fail("the refusal was not audited")
