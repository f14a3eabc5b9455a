"""``api/partiql/translate.py``: which engine call each statement becomes, and what the authorizer is told."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cellstore.api import dispatch, resources
from cellstore.api.partiql import translate
from cellstore.api.partiql.parser import Select, parse
from cellstore.engine.database import Database
from cellstore.engine.wiring import open_database
from cellstore.errors import CellstoreError, InternalServerError, ValidationException
from cellstore.storage.sqlite import SqliteStore

ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/"


@pytest.fixture(scope="module")
def db() -> Iterator[Database]:
    database = open_database(SqliteStore(None), background=False)
    dispatch(database, "CreateTable", {
        "TableName": "tab", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "N"},
                                 {"AttributeName": "city", "AttributeType": "S"}],
        "GlobalSecondaryIndexes": [{"IndexName": "by-city", "KeySchema": [{"AttributeName": "city", "KeyType": "HASH"}],
                                    "Projection": {"ProjectionType": "KEYS_ONLY"}}],
    })
    yield database
    database.close()


def select(text: str) -> Select:
    statement = parse(text)
    assert isinstance(statement, Select)
    return statement


def test_partition_equality_is_a_query(db: Database) -> None:
    plan = translate.plan_select(db, select("SELECT * FROM tab WHERE 'a' = pk AND x = 1"), consistent=False)
    assert plan.key_condition is not None
    assert (plan.key_condition.hash_value, plan.key_condition.range_op) == ({"S": "a"}, None)
    assert plan.filter is not None and plan.filter.top_level_names() == {"x"}


@pytest.mark.parametrize(("where", "op", "values"), [
    ("sk > 3", ">", ({"N": "3"},)),
    ("3 > sk", "<", ({"N": "3"},)),
    ("sk BETWEEN 1 AND 2", "BETWEEN", ({"N": "1"}, {"N": "2"})),
    ("sk = 7", "=", ({"N": "7"},)),
])
def test_a_sort_key_conjunct_narrows_the_query(db: Database, where: str, op: str, values: tuple[object, ...]) -> None:
    plan = translate.plan_select(db, select(f"SELECT * FROM tab WHERE pk = 'a' AND {where}"), consistent=False)
    assert plan.key_condition is not None
    assert (plan.key_condition.range_op, plan.key_condition.range_values) == (op, values)
    assert plan.filter is None


@pytest.mark.parametrize("where", ["pk <> 'a'", "pk = 'a' OR pk = 'b'", "x = 1", "pk IN ['a']"])
def test_without_partition_equality_it_scans_with_the_whole_where(db: Database, where: str) -> None:
    plan = translate.plan_select(db, select(f"SELECT * FROM tab WHERE {where}"), consistent=False)
    assert plan.key_condition is None and plan.filter is not None


def test_index_reads_use_the_index_key(db: Database) -> None:
    plan = translate.plan_select(db, select('SELECT * FROM tab."by-city" WHERE city = \'Oslo\''), consistent=False)
    assert plan.index_name == "by-city" and plan.key_condition is not None
    with pytest.raises(ValidationException, match="Consistent reads are not supported"):
        translate.plan_select(db, select('SELECT * FROM tab."by-city"'), consistent=True)


def test_order_by_needs_a_query_on_the_sort_key(db: Database) -> None:
    plan = translate.plan_select(db, select("SELECT * FROM tab WHERE pk = 'a' ORDER BY sk DESC"), consistent=False)
    assert plan.forward is False
    with pytest.raises(ValidationException):
        translate.plan_select(db, select("SELECT * FROM tab ORDER BY sk"), consistent=False)
    with pytest.raises(ValidationException):
        translate.plan_select(db, select("SELECT * FROM tab WHERE pk = 'a' ORDER BY x"), consistent=False)


def test_insert_is_a_conditional_put(db: Database) -> None:
    action = translate.write_action(db, parse("INSERT INTO tab VALUE {'pk': 'a', 'sk': 1}"))
    assert action.kind == "Put" and action.condition is not None
    assert not action.condition.evaluate({"pk": {"S": "a"}, "sk": {"N": "1"}})
    assert action.condition.evaluate({})


def test_update_takes_the_key_and_the_rest_as_its_condition(db: Database) -> None:
    action = translate.write_action(db, parse("UPDATE tab SET x = 1 WHERE sk = 2 AND pk = 'a' AND y > 3"))
    assert (action.kind, action.item) == ("Update", {"pk": {"S": "a"}, "sk": {"N": "2"}})
    assert action.condition is not None
    assert action.condition.evaluate({"pk": {"S": "a"}, "y": {"N": "4"}})
    assert not action.condition.evaluate({"pk": {"S": "a"}, "y": {"N": "1"}})
    assert not action.condition.evaluate({})  # an UPDATE never creates its item


def test_delete_without_more_conditions_has_none(db: Database) -> None:
    action = translate.write_action(db, parse("DELETE FROM tab WHERE pk = 'a' AND sk = 1"))
    assert (action.kind, action.condition) == ("Delete", None)


@pytest.mark.parametrize("text", [
    "UPDATE tab SET x = 1 WHERE pk = 'a'",
    "DELETE FROM tab WHERE pk = 'a' OR sk = 1",
    "DELETE FROM tab WHERE pk > 'a' AND sk = 1",
    "EXISTS(SELECT * FROM tab WHERE sk = 1)",
])
def test_writes_need_the_full_key(db: Database, text: str) -> None:
    with pytest.raises(ValidationException) as caught:
        translate.write_action(db, parse(text))
    assert caught.value.message == "Where clause does not contain a mandatory equality on all key attributes"


def test_exists_is_a_condition_check(db: Database) -> None:
    action = translate.write_action(db, parse("EXISTS(SELECT * FROM tab WHERE pk = 'a' AND sk = 1)"))
    assert action.kind == "ConditionCheck" and action.condition is not None
    assert not action.condition.evaluate({})


@pytest.mark.parametrize(("operation", "payload", "expected"), [
    ("ExecuteStatement", {"Statement": "SELECT * FROM tab"}, [("dynamodb:PartiQLSelect", ARN + "tab")]),
    ("ExecuteStatement", {"Statement": 'SELECT * FROM tab."by-city"'},
     [("dynamodb:PartiQLSelect", ARN + "tab/index/by-city")]),
    ("ExecuteStatement", {"Statement": "INSERT INTO tab VALUE {}"}, [("dynamodb:PartiQLInsert", ARN + "tab")]),
    ("ExecuteStatement", {"Statement": 42}, [("dynamodb:ExecuteStatement", "*")]),
    ("BatchExecuteStatement", {"Statements": [{"Statement": "UPDATE tab SET a = 1 WHERE pk = 'a'"},
                                              {"Statement": "DELETE FROM uuu WHERE pk = 'a'"}]},
     [("dynamodb:PartiQLUpdate", ARN + "tab"), ("dynamodb:PartiQLDelete", ARN + "uuu")]),
    ("ExecuteTransaction", {"TransactStatements": [{"Statement": "EXISTS(SELECT * FROM tab WHERE pk = 1)"}, "junk"]},
     [("dynamodb:PartiQLSelect", ARN + "tab"), ("dynamodb:ExecuteTransaction", "*")]),
    ("ExecuteTransaction", {}, [("dynamodb:ExecuteTransaction", "*")]),
])
def test_each_statement_is_authorized_by_its_verb(
    db: Database, operation: str, payload: dict[str, object], expected: list[tuple[str, str]]
) -> None:
    assert [(a.action, a.resource) for a in resources.dynamodb(db, operation, payload)] == expected



@pytest.mark.parametrize(("payload", "scan"), [
    ({"Statement": "SELECT * FROM tab"}, "true"),
    ({"Statement": "SELECT * FROM tab WHERE sk = 1"}, "true"),
    ({"Statement": "SELECT * FROM tab WHERE pk = 'a'"}, "false"),
    ({"Statement": "SELECT * FROM tab WHERE pk = ? AND sk > 1", "Parameters": [{"S": "a"}]}, "false"),
    ({"Statement": "SELECT * FROM tab WHERE pk IN ['a', 'b'] ORDER BY pk"}, "false"),
    ({"Statement": 'SELECT * FROM tab."by-city" WHERE city = \'Oslo\''}, "false"),
    ({"Statement": 'SELECT * FROM tab."by-city"'}, "true"),
    ({"Statement": "SELECT * FROM missing WHERE pk = 'a'"}, None),
    ({"Statement": "SELECT * FROM tab WHERE pk = ?"}, None),  # a parameter short: the handler says so
])
def test_a_select_says_whether_it_is_a_full_table_scan(db: Database, payload: dict[str, object], scan: str | None) -> None:
    """``dynamodb:FullTableScan``, which AWS's example policy uses to deny scanning SELECTs."""
    (access,) = resources.dynamodb(db, "ExecuteStatement", payload)
    assert dict(access.context).get("dynamodb:fulltablescan") == (None if scan is None else (scan,))


