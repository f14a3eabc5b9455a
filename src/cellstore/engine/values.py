"""DynamoDB attribute values: validation, canonical numbers, ordering and size.

cellstore keeps items in DynamoDB's own JSON shape (``{"a": {"N": "1.5"}}``)
from the wire to the disk, because that shape round-trips through orjson with
no conversion on the hot path.  Two invariants make that safe:

* every number is held as its *canonical* text (``"1.50"`` → ``"1.5"``,
  ``"1e2"`` → ``"100"``), so equal numbers are equal strings and the engine can
  compare numbers in keys and sets by text;
* every binary is held as canonical base64 text (what ``base64.b64encode``
  emits), so equal binaries are equal strings.

``validate_value``/``validate_item`` establish both on the way in; nothing
downstream re-checks them.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import re
from decimal import Decimal
from typing import Any

import orjson

from cellstore.errors import INVALID_PARAMETERS, SerializationException, ValidationException

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]

KEY_TYPES = frozenset({"S", "N", "B"})
MAX_DEPTH = 32
MAX_ITEM_SIZE = 400 * 1024

# 38 significant digits and the exponent range DynamoDB documents:
# 1E-130 <= |n| <= 9.9999999999999999999999999999999999999E+125.
_MAX_ADJUSTED = 125
_MIN_ADJUSTED = -130



#: DynamoDB's number grammar: an optional sign, ASCII digits with at most one
#: '.', at least one digit, and an optional exponent.  Python's ``Decimal()``
#: is far looser — it strips whitespace and accepts ``1_000``, ``NaN``,
#: ``Infinity`` and any Unicode decimal digit (Arabic-Indic ``١٢``, fullwidth
#: ``８``) — so every number is matched against this first.  ``+`` and leading
#: zeros are kept: DynamoDB reads numbers as Java's BigDecimal does and
#: accepts ``+42`` and ``042`` (normalised like every other spelling).
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def is_number_text(text: str) -> bool:
    """Whether ``text`` is spelled as a number in DynamoDB's grammar (SQS's Number attributes share it)."""
    return _NUMBER.fullmatch(text) is not None


def not_a_number(text: str) -> ValidationException:
    """DynamoDB's error for a string that is not a number (its exact words)."""
    return ValidationException(f"The parameter cannot be converted to a numeric value: {text}")


def parse_number(text: str) -> Decimal:
    """The Decimal of a DynamoDB number string, enforcing grammar, precision and range.

    The one parser for every number a request carries — key and item values,
    expression values, legacy parameters — so what the policy check, the key
    encoding and storage see is the same number.
    """
    if not isinstance(text, str):
        raise SerializationException(f"{json_kind(text)} can not be converted to a String")
    if _NUMBER.fullmatch(text) is None:
        raise not_a_number(text)
    try:
        number = Decimal(text)
    except decimal.InvalidOperation:
        # An exponent beyond even Decimal's own bounds (1e1000000000000000000):
        # far outside DynamoDB's range, on the side its sign says.
        # A zero mantissa is zero whatever its exponent.
        mantissa, exponent = text.lower().rsplit("e", 1)
        if not any(digit in "123456789" for digit in mantissa):
            return Decimal(0)
        number = Decimal("1e-1000") if exponent.startswith("-") else Decimal("1e1000")
    return check_number(number)


def check_number(number: Decimal) -> Decimal:
    """Reject a Decimal DynamoDB could not store (used for arithmetic results too)."""
    if number.is_zero():
        return Decimal(0)
    # Significant digits counted from the tuple, not via normalize(): that
    # raises decimal.Overflow for an exponent beyond its context's
    # (1e999999999), which must be DynamoDB's overflow error, not a 500.
    significant = "".join(map(str, number.as_tuple().digits)).strip("0")
    if len(significant) > 38:
        raise ValidationException(
            "Attempting to store more than 38 significant digits in a Number"
        )
    adjusted = number.adjusted()
    if adjusted > _MAX_ADJUSTED:
        raise ValidationException(
            "Number overflow. Attempting to store a number with magnitude larger than supported range"
        )
    if adjusted < _MIN_ADJUSTED:
        raise ValidationException(
            "Number underflow. Attempting to store a number with magnitude smaller than supported range"
        )
    return number


