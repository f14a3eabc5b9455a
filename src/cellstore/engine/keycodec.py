"""Order-preserving byte encodings of DynamoDB keys, and the keyspace layout.

The storage door compares keys with memcmp, so the engine must turn DynamoDB
key values into bytes whose byte order is DynamoDB's order:

* ``S`` — UTF-8 bytes (DynamoDB orders strings by UTF-8 bytes);
* ``B`` — the raw bytes;
* ``N`` — numerically, by a sign class, a biased exponent and the digits.

Every encoding is *self-delimiting* (a prefix-free terminator, with 0x00
escaped inside strings and binaries) so a partition key can be followed by a
sort key and ordering still holds component by component.

The keys of items, index entries and TTL entries are built here from the
prefixes ``engine/keyspace.py`` assigns (the one map of the keyspace):

    0x02 <table id: 8 bytes> <segment hash: 8 bytes> <pk> [<sk>]   item (JSON)
    0x04 <table id:8> <index number:2> <hash:8> <index pk>... [<index sk>...] <pk> [<sk>]
                                                   secondary-index entry (projected item JSON);
                                                   a multi-attribute GSI key is the tuple of its
                                                   values, one ``encode_value`` after another
    0x05 <table id:8> <expiry seconds:8> <item storage key>   TTL entry (empty value)

The 8-byte hash of the encoded partition key spreads partitions over the
table's range the way DynamoDB's hash partitioning does; Scan walks that order
and a parallel Scan segment is a contiguous slice of the hash space.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from decimal import Decimal

from cellstore.engine.keyspace import EXPIRIES, INDEXES, ITEMS, TABLES
from cellstore.engine.values import AttributeValue, decode_binary
from cellstore.storage.base import prefix_end

_TAG_BINARY = 0x10
_TAG_NUMBER = 0x20
_TAG_STRING = 0x30

_NEG, _ZERO, _POS = 0x01, 0x02, 0x03
_EXPONENT_BIAS = 1 << 15


def _escape(raw: bytes) -> bytes:
    return raw.replace(b"\x00", b"\x00\xff") + b"\x00"


def encode_number(text: str) -> bytes:
    """Numbers as sign class + biased exponent + decimal digits.

    For positives, a larger exponent means a larger number and, at equal
    exponents, the digit string (with trailing zeros stripped, terminated by
    0x00 below any digit) compares like the mantissa.  Negatives use the
    complement of all of that so that bigger magnitudes sort first.
    """
    number = Decimal(text)
    if number.is_zero():
        return bytes([_ZERO])
    sign, digits, _ = number.as_tuple()
    digit_text = "".join(map(str, digits)).rstrip("0").lstrip("0")
    exponent = number.adjusted() + _EXPONENT_BIAS
    body = digit_text.encode("ascii")
    if not sign:
        return bytes([_POS]) + struct.pack(">H", exponent) + body + b"\x00"
    inverted = bytes(0xFF - b for b in body)
    return bytes([_NEG]) + struct.pack(">H", 0xFFFF - exponent) + inverted + b"\xff"


def encode_value(value: AttributeValue) -> bytes:
    """A key attribute value (S, N or B) as self-delimiting order-preserving bytes."""
    if "S" in value:
        return bytes([_TAG_STRING]) + _escape(value["S"].encode("utf-8"))
    if "N" in value:
        return bytes([_TAG_NUMBER]) + encode_number(value["N"])
    return bytes([_TAG_BINARY]) + _escape(decode_binary(value["B"]))


def table_prefix(table_id: int) -> bytes:
    return ITEMS + table_id.to_bytes(8, "big")


def partition_hash(encoded_pk: bytes) -> bytes:
    return hashlib.blake2b(encoded_pk, digest_size=8).digest()


def partition_prefix(table_id: int, pk: AttributeValue) -> bytes:
    encoded = encode_value(pk)
    return table_prefix(table_id) + partition_hash(encoded) + encoded


def item_key(table_id: int, pk: AttributeValue, sk: AttributeValue | None) -> bytes:
    prefix = partition_prefix(table_id, pk)
    return prefix if sk is None else prefix + encode_value(sk)


def segment_bounds(table_id: int, segment: int, total: int) -> tuple[bytes, bytes]:
    """The [start, end) key range of parallel-scan ``segment`` of ``total``.

    Segments split the 64-bit hash space into ``total`` contiguous slices, so
    they are disjoint and together cover the table.
    """
    prefix = table_prefix(table_id)
    space = 1 << 64
    low = space * segment // total
    high = space * (segment + 1) // total
    start = prefix + low.to_bytes(8, "big")
    end = ITEMS + (table_id + 1).to_bytes(8, "big") if high == space else prefix + high.to_bytes(8, "big")
    return start, end


def prefix_segment_bounds(prefix: bytes, segment: int, total: int) -> tuple[bytes, bytes]:
    """``segment_bounds`` for any keyspace whose keys are ``prefix`` + an 8-byte hash + ..."""
    space = 1 << 64
    low = space * segment // total
    high = space * (segment + 1) // total
    start = prefix + low.to_bytes(8, "big")
    end = prefix_end(prefix) if high == space else prefix + high.to_bytes(8, "big")
    return start, end


def index_table_prefix(table_id: int) -> bytes:
    """Every secondary-index entry of a table."""
    return INDEXES + table_id.to_bytes(8, "big")


def index_prefix(table_id: int, number: int) -> bytes:
    """Every entry of one index; ``number`` is never reused within the table."""
    return index_table_prefix(table_id) + number.to_bytes(2, "big")


def index_partition_prefix(table_id: int, number: int, pk: AttributeValue) -> bytes:
    encoded = encode_value(pk)
    return index_prefix(table_id, number) + partition_hash(encoded) + encoded


def encode_values(values: Sequence[AttributeValue]) -> bytes:
    """A tuple of key values (a multi-attribute index key) as one order-preserving byte string.

    Each element is self-delimiting, so the concatenation orders tuples
    lexicographically, element by element, and a 1-tuple is exactly
    ``encode_value`` of its element (single-attribute keys keep their bytes).
    """
    return b"".join(encode_value(value) for value in values)


def index_tuple_partition_prefix(table_id: int, number: int, values: Sequence[AttributeValue]) -> bytes:
    """``index_partition_prefix`` for a partition key of one or more attributes.

    The hash covers the whole encoded tuple (the attributes are hashed
    together, as DynamoDB does), then the tuple follows; for one attribute the
    bytes equal ``index_partition_prefix``'s.
    """
    encoded = encode_values(values)
    return index_prefix(table_id, number) + partition_hash(encoded) + encoded


def expiry_prefix(table_id: int) -> bytes:
    """Every TTL entry of a table, ordered by expiry second."""
    return EXPIRIES + table_id.to_bytes(8, "big")


def table_name_key(name: str) -> bytes:
    return TABLES + name.encode("utf-8")
