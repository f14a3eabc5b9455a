"""TagResource, UntagResource and ListTagsOfResource via boto3."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from client_errors import error


@pytest.fixture
def arn(ddb: Any, table_name: str) -> Iterator[str]:
    """The ARN of a fresh table tagged ``team=red`` at creation."""
    description = ddb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": "team", "Value": "red"}],
    )["TableDescription"]
    yield description["TableArn"]
    ddb.delete_table(TableName=table_name)



def tags(ddb: Any, arn: str) -> list[dict[str, str]]:
    return list(ddb.list_tags_of_resource(ResourceArn=arn)["Tags"])


class TestSerialization:
    def test_tag_key_not_a_string(self, raw: Any, arn: str) -> None:
        assert error(raw.untag_resource, ResourceArn=arn, TagKeys=[123]) == (
            "SerializationException",
            "NUMBER_VALUE can not be converted to a String",
        )


class TestValidation:
    def test_missing_members(self, raw: Any, arn: str) -> None:
        assert error(raw.tag_resource, ResourceArn=arn) == (
            "ValidationException",
            "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null",
        )
        assert error(raw.untag_resource, ResourceArn=arn) == (
            "ValidationException",
            "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null",
        )

    def test_key_and_value_lengths(self, raw: Any, arn: str) -> None:
        code, message = error(
            raw.tag_resource, ResourceArn=arn, Tags=[{"Key": "k" * 129, "Value": "v"}, {"Key": "k", "Value": "v" * 257}]
        )
        assert code == "ValidationException"
        assert message == (
            "2 validation errors detected: "
            f"Value '{'k' * 129}' at 'tags.1.member.key' failed to satisfy constraint: "
            "Member must have length less than or equal to 128; "
            f"Value '{'v' * 257}' at 'tags.2.member.value' failed to satisfy constraint: "
            "Member must have length less than or equal to 256"
        )

    def test_untag_key_length(self, raw: Any, arn: str) -> None:
        assert error(raw.untag_resource, ResourceArn=arn, TagKeys=[""]) == (
            "ValidationException",
            ("1 validation error detected: Value '' at 'tagKeys.1.member' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1"),
        )

    def test_reserved_prefix(self, ddb: Any, arn: str) -> None:
        code, message = error(ddb.tag_resource, ResourceArn=arn, Tags=[{"Key": "aws:owner", "Value": "me"}])
        assert code == "ValidationException" and "aws:" in message

    def test_fifty_tags_at_most(self, ddb: Any, arn: str) -> None:
        ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(49)])
        code, _ = error(ddb.tag_resource, ResourceArn=arn, Tags=[{"Key": "one-too-many", "Value": "v"}])
        assert code == "ValidationException"
        assert len(tags(ddb, arn)) == 50

    def test_unknown_table(self, ddb: Any, arn: str) -> None:
        missing = arn + "-missing"
        expected = ("ResourceNotFoundException", f"Requested resource not found: ResourcArn: {missing} not found")
        assert error(ddb.list_tags_of_resource, ResourceArn=missing) == expected
        assert error(ddb.tag_resource, ResourceArn=missing, Tags=[{"Key": "a", "Value": "b"}]) == expected
        assert error(ddb.untag_resource, ResourceArn=missing, TagKeys=["a"]) == expected


class TestFunctionality:
    def test_tags_given_at_creation(self, ddb: Any, arn: str) -> None:
        assert tags(ddb, arn) == [{"Key": "team", "Value": "red"}]

    def test_tag_replaces_and_adds(self, ddb: Any, arn: str) -> None:
        response = ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "blue"}, {"Key": "env", "Value": ""}])
        assert set(response) == {"ResponseMetadata"}
        assert tags(ddb, arn) == [{"Key": "team", "Value": "blue"}, {"Key": "env", "Value": ""}]

    def test_untag(self, ddb: Any, arn: str) -> None:
        ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "prod"}])
        ddb.untag_resource(ResourceArn=arn, TagKeys=["team", "never-set"])
        assert tags(ddb, arn) == [{"Key": "env", "Value": "prod"}]

    def test_one_page(self, ddb: Any, arn: str) -> None:
        ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(49)])
        response = ddb.list_tags_of_resource(ResourceArn=arn)
        assert len(response["Tags"]) == 50
        assert "NextToken" not in response

    def test_tags_do_not_survive_recreation(self, ddb: Any, arn: str, table_name: str) -> None:
        ddb.delete_table(TableName=table_name)
        ddb.create_table(
            TableName=table_name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        assert tags(ddb, arn) == []


class TestTagCharacters:
    """The Developer Guide's character set: letters, white space, numbers and ``+ - = . _ : /``."""

    def test_forbidden_value_character(self, ddb: Any, arn: str) -> None:
        assert error(ddb.tag_resource, ResourceArn=arn, Tags=[{"Key": "k", "Value": "Test's"}]) == (
            "ValidationException",
            "The Tag Value provided is invalid Test's",
        )
        assert tags(ddb, arn) == [{"Key": "team", "Value": "red"}]

    def test_forbidden_key_character(self, ddb: Any, arn: str) -> None:
        assert error(ddb.tag_resource, ResourceArn=arn, Tags=[{"Key": "a@b", "Value": "v"}]) == (
            "ValidationException",
            "The Tag Key provided is invalid a@b",
        )

    def test_create_table_tags_are_checked_the_same_way(self, ddb: Any, table_name: str) -> None:
        code, message = error(
            ddb.create_table,
            TableName=table_name + "-x",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            Tags=[{"Key": "cost{centre}", "Value": "v"}],
        )
        assert (code, message) == ("ValidationException", "The Tag Key provided is invalid cost{centre}")

    def test_every_allowed_character(self, ddb: Any, arn: str) -> None:
        ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "Équipe 7 +-=._:/", "Value": "naïve ٣ +-=._:/"}])
        assert {"Key": "Équipe 7 +-=._:/", "Value": "naïve ٣ +-=._:/"} in tags(ddb, arn)
