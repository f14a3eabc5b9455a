"""The one extension point every item change passes through.

``items.apply`` writes an item change and then calls each registered hook
with the same storage transaction, so whatever must be atomic with the
write — secondary-index entries, the stream record — commits or rolls back
with it.  Hooks are called only for real changes (a put of an identical item
or a delete of a missing one calls none), which is what makes "exactly one
stream record per change" hold.

Hooks register at import of their module (``engine/indexes.py``,
``engine/streams.py``); ``items`` imports those modules, so registration
cannot be forgotten.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cellstore.engine.items import WriteResult
    from cellstore.storage.base import Txn

ChangeHook = Callable[["Txn", "WriteResult"], None]

HOOKS: list[ChangeHook] = []


def on_change(hook: ChangeHook) -> ChangeHook:
    """Register ``hook`` to run inside the transaction of every item change."""
    HOOKS.append(hook)
    return hook
