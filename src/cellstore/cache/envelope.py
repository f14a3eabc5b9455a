"""How a value is laid out in memcached: a small header, then the bytes; large values in chunks.

Every item the library writes starts with a 10-byte header::

    magic (0xCE) | kind (1 byte) | expiry (8 bytes, big-endian unix seconds, 0 = none)

``expiry`` travels with the value so that a copy repaired into another zone,
or copied there by warming, expires when the original does (memcached's text
protocol does not tell a reader an item's remaining TTL).

A delete leaves a ``DELETED`` item (no payload) for a couple of seconds
instead of nothing: a read that finds it has its answer (absent) and does
not fall back to another zone, which may not have had the delete yet, and a
repair (``add``) cannot put the old value back over it.

A value longer than the chunk size is stored as chunks plus a manifest under
the key itself, EVCache-style.  The chunk keys carry a random version, so a
reader that gets an old manifest during an overwrite reads the old chunks or
misses, never a mix; every chunk lives on the key's own node (placement is by
the parent key), so one ``get_many`` fetches them all.  Chunks are written
before the manifest: a manifest never points at chunks not yet stored.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from typing import NamedTuple

from cellstore.cache.errors import InvalidCacheKey

MAGIC = 0xCE
VALUE, MANIFEST, CHUNK, DELETED = 0, 1, 2, 3
_HEADER = struct.Struct(">BBQ")
HEADER_SIZE = _HEADER.size
_MANIFEST = struct.Struct(">8sIQI")  # version, chunk count, total length, crc32

#: memcached keys are at most 250 bytes; a chunk key adds ":" + 16 hex digits + ":" + up to 6 digits.
MAX_KEY_LENGTH = 220


def check_key(key: str) -> None:
    """Refuse a key memcached's text protocol cannot carry (or a chunk key could not extend)."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable() or " " in key:
        raise InvalidCacheKey(
            f"cache keys are 1-{MAX_KEY_LENGTH} printable ASCII characters without spaces: {key[:60]!r}"
        )


@dataclass(frozen=True)
class Manifest:
    version: bytes
    count: int
    length: int
    crc: int

    def chunk_keys(self, key: str) -> list[str]:
        return [f"{key}:{self.version.hex()}:{i}" for i in range(self.count)]


class Item(NamedTuple):
    """A decoded item: a plain value, a manifest pointing at chunks, or a chunk (a tuple: made on every read)."""

    kind: int
    expiry: int
    payload: bytes

    def manifest(self) -> Manifest:
        return Manifest(*_MANIFEST.unpack(self.payload))


def decode(raw: bytes) -> Item | None:
    """The item in ``raw``, or None when it is not one of ours (treated as a miss)."""
    if len(raw) < HEADER_SIZE or raw[0] != MAGIC:
        return None
    kind = raw[1]
    payload = raw[HEADER_SIZE:]
    if kind == MANIFEST and len(payload) != _MANIFEST.size:
        return None
    return Item(kind, int.from_bytes(raw[2:HEADER_SIZE]), payload)


def encode(kind: int, expiry: int, payload: bytes) -> bytes:
    return _HEADER.pack(MAGIC, kind, expiry) + payload


def split(key: str, value: bytes, expiry: int, chunk_size: int) -> tuple[bytes, dict[str, bytes]]:
    """The item to store under ``key`` and the chunks (key → item) to store before it."""
    if len(value) <= chunk_size:
        return encode(VALUE, expiry, value), {}
    count = -(-len(value) // chunk_size)
    manifest = Manifest(os.urandom(8), count, len(value), zlib.crc32(value))
    keys = manifest.chunk_keys(key)
    chunks = {keys[i]: encode(CHUNK, expiry, value[i * chunk_size : (i + 1) * chunk_size]) for i in range(count)}
    return encode(MANIFEST, expiry, _MANIFEST.pack(manifest.version, count, len(value), manifest.crc)), chunks


def join(manifest: Manifest, key: str, chunks: dict[str, bytes]) -> bytes | None:
    """The value the chunks make up, or None if one is missing (evicted) or they do not add up."""
    parts = []
    for chunk_key in manifest.chunk_keys(key):
        raw = chunks.get(chunk_key)
        item = decode(raw) if raw is not None else None
        if item is None or item.kind != CHUNK:
            return None
        parts.append(item.payload)
    value = b"".join(parts)
    if len(value) != manifest.length or zlib.crc32(value) != manifest.crc:
        return None
    return value