def number_text(number: Decimal) -> str:
    """Canonical text of a stored number: no exponent, no redundant zeros."""
    if number.is_zero():
        return "0"
    normal = number.normalize(decimal.Context(prec=1000))
    sign, digits, exponent = normal.as_tuple()
    if not isinstance(exponent, int):
        raise ValidationException(f"The parameter cannot be converted to a numeric value: {number}")
    text = "".join(map(str, digits))
    if exponent >= 0:
        text += "0" * exponent
    elif -exponent >= len(text):
        text = "0." + "0" * (-exponent - len(text)) + text
    else:
        text = text[:exponent] + "." + text[exponent:]
    return "-" + text if sign else text


def canonical_number(text: str) -> str:
    # Fast path: a plain ASCII integer of at most 38 digits without a leading
    # zero ("7", "-120") is already canonical and in range.
    if text.__class__ is str and 0 < len(text) <= 39 and text.isascii():
        digits = text[1:] if text[0] == "-" else text
        if digits.isdigit() and digits[0] != "0" and len(digits) <= 38:
            return text
    return number_text(parse_number(text))


# Python's default context rounds to 28 digits.  Two 38-digit numbers within
# DynamoDB's range have an exact sum well inside 300 digits, so arithmetic in
# this context is exact and check_number then sees the true result.
_EXACT = decimal.Context(prec=300, Emax=999, Emin=-999)


def add_numbers(a: str, b: str) -> str:
    """Exact sum of two canonical numbers, as DynamoDB's SET a + b and ADD do."""
    return number_text(check_number(_EXACT.add(Decimal(a), Decimal(b))))


def subtract_numbers(a: str, b: str) -> str:
    return number_text(check_number(_EXACT.subtract(Decimal(a), Decimal(b))))


def decode_binary(text: str) -> bytes:
    return base64.b64decode(text)


def _canonical_binary(value: Any) -> str:
    if not isinstance(value, str):
        raise SerializationException(f"{json_kind(value)} can not be converted to a Blob")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SerializationException(
            "Base64 encoded length is expected a multiple of 4 bytes but found: "
            f"{len(value)}"
        ) from None
    return base64.b64encode(raw).decode("ascii")


def json_kind(value: Any) -> str:
    """The JSON token name AWS's serializer reports for a value of the wrong type."""
    if isinstance(value, bool):
        return "TRUE_VALUE" if value else "FALSE_VALUE"
    if isinstance(value, (int, float)):
        return "NUMBER_VALUE"
    if isinstance(value, str):
        return "STRING_VALUE"
    if isinstance(value, list):
        return "START_ARRAY"
    if isinstance(value, dict):
        return "START_OBJECT"
    return "VALUE_NULL"


#: "Attribute names must be at least one character long and less than 64 KB" (Developer Guide, naming rules).
MAX_ATTRIBUTE_NAME_BYTES = 65_535
#: A name of at most this many characters is under the limit whatever they are (4 UTF-8 bytes each at most).
_NAME_CHARS_ALWAYS_FINE = MAX_ATTRIBUTE_NAME_BYTES // 4


def attribute_name_error(name: str) -> str | None:
    """Why ``name`` cannot be an attribute name (over 65,535 UTF-8 bytes), or None.

    AWS documents the limit but no message for it; the text is cellstore's.
    Only names longer than a quarter of the limit in characters are encoded,
    so the usual short name costs one ``len``.
    """
    if len(name) <= _NAME_CHARS_ALWAYS_FINE:
        return None
    size = len(name.encode("utf-8", "surrogatepass"))
    if size <= MAX_ATTRIBUTE_NAME_BYTES:
        return None
    return f"Attribute name is too large, must be less than 64 KB; name size: {size} bytes"


def _check_attribute_name(name: str) -> None:
    error = attribute_name_error(name)
    if error is not None:
        raise ValidationException(INVALID_PARAMETERS + error)


