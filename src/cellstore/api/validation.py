"""Declarative request validation producing DynamoDB's exact messages.

Each operation module declares its parameters as a table of ``Param`` rules;
``validate`` walks the table once and raises a single ValidationException
listing every violated constraint, as AWS does:

    2 validation errors detected: Value null at 'tableName' failed to satisfy
    constraint: Member must not be null; Value 'x' at 'limit' ...

JSON type mismatches (a number where a string belongs) are not validation
errors in AWS but serialization errors, raised before any constraint check.
So are numbers too wide for the member's Java type: AWS models Limit,
Segment, TotalSegments, ... as ``Integer`` (32-bit), and a value outside that
range never reaches the constraint checks (``Limit=2147483648`` is refused, not
read as "no limit").  The few ``Long`` members (ReadCapacityUnits, ...) are
checked as integers too: every value between 2**31 and 2**63 is far above any
of their quotas, so refusing it as unparseable loses nothing.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from cellstore.engine.values import json_kind
from cellstore.errors import SerializationException, ValidationException

TABLE_NAME_PATTERN = "[a-zA-Z0-9_.-]+"
_TABLE_NAME_RE = re.compile(TABLE_NAME_PATTERN)

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "boolean": (bool,),
    "map": (dict,),
    "list": (list,),
}

#: AWS's Integer members are Java ints: -2**31 <= value < 2**31.
_INTEGER_LIMIT = 2**31

#: A member's JSON type in AWS's model vocabulary; "integer" is a Java int.
JsonKind = Literal["string", "integer", "boolean", "map", "list"]

_CONVERTED = {"string": "String", "integer": "Integer", "boolean": "Boolean", "map": "Map", "list": "List"}


@dataclass(frozen=True, slots=True)
class Param:
    """Constraints of one request member, in AWS's model vocabulary."""

    type: JsonKind
    required: bool = False
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    enum: Sequence[str] | None = None
    min_value: int | None = None
    max_value: int | None = None
    empty_min_length: int | None = None
    #: How AWS names the member in a constraint message, where it does not use
    #: the lowerCamel model name (Query and Scan's Limit is 'Limit').
    path: str | None = None
    #: Whether AWS echoes the offending value ("Value '0' at ...") or not ("Value at ...").
    echo_value: bool = True


def check_type(name: str, value: Any, kind: JsonKind) -> None:
    """Raise SerializationException unless ``value`` has JSON type ``kind`` (and fits its width)."""
    expected = _JSON_TYPES[kind]
    integer = kind == "integer"
    ok = isinstance(value, expected) and not (integer and isinstance(value, bool))
    if integer and isinstance(value, float) and value.is_integer():
        ok = True
    if ok and integer and not -_INTEGER_LIMIT <= value < _INTEGER_LIMIT:
        raise SerializationException(f"{json_kind(value)} can not be converted to an Integer")
    if not ok:
        raise SerializationException(
            f"{json_kind(value)} can not be converted to an {_CONVERTED[kind]}"
            if kind == "integer"
            else f"{json_kind(value)} can not be converted to a {_CONVERTED[kind]}"
        )


def wire_name(name: str) -> str:
    """AWS reports members by their lowerCamel model name: TableName → tableName."""
    return name[:1].lower() + name[1:]


def shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return safe_str(value)


#: Deeper than this, a value in an error message is cut short (``[[...]]``).
MESSAGE_DEPTH = 64

_SHORT = reprlib.Repr()
_SHORT.maxlevel = MESSAGE_DEPTH
_SHORT.maxlist = _SHORT.maxdict = _SHORT.maxtuple = _SHORT.maxset = 10**9
_SHORT.maxstring = _SHORT.maxother = _SHORT.maxlong = 10**9


def safe_str(value: Any) -> str:
    """``str(value)`` for an error message, safe for any JSON a client can send.

    ``str`` of a list nested ~1,000 deep (orjson parses up to 1,024) raises
    RecursionError, which would turn a typed error into a 500.  Containers
    deeper than ``MESSAGE_DEPTH`` are shown cut short instead; everything
    else reads exactly as ``str`` would.
    """
    if isinstance(value, (list, dict)) and _deeper_than(value, MESSAGE_DEPTH):
        return _SHORT.repr(value)
    return str(value)


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether containers nest more than ``limit`` deep, found without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return True
        children = current.values() if isinstance(current, dict) else current
        stack.extend((child, depth + 1) for child in children if isinstance(child, (list, dict)))
    return False