@pytest.mark.parametrize(("payload", "leading"), [
    ({"Statement": "SELECT * FROM tab WHERE pk = 'a' AND sk > 1"}, ("a",)),
    ({"Statement": "SELECT * FROM tab WHERE pk IN ['b', 'a'] ORDER BY pk"}, ("a", "b")),
    ({"Statement": 'SELECT * FROM tab."by-city" WHERE city = ?', "Parameters": [{"S": "Oslo"}]}, ("Oslo",)),
    ({"Statement": "SELECT * FROM tab WHERE sk = 1"}, None),  # a scan names no partition, as Scan does not
    ({"Statement": "INSERT INTO tab VALUE {'pk': 'n', 'sk': 1}"}, ("n",)),
    ({"Statement": "UPDATE tab SET a = 1 WHERE pk = ? AND sk = 1", "Parameters": [{"S": "u"}]}, ("u",)),
    ({"Statement": "DELETE FROM tab WHERE pk = 'd' AND sk = 1"}, ("d",)),
    ({"Statement": "DELETE FROM tab WHERE pk = 'd'"}, (resources.UNREADABLE,)),  # short of the key: refused later
])
def test_a_statement_names_its_partition_as_leading_keys(
    db: Database, payload: dict[str, object], leading: tuple[str, ...] | None
) -> None:
    (access,) = resources.dynamodb(db, "ExecuteStatement", payload)
    assert dict(access.context).get("dynamodb:leadingkeys") == leading