def validate_value(value: Any, depth: int = 1) -> AttributeValue:
    """A canonical copy of one wire AttributeValue, or the error DynamoDB gives."""
    if not isinstance(value, dict):
        raise SerializationException(
            f"Unexpected value type in payload: {json_kind(value)} can not be converted to an AttributeValue"
        )
    if depth > MAX_DEPTH:
        raise ValidationException(INVALID_PARAMETERS + "Nesting Levels have exceeded supported limits")
    if len(value) == 1:
        # Fast path for the usual one-member S/N value; anything else takes the general checks.
        for kind, raw in value.items():
            if kind == "S" and raw.__class__ is str:
                return {"S": raw}
            if kind == "N" and raw.__class__ is str:
                return {"N": canonical_number(raw)}
    # Members that are no AttributeValue type are ignored, as AWS's JSON
    # deserializer ignores unknown members: {"Z": "x"} is an empty value.
    present = [k for k, v in value.items() if v is not None and k in _TYPE_KINDS]
    if not present:
        raise ValidationException(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
        )
    if len(present) > 1:
        raise ValidationException(
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"
        )
    kind = present[0]
    raw = value[kind]
    if kind == "S":
        if not isinstance(raw, str):
            raise SerializationException(f"{json_kind(raw)} can not be converted to a String")
        return {"S": raw}
    if kind == "N":
        return {"N": canonical_number(raw)}
    if kind == "B":
        return {"B": _canonical_binary(raw)}
    if kind == "BOOL":
        if not isinstance(raw, bool):
            raise SerializationException(f"{json_kind(raw)} can not be converted to a Boolean")
        return {"BOOL": raw}
    if kind == "NULL":
        if not isinstance(raw, bool):
            raise SerializationException(f"{json_kind(raw)} can not be converted to a Boolean")
        if raw is not True:
            raise ValidationException(
                INVALID_PARAMETERS + "Null attribute value types must have the value of true"
            )
        return {"NULL": True}
    if kind == "M":
        if not isinstance(raw, dict):
            raise SerializationException(f"{json_kind(raw)} can not be converted to a Map")
        for name in raw:
            if len(name) > _NAME_CHARS_ALWAYS_FINE:
                _check_attribute_name(name)
        return {"M": {name: validate_value(v, depth + 1) for name, v in raw.items()}}
    if kind == "L":
        if not isinstance(raw, list):
            raise SerializationException(f"{json_kind(raw)} can not be converted to a List")
        return {"L": [validate_value(v, depth + 1) for v in raw]}
    if kind in ("SS", "NS", "BS"):
        return {kind: _validate_set(kind, raw)}
    raise SerializationException(f"Unknown AttributeValue type: {kind}")


#: Every AttributeValue member name.
_TYPE_KINDS = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})

_SET_NAMES = {"SS": "string", "NS": "number", "BS": "binary"}


def _validate_set(kind: str, raw: Any) -> list[str]:
    if not isinstance(raw, list):
        raise SerializationException(f"{json_kind(raw)} can not be converted to a List")
    if not raw:
        if kind == "BS":
            # AWS words the binary case differently (observed).
            raise ValidationException(INVALID_PARAMETERS + "Binary sets should not be empty")
        raise ValidationException(INVALID_PARAMETERS + f"An {_SET_NAMES[kind]} set  may not be empty")
    if kind == "SS":
        for element in raw:
            if not isinstance(element, str):
                raise SerializationException(
                    f"{json_kind(element)} can not be converted to a String"
                )
        members = list(raw)
    elif kind == "NS":
        members = [canonical_number(element) for element in raw]
    else:
        members = [_canonical_binary(element) for element in raw]
    if len(set(members)) != len(members):
        shown = ", ".join(str(m) for m in raw)
        raise ValidationException(INVALID_PARAMETERS + f"Input collection [{shown}] contains duplicates.")
    return members


def validate_item(item: Any) -> Item:
    """A canonical copy of a whole item (attribute names are checked too)."""
    if not isinstance(item, dict):
        raise SerializationException(
            f"Unexpected value type in payload: {json_kind(item)} can not be converted to a Map"
        )
    result: Item = {}
    for name, value in item.items():
        if name == "":
            raise ValidationException(INVALID_PARAMETERS + "An attribute name may not be empty")
        if len(name) > _NAME_CHARS_ALWAYS_FINE:
            _check_attribute_name(name)
        result[name] = validate_value(value)
    return result


