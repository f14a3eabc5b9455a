"""Mappings from a TOML file: what ``cellstore serve --handlers handlers.toml`` reads.

    [[handler]]
    name = "order-totals"                  # optional; the mapping's name (keys its checkpoint)
    function = "app.read_model:on_orders"  # module:function, importable
    table = "orders"                       # or queue = "jobs", or source = "<arn>"
    account = "111111111111"               # optional: the account whose table or queue it is
    BatchSize = 100                        # any Lambda setting, Lambda's names (or snake_case)
    StartingPosition = "TRIM_HORIZON"
    FunctionResponseTypes = ["ReportBatchItemFailures"]
    OnFailure = "failures.jsonl"           # a file, or an SQS queue ARN

Tables, queues and handlers belong to an account (``engine/tenants.py``):
an entry runs on its account's database, so its checkpoint and lease live
in that account's keyspace and move with the account between cells.
``account`` defaults to the account of a ``source`` ARN, else the default
account.  The file is read once (``read``: every entry checked and its
function imported) and its entries started per account (``start``), which
is how a server of cells starts an account's handlers in whichever cell
holds the account.

The file's directory is put on ``sys.path`` so handler modules can sit
beside it; relative ``OnFailure`` paths are relative to it too.
"""

from __future__ import annotations

import importlib
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cellstore.engine.database import Database
from cellstore.engine.tenants import DEFAULT_ACCOUNT, is_account_id
from cellstore.handlers.registry import handlers_for, source_kind
from cellstore.handlers.runner import Mapping
from cellstore.handlers.settings import HandlerConfigError, parse

_SOURCE_KEYS = ("table", "queue", "source")


@dataclass(frozen=True, slots=True)
class _Identity:
    """What checking an entry needs of a database: its region and account."""

    region: str
    account: str

    def table_arn(self, name: str) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One ``[[handler]]`` of a file, checked: its account, source ARN, function and Lambda settings."""

    account: str
    source: str
    function: Any
    settings: dict[str, Any]


def read(path: str | Path, region: str = "us-east-1") -> list[Entry]:
    """Every entry of the file, checked (source, account, settings) and its function imported."""
    path = Path(path).resolve()
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise HandlerConfigError(f"{path}: {exc}") from None
    entries = document.get("handler", [])
    if not isinstance(entries, list) or not entries:
        raise HandlerConfigError(f"{path}: no [[handler]] entries")
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    prepared = [_prepare(region, path, number, dict(entry)) for number, entry in enumerate(entries, 1)]
    for number, entry in enumerate(prepared, 1):
        try:
            parse(source_kind(_Identity(region, entry.account), entry.source), dict(entry.settings))  # type: ignore[arg-type]
        except HandlerConfigError as exc:
            raise HandlerConfigError(f"{path}: handler {number}: {exc}") from None
    return prepared


def check(path: str | Path, region: str = "us-east-1") -> int:
    """Check the file (sources, accounts, settings, importable functions) without a database; the number of entries."""
    return len(read(path, region))


def accounts(entries: Sequence[Entry]) -> list[str]:
    """The accounts the entries belong to, in order of first appearance."""
    return list(dict.fromkeys(entry.account for entry in entries))


def start(db: Database, entries: Sequence[Entry]) -> list[Mapping]:
    """Register on ``db`` every entry of ``db``'s account (the others belong to other databases)."""
    registry = handlers_for(db)
    return [
        registry.register(entry.source, entry.function, **entry.settings)
        for entry in entries if entry.account == db.account
    ]


def load(db: Database, path: str | Path) -> list[Mapping]:
    """Register every ``[[handler]]`` of the file that belongs to ``db``'s account; all are checked before any starts."""
    return start(db, read(path, db.region))


def _prepare(region: str, path: Path, number: int, entry: dict[str, Any]) -> Entry:
    where = f"{path}: handler {number}"
    target = entry.pop("function", None)
    if not isinstance(target, str) or ":" not in target:
        raise HandlerConfigError(f'{where}: function = "module:function" is required')
    given = [key for key in _SOURCE_KEYS if key in entry]
    if len(given) != 1:
        raise HandlerConfigError(f"{where}: exactly one of table, queue or source is required")
    key = given[0]
    value = str(entry.pop(key))
    named = entry.pop("account", None)
    if named is not None and not (isinstance(named, str) and is_account_id(named)):
        raise HandlerConfigError(f'{where}: account must be a 12-digit account id in quotes, as account = "111111111111"')
    if key == "source":
        parts = value.split(":")
        of_arn = parts[4] if len(parts) > 5 else None
        if named is not None and of_arn is not None and of_arn != named:
            raise HandlerConfigError(f"{where}: source {value!r} belongs to account {of_arn}, not account {named}")
        account = named or of_arn or DEFAULT_ACCOUNT
        source = value
    else:
        account = named or DEFAULT_ACCOUNT
        identity = _Identity(region, account)
        source = identity.table_arn(value) if key == "table" else f"arn:aws:sqs:{region}:{account}:{value}"
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
    return Entry(account, source, function, entry)