def constraint_errors(path: str, value: Any, rule: Param) -> list[str]:
    """The constraint messages ``value`` violates (``path`` as AWS prints it).

    Checks first, text only for a violation: valid requests (the hot path)
    never pay for formatting a possibly large value.
    """
    if value is None:
        return [f"Value null at '{path}' failed to satisfy constraint: Member must not be null"] if rule.required else []
    failed = _violations(value, rule)
    if not failed:
        return failed
    if rule.path is not None:
        path = rule.path
    shown_value = f" '{shown(value)}'" if rule.echo_value else ""
    prefix = f"Value{shown_value} at '{path}' failed to satisfy constraint: "
    return [prefix + message for message in failed]


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _violations(value: Any, rule: Param) -> list[str]:
    """The constraint messages (without the "Value ... at ..." prefix) a non-null ``value`` violates."""
    failed: list[str] = []
    pattern = rule.pattern
    if pattern is not None and isinstance(value, str):
        compiled = _PATTERNS.get(pattern)
        if compiled is None:
            compiled = _PATTERNS[pattern] = re.compile(pattern)
        if compiled.fullmatch(value) is None:
            failed.append(f"Member must satisfy regular expression pattern: {pattern}")
    if rule.empty_min_length is not None and isinstance(value, str) and value == "":
        # AWS's model gives TableName (a name or an ARN) length 1..1024; an
        # empty one reports only that minimum, not the pattern or the 3.
        return [f"Member must have length greater than or equal to {rule.empty_min_length}"]
    if rule.min_length is not None and len(value) < rule.min_length:
        failed.append(f"Member must have length greater than or equal to {rule.min_length}")
    if rule.max_length is not None and len(value) > rule.max_length:
        failed.append(f"Member must have length less than or equal to {rule.max_length}")
    if rule.enum is not None and value not in rule.enum:
        failed.append(f"Member must satisfy enum value set: [{', '.join(rule.enum)}]")
    if rule.min_value is not None and value < rule.min_value:
        failed.append(f"Member must have value greater than or equal to {rule.min_value}")
    if rule.max_value is not None and value > rule.max_value:
        failed.append(f"Member must have value less than or equal to {rule.max_value}")
    return failed


#: AWS puts this prefix before some messages that are not member-constraint
#: errors too (unused placeholders, an empty expression): observed answers.
ONE_ERROR = "1 validation error detected: "


def missing_parameter(name: str) -> ValidationException:
    """A required member left out, in the words AWS has been observed to use
    for DescribeTable and UpdateTable (other operations answer the
    "Value null at ..." member-constraint form)."""
    return ValidationException(f"The parameter '{name}' is required but was not present in the request")


def raise_if_errors(errors: list[str]) -> None:
    if errors:
        count = len(errors)
        noun = "error" if count == 1 else "errors"
        raise ValidationException(f"{count} validation {noun} detected: " + "; ".join(errors))


def validate(payload: Mapping[str, Any], rules: Mapping[str, Param]) -> None:
    """Check every declared member of ``payload``; unknown members are ignored, as AWS does."""
    if type(payload) is not dict and not isinstance(payload, Mapping):  # the ABC check is slow; JSON gives dicts
        raise SerializationException("Start of structure or map found where not expected.")
    errors: list[str] = []
    for name, rule in rules.items():
        value = payload.get(name)
        if value is None:
            # The common case on the hot path: an optional member left out.
            if rule.required:
                errors.extend(constraint_errors(wire_name(name), None, rule))
            continue
        check_type(name, value, rule.type)
        if rule.type == "integer" and isinstance(value, float):
            # AWS's parser reads 5.0 as the integer 5; normalise it once here so
            # the handler never meets a float where the model says integer.
            value = int(value)
            if isinstance(payload, dict):
                payload[name] = value
        if _violations(value, rule):  # the member's path is only spelled out for a violation
            errors.extend(constraint_errors(wire_name(name), value, rule))
    raise_if_errors(errors)