# --- ordering and equality -------------------------------------------------


def type_of(value: AttributeValue) -> str:
    return next(iter(value))


def compare(a: AttributeValue, b: AttributeValue) -> int | None:
    """-1/0/1 for two scalars of one ordered type (S, N, B); None otherwise.

    DynamoDB orders strings by UTF-8 bytes; Python orders str by code point,
    which is the same order for any valid Unicode text.
    """
    kind = type_of(a)
    if kind != type_of(b) or kind not in KEY_TYPES:
        return None
    if kind == "N":
        x: Any = Decimal(a["N"])
        y: Any = Decimal(b["N"])
    elif kind == "B":
        x, y = decode_binary(a["B"]), decode_binary(b["B"])
    else:
        x, y = a["S"], b["S"]
    order: int = (x > y) - (x < y)
    return order


def equal(a: AttributeValue, b: AttributeValue) -> bool:
    """Value equality as DynamoDB's ``=``: sets compare as sets, maps as maps."""
    kind = type_of(a)
    if kind != type_of(b):
        return False
    if kind in ("SS", "NS", "BS"):
        return set(a[kind]) == set(b[kind])
    if kind == "L":
        return len(a["L"]) == len(b["L"]) and all(map(equal, a["L"], b["L"]))
    if kind == "M":
        ma, mb = a["M"], b["M"]
        return ma.keys() == mb.keys() and all(equal(ma[k], mb[k]) for k in ma)
    same: bool = a[kind] == b[kind]
    return same


# --- size --------------------------------------------------------------------


def number_size(text: str) -> int:
    """DynamoDB's documented number size: 1 byte per two significant digits, plus 1."""
    digits = text.lstrip("-").replace(".", "").strip("0")
    return (len(digits) + 1) // 2 + 1


def _text_size(text: str) -> int:
    """UTF-8 length of ``text`` without encoding it when it is ASCII (the usual case)."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def value_size(value: AttributeValue) -> int:
    # The hot path of every read (page limits, capacity): the common scalar
    # kinds first, no helper calls for them.  Same rules as ever: S is UTF-8
    # bytes, N ``number_size``, B the decoded bytes.
    for kind, raw in value.items():  # exactly one entry; its first, as type_of reads it
        if kind == "S":
            return len(raw) if raw.isascii() else len(raw.encode("utf-8"))
        if kind == "N":
            return number_size(raw)
        if kind == "M":
            # 3 bytes of overhead, then each entry's name, value and 1 byte.
            return 3 + _map_size(raw)
        if kind == "BOOL" or kind == "NULL":
            return 1
        if kind == "B":
            return len(decode_binary(raw))
        if kind == "L":
            return 3 + sum(1 + value_size(v) for v in raw)
        if kind == "SS":
            return sum(_text_size(s) for s in raw)
        if kind == "NS":
            return sum(number_size(n) for n in raw)
        if kind == "BS":
            return sum(len(decode_binary(b)) for b in raw)
        return 3 + sum(1 + len(k.encode("utf-8")) + value_size(v) for k, v in raw.items())
    raise StopIteration  # an empty value, as type_of's next(iter(value)) raised


def _map_size(entries: Item) -> int:
    total = len(entries)  # the 1 byte per entry
    for name, value in entries.items():
        total += (len(name) if name.isascii() else len(name.encode("utf-8"))) + value_size(value)
    return total


def exceeds_item_limit(item: Item) -> bool:
    """``item_size(item) > MAX_ITEM_SIZE``, cheaply for the usual small item.

    The item's JSON encoding is never shorter than its DynamoDB size (every
    name, value and wrapper costs at least as many JSON bytes as DynamoDB
    counts), and orjson encodes far faster than the exact walk below, so the
    exact size is computed only for items whose JSON is over the limit.
    """
    if len(orjson.dumps(item)) <= MAX_ITEM_SIZE:
        return False
    return item_size(item) > MAX_ITEM_SIZE


def item_size(item: Item) -> int:
    """DynamoDB's size of an item: each attribute's UTF-8 name plus its value."""
    total = 0
    for name, value in item.items():
        total += (len(name) if name.isascii() else len(name.encode("utf-8"))) + value_size(value)
    return total
