"""A queue's settable attributes: their defaults, ranges and cross-checks.

Values travel as strings (SQS's attribute map is string to string) and are
stored canonical — ``"30"`` not ``"030"``, ``"true"`` not ``"True"`` — so two
CreateQueue calls with equal meaning compare equal.  Every violation is
SQS's ``InvalidAttributeValue`` / ``InvalidAttributeName`` with its message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from cellstore.errors import InvalidAttributeName, InvalidAttributeValue

MAX_MESSAGE_SIZE = 1_048_576  # 1 MiB: SQS's maximum (and default) since 2025

#: name -> (lowest, highest, default) for the integer attributes.
INTEGER_RANGES: Mapping[str, tuple[int, int, int]] = {
    "DelaySeconds": (0, 900, 0),
    "MaximumMessageSize": (1024, MAX_MESSAGE_SIZE, MAX_MESSAGE_SIZE),
    "MessageRetentionPeriod": (60, 1_209_600, 345_600),
    "ReceiveMessageWaitTimeSeconds": (0, 20, 0),
    "VisibilityTimeout": (0, 43_200, 30),
    "KmsDataKeyReusePeriodSeconds": (60, 86_400, 300),
}
BOOLEANS = frozenset({"FifoQueue", "ContentBasedDeduplication", "SqsManagedSseEnabled"})
ENUMS: Mapping[str, tuple[str, ...]] = {
    "DeduplicationScope": ("messageGroup", "queue"),
    "FifoThroughputLimit": ("perQueue", "perMessageGroupId"),
}
FREE_TEXT = frozenset({"Policy", "KmsMasterKeyId"})
JSON_POLICIES = frozenset({"RedrivePolicy", "RedriveAllowPolicy"})
FIFO_ONLY = frozenset({"ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"})

SETTABLE = frozenset(INTEGER_RANGES) | BOOLEANS | frozenset(ENUMS) | FREE_TEXT | JSON_POLICIES
COMPUTED = (
    "QueueArn",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
)
READABLE = frozenset(COMPUTED) | SETTABLE

#: The order GetQueueAttributes(All) lists them in.
ORDER = (
    "QueueArn",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "VisibilityTimeout",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "Policy",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
)


_INTEGER = re.compile(r"-?[0-9]+")


def parse_integer(value: Any) -> int | None:
    """The integer SQS reads from ``value`` (a JSON integer or its decimal text), else None.

    Text must be ASCII digits with an optional '-': Python's ``int()`` would
    also take ``" 7 "``, ``"+7"``, ``"1_000"`` and other scripts' digits
    (``"١٢"``), none of which SQS accepts.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    return None


def invalid(name: str, reason: str | None = None) -> InvalidAttributeValue:
    message = f"Invalid value for the parameter {name}."
    if reason:
        message += f" Reason: {reason}"
    return InvalidAttributeValue(message)


def defaults(fifo: bool) -> dict[str, str]:
    attrs = {name: str(default) for name, (_, _, default) in INTEGER_RANGES.items()}
    del attrs["KmsDataKeyReusePeriodSeconds"]  # shown only with a KMS key
    attrs["SqsManagedSseEnabled"] = "true"
    if fifo:
        attrs.update(
            FifoQueue="true",
            ContentBasedDeduplication="false",
            DeduplicationScope="queue",
            FifoThroughputLimit="perQueue",
        )
    return attrs


def canonical(name: str, value: str, *, fifo: bool) -> str:
    """``value`` in stored form; raises the error SQS gives for it."""
    if name not in SETTABLE:
        raise InvalidAttributeName(f"Unknown Attribute {name}.")
    if name in FIFO_ONLY and not fifo:
        raise InvalidAttributeName(f"Unknown Attribute {name}.")
    if name in INTEGER_RANGES:
        low, high, _ = INTEGER_RANGES[name]
        number = parse_integer(value)
        if number is None or not low <= number <= high:
            raise invalid(name)
        return str(number)
    if name in BOOLEANS:
        if value.lower() not in ("true", "false"):
            raise invalid(name)
        return value.lower()
    if name in ENUMS:
        if value not in ENUMS[name]:
            raise invalid(name)
        return value
    if name == "RedrivePolicy":
        return _redrive_policy(value)
    if name == "RedriveAllowPolicy":
        return _redrive_allow_policy(value)
    return value


def _json_object(name: str, value: str) -> dict[str, object]:
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise invalid(name, "Invalid JSON.") from None
    if not isinstance(parsed, dict):
        raise invalid(name, "Invalid JSON.")
    return parsed


def _redrive_policy(value: str) -> str:
    if value == "":
        return ""  # clears the policy
    policy = _json_object("RedrivePolicy", value)
    target = policy.get("deadLetterTargetArn")
    count = policy.get("maxReceiveCount")
    if not isinstance(target, str) or not target.startswith("arn:"):
        raise invalid("RedrivePolicy", "Value for parameter deadLetterTargetArn is invalid.")
    number = parse_integer(count)
    if number is None or not 1 <= number <= 1000:
        raise invalid(
            "RedrivePolicy",
            f"Value {count} for parameter MaxReceiveCount is invalid. Reason: Must be an integer from 1 to 1000.",
        )
    extra = set(policy) - {"deadLetterTargetArn", "maxReceiveCount"}
    if extra:
        raise invalid("RedrivePolicy", "Only following attributes are supported: [deadLetterTargetArn, maxReceiveCount].")
    return orjson.dumps({"deadLetterTargetArn": target, "maxReceiveCount": number}).decode()


def _redrive_allow_policy(value: str) -> str:
    policy = _json_object("RedriveAllowPolicy", value)
    permission = policy.get("redrivePermission")
    if permission not in ("allowAll", "denyAll", "byQueue"):
        raise invalid("RedriveAllowPolicy", "Value for parameter redrivePermission is invalid.")
    sources = policy.get("sourceQueueArns")
    if permission == "byQueue":
        if not isinstance(sources, list) or not 1 <= len(sources) <= 10:
            raise invalid(
                "RedriveAllowPolicy",
                "Amazon SQS can't create the redrive allow policy, as it’s in an unsupported format.",
            )
    elif sources is not None:
        raise invalid(
            "RedriveAllowPolicy",
            "Amazon SQS can't create the redrive allow policy, as it’s in an unsupported format.",
        )
    return orjson.dumps(policy).decode()


def check_fifo_combination(attrs: Mapping[str, str]) -> None:
    """FIFO throughput per group needs deduplication per group."""
    if attrs.get("FifoThroughputLimit") == "perMessageGroupId" and attrs.get("DeduplicationScope") == "queue":
        raise invalid(
            "FifoThroughputLimit",
            "The perMessageGroupId value is allowed only when the value for DeduplicationScope is messageGroup",
        )


def allows_source(policy_json: str | None, source_arn: str) -> bool:
    """Whether a RedriveAllowPolicy lets ``source_arn`` use this queue as its dead-letter queue."""
    if not policy_json:
        return True
    policy = orjson.loads(policy_json)
    permission = policy.get("redrivePermission")
    if permission == "allowAll":
        return True
    if permission == "denyAll":
        return False
    return source_arn in policy.get("sourceQueueArns", [])
