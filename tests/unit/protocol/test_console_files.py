"""``GET /console``: the console's files come from the package, by name only, with headers that fence the page in."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from importlib import resources
from pathlib import Path

import orjson
import pytest

from cellstore.engine.database import Database
from cellstore.protocol.app import App, HttpResponse
from cellstore.protocol.console import Console
from cellstore.protocol.server import build_app


def get(app: App, path: str) -> HttpResponse:
    answer = app.respond("GET", path, path, b"", [(b"host", b"127.0.0.1:8000")], b"")
    assert isinstance(answer, HttpResponse)
    return answer


def header(answer: HttpResponse, name: bytes) -> bytes | None:
    return next((value for key, value in answer.headers if key == name), None)


@pytest.fixture
def app(db: Database) -> App:
    return build_app(db)


@pytest.mark.parametrize("path", ["/console", "/console/", "/console/index.html"])
def test_the_page_is_served_at_console(app: App, path: str) -> None:
    answer = get(app, path)
    assert answer.status == 200
    assert header(answer, b"content-type") == b"text/html; charset=utf-8"
    assert b'<script type="module" src="/console/app.js"></script>' in answer.body
    assert header(answer, b"content-length") == str(len(answer.body)).encode()


def test_every_file_the_page_loads_is_served_with_its_type(app: App) -> None:
    """What index.html links and every ES module imports resolves: a renamed file cannot leave a dead import."""
    index = get(app, "/console").body.decode()
    wanted = set(re.findall(r'(?:src|href)="(/console/[^"]+)"', index))
    folder = resources.files("cellstore") / "console"
    for entry in folder.iterdir():
        if entry.name.endswith(".js"):
            wanted |= {f"/console/{name}" for name in re.findall(r'from "\./([^"]+)"', entry.read_text())}
    assert "/console/aws.js" in wanted and "/console/console.css" in wanted
    types = {"js": b"text/javascript; charset=utf-8", "css": b"text/css; charset=utf-8", "svg": b"image/svg+xml"}
    for path in sorted(wanted):
        answer = get(app, path)
        assert answer.status == 200, path
        assert header(answer, b"content-type") == types[path.rpartition(".")[2]], path


def test_the_page_may_talk_only_to_its_own_origin(app: App) -> None:
    answer = get(app, "/console/app.js")
    policy = header(answer, b"content-security-policy")
    assert policy is not None
    assert b"connect-src 'self'" in policy and b"script-src 'self'" in policy and b"frame-ancestors 'none'" in policy
    assert header(answer, b"x-content-type-options") == b"nosniff"


@pytest.mark.parametrize(
    "path",
    ["/console/missing.js", "/console/../console/app.js", "/console/%2e%2e/pyproject.toml", "/console/dom.js/", "/console//app.js"],
)
def test_anything_else_under_console_is_404(app: App, path: str) -> None:
    answer = get(app, path)
    assert answer.status == 404
    assert answer.body == b"Not found\n"


def test_paths_that_only_start_like_console_are_the_apis(app: App) -> None:
    answer = get(app, "/consoles")
    assert answer.status == 404
    assert answer.body == b"<UnknownOperationException/>\n"


def test_config_names_the_region_to_sign_for_whether_sign_in_is_needed_and_the_admin_pages(app: App) -> None:
    assert orjson.loads(get(app, "/console/config.json").body) == {"region": "us-east-1", "authRequired": False, "pages": []}
    console = Console(region="eu-west-2", auth_required=True, pages=["cache", "handlers"])
    assert orjson.loads(console.respond("/console/config.json").body) == {
        "region": "eu-west-2", "authRequired": True, "pages": ["cache", "handlers"],
    }


def test_an_app_without_a_console_answers_404(db: Database) -> None:
    app = build_app(db)
    app.console = None
    assert get(app, "/console").body == b"<UnknownOperationException/>\n"


def test_every_console_file_is_package_data() -> None:
    """A wheel carries only the data files pyproject names: a console file no glob matches would be missing there."""
    root = Path(__file__).resolve().parents[3]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["cellstore"]
    files = sorted(path.relative_to(root / "src" / "cellstore").as_posix() for path in (root / "src" / "cellstore" / "console").iterdir())
    assert files
    assert [name for name in files if not any(fnmatch.fnmatch(name, pattern) for pattern in globs)] == []
