"""api.policy_documents: a resource-based policy checked as DynamoDB checks it before attaching it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cellstore.api.policy_documents import check_document
from cellstore.errors import ValidationException

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
STREAM = f"{TABLE}/stream/2026-01-01T00:00:00.000"
USER = "arn:aws:iam::123456789012:user/reader"
PREFIX = "One or more parameter values were invalid: Invalid policy document: "


def statement(**members: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"Effect": "Allow", "Principal": {"AWS": USER}, "Action": "dynamodb:GetItem", "Resource": TABLE}
    base.update(members)
    return {k: v for k, v in base.items() if v is not None}


def doc(*statements: dict[str, Any], version: str | None = "2012-10-17") -> str:
    body: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        body["Version"] = version
    return json.dumps(body)


def refusal(document: str, resource: str = TABLE, kind: str = "table") -> str:
    with pytest.raises(ValidationException) as caught:
        check_document(document, resource, kind)  # type: ignore[arg-type]
    return caught.value.message


class TestAccepted:
    @pytest.mark.parametrize(
        "members",
        [
            {},
            {"Action": ["dynamodb:Get*", "dynamodb:Query"], "Resource": [TABLE, f"{TABLE}/index/*"]},
            {"Action": "*", "Resource": "*"},
            {"Principal": "*", "Effect": "Deny", "NotAction": "dynamodb:Scan", "Action": None},
            {"Principal": {"AWS": ["123456789012", "*", "arn:aws:iam::123456789012:role/app"]}},
            {"Resource": f"{TABLE}/index/by-date", "Sid": "one"},
            {"Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["a"]}}},
            {"Resource": "arn:aws:dynamodb:*:*:table/ord*"},
        ],
    )
    def test_table_policies(self, members: dict[str, Any]) -> None:
        check_document(doc(statement(**members)), TABLE, "table")

    def test_a_stream_policy(self) -> None:
        check_document(
            doc(statement(Action=["dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream"],
                          Resource=STREAM)),
            STREAM, "stream",
        )

    def test_version_may_be_absent_or_the_old_one(self) -> None:
        check_document(doc(statement(), version=None), TABLE, "table")
        check_document(doc(statement(), version="2008-10-17"), TABLE, "table")


class TestRefused:
    def test_stream_actions_on_a_table_are_named_as_aws_names_them(self) -> None:
        actions = ["dynamodb:GetItem", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream",
                   "dynamodb:ListStreams"]
        assert refusal(doc(statement(Action=actions))) == PREFIX + (
            'The following action names are invalid: "dynamodb:GetRecords", "dynamodb:GetShardIterator", '
            '"dynamodb:DescribeStream", "dynamodb:ListStreams"'
        )

    def test_table_actions_on_a_stream(self) -> None:
        assert refusal(doc(statement(Action="dynamodb:PutItem", Resource=STREAM)), STREAM, "stream") == (
            PREFIX + 'The following action names are invalid: "dynamodb:PutItem"'
        )

    @pytest.mark.parametrize("action", ["s3:GetObject", "dynamodb:NoSuchThing", "dynamodb:", "dynamodb:Zz*"])
    def test_actions_of_no_kind(self, action: str) -> None:
        assert refusal(doc(statement(Action=action))) == PREFIX + f'The following action names are invalid: "{action}"'

    def test_service_principal(self) -> None:
        assert refusal(doc(statement(Principal={"Service": "lambda.amazonaws.com"}))) == (
            PREFIX + "Policy contains invalid service principal"
        )

    @pytest.mark.parametrize(
        ("principal", "detail"),
        [
            ({"AWS": "bob"}, 'Policy contains invalid principal: "bob"'),
            ({"Federated": "cognito-identity.amazonaws.com"}, "Policy contains invalid principal type: Federated"),
            ("everyone", 'Principal must be "*" or an object naming AWS principals'),
        ],
    )
    def test_other_principals(self, principal: Any, detail: str) -> None:
        assert refusal(doc(statement(Principal=principal))) == PREFIX + detail

    @pytest.mark.parametrize(
        "resource",
        [
            "arn:aws:dynamodb:us-east-1:123456789012:table/other",
            f"{TABLE}-2",
            f"{TABLE}/index/",
            f"{TABLE}/stream/x",
            "arn:aws:s3:::bucket/*",
        ],
    )
    def test_resources_that_are_not_this_table(self, resource: str) -> None:
        assert refusal(doc(statement(Resource=[TABLE, resource]))) == (
            PREFIX + f'The following resources do not match the resource the policy is attached to: "{resource}"'
        )

    @pytest.mark.parametrize(
        ("document", "detail"),
        [
            ("{not json", "Policy document is not valid JSON"),
            ("[]", "Policy document must be a JSON object"),
            (json.dumps({"Version": "2012-10-17"}), "Policy document must contain a Statement"),
            (json.dumps({"Version": "2012-10-17", "Statement": []}), "Policy document must contain a Statement"),
            (json.dumps({"Version": "2024-01-01", "Statement": [statement()]}),
             "Policy document Version must be one of 2012-10-17, 2008-10-17"),
            (json.dumps({"Statement": [statement()], "Extra": 1}), "Policy document contains unknown members: Extra"),
            (doc(statement(Effect="Maybe")), "Each statement must have an Effect of Allow or Deny"),
            (doc(statement(Principal=None)), "Each statement must have a Principal"),
            (doc(statement(Action=None)), "Each statement must contain exactly one of Action or NotAction"),
            (doc(statement(NotResource=TABLE)), "Each statement must contain exactly one of Resource or NotResource"),
            (doc(statement(Action=[])), "Action must be a string or a non-empty list of strings"),
            (doc(statement(NotPrincipal={"AWS": USER})), "Statement contains unsupported members: NotPrincipal"),
            (doc(statement(Condition={"StringEquals": "x"})),
             "Condition must map each operator to an object of condition keys"),
        ],
    )
    def test_shape(self, document: str, detail: str) -> None:
        assert refusal(document) == PREFIX + detail

    def test_size_counts_whitespace(self) -> None:
        padded = doc(statement()) + " " * (20 * 1024)
        assert refusal(padded) == "Policy document size exceeds the maximum allowed size of 20480 bytes"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10) | st.sampled_from(
        ["*", "Allow", "Deny", "dynamodb:GetItem", "dynamodb:Get*", TABLE, STREAM, USER, "2012-10-17", "x"]
    ),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["Version", "Statement", "Effect", "Principal", "AWS", "Service", "Action", "NotAction",
                         "Resource", "NotResource", "Condition", "Sid", "StringEquals"]),
        children, max_size=5,
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_JSON, st.sampled_from(["table", "stream"]))
def test_any_json_is_accepted_or_a_validation_error(document: Any, kind: str) -> None:
    """Total: whatever the JSON, the answer is acceptance or a ValidationException, never another error."""
    try:
        check_document(json.dumps(document), TABLE if kind == "table" else STREAM, kind)  # type: ignore[arg-type]
    except ValidationException:
        pass
