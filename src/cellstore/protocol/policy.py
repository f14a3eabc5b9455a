"""IAM-style identity policies: parsed once, evaluated per (action, resource, context).

The subset of AWS's policy language cellstore understands, with IAM's
evaluation logic for identity-based policies:

* a request is denied unless some statement allows it (implicit deny);
* an explicit ``Deny`` in any statement wins over every ``Allow``;
* a statement applies when its ``Action``/``NotAction`` matches the action
  (case-insensitive, ``*`` and ``?`` wildcards), its ``Resource``/``NotResource``
  matches the resource ARN (case-sensitive, wildcards) and every condition
  holds (operators AND-ed, keys within an operator AND-ed, values OR-ed).

Conditions support the string and ARN operators (``StringEquals``,
``StringNotEquals``, ``StringEqualsIgnoreCase``, ``StringNotEqualsIgnoreCase``,
``StringLike``, ``StringNotLike``, ``ArnEquals``, ``ArnLike``, ``ArnNotEquals``,
``ArnNotLike``), ``Bool`` and ``Null``, each with an ``IfExists`` suffix and the
``ForAllValues:``/``ForAnyValue:`` set qualifiers for multivalued keys such as
``dynamodb:LeadingKeys`` and ``dynamodb:Attributes``.  In a policy with
``"Version": "2012-10-17"`` the variables ``${aws:username}``,
``${aws:userid}`` and ``${aws:PrincipalArn}`` (and the escapes ``${*}``,
``${?}``, ``${$}``) are substituted in resources and condition values.

Anything else is refused when the policy is loaded (``PolicyError``), so a
typo never silently widens or narrows access.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any, Literal

VERSION = "2012-10-17"

#: A request's condition keys (lower-case) and their values; a multivalued key has several.
Context = Mapping[str, Sequence[str]]


class PolicyError(ValueError):
    """A policy cellstore cannot evaluate exactly as IAM would."""


class Decision(Enum):
    ALLOW = "allow"
    IMPLICIT_DENY = "implicit deny"
    EXPLICIT_DENY = "explicit deny"


#: How a condition operator compares: exactly, ignoring case, by wildcard, or null-ness.
ConditionKind = Literal["equals", "equals_ci", "like", "null"]
Effect = Literal["Allow", "Deny"]

_OPERATORS: dict[str, tuple[ConditionKind, bool]] = {
    "StringEquals": ("equals", False),
    "StringNotEquals": ("equals", True),
    "StringEqualsIgnoreCase": ("equals_ci", False),
    "StringNotEqualsIgnoreCase": ("equals_ci", True),
    "StringLike": ("like", False),
    "StringNotLike": ("like", True),
    "ArnEquals": ("like", False),
    "ArnLike": ("like", False),
    "ArnNotEquals": ("like", True),
    "ArnNotLike": ("like", True),
    "Bool": ("equals_ci", False),
    "Null": ("null", False),
}


@lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard matching: ``*`` any run of characters, ``?`` any one."""
    return _glob(pattern, ignore_case).fullmatch(value) is not None


