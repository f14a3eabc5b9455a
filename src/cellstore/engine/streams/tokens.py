"""Shard iterators: self-contained, tamper-evident tokens naming a position in a shard.

``<stream arn>|1|<base64 JSON [shard, after, issued ms, digest]>`` — the
shape of AWS's iterators.  Everything a GetRecords needs is inside, so no
iterator state is stored and any ``serve --workers`` process can serve it;
the digest makes a hand-edited token an "Invalid ShardIterator" rather than
a read somewhere else.  An iterator expires ``iterator_ttl_seconds`` after
it was issued, as AWS's do after 15 minutes.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from cellstore.engine.streams.settings import SETTINGS
from cellstore.errors import ExpiredIteratorException, ValidationException


@dataclass(frozen=True, slots=True)
class Position:
    """Where a shard iterator points: the next record read has a sequence number > ``after``."""

    arn: str
    shard: int
    after: int
    issued: float


def _digest(arn: str, shard: int, after: int, issued_ms: int) -> str:
    return hashlib.blake2b(f"{arn}|{shard}|{after}|{issued_ms}".encode(), digest_size=8).hexdigest()


def encode_iterator(position: Position) -> str:
    """The token of ``position``."""
    issued_ms = int(position.issued * 1000)
    payload = orjson.dumps(
        [position.shard, position.after, issued_ms, _digest(position.arn, position.shard, position.after, issued_ms)]
    )
    return f"{position.arn}|1|{base64.b64encode(payload).decode('ascii')}"


def decode_iterator(token: str) -> Position:
    """The position in ``token``; ValidationException if it is not one this engine issued."""
    try:
        arn, version, blob = token.rsplit("|", 2)
        shard, after, issued_ms, digest = orjson.loads(base64.b64decode(blob, validate=True))
        valid = version == "1" and digest == _digest(arn, shard, after, issued_ms)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        valid = False
    if not valid:
        raise ValidationException("Invalid ShardIterator")
    return Position(arn, int(shard), int(after), issued_ms / 1000)


def check_fresh(position: Position, now: float) -> None:
    """ExpiredIteratorException, in AWS's words, once the iterator outlived its lifetime."""
    if position.issued + SETTINGS.iterator_ttl_seconds > now:
        return

    def shown(epoch: float) -> str:
        return datetime.fromtimestamp(epoch, UTC).strftime("%a %b %d %H:%M:%S UTC %Y")

    raise ExpiredIteratorException(
        f"Iterator expired. The iterator was created at time {shown(position.issued)} while right now it is "
        f"{shown(now)} which is further in the future than the tolerated delay of "
        f"{int(SETTINGS.iterator_ttl_seconds * 1000)} milliseconds."
    )
