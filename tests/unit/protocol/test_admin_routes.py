"""``GET /_cellstore/NAME``: the read-only admin answers cli.py names, their authorization, and the console switch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from cellstore.engine.database import Database
from cellstore.handlers import stored_status
from cellstore.protocol import admin, console
from cellstore.protocol.app import App, HttpResponse
from cellstore.protocol.credentials import CredentialsFile
from cellstore.protocol.server import build_app

HOST = "127.0.0.1:8000"


@pytest.fixture(autouse=True)
def _sources() -> Iterator[dict[str, admin.Source]]:
    """``admin.SOURCES`` and ``console.SETTINGS`` as each test leaves them are put back (they are process-wide)."""
    saved, enabled = dict(admin.SOURCES), console.SETTINGS.enabled
    admin.SOURCES.clear()
    yield admin.SOURCES
    admin.SOURCES.clear()
    admin.SOURCES.update(saved)
    console.SETTINGS.enabled = enabled


def get(app: App, path: str, key: tuple[str, str] | None = None) -> HttpResponse:
    headers = [(b"host", HOST.encode())]
    if key is not None:
        request = AWSRequest(method="GET", url=f"http://{HOST}{path}", headers={"host": HOST})
        SigV4Auth(Credentials(*key), "cellstore", "us-east-1").add_auth(request)
        headers = [(name.lower().encode(), value.encode()) for name, value in request.headers.items()]
    answer = app.respond("GET", path, path, b"", headers, b"")
    assert isinstance(answer, HttpResponse)
    return answer


def handler_source(db: Database) -> dict[str, Any]:
    return {"handlers": stored_status(db)}


def test_a_named_source_answers_with_the_default_accounts_database(db: Database) -> None:
    from cellstore.engine import mappings

    mappings.save_definition(db, "orders-log", {"kind": "stream", "source": "arn:x", "function": "m:f", "settings": {}})
    admin.SOURCES["handlers"] = handler_source
    app = build_app(db)
    answer = get(app, "/_cellstore/handlers")
    assert answer.status == 200
    found = orjson.loads(answer.body)
    assert [entry["name"] for entry in found["handlers"]] == ["orders-log"]
    assert found["handlers"][0]["owner"] is None and isinstance(found["pid"], int)
    # The console is told which pages to show.
    assert orjson.loads(get(app, "/console/config.json").body)["pages"] == ["handlers"]


def test_an_unknown_admin_name_is_404_naming_what_there_is(db: Database) -> None:
    admin.SOURCES["handlers"] = handler_source
    answer = get(build_app(db), "/_cellstore/cache")
    assert answer.status == 404
    assert b"/_cellstore/handlers" in answer.body


def test_without_sources_there_is_no_admin_route(db: Database) -> None:
    app = build_app(db)
    assert app.admin is None
    assert get(app, "/_cellstore/handlers").body == b"<UnknownOperationException/>\n"


def test_no_console_leaves_console_unanswered_and_the_apis_alone(db: Database) -> None:
    console.SETTINGS.enabled = False
    app = build_app(db)
    assert get(app, "/console").status == 404
    assert get(app, "/").status == 200  # the health check


def test_under_sigv4_only_a_principal_allowed_describe_reads_it(db: Database, tmp_path: Path) -> None:
    credentials = tmp_path / "credentials.toml"
    credentials.write_text(
        '[keys.AKIAADMIN]\nsecret = "admin-secret"\nprincipal = "admin"\n'
        '[keys.AKIACACHE]\nsecret = "cache-secret"\nprincipal = "cache-watcher"\n'
        '[principals.admin]\npolicies = [\'{"Version": "2012-10-17", "Statement": '
        '[{"Effect": "Allow", "Action": "*", "Resource": "*"}]}\']\n'
        '[principals.cache-watcher]\npolicies = [\'{"Version": "2012-10-17", "Statement": '
        '[{"Effect": "Allow", "Action": "cellstore:DescribeCache", "Resource": "*"}]}\']\n'
    )
    admin.SOURCES["handlers"] = handler_source
    admin.SOURCES["cache"] = lambda db: {"zones": {}}
    app = build_app(db, CredentialsFile(credentials))
    assert get(app, "/_cellstore/handlers", ("AKIAADMIN", "admin-secret")).status == 200
    assert get(app, "/_cellstore/cache", ("AKIACACHE", "cache-secret")).status == 200
    denied = get(app, "/_cellstore/handlers", ("AKIACACHE", "cache-secret"))
    assert denied.status == 400 and b"AccessDenied" in denied.body and b"cellstore:DescribeHandlers" in denied.body
    wrong = get(app, "/_cellstore/handlers", ("AKIAADMIN", "not-the-secret"))
    assert wrong.status in (400, 403) and b"Signature" in wrong.body
    unsigned = get(app, "/_cellstore/handlers")
    assert unsigned.status in (400, 403) and b"MissingAuthenticationToken" in unsigned.body