def table_name_rule(required: bool = True) -> Param:
    return Param(
        "string", required=required, min_length=3, max_length=255, pattern=TABLE_NAME_PATTERN, empty_min_length=1
    )


#: A DynamoDB ARN under a table: its region, account, table name and what follows
#: the name (``/stream/<label>``, ``/index/<name>``) — the one grammar for every
#: place that reads a table, stream or index ARN (tagging, Streams, TableName
#: given as an ARN, resource policies).
_TABLE_ARN = re.compile(r"arn:aws[a-z-]*:dynamodb:([a-z0-9-]+):([0-9]{12}):table/([a-zA-Z0-9_.-]{3,255})(/.*)?")
_STREAM_SUFFIX = re.compile(r"/stream/[^/]+")


class TableArn(NamedTuple):
    region: str
    account: str
    table: str
    rest: str  # "" for the table itself


def parse_table_arn(arn: str) -> TableArn | None:
    """The parts of a table's (or its stream's or index's) ARN; None for anything else."""
    match = _TABLE_ARN.fullmatch(arn)
    if match is None:
        return None
    region, account, table, rest = match.groups()
    return TableArn(region, account, table, rest or "")


def is_stream_suffix(rest: str) -> bool:
    return _STREAM_SUFFIX.fullmatch(rest) is not None


def check_table_arn(arn: str) -> None:
    """A tagging ResourceArn must be a table's ARN before anything is looked up.

    DynamoDB's observed answer for anything else (not an ARN, another
    service's, an index's or a stream's) is this ValidationException; a
    well-formed ARN naming no table stays ResourceNotFoundException.
    """
    parsed = parse_table_arn(arn)
    if parsed is None or parsed.rest:
        raise ValidationException(f"Invalid TableArn: Invalid ResourceArn provided as input {arn}")


def check_stream_arn(arn: str) -> None:
    """A StreamArn must have a stream ARN's shape before any lookup.

    AWS documents no text for a malformed StreamArn; cellstore answers a
    ValidationException worded like the TableArn one
    (``Invalid StreamArn: Invalid StreamArn provided as input <arn>``), and
    keeps ResourceNotFoundException for a well-formed ARN naming no stream.
    """
    parsed = parse_table_arn(arn)
    if parsed is None or not is_stream_suffix(parsed.rest):
        raise ValidationException(f"Invalid StreamArn: Invalid StreamArn provided as input {arn}")


def is_valid_table_name(name: str) -> bool:
    return 3 <= len(name) <= 255 and _TABLE_NAME_RE.fullmatch(name) is not None


RETURN_CONSUMED_CAPACITY = Param("string", enum=("INDEXES", "TOTAL", "NONE"))
RETURN_ITEM_COLLECTION_METRICS = Param("string", enum=("SIZE", "NONE"))


def member_path(path: str, index: int) -> str:
    """AWS's path of the ``index``-th (0-based) element of list ``path``: 'keySchema.1.member'."""
    return f"{path}.{index + 1}.member"


def structure_errors(path: str, value: Any, rules: Mapping[str, Param], *, required: bool = False) -> list[str]:
    """Constraint messages of a nested structure, its members reported as ``path.memberName``.

    The nested counterpart of ``validate``: request members that are
    structures (ProvisionedThroughput, each KeySchemaElement...) are checked
    with the same rules, and their messages joined into the one top-level
    "N validation errors detected" by the caller.  A ``required`` structure
    that is missing is its "must not be null" message.
    """
    if value is None and required:
        return constraint_errors(path, None, Param("map", required=True))
    check_type(path, value, "map")
    errors: list[str] = []
    for name, rule in rules.items():
        member = value.get(name)
        if member is not None:
            check_type(name, member, rule.type)
            if rule.type == "integer" and isinstance(member, float):
                member = int(member)
        errors.extend(constraint_errors(f"{path}.{wire_name(name)}", member, rule))
    return errors
