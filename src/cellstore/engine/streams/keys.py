"""Where a stream keeps its records: the 0x06 layout, under prefixes from ``engine/keyspace.py``.

    0x06 "seq"                                      last stream id issued
    0x06 "n" <table name> 0x00 <label>              stream record (JSON)
    0x06 "h" <stream id:8> <shard number:8>         shard record (JSON)
    0x06 "r" <stream id:8> <shard number:8> <seq:16> stream record, AWS shape (JSON)

Table names cannot contain 0x00, so it ends the name unambiguously and all
of one table's streams are one range, in label (creation) order.  Shard and
sequence numbers are big-endian, so byte order is number order.
"""

from __future__ import annotations

from cellstore.engine.keyspace import STREAM_CHANGES, STREAM_RECORDS, STREAM_SEQ, STREAM_SHARDS

SEQ = STREAM_SEQ


def stream(table_name: str, label: str) -> bytes:
    # ``table_streams(table_name) + label``, spelled out: it is on every streamed write's path.
    return STREAM_RECORDS + table_name.encode("utf-8") + b"\x00" + label.encode("ascii")


def table_streams(table_name: str) -> bytes:
    """Every stream of one table."""
    return STREAM_RECORDS + table_name.encode("utf-8") + b"\x00"


ALL_STREAMS = STREAM_RECORDS


def shards(stream_id: int) -> bytes:
    """Every shard of one stream."""
    return STREAM_SHARDS + stream_id.to_bytes(8, "big")


def shard(stream_id: int, number: int) -> bytes:
    return shards(stream_id) + number.to_bytes(8, "big")


def shard_number_of(key: bytes) -> int:
    return int.from_bytes(key[-8:], "big")


def records(stream_id: int, number: int | None = None) -> bytes:
    """Every record of one stream, or of one of its shards."""
    prefix = STREAM_CHANGES + stream_id.to_bytes(8, "big")
    return prefix if number is None else prefix + number.to_bytes(8, "big")


def record(stream_id: int, number: int, seq: int) -> bytes:
    return records(stream_id, number) + seq.to_bytes(16, "big")


def seq_of(key: bytes) -> int:
    return int.from_bytes(key[-16:], "big")