_KEYS = ("pk", "sk")


@pytest.mark.parametrize(("payload", "attributes"), [
    ({"Statement": "SELECT a, b.c, d[0] FROM tab WHERE pk = 'a'"}, ("a", "b", "d", *_KEYS)),
    ({"Statement": "SELECT a FROM tab WHERE pk = 'a' AND x = 1 ORDER BY sk"}, ("a", *_KEYS)),  # x is a condition
    ({"Statement": "SELECT * FROM tab WHERE pk = 'a'"}, None),  # the whole item, as GetItem without a projection
    ({"Statement": 'SELECT city FROM tab."by-city" WHERE city = \'Oslo\''}, ("city", *_KEYS)),
    ({"Statement": "INSERT INTO tab VALUE {'pk': 'n', 'sk': 1, 'b': ?}", "Parameters": [{"N": "2"}]}, ("b", *_KEYS)),
    ({"Statement": "UPDATE tab SET a.x = 1, b = c REMOVE d[1] WHERE pk = 'u' AND sk = 1 AND e = 2"},
     ("a", "b", "d", *_KEYS)),
    ({"Statement": "DELETE FROM tab WHERE pk = 'd' AND sk = 1 AND e = 2"}, _KEYS),
    ({"Statement": "EXISTS(SELECT * FROM tab WHERE pk = 'd' AND sk = 1 AND e = 2)"}, _KEYS),  # a condition check
    ({"Statement": "SELECT a FROM tab WHERE pk = ?"}, (resources.UNREADABLE,)),  # a parameter short
    ({"Statement": "SELECT a FROM missing WHERE pk = 'a'"}, (resources.UNREADABLE,)),
    ({"Statement": "UPDATE tab SET b = 1 WHERE pk = 'u'"}, (resources.UNREADABLE,)),  # short of the key
    ({"Statement": "INSERT INTO tab VALUE {'pk': 'n', 'sk': 1"}, (resources.UNREADABLE,)),  # malformed
])
def test_a_statement_names_the_attributes_it_reads_or_writes(
    db: Database, payload: dict[str, object], attributes: tuple[str, ...] | None
) -> None:
    """``dynamodb:Attributes``, as the item API fills it for the same access: what a policy's
    ``ForAllValues:StringEquals`` allow-list is checked against."""
    for operation, body in (("ExecuteStatement", payload),
                            ("ExecuteTransaction", {"TransactStatements": [payload]}),
                            ("BatchExecuteStatement", {"Statements": [payload]})):
        (access,) = resources.dynamodb(db, operation, body)
        expected = None if attributes is None else tuple(sorted(attributes))
        assert dict(access.context).get("dynamodb:attributes") == expected, operation


