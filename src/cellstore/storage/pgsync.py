"""How many synchronous replicas a PostgreSQL primary waits for, and the floor a quorum cell promises.

Patroni's quorum mode treats ``synchronous_node_count`` as an upper bound:
when replicas die it lowers ``ANY 3 (...)`` to ``ANY 2 (...)`` (and keeps at
least one with ``synchronous_mode_strict``), so commits go on with fewer
copies than the cell promises.  Aurora stops writes instead when a zone and
one more copy are gone.  A cell declares its floor in its PostgreSQL
configuration — ``cellstore.min_sync_standbys`` (a custom setting every node
has, written by ``cellstore quorum up``) — and the store refuses to begin a
write, or to acknowledge a commit, while the primary's
``synchronous_standby_names`` asks for fewer replicas than that.
"""

from __future__ import annotations

import re

#: The custom PostgreSQL setting holding a cell's floor of synchronous replicas per commit.
FLOOR_SETTING = "cellstore.min_sync_standbys"

_COUNTED = re.compile(r"^\s*(?:(?:ANY|FIRST)\s+)?(\d+)\s*\(", re.IGNORECASE)


def synchronous_count(standby_names: str | None) -> int:
    """How many standbys must confirm a commit under this ``synchronous_standby_names``.

    ``ANY n (...)``, ``FIRST n (...)`` and ``n (...)`` say n; a bare list or
    ``*`` means the first one (1); empty means none (asynchronous).
    """
    text = (standby_names or "").strip()
    if not text:
        return 0
    match = _COUNTED.match(text)
    return int(match.group(1)) if match else 1


def parse_floor(value: str | None) -> int:
    """The floor as configured (``None`` or empty: no floor, 0)."""
    if value is None or not value.strip():
        return 0
    try:
        floor = int(value)
    except ValueError as exc:
        raise ValueError(f"{FLOOR_SETTING} must be a whole number, not {value!r}") from exc
    return max(0, floor)
