"""Reading SQS request members, with SQS's own error messages.

SQS does not use DynamoDB's "N validation errors detected" form: each
problem is its own error (InvalidParameterValue, MissingParameter, ...),
reported one at a time in the order the members are read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from cellstore.api.validation import safe_str
from cellstore.engine.queues.attributes import parse_integer
from cellstore.engine.queues.model import FIFO_SUFFIX
from cellstore.errors import (
    BatchEntryIdsNotDistinct,
    EmptyBatchRequest,
    InvalidBatchEntryId,
    InvalidParameterValue,
    MissingParameter,
    QueueDoesNotExist,
    TooManyEntriesInBatchRequest,
)

_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
MAX_BATCH = 10


def required(payload: Mapping[str, Any], name: str) -> Any:
    value = payload.get(name)
    if value is None or value == "":
        raise MissingParameter(f"The request must contain the parameter {name}.")
    return value


def string(payload: Mapping[str, Any], name: str, *, need: bool = False) -> str | None:
    value = required(payload, name) if need else payload.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidParameterValue(f"Value {safe_str(value)} for parameter {name} is invalid. Reason: Must be a string.")
    return value


def integer(payload: Mapping[str, Any], name: str, low: int, high: int, reason: str) -> int | None:
    """An optional integer member in [low, high]; ``reason`` is SQS's text for a value outside it."""
    value = payload.get(name)
    if value is None:
        return None
    # A JSON float counts when it is whole (5.0), as AWS's JSON parser reads it;
    # text must be plain ASCII digits (parse_integer), unlike Python's int().
    number = int(value) if isinstance(value, float) and value.is_integer() else parse_integer(value)
    if number is None or not low <= number <= high:
        raise InvalidParameterValue(f"Value {safe_str(value)} for parameter {name} is invalid. Reason: {reason}")
    return number


def string_map(payload: Mapping[str, Any], name: str) -> dict[str, str]:
    value = payload.get(name) or {}
    if not isinstance(value, dict):
        raise InvalidParameterValue(f"Value for parameter {name} is invalid. Reason: Must be a map.")
    return {str(k): safe_str(v) for k, v in value.items()}


def string_list(payload: Mapping[str, Any], name: str) -> list[str]:
    value = payload.get(name) or []
    if not isinstance(value, list):
        raise InvalidParameterValue(f"Value for parameter {name} is invalid. Reason: Must be a list.")
    return [safe_str(v) for v in value]


def queue_name(value: str) -> str:
    stem = value.removesuffix(FIFO_SUFFIX)
    if not _QUEUE_NAME.fullmatch(stem) or len(value) > 80:
        raise InvalidParameterValue(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
        )
    return value


def queue_url_parts(url: str) -> list[str]:
    """The non-empty path segments of a queue URL, given whole or as its path alone.

    SQS accepts both ``http://host:port/<account>/<name>`` and
    ``/<account>/<name>``; the handlers and the authorizer (``api/resources.py``)
    read the queue from the same parse.
    """
    path = urlsplit(url).path if "://" in url else url
    return [p for p in path.split("/") if p]


def queue_from_url(payload: Mapping[str, Any], account: str) -> str:
    """The queue name in ``QueueUrl`` (``http://host:port/<account>/<name>``).

    A bare queue name (no scheme, no slash) is also accepted, as SQS accepts
    it: it names the caller's queue of that name, in the caller's account and
    region (this server's), exactly as the full URL would.
    """
    url = str(string(payload, "QueueUrl", need=True))
    if "/" not in url:
        return url
    parts = queue_url_parts(url)
    if len(parts) != 2 or parts[0] != account:
        raise QueueDoesNotExist()
    return parts[1]


def entries(payload: Mapping[str, Any], entry_name: str) -> list[dict[str, Any]]:
    """A batch's ``Entries``: 1–10 of them, with distinct, well-formed ids."""
    raw = payload.get("Entries")
    if not raw:
        raise EmptyBatchRequest(f"There should be at least one {entry_name} in the request.")
    if not isinstance(raw, list):
        raise InvalidParameterValue("Value for parameter Entries is invalid. Reason: Must be a list.")
    if len(raw) > MAX_BATCH:
        raise TooManyEntriesInBatchRequest(
            f"Maximum number of entries per request are {MAX_BATCH}. You have sent {len(raw)}."
        )
    seen: set[str] = set()
    for entry in raw:
        entry_id = entry.get("Id") if isinstance(entry, dict) else None
        if not isinstance(entry_id, str) or not _BATCH_ID.fullmatch(entry_id):
            raise InvalidBatchEntryId()
        if entry_id in seen:
            raise BatchEntryIdsNotDistinct(f"Id {entry_id} repeated.")
        seen.add(entry_id)
    return raw


def failure(entry_id: str, err: Any) -> dict[str, Any]:
    """A batch's failed entry, reported with the query-protocol code as SQS does."""
    fault = getattr(err, "fault", "Sender")
    code = getattr(err, "query_code", err.code)
    return {"Id": entry_id, "SenderFault": fault == "Sender", "Code": code, "Message": err.message}
