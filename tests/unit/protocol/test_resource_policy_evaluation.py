"""Identity and resource-based policies evaluated together (``policy.evaluate_with_resource_policy``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cellstore.protocol import policy

ACCOUNT = "000000000000"
ME = f"arn:aws:iam::{ACCOUNT}:user/me"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t"
VARIABLES = {"aws:username": "me"}
ALLOW_ALL = policy.parse({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def resource_policy(effect: str, principal: Any, action: str = "dynamodb:GetItem", resource: str = TABLE) -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": effect, "Principal": principal, "Action": action, "Resource": resource}]}
    )


def decide(identity: tuple[policy.Policy, ...], document: str, resource: str = TABLE) -> tuple[policy.Decision, str]:
    return policy.evaluate_with_resource_policy(identity, document, ME, ACCOUNT, "dynamodb:GetItem", resource, {}, VARIABLES)


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ME}, {"AWS": ACCOUNT}, {"AWS": [f"arn:aws:iam::{ACCOUNT}:root"]}])
def test_a_resource_allow_naming_the_caller_allows(principal: Any) -> None:
    assert decide((), resource_policy("Allow", principal)) == (policy.Decision.ALLOW, "resource-based")


def test_a_resource_allow_for_someone_else_does_not() -> None:
    other = {"AWS": f"arn:aws:iam::{ACCOUNT}:user/other"}
    assert decide((), resource_policy("Allow", other))[0] is policy.Decision.IMPLICIT_DENY


def test_a_resource_deny_beats_an_identity_allow() -> None:
    assert decide((ALLOW_ALL,), resource_policy("Deny", {"AWS": ME})) == (policy.Decision.EXPLICIT_DENY, "resource-based")


def test_a_table_policy_governs_its_indexes_through_its_resources() -> None:
    document = resource_policy("Allow", "*", resource=f"{TABLE}/index/*")
    assert decide((), document, f"{TABLE}/index/by-x")[0] is policy.Decision.ALLOW
    assert decide((), document, TABLE)[0] is policy.Decision.IMPLICIT_DENY


@pytest.mark.parametrize(
    "document",
    [
        "{not json",
        resource_policy("Allow", {"Service": "lambda.amazonaws.com"}),
        json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),  # no Principal
        json.dumps({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*",
                                   "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}}}]}),
    ],
)
def test_a_stored_policy_that_cannot_be_evaluated_denies(document: str) -> None:
    assert decide((ALLOW_ALL,), document) == (policy.Decision.EXPLICIT_DENY, "resource-based")


def test_no_resource_policy_is_the_identity_answer() -> None:
    assert decide((ALLOW_ALL,), "") == (policy.Decision.ALLOW, "identity-based")
    assert decide((), "") == (policy.Decision.IMPLICIT_DENY, "identity-based")


def test_identity_policies_may_not_name_a_principal() -> None:
    with pytest.raises(policy.PolicyError):
        policy.parse({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]})
