"""The cache library's own errors.

They are not wire errors (the cache is a client library, usable without a
cellstore server), so they live beside it rather than in ``cellstore.errors``,
which holds what becomes an AWS error body.
"""

from __future__ import annotations


class CacheError(Exception):
    """Base of every error the cache library raises to its caller."""


class CacheConfigError(CacheError, ValueError):
    """A cache configuration (cache.toml or its Python equivalent) that cannot be used."""


class InvalidCacheKey(CacheError, ValueError):
    """A key memcached's text protocol cannot carry: empty, too long, or with spaces or control characters."""


class CacheUnavailable(CacheError):
    """No zone could answer: every zone that was asked failed (a miss is an answer, an error is not)."""
