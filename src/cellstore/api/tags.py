"""TagResource, UntagResource and ListTagsOfResource: a table's tags, addressed by its ARN.

Member constraints are checked here (key 1–128 characters, value 0–256);
the rules that need the stored table — the 50-tag limit counted after
merging, the reserved ``aws:`` prefix, an ARN naming no table — live in
``engine.catalog`` so CreateTable's Tags obey exactly the same ones.

ListTagsOfResource accepts NextToken but never returns one: a table carries
at most 50 tags, and DynamoDB itself answers every tag in one page.
"""

from __future__ import annotations

from typing import Any

from cellstore.api.registry import operation
from cellstore.api.tables import TAG, list_errors
from cellstore.api.validation import (
    Param,
    check_table_arn,
    check_type,
    constraint_errors,
    member_path,
    raise_if_errors,
    validate,
)
from cellstore.engine import catalog
from cellstore.engine.database import Database

RESOURCE_ARN = Param("string", required=True, min_length=1, max_length=1283)
TAG_KEY = Param("string", required=True, min_length=1, max_length=128)


@operation("TagResource")
def tag_resource(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(payload, {"ResourceArn": RESOURCE_ARN})
    errors: list[str] = []
    raw = payload.get("Tags")
    if raw is None:
        errors.extend(constraint_errors("tags", None, Param("list", required=True)))
    tags = list_errors("tags", raw, TAG, errors)
    raise_if_errors(errors)
    check_table_arn(payload["ResourceArn"])
    catalog.tag_resource(db, payload["ResourceArn"], tuple((tag["Key"], tag["Value"]) for tag in tags))
    return {}


@operation("UntagResource")
def untag_resource(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(payload, {"ResourceArn": RESOURCE_ARN, "TagKeys": Param("list", required=True)})
    errors: list[str] = []
    keys = payload["TagKeys"]
    for index, key in enumerate(keys):
        if key is not None:
            check_type("TagKeys", key, "string")
        errors.extend(constraint_errors(member_path("tagKeys", index), key, TAG_KEY))
    raise_if_errors(errors)
    check_table_arn(payload["ResourceArn"])
    catalog.untag_resource(db, payload["ResourceArn"], tuple(keys))
    return {}


@operation("ListTagsOfResource")
def list_tags_of_resource(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(payload, {"ResourceArn": RESOURCE_ARN, "NextToken": Param("string")})
    check_table_arn(payload["ResourceArn"])
    return {"Tags": catalog.list_tags(db, payload["ResourceArn"])}
