"""cells.toml: which cells a deployment has, where each keeps its data, and which tenants are pinned.

The file is the operator's, so every mistake is reported as one
``CellsConfigError`` naming the key and what was expected, before anything
is opened::

    [cells.a]
    storage = "/var/lib/cellstore/a"               # an SQLite data dir
    [cells.b]
    storage = "postgresql://cellstore@db-b/cellstore"
    zone = "b"                                      # optional, shown by `cells status`
    max_tenants = 500                               # optional: placement's cap
    accept_new = false                              # optional: keep its tenants, place none here
    threads = 4                                     # optional: its bulkhead's threads per process (default 1)

    [tenants]
    "111111111111" = "b"                            # pinned: placed in b whatever the load

    [map]
    storage = "/var/lib/cellstore/map"              # where the cell map lives (default: beside the file)

A relative SQLite path is relative to the file, so a deployment directory
can be moved as a whole.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cellstore.api import is_account_id

_CELL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")

#: The cell map's directory when ``[map]`` names none: beside the cells file.
DEFAULT_MAP_DIR = "cellmap"


class CellsConfigError(ValueError):
    """cells.toml is missing, unreadable or says something cellstore cannot do; the message says which key."""


@dataclass(frozen=True, slots=True)
class CellConfig:
    """One cell: its name, its storage (an SQLite data dir or a ``postgresql://`` URL) and placement limits."""

    name: str
    storage: str
    zone: str | None = None
    max_tenants: int | None = None
    accept_new: bool = True
    threads: int | None = None  # the bulkhead's threads in each front end process (None: bulkhead.THREADS)

    @property
    def is_postgres(self) -> bool:
        return self.storage.startswith(("postgresql://", "postgres://"))

    def location(self) -> str:
        """What ``storage.open_store`` takes: the URL, or the SQLite file inside the data dir."""
        return self.storage if self.is_postgres else str(Path(self.storage) / "cellstore.db")


@dataclass(frozen=True, slots=True)
class CellsConfig:
    """A whole cells file: the cells in file order, the pinned tenants and the map's storage."""

    path: Path
    cells: Mapping[str, CellConfig]
    pinned: Mapping[str, str] = field(default_factory=dict)
    map_storage: str = ""

    def map_location(self) -> str:
        """The cell map's ``open_store`` location (an SQLite file or a URL)."""
        if self.map_storage.startswith(("postgresql://", "postgres://")):
            return self.map_storage
        return str(Path(self.map_storage) / "cellmap.db")


def load(path: str | Path) -> CellsConfig:
    """Read and check ``path``; every problem is a ``CellsConfigError`` naming the file and the key."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise CellsConfigError(f"{path}: cannot read the cells file: {err.strerror or err}") from None
    except tomllib.TOMLDecodeError as err:
        raise CellsConfigError(f"{path}: not valid TOML: {err}") from None
    return parse(raw, path)


def parse(raw: Mapping[str, Any], path: Path) -> CellsConfig:
    """A decoded cells file, checked; ``path`` anchors relative data dirs and names the file in errors."""
    where = str(path)
    unknown = sorted(set(raw) - {"cells", "tenants", "map"})
    if unknown:
        raise CellsConfigError(f"{where}: unknown section {unknown[0]!r} (expected [cells.<name>], [tenants], [map])")
    sections = raw.get("cells")
    if not isinstance(sections, dict) or not sections:
        raise CellsConfigError(f"{where}: no cells: add at least one [cells.<name>] with a storage = ...")
    base = path.parent
    cells = {name: _cell(where, base, name, body) for name, body in sections.items()}
    seen: dict[str, str] = {}
    for cell in cells.values():
        if cell.storage in seen:
            raise CellsConfigError(f"{where}: cells.{cell.name}.storage: cell {seen[cell.storage]} has the same storage")
        seen[cell.storage] = cell.name
    pinned = _pinned(where, raw.get("tenants", {}), cells)
    map_section = raw.get("map", {})
    if not isinstance(map_section, dict):
        raise CellsConfigError(f"{where}: [map] must be a table")
    extra = sorted(set(map_section) - {"storage"})
    if extra:
        raise CellsConfigError(f"{where}: map.{extra[0]}: unknown key (expected storage)")
    map_storage = map_section.get("storage", DEFAULT_MAP_DIR)
    if not isinstance(map_storage, str) or not map_storage:
        raise CellsConfigError(f"{where}: map.storage must be an SQLite data dir or a postgresql:// URL")
    if not map_storage.startswith(("postgresql://", "postgres://")):
        map_storage = str((base / map_storage).resolve())
    return CellsConfig(path, cells, pinned, map_storage)


def _cell(where: str, base: Path, name: str, body: Any) -> CellConfig:
    key = f"cells.{name}"
    if not _CELL_NAME.fullmatch(name):
        raise CellsConfigError(f"{where}: {key}: a cell name is 1-64 of A-Z a-z 0-9 _ -")
    if not isinstance(body, dict):
        raise CellsConfigError(f"{where}: {key} must be a table with storage = ...")
    extra = sorted(set(body) - {"storage", "zone", "max_tenants", "accept_new", "threads"})
    if extra:
        raise CellsConfigError(
            f"{where}: {key}.{extra[0]}: unknown key (expected storage, zone, max_tenants, accept_new, threads)"
        )
    storage = body.get("storage")
    if not isinstance(storage, str) or not storage:
        raise CellsConfigError(f"{where}: {key}.storage is required: an SQLite data dir or a postgresql:// URL")
    if not storage.startswith(("postgresql://", "postgres://")):
        storage = str((base / storage).resolve())
    zone = body.get("zone")
    if zone is not None and (not isinstance(zone, str) or not zone):
        raise CellsConfigError(f"{where}: {key}.zone must be a non-empty string")
    cap = body.get("max_tenants")
    if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
        raise CellsConfigError(f"{where}: {key}.max_tenants must be a whole number of at least 1")
    accept_new = body.get("accept_new", True)
    if not isinstance(accept_new, bool):
        raise CellsConfigError(f"{where}: {key}.accept_new must be true or false")
    threads = body.get("threads")
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or not 1 <= threads <= 256):
        raise CellsConfigError(f"{where}: {key}.threads must be a whole number from 1 to 256")
    return CellConfig(name, storage, zone, cap, accept_new, threads)


def _pinned(where: str, section: Any, cells: Mapping[str, CellConfig]) -> dict[str, str]:
    if not isinstance(section, dict):
        raise CellsConfigError(f"{where}: [tenants] must be a table of \"<account id>\" = \"<cell>\"")
    pinned = {}
    for account, cell in section.items():
        if not is_account_id(account):
            raise CellsConfigError(f"{where}: tenants.{account}: an account id is exactly 12 digits")
        if not isinstance(cell, str) or cell not in cells:
            raise CellsConfigError(
                f"{where}: tenants.{account}: {cell!r} is not a cell of this file (cells: {', '.join(cells)})"
            )
        pinned[account] = cell
    return pinned