@pytest.mark.parametrize(("statement", "select", "return_values"), [
    ("SELECT * FROM tab WHERE pk = 'a'", "ALL_ATTRIBUTES", None),
    ("SELECT a FROM tab", "SPECIFIC_ATTRIBUTES", None),
    ("EXISTS(SELECT * FROM tab WHERE pk = 'a' AND sk = 1)", None, None),
    ("UPDATE tab SET a = 1 WHERE pk = 'u' AND sk = 1 RETURNING ALL NEW *", None, "ALL_NEW"),
    ("UPDATE tab SET a = 1 WHERE pk = 'u' AND sk = 1 RETURNING MODIFIED OLD *", None, "UPDATED_OLD"),
    ("UPDATE tab SET a = 1 WHERE pk = 'u' AND sk = 1", None, None),
    ("DELETE FROM tab WHERE pk = 'd' AND sk = 1 RETURNING ALL OLD *", None, "ALL_OLD"),
    ("INSERT INTO tab VALUE {'pk': 'n', 'sk': 1}", None, None),
])
def test_a_statement_carries_select_and_return_values(
    db: Database, statement: str, select: str | None, return_values: str | None
) -> None:
    """``dynamodb:Select`` (AWS's attribute policy requires ``SPECIFIC_ATTRIBUTES`` if it exists, which is
    what refuses ``SELECT *``) and ``dynamodb:ReturnValues`` (a RETURNING clause, as ReturnValues spells it)."""
    (access,) = resources.dynamodb(db, "ExecuteStatement", {"Statement": statement})
    context = dict(access.context)
    assert context.get("dynamodb:select") == (None if select is None else (select,))
    assert context.get("dynamodb:returnvalues") == (None if return_values is None else (return_values,))

def test_the_full_key_is_a_get_item(db: Database) -> None:
    plan = translate.plan_select(db, select("SELECT * FROM tab WHERE sk = 1 AND pk = 'a' AND x = 2"), consistent=True)
    assert plan.key == {"pk": {"S": "a"}, "sk": {"N": "1"}}
    assert plan.filter is not None and plan.filter.top_level_names() == {"x"}
    assert translate.plan_select(db, select("SELECT * FROM tab WHERE pk = 'a' AND sk > 1"), consistent=True).key is None


_WORDS = [
    "SELECT", "*", "FROM", "tab", '"tab"."by-city"', "WHERE", "pk", "sk", "x", "city", "=", "<>", "<", ">=", "AND",
    "OR", "NOT", "(", ")", "'a'", "1", "-2.5", "?", "[", "]", "{", "}", "'k'", ":", ",", ".", "INSERT", "INTO",
    "VALUE", "UPDATE", "SET", "REMOVE", "DELETE", "RETURNING", "ALL", "MODIFIED", "OLD", "NEW", "EXISTS", "BETWEEN",
    "IN", "IS", "MISSING", "NULL", "TRUE", "begins_with", "contains", "attribute_type", "size", "<<", ">>", "ORDER",
    "BY", "DESC", "list_append", "set_add", "set_delete", "+",
]
_STARTS = ["SELECT * FROM tab WHERE", "INSERT INTO tab VALUE", "UPDATE tab SET", "DELETE FROM tab WHERE",
           "EXISTS(SELECT * FROM tab WHERE", ""]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.sampled_from(_STARTS), words=st.lists(st.sampled_from(_WORDS), max_size=14),
       parameters=st.lists(st.sampled_from([{"S": "a"}, {"N": "1"}, {"SS": ["a"]}, {"M": {}}, {"X": 1}]), max_size=2))
def test_any_statement_answers_or_is_an_aws_error(
    db: Database, start: str, words: list[str], parameters: list[dict[str, object]]
) -> None:
    """Statements made of PartiQL's own words, run through dispatch: an answer or a CellstoreError, never a crash."""
    payload: dict[str, object] = {"Statement": " ".join([start, *words]) or "x"}
    if parameters:
        payload["Parameters"] = parameters
    for operation, body in (("ExecuteStatement", payload),
                            ("ExecuteTransaction", {"TransactStatements": [payload]}),
                            ("BatchExecuteStatement", {"Statements": [payload]})):
        try:
            dispatch(db, operation, body)
        except CellstoreError as error:
            assert not isinstance(error, InternalServerError), error
