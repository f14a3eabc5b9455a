"""The storage layer: ``base.Store``/``base.Txn`` is the door, SQLite and PostgreSQL stand behind it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cellstore.storage.prefixed import PrefixedStore, PrefixedTxn

if TYPE_CHECKING:
    from cellstore.storage.base import Store

__all__ = ["POSTGRES_SCHEMES", "PrefixedStore", "PrefixedTxn", "is_postgres", "open_store"]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(location: str | Path | None) -> bool:
    return isinstance(location, str) and location.startswith(POSTGRES_SCHEMES)


def open_store(location: str | Path | None) -> Store:
    """The backend for ``location``: a ``postgresql://`` URL, an SQLite file path, or None (SQLite in memory).

    Opening applies pending schema migrations (``storage/migrations.py``).
    """
    if is_postgres(location):
        from cellstore.storage.postgres import PostgresStore

        return PostgresStore(str(location))
    from cellstore.storage.sqlite import SqliteStore

    return SqliteStore(location)
