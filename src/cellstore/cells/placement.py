"""Where a new tenant goes: the placement policy, in one function.

1. A tenant pinned in cells.toml (``[tenants]``) goes to its cell, whatever
   the load and even if that cell takes no new tenants otherwise.
2. Otherwise the candidates are the cells that accept new tenants
   (``accept_new``, default true) and are under their cap (``max_tenants``,
   counted from the cell map).
3. Among them the least loaded wins: fewest tenants first, then the least
   stored bytes, then the fewest requests this front end has sent there
   lately, then the cell's name (so every front end picks the same cell
   from the same numbers).

No candidate means the deployment is full: ``NoCellForTenant``, a retryable
503 until an operator adds a cell or raises a cap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from cellstore.cells.config import CellConfig
from cellstore.errors import ServiceUnavailable


class NoCellForTenant(ServiceUnavailable):
    """Every cell is at its cap or closed to new tenants: the account cannot be placed now."""


def choose(
    account: str,
    cells: Mapping[str, CellConfig],
    pinned: Mapping[str, str],
    tenant_counts: Mapping[str, int],
    stored_bytes: Callable[[str], int] = lambda cell: 0,
    recent_requests: Callable[[str], int] = lambda cell: 0,
) -> str:
    """The cell for new tenant ``account`` (see the module docstring for the order of the rules)."""
    if account in pinned:
        return pinned[account]
    candidates = [
        cell for cell in cells.values()
        if cell.accept_new and (cell.max_tenants is None or tenant_counts.get(cell.name, 0) < cell.max_tenants)
    ]
    if not candidates:
        raise NoCellForTenant(f"No cell can take account {account}: every cell is full or closed to new tenants.")
    least = min(
        candidates,
        key=lambda cell: (tenant_counts.get(cell.name, 0), stored_bytes(cell.name), recent_requests(cell.name), cell.name),
    )
    return least.name
