"""The HTTP ceiling: cellstore's own HTTP server answering every request with a fixed body.

It runs exactly cellstore's server (``cellstore.protocol.http.Server``: uvloop
transports, the httptools parser, one write per answer), with an app whose
``respond`` returns the same small answer for everything.  The gap between it
and cellstore is what cellstore's own code (wire format, validation, engine,
storage) costs per request.

    python bench/bare_http.py --port 18010
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from cellstore.protocol.app import HttpResponse
from cellstore.protocol.http import Server
from cellstore.protocol.server import bind

ANSWER = HttpResponse(200, [(b"content-type", b"application/x-amz-json-1.0"), (b"content-length", b"2")], b"{}")


class FixedApp:
    """What the server needs of an app: ``respond``; this one ignores the request."""

    def respond(
        self,
        method: str,
        path: str,
        raw_path: str,
        query_string: bytes,
        headers: Sequence[tuple[bytes, bytes]],
        body: bytes | None,
        scheme: str = "http",
    ) -> HttpResponse:
        return ANSWER


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18010)
    args = parser.parse_args()
    Server(FixedApp()).run([bind(args.host, args.port)])


if __name__ == "__main__":
    main()
