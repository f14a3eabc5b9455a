"""Listing a memcached node's keys with its LRU crawler: ``lru_crawler metadump hash``.

``hash`` walks the hash table, so every item is listed once.  ``all`` walks
the LRUs, and misses items that memcached's LRU maintainer moves from one
LRU to another while the crawl is under way (a recently set or read item
often is); it is used only for a memcached too old for ``hash`` (before 1.6).

memcached answers with one line per item (``key=<url-encoded> exp=<unix
time, or -1 for none> la=... cas=... fetch=... cls=... size=...``) and then
``END``.  This is the one memcached command the cache sends itself rather than
through pymemcache: pymemcache 4.0's ``raw_command`` reads a multi-packet
answer wrongly (its segment reader drops what it read before the last
packet), and a dump is many packets.  The answer is read as a stream, so a
node with millions of keys is never held in memory at once.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import unquote

from cellstore.cache.config import Server

#: The crawler runs one job at a time; a dump asked for while one runs gets BUSY.
_BUSY_TRIES, _BUSY_WAIT = 50, 0.1


class MetadumpFailed(Exception):
    """The node refused the dump (crawler disabled, busy for too long) or the connection failed."""


def metadump(server: Server, timeout: float = 5.0) -> Iterator[tuple[str, int]]:
    """(key, expiry) of every item on ``server``; expiry is unix seconds, 0 when the item has none."""
    walk = b"hash"
    for _ in range(_BUSY_TRIES):
        try:
            with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
                sock.sendall(b"lru_crawler metadump " + walk + b"\r\n")
                lines = _lines(sock)
                first = next(lines, b"")
                if first.startswith(b"BUSY"):
                    time.sleep(_BUSY_WAIT)
                    continue
                if walk == b"hash" and first.startswith((b"ERROR", b"CLIENT_ERROR")):
                    walk = b"all"  # a memcached without the hash walk
                    continue
                for line in _chain(first, lines):
                    if line == b"END":
                        return
                    if line.startswith((b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR")):
                        raise MetadumpFailed(f"{server.name}: {line.decode(errors='replace')}")
                    parsed = _parse(line)
                    if parsed is not None:
                        yield parsed
                raise MetadumpFailed(f"{server.name}: the connection closed before END")
        except OSError as exc:
            raise MetadumpFailed(f"{server.name}: {exc}") from exc
    raise MetadumpFailed(f"{server.name}: the LRU crawler stayed busy")


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _lines(sock: socket.socket) -> Iterator[bytes]:
    buffer = b""
    while True:
        data = sock.recv(65536)
        if not data:
            if buffer:
                yield buffer.rstrip(b"\r")
            return
        buffer += data
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            yield line.rstrip(b"\r")


def _parse(line: bytes) -> tuple[str, int] | None:
    fields = dict(part.split(b"=", 1) for part in line.split(b" ") if b"=" in part)
    key = fields.get(b"key")
    if key is None:
        return None
    try:
        expiry = int(fields.get(b"exp", b"-1"))
    except ValueError:
        expiry = -1
    return unquote(key.decode("ascii", errors="replace")), max(expiry, 0)
