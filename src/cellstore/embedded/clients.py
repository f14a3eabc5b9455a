"""boto3 clients wired to an embedded cellstore.

One boto3 session is shared by every client made here: a fresh session would
load and parse DynamoDB's service model again (tens of milliseconds), which
adds up over a test suite that makes a client per test.  Sessions are not
thread-safe, so creating a client takes a lock; the clients themselves are.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cellstore.engine.database import Database

REGION = "us-east-1"
# Any non-empty credentials will do (unless the server runs with --auth sigv4):
# by default cellstore checks a signature's shape, never its value.
ACCESS_KEY = "cellstore"
SECRET_KEY = "cellstore"

_session_lock = threading.Lock()
_session: Any = None


def _boto3_session() -> Any:
    global _session
    if _session is None:
        import boto3

        _session = boto3.session.Session(
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )
    return _session


def made_session() -> Any:
    """The shared session if it exists yet, else None.

    ``inprocess`` registers its routes on sessions made before it was
    imported: since the package imports lazily, a served test may make this
    session first, and an in-process test after it must still be answered.
    """
    return _session


def new_client(service: str, endpoint_url: str) -> Any:
    with _session_lock:
        return _boto3_session().client(service, endpoint_url=endpoint_url)


def new_resource(service: str, endpoint_url: str) -> Any:
    with _session_lock:
        return _boto3_session().resource(service, endpoint_url=endpoint_url)


class Cellstore:
    """A running cellstore, reached through ready-made boto3 clients.

    ``db`` is the engine's handle, for tests that want to look underneath.
    """

    def __init__(self, db: Database, endpoint_url: str) -> None:
        self.db = db
        self.endpoint_url = endpoint_url

    def client(self, service: str = "dynamodb") -> Any:
        """A boto3 client (dummy credentials, us-east-1) talking to this cellstore."""
        client = new_client(service, self.endpoint_url)
        self._attach(client)
        return client

    def resource(self, service: str = "dynamodb") -> Any:
        """A boto3 service resource talking to this cellstore."""
        resource = new_resource(service, self.endpoint_url)
        self._attach(resource.meta.client)
        return resource

    @property
    def handlers(self) -> Any:
        """This database's ``cellstore.handlers.Handlers``: register stream and queue handlers on it."""
        from cellstore.handlers import handlers_for

        return handlers_for(self.db)

    def _attach(self, client: Any) -> None:
        """Hook for modes that route a client's calls themselves."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.endpoint_url}>"
