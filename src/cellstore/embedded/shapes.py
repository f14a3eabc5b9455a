"""Turning a JSON-ready response dict into what botocore's JSON parser would return.

The in-process fast path skips encoding a response and parsing it back, so it
must reproduce the parser's output itself: only members the output shape
declares, ``None`` members dropped, blobs base64-decoded to bytes and
timestamps (epoch seconds) turned into datetimes by botocore's own timestamp
parser.  A converter is compiled once per operation and shape, so a large
Query result costs one dict and list comprehension per level, not a walk of
the service model per attribute.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from botocore.parsers import DEFAULT_TIMESTAMP_PARSER

Converter = Callable[[Any], Any]


class _Structure:
    """Keeps the declared members (renamed to their Python names), converting each."""

    __slots__ = ("members",)

    def __init__(self) -> None:
        self.members: dict[str, tuple[str, Converter | None]] = {}

    def __call__(self, value: Any) -> Any:
        if value is None:
            return None
        members = self.members
        out: dict[str, Any] = {}
        for key, item in value.items():
            member = members.get(key)
            if member is None or item is None:
                continue
            name, convert = member
            out[name] = item if convert is None else convert(item)
        return out


def _list_of(convert: Converter) -> Converter:
    return lambda value: [None if item is None else convert(item) for item in value]


def _map_of(convert_key: Converter | None, convert_value: Converter | None) -> Converter:
    def convert(value: dict[str, Any]) -> dict[Any, Any]:
        return {
            k if convert_key is None else convert_key(k): (
                v if v is None or convert_value is None else convert_value(v)
            )
            for k, v in value.items()
        }

    return convert


def _blob(value: str) -> bytes:
    return base64.b64decode(value)


def compile_shape(shape: Any, memo: dict[str, Any] | None = None) -> Converter | None:
    """A converter for values of ``shape``, or None when they pass through unchanged.

    ``memo`` holds structures by name so recursive shapes (AttributeValue's
    M and L) compile to a cycle instead of recursing forever.
    """
    if memo is None:
        memo = {}
    kind = shape.type_name
    if kind == "blob":
        return _blob
    if kind == "timestamp":
        return DEFAULT_TIMESTAMP_PARSER  # type: ignore[no-any-return]
    if kind == "list":
        inner = compile_shape(shape.member, memo)
        return None if inner is None else _list_of(inner)
    if kind == "map":
        convert_key = compile_shape(shape.key, memo)
        convert_value = compile_shape(shape.value, memo)
        if convert_key is None and convert_value is None:
            return None
        return _map_of(convert_key, convert_value)
    if kind == "structure":
        if shape.is_document_type:
            return None
        existing = memo.get(shape.name)
        if existing is not None:
            return existing  # type: ignore[no-any-return]
        structure = _Structure()
        memo[shape.name] = structure
        for name, member in shape.members.items():
            structure.members[member.serialization.get("name", name)] = (
                name,
                compile_shape(member, memo),
            )
        return structure
    return None
