"""A reference ceiling: an ASGI app answering every request with a fixed body, on uvicorn.

uvicorn with uvloop and httptools (access log off) was cellstore's stack until
cellstore got its own server (src/cellstore/protocol/http.py); this app is
about the most any ASGI server in Python can answer, and next to
bench/bare_http.py it shows what ASGI's per-request machinery costs.  It runs
in the peers' venv (bench/.peers), where uvicorn is installed.

    python bench/bare_asgi.py --port 18010
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

BODY = b"{}"
HEADERS = [
    (b"content-type", b"application/x-amz-json-1.0"),
    (b"content-length", str(len(BODY)).encode("ascii")),
]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    message = await receive()
    while message.get("more_body", False):
        message = await receive()
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18010)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        server_header=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
