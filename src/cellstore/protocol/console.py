"""``GET /console``: the web console's files, served from the package on the API's own port.

The console (``src/cellstore/console/``) is a static client of the public
API: its pages call DynamoDB, Streams and SQS with signed ``X-Amz-Target``
requests to the same origin, exactly as an SDK would, so everything it does
passes through the API's validation and, with ``--auth sigv4``, its
policies.  This module only hands out its files; it knows nothing of what
they do.  The files are read once, when the app is built, and looked up by
name in a dict: no path from a request ever reaches the file system, so no
``..`` can walk out of the directory.

``/console/config.json`` is the one answer made here rather than read: the
region the console must put in its signatures' credential scope (the
server's, which ``--auth sigv4`` checks), whether sign-in is required, and
which read-only admin answers (``protocol/admin.py``) this server has, so
the console shows their pages (Handlers, Cells, Cache) only where they mean
something.  ``serve --no-console`` sets ``SETTINGS.enabled`` off: no
``/console`` at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import orjson

from cellstore.protocol.app import HttpResponse

#: Where the console lives in the URL space.
PREFIX = "/console"

_CONTENT_TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
}

# The page may run only its own scripts and styles and talk only to its own
# origin: with a console that holds a secret key, no injected script or
# foreign endpoint should ever get to it.
_CSP = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    b"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = (
    (b"content-security-policy", _CSP),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    # Revalidate every time: a console served by a newer cellstore must not run yesterday's script.
    (b"cache-control", b"no-cache"),
)

_NOT_FOUND_BODY = b"Not found\n"


@dataclass
class Settings:
    """Whether servers started from here serve the console (``serve --no-console``: set off by cli.py before they start)."""

    enabled: bool = True


SETTINGS = Settings()


class Console:
    """The console's files by URL path, and the answer to a ``GET`` under ``/console``."""

    def __init__(self, *, region: str, auth_required: bool, pages: Sequence[str] = ()) -> None:
        self._files: dict[str, HttpResponse] = {}
        folder = resources.files("cellstore") / "console"
        for entry in folder.iterdir():
            content_type = _CONTENT_TYPES.get("." + entry.name.rpartition(".")[2])
            if entry.is_file() and content_type is not None:
                self._files[f"{PREFIX}/{entry.name}"] = _answer(200, content_type, entry.read_bytes())
        index = self._files.get(f"{PREFIX}/index.html")
        if index is None:
            raise FileNotFoundError("cellstore's console files are missing from the package (console/index.html)")
        self._files[PREFIX] = self._files[PREFIX + "/"] = index
        config = orjson.dumps({"region": region, "authRequired": auth_required, "pages": list(pages)})
        self._files[f"{PREFIX}/config.json"] = _answer(200, b"application/json", config)

    def respond(self, path: str) -> HttpResponse:
        """The file at ``path`` (``/console`` and ``/console/`` are the page), or 404."""
        answer = self._files.get(path)
        if answer is None:
            return _answer(404, b"text/plain; charset=utf-8", _NOT_FOUND_BODY)
        return answer


def _answer(status: int, content_type: bytes, body: bytes) -> HttpResponse:
    return HttpResponse(
        status,
        [(b"content-type", content_type), (b"content-length", str(len(body)).encode("ascii")), *_SECURITY_HEADERS],
        body,
    )
