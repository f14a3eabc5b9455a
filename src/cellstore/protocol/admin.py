"""``GET /_cellstore/NAME``: a server's read-only admin answers — its handlers, its cells, its cache — as JSON.

These are what ``cellstore handlers status``, ``cellstore cells status`` and
the cache's counters say, for the console's Handlers, Cells and Cache pages
and for scripts.  None of them is an AWS API, and none changes anything.

The protocol layer knows none of the layers behind them: ``cli.py`` (which
may use any layer) names each source in ``SOURCES`` before the server
starts — ``handlers``: the stored status of every mapping
(``handlers.stored_status``), ``cache``: ``serve --cache``'s counters — and
``build_app`` binds them to the default account's database, the one
handlers run in.  A server of cells brings its own ``cells`` answer (the
router's ``admin``, ``cells/status.py``), which authorizes itself.

Under ``--auth sigv4`` a request must be signed for the service
``cellstore`` by a principal whose policy allows ``cellstore:Describe<Name>``
(``DescribeHandlers``, ``DescribeCache``; ``DescribeCells`` for cells) — an
admin; a tenant's key is refused as any API call it may not make is.
Without ``--auth`` they are open, like ``/metrics``: bind the port where
only its users reach it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from cellstore.api import DEFAULT_ACCOUNT, Database
from cellstore.errors import CellstoreError
from cellstore.protocol import wire
from cellstore.protocol.directory import Directory, OneBackend

#: Where the admin answers live in the URL space.
PREFIX = "/_cellstore/"
#: The service an admin request is signed for, and the prefix of its IAM actions.
SERVICE = "cellstore"

#: An admin answer's maker, given the default account's database (what ``cli.py`` puts in ``SOURCES``).
Source = Callable[[Database], Any]
#: A finished admin route, as ``App.admin`` calls it: ``(path, raw_path, headers, scheme, auth) -> Reply``.
Route = Callable[..., wire.Reply]

#: The admin answers ``cli.py`` adds before the server starts (inherited by forked workers), by name.
SOURCES: dict[str, Source] = {}


class AdminRoutes:
    """The admin answers a server has, by name, and the answer to a ``GET`` under ``/_cellstore/``."""

    def __init__(self, sources: dict[str, Callable[[], Any]], routes: dict[str, Route] | None = None) -> None:
        self._sources = sources
        self._routes = routes or {}

    @property
    def names(self) -> list[str]:
        """What this server answers (the console shows a page for each)."""
        return sorted({*self._sources, *self._routes})

    def __call__(
        self, path: str, raw_path: str, headers: Sequence[tuple[bytes, bytes]], scheme: str,
        auth: wire.Authenticator | None,
    ) -> wire.Reply:
        name = path[len(PREFIX):] if path.startswith(PREFIX) else ""
        route = self._routes.get(name)
        if route is not None:
            return route(path, raw_path, headers, scheme, auth)
        source = self._sources.get(name)
        if source is None:
            known = ", ".join(PREFIX + n for n in self.names) or "none"
            return wire.Reply(404, orjson.dumps({"message": f"no admin answer at {path} on this server (it has: {known})"}))
        if auth is not None:
            try:
                authorize(path, raw_path, headers, scheme, auth, "Describe" + name.capitalize())
            except CellstoreError as err:
                return wire.error_reply(err)
        return wire.Reply(200, orjson.dumps({**source(), "pid": os.getpid()}, option=orjson.OPT_NON_STR_KEYS))


def authorize(
    path: str, raw_path: str, headers: Sequence[tuple[bytes, bytes]], scheme: str, auth: wire.Authenticator,
    action: str,
) -> None:
    """Raise unless the request is signed for ``cellstore`` by a principal allowed ``cellstore:<action>``."""
    fields = {name.decode("latin-1"): value.decode("latin-1") for name, value in headers}
    request = wire.Request(
        None, fields.get("authorization"), "x-amz-date" in fields or "date" in fields, "", b"",
        fields.get("host", ""), path, headers, "GET", raw_path, scheme,
    )
    key = auth.authenticate(request, SERVICE)
    auth.authorize(key, SERVICE, action, None)


def routes_for(directory: Directory) -> AdminRoutes:
    """The admin answers of a server routing by ``directory``: ``SOURCES`` on one backend, a router's own otherwise."""
    if isinstance(directory, OneBackend):
        tenants = directory.tenants

        def bound(source: Source) -> Callable[[], Any]:
            return lambda: source(tenants.database(DEFAULT_ACCOUNT))

        return AdminRoutes({name: bound(source) for name, source in SOURCES.items()})
    own: Route | None = getattr(directory, "admin", None)
    return AdminRoutes({}, {"cells": own} if own is not None else {})
