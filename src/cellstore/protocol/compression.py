"""HTTP content codings: inflating compressed request bodies, compressing large answers.

Requests.  An SDK may gzip a request body (``Content-Encoding: gzip``;
botocore does so above 10 KB for operations whose model asks for it, and
DynamoDB accepts ``gzip`` and ``deflate``).  ``inflate`` undoes the coding
with a bounded stream: output is taken ``CHUNK_BYTES`` at a time and the
inflation stops as soon as it passes the request limit, so a few kilobytes
of "bomb" (deflate reaches about 1,000:1) can never hold more than
``wire.MAX_BODY_BYTES`` plus one chunk.  The inflated body is the one the
request would have had uncompressed, and must fit the same 16 MB limit.

AWS documents no error for a body that does not inflate.  What cellstore
answers, and why:

- a body that is not valid gzip/deflate, is cut short, or has bytes after
  its end: ``SerializationException`` with no message — what DynamoDB
  answers for any body it cannot parse, which is what such a body is;
- a coding cellstore does not know (``br``, ``zstd``, ...) or more than one
  coding stacked (``gzip, gzip``): the same, since the bytes are not a JSON
  body that cellstore can read (``identity`` is no coding and is ignored);
- a body that inflates past 16 MB: ``None`` here, which the wire layer
  answers as it answers any body over the limit (413, "Request entity too
  large"; DynamoDB used to accept such a bomb and now refuses it).

Responses.  ``choose`` picks a coding from ``Accept-Encoding`` and
``compress`` applies it.  DynamoDB gzips an answer only when it is large
(SDK maintainers report small answers coming back uncompressed even when gzip
was asked for); AWS publishes no threshold, and cellstore compresses bodies of
``MIN_COMPRESS_BYTES`` (4 KB) or more — below that the saving is a few
hundred bytes and the cost is most of a request's time (docs/HTTP.md has
the measurements).  The ``x-amz-crc32`` of a compressed answer is computed
over the compressed bytes, the bytes on the wire, as DynamoDB does and as the
SDKs check it (botocore reads the raw, undecoded body).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from cellstore.errors import SerializationException

#: Inflated bytes taken from zlib per step: what one step may overshoot the limit by.
CHUNK_BYTES = 64 * 1024
#: Answers shorter than this go uncompressed, whatever the client accepts.
MIN_COMPRESS_BYTES = 4 * 1024
#: zlib's level for answers: level 1 is several times faster than the default 6 on
#: DynamoDB's JSON and compresses it within a few percent as well (docs/HTTP.md).
LEVEL = 1

GZIP = "gzip"
DEFLATE = "deflate"
#: Codings a request body may carry, and the zlib window bits that read them.
_REQUEST_CODINGS = {"gzip": 31, "x-gzip": 31, "deflate": 15}


def codings(values: Iterable[bytes]) -> list[str]:
    """The codings named by a request's ``Content-Encoding`` headers, in order, without ``identity``."""
    found: list[str] = []
    for value in values:
        for token in value.decode("latin-1").split(","):
            coding = token.strip().lower()
            if coding and coding != "identity":
                found.append(coding)
    return found


def inflate(body: bytes, coding_names: list[str], limit: int) -> bytes | None:
    """``body`` with its content codings undone; None if it inflates past ``limit`` bytes.

    Raises ``SerializationException`` for a body that is not what its
    coding says (see the module docstring for what AWS does and what we chose).
    """
    if not coding_names:
        return body
    if len(coding_names) > 1:
        raise SerializationException()
    wbits = _REQUEST_CODINGS.get(coding_names[0])
    if wbits is None:
        raise SerializationException()
    if wbits == 15 and not _zlib_header(body):
        wbits = -15  # "deflate" sent as a raw stream, as some clients do
    out: list[bytes] = []
    size = 0
    data = body
    while True:
        inflater = zlib.decompressobj(wbits)
        try:
            while not inflater.eof:
                chunk = inflater.decompress(data, CHUNK_BYTES)
                data = inflater.unconsumed_tail
                if not chunk and not data:
                    raise SerializationException()  # cut short: the stream never ended
                size += len(chunk)
                if size > limit:
                    return None
                out.append(chunk)
        except zlib.error:
            raise SerializationException() from None
        data = inflater.unused_data
        if not data:
            return b"".join(out)
        if wbits != 31 or not data.startswith(b"\x1f\x8b"):
            raise SerializationException()  # bytes after the end of the stream
        # gzip allows several members one after another (RFC 1952 2.2): read the next.


def _zlib_header(body: bytes) -> bool:
    """Whether ``body`` starts with a zlib (RFC 1950) header: deflate, a window size, a valid check."""
    return len(body) >= 2 and body[0] & 0x0F == 8 and body[0] >> 4 <= 7 and ((body[0] << 8) | body[1]) % 31 == 0


def choose(accept_encoding: bytes) -> str | None:
    """The coding to answer with for this ``Accept-Encoding``: gzip, deflate, or None (identity).

    gzip is preferred when both are acceptable; ``*`` accepts gzip; a coding
    with ``q=0`` is refused (RFC 9110 12.5.3).
    """
    accepted: set[str] = set()
    for token in accept_encoding.decode("latin-1").split(","):
        name, _, params = token.partition(";")
        coding = name.strip().lower()
        if _refused(params):
            continue
        if coding in ("*", GZIP, "x-gzip"):
            accepted.add(GZIP)
        elif coding == DEFLATE:
            accepted.add(DEFLATE)
    if GZIP in accepted:
        return GZIP
    if DEFLATE in accepted:
        return DEFLATE
    return None


def _refused(params: str) -> bool:
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            try:
                return float(value.strip()) <= 0
            except ValueError:
                return False
    return False


def compress(body: bytes, coding: str) -> bytes:
    """``body`` in ``coding`` (gzip, or deflate in its zlib wrapper as HTTP defines it)."""
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, 31 if coding == GZIP else 15)
    return compressor.compress(body) + compressor.flush()
