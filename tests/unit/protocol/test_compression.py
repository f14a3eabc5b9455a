"""protocol/compression.py: bounded inflation of request bodies, the choice and making of compressed answers."""

from __future__ import annotations

import gzip
import zlib

import pytest

from cellstore.errors import SerializationException
from cellstore.protocol import compression

BODY = b'{"TableName": "t", "Item": {"pk": {"S": "' + b"x" * 5000 + b'"}}}'


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], []),
        ([b"gzip"], ["gzip"]),
        ([b" GZip "], ["gzip"]),
        ([b"identity"], []),
        ([b"gzip, identity"], ["gzip"]),
        ([b"deflate", b"gzip"], ["deflate", "gzip"]),
        ([b""], []),
    ],
)
def test_codings(values: list[bytes], expected: list[str]) -> None:
    assert compression.codings(values) == expected


@pytest.mark.parametrize(
    ("coding", "squeeze"),
    [("gzip", gzip.compress), ("x-gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", raw_deflate)],
)
def test_inflate(coding: str, squeeze: object) -> None:
    assert callable(squeeze)
    assert compression.inflate(squeeze(BODY), [coding], 1 << 20) == BODY


def test_no_coding_is_the_body_as_is() -> None:
    assert compression.inflate(b"not compressed", [], 5) == b"not compressed"


def test_gzip_members_one_after_another() -> None:
    assert compression.inflate(gzip.compress(b"abc") + gzip.compress(b"def"), ["gzip"], 100) == b"abcdef"


@pytest.mark.parametrize(
    ("body", "codings"),
    [
        (gzip.compress(BODY)[:-9], ["gzip"]),  # cut short inside the trailer
        (gzip.compress(BODY)[:40], ["gzip"]),  # cut short inside the stream
        (gzip.compress(BODY)[:5], ["gzip"]),  # cut short inside the header
        (b"", ["gzip"]),
        (BODY, ["gzip"]),  # not compressed at all
        (zlib.compress(BODY), ["gzip"]),  # the other coding
        (gzip.compress(BODY) + b"junk", ["gzip"]),  # bytes after the end
        (zlib.compress(BODY) + b"junk", ["deflate"]),
        (gzip.compress(BODY), ["br"]),  # a coding cellstore does not read
        (gzip.compress(gzip.compress(BODY)), ["gzip", "gzip"]),  # stacked codings
    ],
)
def test_a_body_that_is_not_what_its_coding_says_is_a_serialization_error(body: bytes, codings: list[str]) -> None:
    with pytest.raises(SerializationException) as excinfo:
        compression.inflate(body, codings, 1 << 20)
    assert excinfo.value.message == ""  # as DynamoDB answers a body it cannot parse


@pytest.mark.parametrize("wbits", [31, 15, -15])
def test_inflating_past_the_limit_stops_there(wbits: int) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    bomb = b"".join(compressor.compress(bytes(1 << 20)) for _ in range(32)) + compressor.flush()
    assert len(bomb) < 64 * 1024
    coding = "gzip" if wbits == 31 else "deflate"
    assert compression.inflate(bomb, [coding], 4 << 20) is None
    assert compression.inflate(bomb, [coding], 32 << 20) == bytes(32 << 20)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (b"gzip", "gzip"),
        (b"deflate", "deflate"),
        (b"gzip, deflate, br", "gzip"),
        (b"deflate, gzip", "gzip"),
        (b"br", None),
        (b"identity", None),
        (b"", None),
        (b"*", "gzip"),
        (b"gzip;q=0, deflate", "deflate"),
        (b"gzip; q=0.0", None),
        (b"gzip;q=0.5", "gzip"),
        (b"GZIP", "gzip"),
        (b"gzip;q=bogus", "gzip"),
    ],
)
def test_choose(accept: bytes, expected: str | None) -> None:
    assert compression.choose(accept) == expected


def test_compress_round_trips() -> None:
    assert gzip.decompress(compression.compress(BODY, "gzip")) == BODY
    assert zlib.decompress(compression.compress(BODY, "deflate")) == BODY
