"""Compressed request bodies get an answer, never an internal error, and never unbounded memory.

Each valid DynamoDB request (mutations.DYNAMODB_VALID) is sent through the
HTTP app (``App.respond``, with no server) gzipped, deflated (zlib or raw) or
doubly compressed, then possibly cut short, corrupted at one byte, given
bytes after its end, or labelled with a different coding.  Whatever arrives,
the answer is not a 500; an intact body gets exactly the answer its
uncompressed form gets.  Decompression bombs — a few kilobytes that inflate
past the 16 MB request limit, also nested — are refused with 413 while the
process allocates little more than that limit.
"""

from __future__ import annotations

import copy
import gzip
import tracemalloc
import zlib
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutations import DYNAMODB_VALID, create_dynamodb_table

from cellstore.api import dispatch
from cellstore.engine.wiring import open_database
from cellstore.protocol import wire
from cellstore.protocol.app import App, HttpResponse
from cellstore.protocol.server import services_for
from cellstore.storage.sqlite import SqliteStore

AUTH = b"AWS4-HMAC-SHA256 Credential=a/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x"


def new_app() -> Iterator[App]:
    database = open_database(SqliteStore(None))
    dispatch(database, "CreateTable", create_dynamodb_table())
    yield App(services_for(database))
    database.close()


@pytest.fixture(scope="module")
def app() -> Iterator[App]:
    yield from new_app()


@pytest.fixture(scope="module")
def twin() -> Iterator[App]:
    """A second database that gets the same requests uncompressed, so that the two stay alike."""
    yield from new_app()


def send(app: App, operation: str, body: bytes, encoding: bytes | None) -> HttpResponse:
    headers = [
        (b"host", b"localhost:8000"),
        (b"content-type", b"application/x-amz-json-1.0"),
        (b"x-amz-target", f"DynamoDB_20120810.{operation}".encode()),
        (b"x-amz-date", b"20240101T000000Z"),
        (b"authorization", AUTH),
    ]
    if encoding is not None:
        headers.append((b"content-encoding", encoding))
    answer = app.respond("POST", "/", "/", b"", headers, body)
    assert isinstance(answer, HttpResponse)  # DynamoDB never long-polls
    return answer


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


CODINGS = {
    "gzip": (b"gzip", gzip.compress),
    "deflate": (b"deflate", zlib.compress),
    "raw deflate": (b"deflate", raw_deflate),
    "gzip twice": (b"gzip", lambda data: gzip.compress(gzip.compress(data))),
    "both codings named": (b"deflate, gzip", lambda data: gzip.compress(zlib.compress(data))),
}


def outcome(answer: HttpResponse) -> tuple[int, Any]:
    """The status and the error type, or the answer's members (timestamps and ids differ between databases)."""
    if not answer.body:
        return answer.status, None
    body = orjson.loads(answer.body)
    return answer.status, body.get("__type", sorted(body))


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw deflate"])
@pytest.mark.parametrize("name", sorted(DYNAMODB_VALID))
def test_an_intact_compressed_body_is_answered_as_the_plain_one(
    app: App, twin: App, name: str, coding: str
) -> None:
    operation, payload = DYNAMODB_VALID[name]
    plain = orjson.dumps(copy.deepcopy(payload))
    label, squeeze = CODINGS[coding]
    expected = outcome(send(twin, operation, plain, None))
    assert outcome(send(app, operation, squeeze(plain), label)) == expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_compressed_bodies_never_get_a_500(app: App, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(DYNAMODB_VALID)), label="request")
    operation, payload = DYNAMODB_VALID[name]
    label, squeeze = CODINGS[data.draw(st.sampled_from(sorted(CODINGS)), label="coding")]
    body = squeeze(orjson.dumps(copy.deepcopy(payload)))
    damage = data.draw(st.sampled_from(["truncate", "flip", "append", "relabel", "none"]), label="damage")
    if damage == "truncate":
        body = body[: data.draw(st.integers(0, len(body) - 1), label="cut at")]
    elif damage == "flip":
        at = data.draw(st.integers(0, len(body) - 1), label="flip at")
        body = body[:at] + bytes([body[at] ^ data.draw(st.integers(1, 255), label="xor")]) + body[at + 1 :]
    elif damage == "append":
        body += data.draw(st.binary(min_size=1, max_size=32), label="trailer")
    elif damage == "relabel":
        label = data.draw(
            st.sampled_from([b"br", b"zstd", b"compress", b"identity", b"GZIP", b"x-gzip", b"gzip, identity", b""]),
            label="label",
        )
    answer = send(app, operation, body, label)
    assert answer.status != 500, answer.body
    if answer.status >= 400:  # a typed AWS error (an earlier example may have created or filled the table)
        error = orjson.loads(answer.body)
        assert error["__type"].endswith("Exception") and "InternalServer" not in error["__type"], error
    if damage in ("truncate", "append") and not label.startswith(b"deflate") and answer.status != 413:
        # gzip checks its length and CRC: a cut or padded stream never passes as a body
        assert (answer.status, orjson.loads(answer.body)) == (
            400, {"__type": "com.amazon.coral.service#SerializationException"},
        )


def bomb(size: int, nested: bool = False, wbits: int = 31) -> bytes:
    """``size`` zero bytes, gzipped (twice with ``nested``): a few kilobytes on the wire."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    chunk = bytes(1 << 20)
    parts = [compressor.compress(chunk) for _ in range(size >> 20)]
    once = b"".join(parts) + compressor.flush()
    return gzip.compress(once, 9) if nested else once


@pytest.mark.parametrize(("size_mb", "nested", "label"), [(17, False, b"gzip"), (64, False, b"gzip"), (64, False, b"deflate"), (64, True, b"gzip")])
def test_a_bomb_is_refused_within_the_limit(app: App, size_mb: int, nested: bool, label: bytes) -> None:
    body = bomb(size_mb << 20, nested, 31 if label == b"gzip" else 15)
    assert len(body) < 2 << 20  # small on the wire
    tracemalloc.start()
    try:
        answer = send(app, "PutItem", body, label)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    if nested:
        # The outer layer inflates to a gzip stream well under 16 MB, which is not JSON.
        assert (answer.status, orjson.loads(answer.body)["__type"]) == (
            400, "com.amazon.coral.service#SerializationException",
        )
    else:
        assert answer.status == 413
        assert orjson.loads(answer.body) == {
            "__type": "com.amazon.coral.service#SerializationException", "Message": "Request entity too large",
        }
    # Held at most: the inflated limit, one chunk, and joining them (2x), never the gigabyte.
    assert peak < 2 * wire.MAX_BODY_BYTES + (8 << 20), peak
