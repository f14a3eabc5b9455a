"""The engine's wiring: what plugs into a ``Database``, declared in one place, in order.

``open_database`` is how every front end (``serve``, the workers, the
embedded server and in-process client, the CLI) gets a database.  It brings
the keyspace's data format up to date (``engine/migrations.py``) and returns
a ``Database`` carrying:

* ``CHANGE_HOOKS`` — run, in this order, inside the write transaction of
  every item change (``items.apply``).  Indexes first: their hook refuses an
  index key of the wrong type and an item collection over its limit, so a
  refused change never reaches the later hooks; then the stream record; then
  the TTL expiry entry.  (This is the order the import-time registration
  this list replaced happened to give for ``import cellstore.api``.)
* ``BACKGROUND`` — the background units, each a daemon thread: index and
  TTL backfills, and the TTL sweeper (``engine/background.py``).

Nothing registers itself by being imported: a module's hook or unit runs
only because it is listed here.
"""

from __future__ import annotations

from cellstore.engine import indexes, migrations, streams, ttl
from cellstore.engine.background import BACKFILL_POLL, run_backfills
from cellstore.engine.changes import ChangeHook
from cellstore.engine.database import Database, Unit
from cellstore.storage.base import Store

CHANGE_HOOKS: tuple[ChangeHook, ...] = (
    indexes.maintain,
    streams.record_change,
    ttl.maintain,
)

BACKGROUND: tuple[Unit, ...] = (
    Unit("backfill", lambda db: BACKFILL_POLL, run_backfills),
    Unit("ttl", lambda db: db.ttl_interval, ttl.sweep),
)


def open_database(
    store: Store,
    *,
    region: str = "us-east-1",
    account: str = "000000000000",
    ttl_interval: float | None = None,
    background: bool = True,
) -> Database:
    """The engine over ``store``, with its change hooks and (unless ``background`` is False) its background units.

    ``background=False`` is for short-lived tools and tests that drive the
    units by hand; the hooks are always there, since without them an item
    change would leave its indexes, stream and expiry entries behind.
    """
    migrations.migrate(store)
    return Database(
        store,
        hooks=CHANGE_HOOKS,
        units=BACKGROUND if background else (),
        region=region,
        account=account,
        ttl_interval=ttl_interval,
    )
