"""Mappings from a TOML file: what ``cellstore serve --handlers handlers.toml`` reads.

    [[handler]]
    name = "order-totals"                  # optional; the mapping's name (keys its checkpoint)
    function = "app.read_model:on_orders"  # module:function, importable
    table = "orders"                       # or queue = "jobs", or source = "<arn>"
    BatchSize = 100                        # any Lambda setting, Lambda's names (or snake_case)
    StartingPosition = "TRIM_HORIZON"
    FunctionResponseTypes = ["ReportBatchItemFailures"]
    OnFailure = "failures.jsonl"           # a file, or an SQS queue ARN

The file's directory is put on ``sys.path`` so handler modules can sit
beside it; relative ``OnFailure`` paths are relative to it too.
"""

from __future__ import annotations

import importlib
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cellstore.engine.database import Database
from cellstore.handlers.registry import handlers_for, source_kind
from cellstore.handlers.runner import Mapping
from cellstore.handlers.settings import HandlerConfigError, parse

_SOURCE_KEYS = ("table", "queue", "source")


@dataclass(frozen=True, slots=True)
class _Identity:
    """What checking a file needs of a database: its region and account."""

    region: str = "us-east-1"
    account: str = "000000000000"

    def table_arn(self, name: str) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}"


def check(path: str | Path, region: str = "us-east-1", account: str = "000000000000") -> int:
    """Check the file (sources, settings, importable functions) without a database; the number of entries."""
    identity = _Identity(region, account)
    entries = _entries(Path(path).resolve(), identity)  # type: ignore[arg-type]
    for source, _, settings in entries:
        parse(source_kind(identity, source), {k: v for k, v in settings.items()})  # type: ignore[arg-type]
    return len(entries)


def load(db: Database, path: str | Path) -> list[Mapping]:
    """Register every ``[[handler]]`` of the file on ``db``; all are checked before any starts."""
    prepared = _entries(Path(path).resolve(), db)
    for source, _, settings in prepared:
        parse(source_kind(db, source), settings)
    registry = handlers_for(db)
    return [registry.register(source, function, **settings) for source, function, settings in prepared]


def _entries(path: Path, db: Database) -> list[tuple[str, Any, dict[str, Any]]]:
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise HandlerConfigError(f"{path}: {exc}") from None
    entries = document.get("handler", [])
    if not isinstance(entries, list) or not entries:
        raise HandlerConfigError(f"{path}: no [[handler]] entries")
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    return [_prepare(db, path, number, dict(entry)) for number, entry in enumerate(entries, 1)]


def _prepare(db: Database, path: Path, number: int, entry: dict[str, Any]) -> tuple[str, Any, dict[str, Any]]:
    where = f"{path}: handler {number}"
    target = entry.pop("function", None)
    if not isinstance(target, str) or ":" not in target:
        raise HandlerConfigError(f'{where}: function = "module:function" is required')
    given = [key for key in _SOURCE_KEYS if key in entry]
    if len(given) != 1:
        raise HandlerConfigError(f"{where}: exactly one of table, queue or source is required")
    key = given[0]
    value = str(entry.pop(key))
    if key == "table":
        source = db.table_arn(value)
    elif key == "queue":
        source = f"arn:aws:sqs:{db.region}:{db.account}:{value}"
    else:
        source = value
    module_name, _, attribute = target.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise HandlerConfigError(f"{where}: cannot load {target}: {exc}") from None
    if "name" in entry:
        entry["Name"] = entry.pop("name")
    for destination_key in ("OnFailure", "on_failure"):
        destination = entry.get(destination_key)
        if isinstance(destination, str) and not destination.startswith("arn:"):
            entry[destination_key] = str((path.parent / destination).resolve())
    return source, function, entry
