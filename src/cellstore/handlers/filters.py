"""Lambda's event filtering: does a record match one of a mapping's filter patterns?

A pattern mirrors the record's shape.  A key whose rule is an object descends
into the record; a key whose rule is a list is a leaf: the record's value (or,
if it is an array, any element of it) must satisfy at least one matcher.
Keys are ANDed, a list's matchers ORed, a mapping's patterns ORed.

Matchers (Lambda's filter rule syntax):

* a literal — string, number, ``true``/``false``, ``null`` — equal values
  (numbers compare as numbers: ``1`` matches ``1.0``);
* ``{"prefix": "x"}``, ``{"suffix": "x"}``, ``{"equals-ignore-case": "x"}``;
* ``{"anything-but": v}`` with a literal, a list of literals, or a
  ``prefix``/``suffix``/``equals-ignore-case`` object — the key must be present;
* ``{"numeric": [">", 0, "<=", 5]}`` (``=``, ``<``, ``<=``, ``>``, ``>=``,
  one or two comparisons) — on numbers, and on numeric strings, so it works on
  DynamoDB's ``{"N": "12"}`` values;
* ``{"exists": true}`` / ``{"exists": false}`` — the key is present / absent.

For SQS, a message body that is a JSON object is matched as that object
(``{"body": {"kind": ["order"]}}``); any other body as its text.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any


class HandlerConfigError(ValueError):
    """A mapping Lambda would refuse to create (a bad setting, an unknown source).

    Defined here, the lowest of the configuration modules, so ``settings`` can
    check filter patterns without an import cycle; ``settings`` re-exports it.
    """


_MISSING = object()
_OPERATORS = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_KINDS = ("prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists")


def matches_any(patterns: Sequence[dict[str, Any]], record: Any) -> bool:
    """True if there are no patterns or ``record`` matches at least one."""
    return not patterns or any(matches(pattern, record) for pattern in patterns)


def matches(pattern: dict[str, Any], record: Any) -> bool:
    for key, rule in pattern.items():
        value = record.get(key, _MISSING) if isinstance(record, dict) else _MISSING
        if isinstance(rule, dict):
            if not isinstance(value, dict) or not matches(rule, value):
                return False
        elif not any(_leaf(matcher, value) for matcher in rule):
            return False
    return True


def _leaf(matcher: Any, value: Any) -> bool:
    if isinstance(matcher, dict):
        (kind, argument), = matcher.items()
        if kind == "exists":
            return (value is not _MISSING) == bool(argument)
        if value is _MISSING:
            return False
        if kind == "anything-but":
            return not any(_excluded(argument, v) for v in _values(value))
        return any(_compare(kind, argument, v) for v in _values(value))
    return value is not _MISSING and any(_equal(matcher, v) for v in _values(value))


def _values(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _equal(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool) or expected is None or actual is None:
        return expected is actual or (type(expected) is type(actual) and expected == actual)
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return Decimal(str(expected)) == Decimal(str(actual))
    return type(expected) is type(actual) and expected == actual


def _compare(kind: str, argument: Any, value: Any) -> bool:
    if kind == "numeric":
        number = _number(value)
        if number is None:
            return False
        pairs = zip(argument[0::2], argument[1::2], strict=False)
        return all(_OPERATORS[op](number, Decimal(str(bound))) for op, bound in pairs)
    if not isinstance(value, str):
        return False
    if kind == "prefix":
        return value.startswith(argument)
    if kind == "suffix":
        return value.endswith(argument)
    return value.lower() == str(argument).lower()  # equals-ignore-case


def _excluded(argument: Any, value: Any) -> bool:
    if isinstance(argument, dict):
        (kind, inner), = argument.items()
        return _compare(kind, inner, value)
    if isinstance(argument, list):
        return any(_equal(a, value) for a in argument)
    return _equal(argument, value)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value)) if isinstance(value, (int, float, str)) else None
    except InvalidOperation:
        return None


def check_pattern(pattern: dict[str, Any], path: str = "") -> None:
    """Refuse a pattern Lambda would refuse: empty leaves, unknown or malformed matchers."""
    if not pattern:
        raise HandlerConfigError(f"filter pattern {path or '(root)'} is empty")
    for key, rule in pattern.items():
        where = f"{path}.{key}" if path else key
        if isinstance(rule, dict):
            check_pattern(rule, where)
        elif isinstance(rule, list) and rule:
            for matcher in rule:
                _check_matcher(matcher, where)
        else:
            raise HandlerConfigError(f"filter rule for {where} must be an object or a non-empty list")


def _check_matcher(matcher: Any, where: str) -> None:
    if not isinstance(matcher, dict):
        if isinstance(matcher, (str, int, float, bool)) or matcher is None:
            return
        raise HandlerConfigError(f"filter rule for {where}: {matcher!r} is not a value or a matcher")
    if len(matcher) != 1 or next(iter(matcher)) not in _KINDS:
        raise HandlerConfigError(f"filter rule for {where}: unknown matcher {matcher!r}")
    (kind, argument), = matcher.items()
    if kind == "numeric":
        ok = isinstance(argument, list) and len(argument) in (2, 4)
        ok = ok and all(op in _OPERATORS for op in argument[0::2])
        ok = ok and all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in argument[1::2])
        if not ok:
            raise HandlerConfigError(f"filter rule for {where}: numeric needs [op, number] or [op, number, op, number]")
    elif kind == "exists":
        if not isinstance(argument, bool):
            raise HandlerConfigError(f"filter rule for {where}: exists takes true or false")
    elif kind == "anything-but":
        if isinstance(argument, dict) and (
            len(argument) != 1 or next(iter(argument)) not in ("prefix", "suffix", "equals-ignore-case")
        ):
            raise HandlerConfigError(f"filter rule for {where}: anything-but takes values or one prefix/suffix")
    elif not isinstance(argument, str):
        raise HandlerConfigError(f"filter rule for {where}: {kind} takes a string")
