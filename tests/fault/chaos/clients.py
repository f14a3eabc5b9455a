"""boto3 clients for chaos runs: no retries, short timeouts, and the server type the drivers accept.

botocore retries connection errors and 5xx answers by itself; in a chaos run
that would hide exactly what is being counted (a 5xx becomes a success on the
second try, and a write cut by kill -9 is silently sent again to the
restarted server, which makes an ADD look applied twice).  So every client
here makes one attempt, and the workload decides what an error means.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config

from cellstore.embedded.clients import ACCESS_KEY, REGION, SECRET_KEY

ONE_ATTEMPT = Config(
    retries={"total_max_attempts": 1, "mode": "standard"},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=4,
)

_lock = threading.Lock()
_sessions: dict[tuple[str, str], Any] = {}


class Server(Protocol):
    """What the drivers need of a started server (``tests/conftest.py``'s ``ServerProcess`` is one)."""

    endpoint_url: str
    log_path: Path

    @property
    def port(self) -> int: ...

    @property
    def process(self) -> Any: ...

    def kill(self) -> None: ...

    def terminate(self, timeout: float = 30.0) -> int: ...


def client(service: str, endpoint_url: str, key: str = ACCESS_KEY, secret: str = SECRET_KEY) -> Any:
    """A boto3 client that tries each call once (sessions are shared per key: loading models is slow)."""
    with _lock:
        session = _sessions.get((key, secret))
        if session is None:
            session = _sessions[(key, secret)] = boto3.session.Session(
                aws_access_key_id=key, aws_secret_access_key=secret, region_name=REGION
            )
        return session.client(service, endpoint_url=endpoint_url, config=ONE_ATTEMPT)


def status_of(error: BaseException) -> int | None:
    """The HTTP status of a botocore ClientError, None for anything else (a cut connection, a timeout)."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else None
