"""Latch policies: how many zones a write waits for before it returns (EVCache's ``Policy``).

The other zones' writes still happen, in the background; a zone that fails
gets the write from the retry queue later.  The caller picks how much of that
it wants to see before going on.
"""

from __future__ import annotations

import enum


class Latch(enum.Enum):
    NONE = "none"  # return at once; every zone is written in the background
    ONE = "one"  # at least one zone (whichever answers first) has the write
    QUORUM = "quorum"  # a majority of zones
    ALL_MINUS_1 = "all_minus_1"  # all zones but one (one zone, if there is only one)
    ALL = "all"  # every zone

    def required(self, zones: int) -> int:
        """How many zones' acknowledgements this policy waits for, out of ``zones``."""
        if self is Latch.NONE:
            return 0
        if self is Latch.ONE:
            return min(1, zones)
        if self is Latch.QUORUM:
            return zones // 2 + 1
        if self is Latch.ALL_MINUS_1:
            return max(zones - 1, min(1, zones))
        return zones
