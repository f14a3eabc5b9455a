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

import orjson

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
    #: A resource-based statement's ``Principal``: ``*``, account ids or principal ARNs (empty in identity policies).
    principals: tuple[str, ...] = ()

    def names(self, principal_arn: str, account: str) -> bool:
        """Whether this resource-based statement's Principal covers ``principal_arn`` (of ``account``)."""
        for wanted in self.principals:
            if wanted == "*" or wanted in (account, f"arn:aws:iam::{account}:root"):
                return True
            if matches(wanted, principal_arn):
                return True
        return False

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


def _principals(raw: Any) -> tuple[str, ...]:
    """A resource-based statement's Principal: ``"*"`` or ``{"AWS": <ARN, account id, "*" or a list>}``."""
    if raw == "*":
        return ("*",)
    if not isinstance(raw, Mapping) or set(raw) != {"AWS"}:
        raise PolicyError('Principal must be "*" or {"AWS": ...}')
    return _strings(raw, "AWS") or _no_principal()


def _no_principal() -> tuple[str, ...]:
    raise PolicyError("Principal names no principal")


def parse(document: Mapping[str, Any], *, resource_based: bool = False) -> Policy:
    """A policy from its JSON document (already decoded); ``PolicyError`` if cellstore cannot honour it.

    ``resource_based`` policies (attached to a table or stream with
    PutResourcePolicy) need a ``Principal`` in every statement; identity
    policies may not have one.  ``NotPrincipal`` is refused in both.
    """
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
        members = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
        if resource_based:
            members.add("Principal")
        unknown = set(entry) - members
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
        principals = _principals(entry.get("Principal")) if resource_based else ()
        statements.append(
            Statement(
                effect, actions, not_actions, resources, not_resources, _conditions(entry.get("Condition")), principals
            )
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


def evaluate_with_resource_policy(
    identity: Iterable[Policy],
    resource_policy: str,
    principal_arn: str,
    account: str,
    action: str,
    resource: str,
    context: Context,
    variables: Mapping[str, str],
) -> tuple[Decision, str]:
    """IAM's answer when a resource-based policy (a JSON document, "" for none) applies too.

    Within one account, as here, a request is allowed when the identity
    policies *or* the resource's policy allow it, and an explicit deny in
    either wins.  The second value says where the decision came from, for
    AccessDenied's wording: "identity-based" or "resource-based".  A stored
    resource policy cellstore cannot evaluate (PutResourcePolicy checks it as
    DynamoDB does, which accepts condition operators this module does not
    implement) denies: reading it as absent could drop a Deny.
    """
    decision = evaluate(identity, action, resource, context, variables)
    if not resource_policy:
        return decision, "identity-based"
    if decision is Decision.EXPLICIT_DENY:
        return decision, "identity-based"
    try:
        attached = parse(orjson.loads(resource_policy), resource_based=True)
    except (PolicyError, orjson.JSONDecodeError):
        return Decision.EXPLICIT_DENY, "resource-based"
    named = Policy(
        tuple(s for s in attached.statements if s.names(principal_arn, account)), attached.version
    )
    from_resource = evaluate((named,), action, resource, context, variables)
    if from_resource is Decision.EXPLICIT_DENY:
        return from_resource, "resource-based"
    if Decision.ALLOW in (decision, from_resource):
        return Decision.ALLOW, "identity-based" if decision is Decision.ALLOW else "resource-based"
    return Decision.IMPLICIT_DENY, "identity-based"


def denial_reason(decision: Decision, source: str, action: str) -> str:
    """The end of AWS's AccessDenied message for ``decision``."""
    if decision is Decision.EXPLICIT_DENY:
        article = "an" if source == "identity-based" else "a"
        return f"with an explicit deny in {article} {source} policy"
    return f"because no identity-based policy allows the {action} action"
