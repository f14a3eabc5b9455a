"""A minimal SQS query-protocol client: form-encoded POSTs with http.client, XML answers.

It signs nothing (cellstore checks only the Authorization header's shape)
and parses responses with ElementTree, so the XML shapes are checked by a
second parser that is not botocore's.
"""

from __future__ import annotations

import http.client
import urllib.parse
import xml.etree.ElementTree as ET
from typing import Any

NS = "{http://queue.amazonaws.com/doc/2012-11-05/}"
AUTH = (
    "AWS4-HMAC-SHA256 Credential=cellstore/20240101/us-east-1/sqs/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=0000"
)


class QueryClient:
    def __init__(self, endpoint_url: str) -> None:
        parts = urllib.parse.urlsplit(endpoint_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80

    def call(self, action: str, path: str = "/", **params: Any) -> tuple[int, ET.Element]:
        form = {"Action": action, "Version": "2012-11-05", **{k: str(v) for k, v in params.items()}}
        body = urllib.parse.urlencode(form)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(
                "POST",
                path,
                body=body,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                    "Authorization": AUTH,
                    "X-Amz-Date": "20240101T000000Z",
                },
            )
            response = conn.getresponse()
            return response.status, ET.fromstring(response.read())
        finally:
            conn.close()


def text(element: ET.Element, path: str) -> str | None:
    """Text of the first element at ``path`` (names without namespace, '/'-separated)."""
    found = element.find("/".join(NS + p for p in path.split("/")))
    return None if found is None else found.text


def all_of(element: ET.Element, path: str) -> list[ET.Element]:
    return element.findall(".//" + "/".join(NS + p for p in path.split("/")))
