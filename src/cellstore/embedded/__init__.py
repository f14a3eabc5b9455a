"""cellstore inside your own process: served on a background thread, or with no socket at all.

``serve()`` starts a real HTTP endpoint on a free loopback port; ``in_process()``
answers boto3's DynamoDB calls directly from a botocore event hook.  Both yield
an object with ``.client()`` and ``.resource()`` returning ready boto3 objects.

The names are imported on first use (PEP 562), not with the package: pytest
imports ``cellstore.embedded.pytest_plugin`` -- and so this package -- in
every run wherever cellstore is installed, and ``in_process`` needs botocore,
which only the ``embedded`` extra installs.  A plain ``pip install cellstore``
must not make every pytest run die on a missing botocore.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cellstore.embedded.clients import Cellstore
    from cellstore.embedded.inprocess import InProcessCellstore, in_process
    from cellstore.embedded.server import serve, serve_cells

__all__ = ["Cellstore", "InProcessCellstore", "in_process", "serve", "serve_cells"]

#: Each public name and the module that defines it.
_HOMES = {
    "Cellstore": "cellstore.embedded.clients",
    "InProcessCellstore": "cellstore.embedded.inprocess",
    "in_process": "cellstore.embedded.inprocess",
    "serve": "cellstore.embedded.server",
    "serve_cells": "cellstore.embedded.server",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
