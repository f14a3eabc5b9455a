"""What a cell router asks of one cell's store: is it answering, and how much does it hold.

Both run on the cell's raw store (every account together), on the cell's
own bulkhead threads, so a hung cell only stalls its own probe.
"""

from __future__ import annotations

from cellstore.engine import keyspace
from cellstore.engine.tenants import Tenants


def probe(tenants: Tenants) -> None:
    """One small write transaction that writes nothing: returns when the cell's storage can take a write.

    A write transaction, so a cell whose write lock is held (another process
    inside a long SQLite write, a stuck PostgreSQL writer) is found out too,
    not only one that does not answer at all.
    """
    with tenants.store.transaction(write=True) as txn:
        txn.get(keyspace.TENANT_FENCE)


def stored_bytes(tenants: Tenants) -> int:
    """Value bytes in the whole store, every account together (placement's size and ``cells status``)."""
    with tenants.store.transaction(write=False) as txn:
        return txn.range_stats(b"\x00", b"\xff")[1]