_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """``${aws:username}`` → its value; an unknown variable matches nothing (IAM's rule)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _ESCAPES:
            return _ESCAPES[name]
        return variables.get(name.lower(), "\x00unresolved\x00")

    return _VARIABLE.sub(value, text) if "${" in text else text


@dataclass(frozen=True, slots=True)
class Condition:
    """One key under one operator: ``ForAllValues:StringEquals {"dynamodb:LeadingKeys": [...]}``."""

    operator: str
    kind: ConditionKind
    negated: bool
    qualifier: str | None
    if_exists: bool
    key: str
    values: tuple[str, ...]

    def holds(self, context: Context, variables: Mapping[str, str], substitute_vars: bool) -> bool:
        wanted = [substitute(v, variables) for v in self.values] if substitute_vars else list(self.values)
        present = context.get(self.key)
        if self.kind == "null":
            is_null = present is None or len(present) == 0
            return any((w.lower() == "true") == is_null for w in wanted)
        if present is None:
            if self.qualifier == "ForAllValues":
                return True
            if self.qualifier == "ForAnyValue":
                return False
            return self.if_exists or self.negated
        if self.qualifier == "ForAllValues":
            return all(self._value_ok(v, wanted) for v in present)
        if self.qualifier == "ForAnyValue":
            return any(self._value_ok(v, wanted) for v in present)
        hit = any(self._match(v, w) for v in present for w in wanted)
        return not hit if self.negated else hit

    def _value_ok(self, value: str, wanted: Sequence[str]) -> bool:
        hit = any(self._match(value, w) for w in wanted)
        return not hit if self.negated else hit

    def _match(self, value: str, wanted: str) -> bool:
        if self.kind == "equals":
            return value == wanted
        if self.kind == "equals_ci":
            return value.lower() == wanted.lower()
        return matches(wanted, value)


@dataclass(frozen=True, slots=True)
class Statement:
    effect: Effect
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    conditions: tuple[Condition, ...]

    def applies(
        self, action: str, resource: str, context: Context, variables: Mapping[str, str], substitute_vars: bool
    ) -> bool:
        if self.actions:
            if not any(matches(a, action, ignore_case=True) for a in self.actions):
                return False
        elif any(matches(a, action, ignore_case=True) for a in self.not_actions):
            return False

        def resource_hit(patterns: tuple[str, ...]) -> bool:
            return any(
                matches(substitute(p, variables) if substitute_vars else p, resource) for p in patterns
            )

        if self.resources:
            if not resource_hit(self.resources):
                return False
        elif resource_hit(self.not_resources):
            return False
        return all(c.holds(context, variables, substitute_vars) for c in self.conditions)


@dataclass(frozen=True, slots=True)
class Policy:
    statements: tuple[Statement, ...]
    version: str | None = None

    @property
    def substitutes(self) -> bool:
        return self.version == VERSION


def _strings(statement: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = statement.get(name)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise PolicyError(f"{name} must be a string or a list of strings")


def _conditions(raw: Any) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise PolicyError("Condition must be an object")
    found: list[Condition] = []
    for operator, keys in raw.items():
        qualifier, _, base = operator.rpartition(":")
        if qualifier not in ("", "ForAllValues", "ForAnyValue"):
            raise PolicyError(f"unsupported condition qualifier {qualifier!r}")
        if_exists = base.endswith("IfExists")
        if if_exists:
            base = base[: -len("IfExists")]
        if base not in _OPERATORS:
            raise PolicyError(f"unsupported condition operator {operator!r}")
        kind, negated = _OPERATORS[base]
        if not isinstance(keys, Mapping):
            raise PolicyError(f"condition {operator} must map keys to values")
        for key, values in keys.items():
            if isinstance(values, (str, bool)):
                values = [values]
            if not isinstance(values, list):
                raise PolicyError(f"condition {operator} {key}: values must be a string or a list")
            texts = tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in values)
            found.append(Condition(operator, kind, negated, qualifier or None, if_exists, key.lower(), texts))
    return tuple(found)


def parse(document: Mapping[str, Any]) -> Policy:
    """A policy from its JSON document (already decoded); ``PolicyError`` if cellstore cannot honour it."""
    if not isinstance(document, Mapping):
        raise PolicyError("a policy must be a JSON object")
    version = document.get("Version")
    raw = document.get("Statement")
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise PolicyError("Statement must be an object or a non-empty list")
    statements = []
    for entry in raw:
        if not isinstance(entry, Mapping):
            raise PolicyError("each Statement must be an object")
        unknown = set(entry) - {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
        if unknown:
            raise PolicyError(f"unsupported statement members: {', '.join(sorted(unknown))}")
        effect = entry.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError("Effect must be Allow or Deny")
        actions, not_actions = _strings(entry, "Action"), _strings(entry, "NotAction")
        if bool(actions) == bool(not_actions):
            raise PolicyError("a statement needs exactly one of Action and NotAction")
        resources, not_resources = _strings(entry, "Resource"), _strings(entry, "NotResource")
        if bool(resources) == bool(not_resources):
            raise PolicyError("a statement needs exactly one of Resource and NotResource")
        statements.append(
            Statement(effect, actions, not_actions, resources, not_resources, _conditions(entry.get("Condition")))
        )
    return Policy(tuple(statements), version if isinstance(version, str) else None)


def evaluate(
    policies: Iterable[Policy],
    action: str,
    resource: str,
    context: Context,
    variables: Mapping[str, str],
) -> Decision:
    """IAM's answer for one action on one resource: explicit deny, then allow, else implicit deny."""
    allowed = False
    for policy in policies:
        for statement in policy.statements:
            if statement.applies(action, resource, context, variables, policy.substitutes):
                if statement.effect == "Deny":
                    return Decision.EXPLICIT_DENY
                allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY
