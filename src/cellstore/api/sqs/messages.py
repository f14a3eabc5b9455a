"""What a message is made of on the wire: body, message attributes, system attributes.

Checks here are the ones that need no queue: characters SQS accepts,
attribute names, types and values.  Size and queue-type rules are the
engine's (``engine/queues/send.py``).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from cellstore.api.validation import safe_str
from cellstore.engine.values import is_number_text
from cellstore.errors import InvalidMessageContents, InvalidParameterValue, MissingParameter

# XML 1.0's characters: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF
_INVALID_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")
_ID_CHARS = re.compile(r"[!-~]{1,128}")
MAX_ATTRIBUTES = 10
SYSTEM_ATTRIBUTES = frozenset({"AWSTraceHeader"})


def body(payload: dict[str, Any]) -> str:
    value = payload.get("MessageBody")
    if value is None or value == "":
        raise MissingParameter("The request must contain the parameter MessageBody.")
    text = safe_str(value)
    if _INVALID_CHARS.search(text):
        raise InvalidMessageContents()
    return text


def attributes(raw: Any, *, system: bool = False) -> dict[str, Any]:
    """Message (or message system) attributes, checked and in stored shape."""
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raise InvalidParameterValue("Message attributes must be a map.")
    if len(raw) > MAX_ATTRIBUTES:
        raise InvalidParameterValue(
            f"Number of message attributes [{len(raw)}] exceeds the allowed maximum [{MAX_ATTRIBUTES}]."
        )
    checked: dict[str, Any] = {}
    for name, value in raw.items():
        if system:
            if name not in SYSTEM_ATTRIBUTES:
                raise InvalidParameterValue(f"Message system attribute name '{name}' is invalid.")
        else:
            _check_name(name)
        checked[name] = _value(name, value)
    return checked


def _check_name(name: str) -> None:
    lowered = name.lower()
    if (
        not _ATTRIBUTE_NAME.fullmatch(name)
        or lowered.startswith(("aws.", "amazon."))
        or name.startswith(".")
        or name.endswith(".")
        or ".." in name
    ):
        raise InvalidParameterValue(
            f"Message (user) attribute name '{name}' is invalid. The attribute name can contain "
            "A-Z, a-z, 0-9, underscore (_), hyphen (-), and period (.) characters."
        )


def _value(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidParameterValue(f"The message attribute '{name}' must contain a non-empty message attribute value.")
    data_type = value.get("DataType")
    if not data_type:
        raise InvalidParameterValue(f"The message attribute '{name}' must contain non-empty message attribute type.")
    base = safe_str(data_type).split(".", 1)[0]
    if base not in ("String", "Number", "Binary"):
        raise InvalidParameterValue(
            f"The message attribute '{name}' has an invalid message attribute type, the set of "
            "supported type prefixes is Binary, Number, and String."
        )
    if base == "Binary":
        binary = value.get("BinaryValue")
        if not binary:
            raise InvalidParameterValue(
                f"The message attribute '{name}' with type 'Binary' must use field 'Binary'."
            )
        try:
            base64.b64decode(binary, validate=True)
        except (binascii.Error, ValueError, TypeError):  # TypeError: not a string at all
            raise InvalidParameterValue(f"The message attribute '{name}' has an invalid binary value.") from None
        return {"DataType": data_type, "BinaryValue": binary}
    text = value.get("StringValue")
    if text is None or text == "":
        raise InvalidParameterValue(
            f"The message attribute '{name}' with type '{base}' must use field 'String'."
        )
    text = safe_str(text)
    if _INVALID_CHARS.search(text):
        raise InvalidMessageContents()
    # Decimal() alone would also take ' 7 ', '1_000', 'NaN' and other scripts' digits.
    if base == "Number" and not is_number_text(text):
        raise InvalidParameterValue(f"Can't cast the value of message (user) attribute '{name}' to a number.")
    return {"DataType": data_type, "StringValue": text}


def fifo_id(payload: dict[str, Any], member: str) -> str | None:
    value = payload.get(member)
    if value is None:
        return None
    text = safe_str(value)
    if not _ID_CHARS.fullmatch(text):
        raise InvalidParameterValue(
            f"Value {text} for parameter {member} is invalid. Reason: {member} can only include "
            "alphanumeric and punctuation characters. 1 to 128 in length."
        )
    return text


def wanted(names: list[str], available: dict[str, Any]) -> dict[str, Any]:
    """The message attributes a ReceiveMessage asked for: All, .*, exact names, or "prefix.*"."""
    if not names or not available:
        return {}
    if "All" in names or ".*" in names:
        return dict(available)
    chosen: dict[str, Any] = {}
    for name in names:
        if name.endswith(".*"):
            prefix = name[:-1]
            chosen.update({k: v for k, v in available.items() if k.startswith(prefix)})
        elif name in available:
            chosen[name] = available[name]
    return chosen
