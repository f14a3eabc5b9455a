"""The MD5 digests SQS returns so that clients can verify what it stored.

* ``MD5OfMessageBody``: MD5 of the body's UTF-8 bytes, in hex.
* ``MD5OfMessageAttributes`` / ``MD5OfMessageSystemAttributes``: for each
  attribute in order of name, the name, the data type and the value, each as
  a 4-byte big-endian length followed by its bytes, with a one-byte transport
  type (1 for a string value, 2 for a binary one) between the data type and
  the value; MD5 of the whole concatenation, in hex.  Binary values are
  digested decoded, not as their base64 text.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

_STRING, _BINARY = b"\x01", b"\x02"


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode("utf-8"), usedforsecurity=False).hexdigest()


def _field(raw: bytes) -> bytes:
    return len(raw).to_bytes(4, "big") + raw


def md5_of_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        value = attributes[name]
        digest.update(_field(name.encode("utf-8")))
        digest.update(_field(str(value["DataType"]).encode("utf-8")))
        if "BinaryValue" in value:
            digest.update(_BINARY + _field(base64.b64decode(value["BinaryValue"])))
        else:
            digest.update(_STRING + _field(str(value.get("StringValue", "")).encode("utf-8")))
    return digest.hexdigest()
