"""The storage schema's history: ordered migrations, one list for both backends.

A backend records the version it is at (SQLite: ``PRAGMA user_version``;
PostgreSQL: the one row of ``cellstore_schema``) and, when it opens, applies
every migration above that version in order, each in the same transaction as
the version bump.  A database at a version above ``LATEST`` was written by a
newer cellstore: it is refused with ``SchemaTooNew`` rather than guessed at.

Adding a migration: append a ``Migration`` with the next number and the SQL
for each backend.  Never edit or renumber one that has shipped.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "the ordered keyspace: one table of byte keys and byte values",
        sqlite=("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID",),
        # bytea compares with memcmp (then length), the order the engine's keys rely on.
        # fillfactor leaves room in each page so rewriting a value is a HOT update.
        postgres=("CREATE TABLE IF NOT EXISTS kv (k bytea PRIMARY KEY, v bytea NOT NULL) WITH (fillfactor = 80)",),
    ),
)

LATEST = MIGRATIONS[-1].version


class SchemaTooNew(RuntimeError):
    """The database was written by a newer cellstore; this one must not touch it."""


def pending(current: int, where: str) -> tuple[Migration, ...]:
    """The migrations to apply to a database at ``current`` (``where`` names it in errors)."""
    if current > LATEST:
        raise SchemaTooNew(
            f"{where} was written by a newer cellstore (schema {current} > {LATEST}); upgrade cellstore to open it"
        )
    return tuple(m for m in MIGRATIONS if m.version > current)
