"""An item change, and the hooks every item change passes through.

``items.apply`` writes an item change and then calls each change hook with
the same storage transaction, so whatever must be atomic with the write —
secondary-index entries, the stream record, the TTL expiry entry — commits or
rolls back with it.  Hooks are called only for real changes (a put of an
identical item or a delete of a missing one calls none), which is what makes
"exactly one stream record per change" hold.

Which hooks run, and in what order, is declared in one place
(``engine/wiring.py``) and carried by the ``Database``; nothing registers
itself by being imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cellstore.engine.expressions import Path
from cellstore.engine.tables import Table
from cellstore.engine.values import Item, item_size
from cellstore.storage.base import Txn


@dataclass(slots=True)
class WriteResult:
    """One item's change: ``new`` None means deleted (or never existed)."""

    table: Table
    storage_key: bytes
    old: Item | None
    new: Item | None
    updated_paths: list[Path] = field(default_factory=list)
    # Who made the change: "user", or "ttl" for the TTL sweeper (streams
    # report the latter with userIdentity dynamodb.amazonaws.com).
    origin: str = "user"
    # Bytes of the item's collection after the change (tables with local
    # indexes only), set by the index hook for ItemCollectionMetrics.
    collection_size: int | None = None

    def size(self) -> int:
        """The larger of the two versions, which is what a write is charged for."""
        return max(item_size(self.old or {}), item_size(self.new or {}))


ChangeHook = Callable[[Txn, WriteResult], None]
"""Called inside the write transaction of every real item change; may raise to refuse it."""
