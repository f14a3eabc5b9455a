"""PynamoDB, an ORM that still sends some legacy parameters, works unchanged."""

from __future__ import annotations

from typing import Any

import pytest
from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute, VersionAttribute
from pynamodb.exceptions import PutError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model


@pytest.fixture
def user_model(cellstore_server: Any, table_name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")

    class ByEmail(GlobalSecondaryIndex):  # type: ignore[type-arg]
        class Meta:
            index_name = "by-email"
            projection = AllProjection()

        email = UnicodeAttribute(hash_key=True)

    class User(Model):
        class Meta:
            host = cellstore_server.endpoint_url
            region = "us-east-1"
            billing_mode = "PAY_PER_REQUEST"

        id = UnicodeAttribute(hash_key=True)
        email = UnicodeAttribute()
        age = NumberAttribute(default=0)
        tags = UnicodeSetAttribute(null=True)
        version = VersionAttribute()
        by_email = ByEmail()

    User.Meta.table_name = table_name
    User.create_table(wait=True)
    yield User
    User.delete_table()


def test_model_round_trip_update_and_index(user_model: Any) -> None:
    user = user_model(id="1", email="ada@example.com", age=36, tags={"math"})
    user.save()
    user.update(actions=[user_model.age.add(1), user_model.tags.add({"engines"})])
    fetched = user_model.get("1")
    assert (fetched.age, fetched.tags, fetched.version) == (37, {"math", "engines"}, 2)
    assert [u.id for u in user_model.by_email.query("ada@example.com")] == ["1"]
    assert [u.id for u in user_model.scan(user_model.age > 30)] == ["1"]


def test_version_attribute_refuses_stale_saves(user_model: Any) -> None:
    user_model(id="1", email="a@example.com").save()
    first, second = user_model.get("1"), user_model.get("1")
    first.save()
    with pytest.raises(PutError):
        second.save()


def test_batch_write_and_count(user_model: Any) -> None:
    with user_model.batch_write() as batch:
        for n in range(60):
            batch.save(user_model(id=f"u{n}", email=f"{n}@example.com"))
    assert user_model.count() == 60
