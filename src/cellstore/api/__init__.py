"""The api door: one module per operation family, declared here in one list.

``dispatch`` is all the protocol layer (and the in-process botocore hook) calls:
an operation name and the decoded JSON payload in, a JSON-ready dict out, or a
``CellstoreError`` raised.  AWS's PascalCase parameter names stop here; the
engine below receives typed requests.

``FAMILIES`` is the DynamoDB service's operations: each module marks its
handlers with ``registry.operation`` and ``REGISTRY`` collects them from this
list (importing a family registers nothing by itself).  ``Database`` is
re-exported because it is the handle ``dispatch`` takes: the protocol layer
names it through this door, not the engine's; so are ``Tenants`` (an
account's ``Database`` in one backend) and the account-id rules, which the
protocol needs to route a request to its account.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cellstore.api import (
    backups,
    batch,
    items,
    policies,
    reads,
    table_arns,
    tables,
    tags,
    transactions,
    ttl,
)
from cellstore.api.partiql import execute as partiql
from cellstore.api.registry import Registry
from cellstore.engine.database import Database as Database
from cellstore.engine.tenants import DEFAULT_ACCOUNT as DEFAULT_ACCOUNT
from cellstore.engine.tenants import Tenants as Tenants
from cellstore.engine.tenants import is_account_id as is_account_id
from cellstore.errors import UnknownOperationException

Handler = Callable[[Database, dict[str, Any]], dict[str, Any]]

FAMILIES = (tables, items, reads, batch, transactions, partiql, tags, ttl, backups, policies)

REGISTRY: Registry[Handler] = Registry.of_families(lambda name: UnknownOperationException(), FAMILIES)
OPERATIONS = REGISTRY.handlers


def dispatch(db: Database, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Run operation ``name``; a table ARN given as a TableName is the table's name (``table_arns``)."""
    handler = REGISTRY.handler(name)
    named, spelled = table_arns.with_table_names(db, name, payload)
    return table_arns.respell(name, handler(db, named), spelled)
