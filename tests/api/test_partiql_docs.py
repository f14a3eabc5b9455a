"""PartiQL measured against AWS's own documentation, example by example.

Each test quotes (in its docstring) the AWS page whose example statement or
rule it checks — "PartiQL select statements for DynamoDB", "... insert ...",
"... update ...", "... delete ...", the function pages, "Performing
transactions with PartiQL", "Running batch operations with PartiQL" and the
ExecuteStatement / BatchExecuteStatement / ExecuteTransaction API references —
and asserts what that page says.  Where AWS's pages are silent, the test is
not here: docs/PARTIQL.md says what cellstore does instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tests.api.client_errors import error


def S(text: str) -> dict[str, str]:
    return {"S": text}


def N(number: int) -> dict[str, str]:
    return {"N": str(number)}


@pytest.fixture
def music(ddb: Any, table_name: str) -> Iterator[str]:
    """AWS's "Music" table: ``Artist`` and ``SongTitle``, one song by Acme Band."""
    ddb.create_table(
        TableName=table_name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "Artist", "KeyType": "HASH"}, {"AttributeName": "SongTitle", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "Artist", "AttributeType": "S"},
                              {"AttributeName": "SongTitle", "AttributeType": "S"}],
    )
    ddb.put_item(TableName=table_name, Item={"Artist": S("Acme Band"), "SongTitle": S("PartiQL Rocks")})
    yield table_name
    ddb.delete_table(TableName=table_name)


@pytest.fixture
def orders(ddb: Any, table_name: str) -> Iterator[str]:
    """AWS's "Orders" table: ``OrderID`` (N) alone, orders 1 to 5 (Total = 100 × OrderID)."""
    table_name = f"{table_name}-orders"
    ddb.create_table(
        TableName=table_name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "OrderID", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "OrderID", "AttributeType": "N"}],
    )
    for order in range(1, 6):
        ddb.put_item(TableName=table_name, Item={
            "OrderID": N(order), "Total": N(100 * order), "Address": S(f"7834 24th St, Kirkland {order}"),
            "Image": {"B": b"x" * (100 * order)},
        })
    yield table_name
    ddb.delete_table(TableName=table_name)


def run(ddb: Any, statement: str, *parameters: Any, **extra: Any) -> dict[str, Any]:
    if parameters:
        extra["Parameters"] = list(parameters)
    result: dict[str, Any] = ddb.execute_statement(Statement=statement, **extra)
    return result


def order_ids(response: dict[str, Any]) -> list[int]:
    return [int(item["OrderID"]["N"]) for item in response["Items"]]


# --- SELECT (ql-reference.select) ---------------------------------------------


def test_select_examples_on_the_partition_key(ddb: Any, orders: str) -> None:
    """"SELECT OrderID, Total FROM "Orders" WHERE OrderID = 1" returns one item if it exists;
    "= 1 OR = 2" and "IN [...]" return each named item; a projection returns only its attributes."""
    table = f'"{orders}"'
    found = run(ddb, f"SELECT OrderID, Total FROM {table} WHERE OrderID = 1")
    assert found["Items"] == [{"OrderID": N(1), "Total": N(100)}]
    assert run(ddb, f"SELECT OrderID, Total FROM {table} WHERE OrderID = 9")["Items"] == []
    assert sorted(order_ids(run(ddb, f"SELECT * FROM {table} WHERE OrderID = 1 OR OrderID = 2"))) == [1, 2]
    assert sorted(order_ids(run(ddb, f"SELECT * FROM {table} WHERE OrderID IN [1, 3, 9]"))) == [1, 3]
    assert order_ids(run(ddb, f"SELECT * FROM {table} WHERE OrderID = 1 and Address = 'nowhere'")) == []


def test_select_without_the_partition_key_scans_the_table(ddb: Any, orders: str) -> None:
    """"SELECT OrderID, Total FROM "Orders" WHERE Total BETWEEN 500 AND 600", "WHERE OrderID > 1",
    and no WHERE at all ("If the WHERE clause is omitted, all of the items in the table are retrieved")."""
    table = f'"{orders}"'
    assert order_ids(run(ddb, f"SELECT OrderID, Total FROM {table} WHERE Total BETWEEN 500 AND 600")) == [5]
    assert sorted(order_ids(run(ddb, f"SELECT * FROM {table} WHERE OrderID > 1"))) == [2, 3, 4, 5]
    assert sorted(order_ids(run(ddb, f"SELECT * FROM {table} WHERE OrderID = 1 OR Total = 300"))) == [1, 3]
    assert sorted(order_ids(run(ddb, f"SELECT * FROM {table}"))) == [1, 2, 3, 4, 5]


def test_order_by_the_partition_key_with_in(ddb: Any, orders: str) -> None:
    """"SELECT OrderID, Total FROM "Orders" WHERE OrderID IN [1, 2, 3] ORDER BY OrderID DESC";
    ORDER BY's key is "a hash key or a sort key"."""
    found = run(ddb, f'SELECT OrderID, Total FROM "{orders}" WHERE OrderID IN [1, 2, 3] ORDER BY OrderID DESC')
    assert found["Items"] == [{"OrderID": N(n), "Total": N(100 * n)} for n in (3, 2, 1)]
    ascending = run(ddb, f'SELECT OrderID FROM "{orders}" WHERE OrderID IN [4, 2] ORDER BY OrderID')
    assert order_ids(ascending) == [2, 4]


def test_order_by_the_sort_key(ddb: Any, music: str) -> None:
    """ORDER BY the sort key, ASC by default, DESC on request."""
    for title in ("A", "B", "C"):
        run(ddb, f"INSERT INTO \"{music}\" VALUE {{'Artist': 'Other', 'SongTitle': '{title}'}}")
    table = f'"{music}"'
    titles = [i["SongTitle"]["S"] for i in run(ddb, f"SELECT * FROM {table} WHERE Artist = 'Other' ORDER BY SongTitle")["Items"]]
    assert titles == ["A", "B", "C"]
    down = run(ddb, f"SELECT * FROM {table} WHERE Artist = 'Other' ORDER BY SongTitle DESC")
    assert [i["SongTitle"]["S"] for i in down["Items"]] == ["C", "B", "A"]


def test_select_from_an_index_needs_quoted_names(ddb: Any, table_name: str) -> None:
    """"SELECT * FROM "TableName"."IndexName"" reads the index."""
    ddb.create_table(
        TableName=table_name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "OrderID", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "OrderID", "AttributeType": "N"},
                              {"AttributeName": "CustomerID", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "CustomerIndex",
                                 "KeySchema": [{"AttributeName": "CustomerID", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
    )
    try:
        for order, customer in ((1, "c1"), (2, "c2"), (3, "c1")):
            ddb.put_item(TableName=table_name, Item={"OrderID": N(order), "CustomerID": S(customer)})
        found = run(ddb, f'SELECT * FROM "{table_name}"."CustomerIndex" WHERE CustomerID = \'c1\'')
        assert sorted(order_ids(found)) == [1, 3]
        ordered = run(ddb, f"SELECT CustomerID FROM \"{table_name}\".\"CustomerIndex\" "
                           "WHERE CustomerID IN ['c2', 'c1'] ORDER BY CustomerID DESC", ReturnConsumedCapacity="TOTAL")
        assert [item["CustomerID"]["S"] for item in ordered["Items"]] == ["c2", "c1", "c1"]
        assert ordered["ConsumedCapacity"]["CapacityUnits"] > 0
    finally:
        ddb.delete_table(TableName=table_name)


def test_limit_counts_items_evaluated_and_next_token_resumes(ddb: Any, orders: str) -> None:
    """ExecuteStatement's Limit: "The maximum number of items to evaluate (not necessarily the number
    of matching items)"; the response's NextToken (and LastEvaluatedKey) resume the read."""
    statement = f'SELECT OrderID FROM "{orders}" WHERE Total >= 400'
    seen: list[int] = []
    pages = 0
    extra: dict[str, Any] = {"Limit": 2}
    while True:
        page = run(ddb, statement, **extra)
        pages += 1
        assert len(page["Items"]) <= 2
        seen.extend(order_ids(page))
        if "NextToken" not in page:
            break
        assert "LastEvaluatedKey" in page
        extra = {"Limit": 2, "NextToken": page["NextToken"]}
    assert sorted(seen) == [4, 5]
    assert pages >= 3  # five items evaluated two at a time: the filter does not stretch a page


# --- functions (ql-functions.*) -----------------------------------------------


def test_function_examples(ddb: Any, orders: str, music: str) -> None:
    """The examples of SIZE, BEGINS_WITH, CONTAINS, ATTRIBUTE_TYPE and MISSING, as AWS writes them."""
    table = f'"{orders}"'
    assert order_ids(run(ddb, f'SELECT * FROM {table} WHERE "OrderID"=3 AND size("Image") >200')) == [3]
    assert order_ids(run(ddb, f'SELECT * FROM {table} WHERE "OrderID"=1 AND size("Image") >200')) == []
    assert order_ids(run(ddb, f"SELECT * FROM {table} WHERE \"OrderID\"=1 AND begins_with(\"Address\", '7834 24th')")) == [1]
    assert order_ids(run(ddb, f"SELECT * FROM {table} WHERE \"OrderID\"=1 AND contains(\"Address\", 'Kirkland')")) == [1]
    typed = run(ddb, f"SELECT * FROM \"{music}\" WHERE attribute_type(\"Artist\", 'S')")
    assert [item["Artist"] for item in typed["Items"]] == [S("Acme Band")]
    ddb.put_item(TableName=music, Item={"Artist": S("Acme Band"), "SongTitle": S("Other"), "Awards": N(1)})
    missing = run(ddb, f'SELECT * FROM "{music}" WHERE "Awards" is MISSING')
    assert [item["SongTitle"] for item in missing["Items"]] == [S("PartiQL Rocks")]
    present = run(ddb, f'SELECT * FROM "{music}" WHERE "Awards" IS NOT MISSING')
    assert [item["SongTitle"] for item in present["Items"]] == [S("Other")]


def test_exists_example_in_a_transaction(ddb: Any, music: str) -> None:
    """EXISTS(SELECT * FROM "Music" where "Artist" = 'Acme Band' and "SongTitle" = 'PartiQL Rocks')
    in a transaction, as a ConditionCheck: a write beside it happens only if the item exists."""
    exists = f"EXISTS(SELECT * FROM \"{music}\" where \"Artist\" = 'Acme Band' and \"SongTitle\" = 'PartiQL Rocks')"
    insert = f"INSERT INTO \"{music}\" VALUE {{'Artist': 'Acme Band', 'SongTitle': 'New'}}"
    ddb.execute_transaction(TransactStatements=[{"Statement": exists}, {"Statement": insert}])
    assert "Item" in ddb.get_item(TableName=music, Key={"Artist": S("Acme Band"), "SongTitle": S("New")})
    absent = exists.replace("PartiQL Rocks", "No Such Song")
    code, _ = error(ddb.execute_transaction, TransactStatements=[
        {"Statement": absent}, {"Statement": insert.replace("'New'", "'Newer'")}])
    assert code == "TransactionCanceledException"
    assert "Item" not in ddb.get_item(TableName=music, Key={"Artist": S("Acme Band"), "SongTitle": S("Newer")})
    # The transactions page's own example: EXISTS(... and Awards is MISSING) beside an INSERT and an UPDATE.
    ddb.execute_transaction(TransactStatements=[
        {"Statement": f"EXISTS(SELECT * FROM \"{music}\" where Artist='Acme Band' and SongTitle='PartiQL Rocks' "
                      "and Awards is MISSING)"},
        {"Statement": f"INSERT INTO \"{music}\" value {{'Artist':?,'SongTitle':?}}",
         "Parameters": [S("No One You Know"), S("Call Me Today")]},
        {"Statement": f"UPDATE \"{music}\" SET AwardsWon=1 SET AwardDetail={{'Grammys':[2020, 2018]}} "
                      "where Artist='Acme Band' and SongTitle='New'"},
    ])
    assert "Item" in ddb.get_item(TableName=music, Key={"Artist": S("No One You Know"), "SongTitle": S("Call Me Today")})


# --- operators and data types (ql-operators, ql-reference.data-types) ---------


def test_operators(ddb: Any, orders: str) -> None:
    """Arithmetic + and -; comparison =, <>, !=, <, >, <=, >=; logical AND, BETWEEN, IN, IS, NOT, OR."""
    table = f'"{orders}"'
    assert sorted(order_ids(run(ddb, f"SELECT * FROM {table} WHERE Total <> 100 AND Total != 200 AND NOT Total > 400"))) == [3, 4]
    assert sorted(order_ids(run(ddb, f"SELECT * FROM {table} WHERE Total <= 200 OR Total >= 500"))) == [1, 2, 5]
    assert sorted(order_ids(run(ddb, f"SELECT * FROM {table} WHERE Total < 300 AND Total IN [100, 500]"))) == [1]
    run(ddb, f"UPDATE {table} SET Total = Total + 5 WHERE OrderID = 1")
    run(ddb, f"UPDATE {table} SET Total = Total - 10 WHERE OrderID = 1")
    assert run(ddb, f"SELECT Total FROM {table} WHERE OrderID = 1")["Items"] == [{"Total": N(95)}]


def test_data_types_in_statements(ddb: Any, music: str) -> None:
    """Strings in single quotes (a quote doubled inside one), numbers, TRUE/FALSE, NULL, lists [..],
    maps {..}, string and number sets <<..>>; keywords in any case."""
    statement = (f"insert into \"{music}\" value {{'Artist': 'It''s Us', 'SongTitle': 'x', 'n': -1.5e2, "
                 f"'ok': true, 'no': FALSE, 'nothing': null, 'l': [1, 'a'], 'm': {{'k': 'v'}}, "
                 f"'ss': <<'a', 'b'>>, 'ns': <<1, 2>>}}")
    assert run(ddb, statement)["Items"] == []
    item = ddb.get_item(TableName=music, Key={"Artist": S("It's Us"), "SongTitle": S("x")})["Item"]
    assert item["n"] == N(-150) or item["n"] == {"N": "-150"} or item["n"] == {"N": "-1.5E+2"}
    assert item["ok"] == {"BOOL": True} and item["no"] == {"BOOL": False} and item["nothing"] == {"NULL": True}
    assert item["l"] == {"L": [N(1), S("a")]} and item["m"] == {"M": {"k": S("v")}}
    assert sorted(item["ss"]["SS"]) == ["a", "b"] and sorted(item["ns"]["NS"]) == ["1", "2"]
    found = run(ddb, f"sElEcT \"SongTitle\" FrOm \"{music}\" wHeRe Artist = 'It''s Us'")
    assert found["Items"] == [{"SongTitle": S("x")}]


def test_parameters_carry_their_own_types(ddb: Any, music: str) -> None:
    """Parameters are AttributeValues bound to ? in order; their count must match the statement's."""
    run(ddb, f"INSERT INTO \"{music}\" VALUE {{'Artist': ?, 'SongTitle': ?, 'b': ?, 'bs': ?}}",
        S("P"), S("Q"), {"B": b"\x00\x01"}, {"BS": [b"a", b"b"]})
    item = ddb.get_item(TableName=music, Key={"Artist": S("P"), "SongTitle": S("Q")})["Item"]
    assert item["b"] == {"B": b"\x00\x01"} and sorted(item["bs"]["BS"]) == [b"a", b"b"]
    code, message = error(ddb.execute_statement, Statement=f"SELECT * FROM \"{music}\" WHERE Artist = ?",
                          Parameters=[S("P"), S("Q")])
    assert (code, message) == ("ValidationException", "Number of parameters in request and statement don't match.")


def test_unquoted_table_names_as_aws_examples_write_them(ddb: Any, table_name: str) -> None:
    """The batch and MISSING examples name the table bare: "SELECT * FROM Music WHERE ...",
    "UPDATE Music SET AwardsWon=1, AwardDetail={...} WHERE ..." (SET's assignments by commas)."""
    name = table_name.replace("-", "_").replace(".", "_")
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "Artist", "KeyType": "HASH"}, {"AttributeName": "SongTitle", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "Artist", "AttributeType": "S"},
                              {"AttributeName": "SongTitle", "AttributeType": "S"}],
    )
    try:
        run(ddb, f"INSERT INTO {name} VALUE {{'Artist':?,'SongTitle':?}}", S("Acme Band"), S("PartiQL Rocks"))
        run(ddb, f"UPDATE {name} SET AwardsWon=1, AwardDetail={{'Grammys':[2020, 2018]}} "
                 f"WHERE Artist='Acme Band' AND SongTitle='PartiQL Rocks'")
        found = run(ddb, f'SELECT * FROM {name} WHERE "Awards" is MISSING')
        assert found["Items"][0]["AwardDetail"] == {"M": {"Grammys": {"L": [N(2020), N(2018)]}}}
    finally:
        ddb.delete_table(TableName=name)


# --- INSERT (ql-reference.insert) ---------------------------------------------


def test_insert_example_and_duplicate(ddb: Any, music: str) -> None:
    """INSERT INTO "Music" value {...} returns no values; the same primary key again is DuplicateItemException."""
    statement = f"INSERT INTO \"{music}\" value {{'Artist' : 'Acme Band','SongTitle' : 'Another'}}"
    assert run(ddb, statement)["Items"] == []
    code, _ = error(ddb.execute_statement, Statement=statement)
    assert code == "DuplicateItemException"


def test_insert_into_a_missing_table(ddb: Any) -> None:
    """"The table must already exist." """
    code, _ = error(ddb.execute_statement, Statement="INSERT INTO \"no-such-table\" VALUE {'a': 1}")
    assert code == "ResourceNotFoundException"


# --- UPDATE (ql-reference.update) ---------------------------------------------


def test_update_examples(ddb: Any, music: str) -> None:
    """The update page's examples, in order: SET two attributes (one a map), RETURNING ALL OLD *,
    list_append, REMOVE a list element, SET a new map key, set_add and set_delete."""
    table = f'"{music}"'
    key = "WHERE Artist='Acme Band' AND SongTitle='PartiQL Rocks'"
    assert run(ddb, f"UPDATE {table} SET AwardsWon=1 SET AwardDetail={{'Grammys':[2020, 2018]}} {key}")["Items"] == []
    old = run(ddb, f"UPDATE {table} SET AwardsWon=1 SET AwardDetail={{'Grammys':[2020, 2018]}} {key} RETURNING ALL OLD *")
    assert old["Items"][0]["AwardsWon"] == N(1)
    run(ddb, f"UPDATE {table} SET AwardDetail.Grammys =list_append(AwardDetail.Grammys,[2016]) {key}")
    run(ddb, f"UPDATE {table} REMOVE AwardDetail.Grammys[2] {key}")
    run(ddb, f"UPDATE {table} SET AwardDetail.BillBoard=[2020] {key}")
    run(ddb, f"UPDATE {table} SET BandMembers =<<'member1', 'member2'>> {key}")
    run(ddb, f"UPDATE {table} SET BandMembers =set_add(BandMembers, <<'newmember'>>) {key}")
    item = ddb.get_item(TableName=music, Key={"Artist": S("Acme Band"), "SongTitle": S("PartiQL Rocks")})["Item"]
    assert item["AwardDetail"] == {"M": {"Grammys": {"L": [N(2020), N(2018)]}, "BillBoard": {"L": [N(2020)]}}}
    assert sorted(item["BandMembers"]["SS"]) == ["member1", "member2", "newmember"]
    new = run(ddb, f"UPDATE {table} SET BandMembers =set_delete(BandMembers, <<'newmember'>>) {key} RETURNING ALL NEW *")
    assert sorted(new["Items"][0]["BandMembers"]["SS"]) == ["member1", "member2"]
    modified = run(ddb, f"UPDATE {table} SET AwardsWon=2 {key} RETURNING MODIFIED OLD *")
    assert modified["Items"] == [{"AwardsWon": N(1)}]


def test_update_of_a_missing_item_or_false_where(ddb: Any, music: str) -> None:
    """"If the WHERE clause of the UPDATE statement does not evaluate to true for any item in the
    DynamoDB table, ConditionalCheckFailedException is returned" — and no item is created."""
    table = f'"{music}"'
    code, _ = error(ddb.execute_statement, Statement=f"UPDATE {table} SET a = 1 WHERE Artist = 'x' AND SongTitle = 'y'")
    assert code == "ConditionalCheckFailedException"
    assert "Item" not in ddb.get_item(TableName=music, Key={"Artist": S("x"), "SongTitle": S("y")})
    code, _ = error(ddb.execute_statement, Statement=(
        f"UPDATE {table} SET a = 1 WHERE Artist = 'Acme Band' AND SongTitle = 'PartiQL Rocks' AND a = 7"))
    assert code == "ConditionalCheckFailedException"


def test_update_must_name_one_item(ddb: Any, music: str) -> None:
    """"This condition must resolve to a single primary key value." """
    code, message = error(ddb.execute_statement, Statement=f"UPDATE \"{music}\" SET a = 1 WHERE Artist = 'Acme Band'")
    assert (code, message) == ("ValidationException",
                               "Where clause does not contain a mandatory equality on all key attributes")


# --- DELETE (ql-reference.delete) ---------------------------------------------


def test_delete_examples(ddb: Any, music: str) -> None:
    """DELETE ... RETURNING ALL OLD * returns {"Items": [{"Artist": ..., "SongTitle": ...}]}."""
    table = f'"{music}"'
    found = run(ddb, f"DELETE FROM {table} WHERE \"Artist\" = 'Acme Band' AND \"SongTitle\" = 'PartiQL Rocks' "
                     "RETURNING ALL OLD *")
    assert found["Items"] == [{"Artist": S("Acme Band"), "SongTitle": S("PartiQL Rocks")}]


def test_delete_of_a_missing_item_succeeds_and_a_false_where_fails(ddb: Any, music: str) -> None:
    """"If the DynamoDB table does not have any item with the same primary key ..., SUCCESS is returned
    with 0 items deleted. If the table has an item with same primary key, but the condition in the WHERE
    clause ... evaluates to false, ConditionalCheckFailedException is returned." """
    table = f'"{music}"'
    assert run(ddb, f"DELETE FROM {table} WHERE Artist = 'x' AND SongTitle = 'y'")["Items"] == []
    assert run(ddb, f"DELETE FROM {table} WHERE Artist = 'x' AND SongTitle = 'y' AND Awards = 3")["Items"] == []
    code, _ = error(ddb.execute_statement, Statement=(
        f"DELETE FROM {table} WHERE Artist = 'Acme Band' AND SongTitle = 'PartiQL Rocks' AND Awards = 3"))
    assert code == "ConditionalCheckFailedException"
    assert "Item" in ddb.get_item(TableName=music, Key={"Artist": S("Acme Band"), "SongTitle": S("PartiQL Rocks")})


# --- ExecuteTransaction -------------------------------------------------------


def test_transaction_limits_and_no_mixing(ddb: Any, music: str) -> None:
    """"PartiQL transactions are limited to 100 total statements"; "The entire transaction must consist
    of either read statements or write statements"."""
    inserts = [{"Statement": f"INSERT INTO \"{music}\" VALUE {{'Artist': 'T', 'SongTitle': '{i}'}}"}
               for i in range(101)]
    code, _ = error(ddb.execute_transaction, TransactStatements=inserts)
    assert code == "ValidationException"
    ddb.execute_transaction(TransactStatements=inserts[:100])
    assert len(run(ddb, f"SELECT * FROM \"{music}\" WHERE Artist = 'T'")["Items"]) == 100
    read = {"Statement": f"SELECT * FROM \"{music}\" WHERE Artist = 'T' AND SongTitle = '1'"}
    code, _ = error(ddb.execute_transaction, TransactStatements=[read, inserts[0]])
    assert code == "ValidationException"
    answer = ddb.execute_transaction(TransactStatements=[read])
    assert answer["Responses"] == [{"Item": {"Artist": S("T"), "SongTitle": S("1")}}]


def test_transaction_token_makes_it_idempotent(ddb: Any, music: str) -> None:
    """ClientRequestToken: the same token and statements run once; the same token with other statements
    is IdempotentParameterMismatchException."""
    statement = {"Statement": f"UPDATE \"{music}\" SET n = 1 WHERE Artist = 'Acme Band' AND SongTitle = 'PartiQL Rocks'"}
    token = str(uuid.uuid4())  # tokens are remembered server-wide for 10 minutes: one of its own
    ddb.execute_transaction(TransactStatements=[statement], ClientRequestToken=token)
    ddb.execute_transaction(TransactStatements=[statement], ClientRequestToken=token)
    other = {"Statement": statement["Statement"].replace("n = 1", "n = 2")}
    code, _ = error(ddb.execute_transaction, TransactStatements=[other], ClientRequestToken=token)
    assert code == "IdempotentParameterMismatchException"


def test_transaction_is_cancelled_as_a_whole(ddb: Any, music: str) -> None:
    """"If any of the singleton INSERT, UPDATE, or DELETE operations returns an error, the transactions
    are canceled with the TransactionCanceledException exception" — nothing is written."""
    code, _ = error(ddb.execute_transaction, TransactStatements=[
        {"Statement": f"INSERT INTO \"{music}\" VALUE {{'Artist': 'Z', 'SongTitle': 'z'}}"},
        {"Statement": f"INSERT INTO \"{music}\" VALUE {{'Artist': 'Acme Band', 'SongTitle': 'PartiQL Rocks'}}"},
    ])
    assert code == "TransactionCanceledException"
    assert "Item" not in ddb.get_item(TableName=music, Key={"Artist": S("Z"), "SongTitle": S("z")})
    with pytest.raises(ddb.exceptions.TransactionCanceledException) as cancelled:
        ddb.execute_transaction(TransactStatements=[
            {"Statement": f"INSERT INTO \"{music}\" VALUE {{'Artist': 'Z', 'SongTitle': 'z'}}"},
            {"Statement": f"INSERT INTO \"{music}\" VALUE {{'Artist': 'Acme Band', 'SongTitle': 'PartiQL Rocks'}}"},
        ])
    reasons = [reason["Code"] for reason in cancelled.value.response["CancellationReasons"]]
    assert reasons == ["None", "DuplicateItem"]  # "the cancellation reason code includes the errors" of each


# --- BatchExecuteStatement ----------------------------------------------------


def test_batch_example_and_limits(ddb: Any, music: str) -> None:
    """The batch page's example (an INSERT with parameters and an UPDATE), at most 25 statements,
    reads or writes but not both, and each SELECT naming one item by its full key."""
    answer = ddb.batch_execute_statement(Statements=[
        {"Statement": f"INSERT INTO \"{music}\" VALUE {{'Artist':?,'SongTitle':?}}",
         "Parameters": [S("Acme Band"), S("Best Song")]},
        {"Statement": f"UPDATE \"{music}\" SET AwardsWon=1, AwardDetail={{'Grammys':[2020, 2018]}} "
                      "WHERE Artist='Acme Band' AND SongTitle='PartiQL Rocks'"},
    ])
    assert [("Error" in response) for response in answer["Responses"]] == [False, False]
    reads = [{"Statement": f"SELECT * FROM \"{music}\" WHERE Artist = 'Acme Band' AND SongTitle = ?",
              "Parameters": [S(title)]} for title in ("Best Song", "PartiQL Rocks", "None")]
    found = ddb.batch_execute_statement(Statements=reads)["Responses"]
    assert [response.get("Item", {}).get("SongTitle") for response in found] == [S("Best Song"), S("PartiQL Rocks"), None]
    code, _ = error(ddb.batch_execute_statement, Statements=reads * 9)
    assert code == "ValidationException"
    code, _ = error(ddb.batch_execute_statement, Statements=[reads[0], answer and {
        "Statement": f"DELETE FROM \"{music}\" WHERE Artist = 'a' AND SongTitle = 'b'"}])
    assert code == "ValidationException"
    partial = ddb.batch_execute_statement(Statements=[
        {"Statement": f"SELECT * FROM \"{music}\" WHERE Artist = 'Acme Band'"}])
    assert partial["Responses"][0]["Error"]["Code"] == "ValidationError"


def test_batch_errors_are_per_statement(ddb: Any, music: str) -> None:
    """"A HTTP 200 response does not mean that all statements in the BatchExecuteStatement succeeded.
    Error details for individual statements can be found under the Error field" — the others still run."""
    answer = ddb.batch_execute_statement(Statements=[
        {"Statement": f"INSERT INTO \"{music}\" VALUE {{'Artist': 'Acme Band', 'SongTitle': 'PartiQL Rocks'}}"},
        {"Statement": f"INSERT INTO \"{music}\" VALUE {{'Artist': 'B', 'SongTitle': 'b'}}"},
        {"Statement": f"UPDATE \"{music}\" SET a = 1 WHERE Artist = 'none' AND SongTitle = 'none'"},
    ])
    codes = [response.get("Error", {}).get("Code") for response in answer["Responses"]]
    assert codes == ["DuplicateItem", None, "ConditionalCheckFailed"]
    assert "Item" in ddb.get_item(TableName=music, Key={"Artist": S("B"), "SongTitle": S("b")})


def test_order_by_the_partition_key_pages_with_limit(ddb: Any, orders: str) -> None:
    """ORDER BY the partition key keeps its order across pages: Limit and NextToken resume where the
    last page stopped; with the partition key pinned by "=", ORDER BY it is accepted too."""
    statement = f'SELECT OrderID FROM "{orders}" WHERE OrderID IN [5, 1, 3, 2, 4] ORDER BY OrderID DESC'
    pages: list[list[int]] = []
    extra: dict[str, Any] = {"Limit": 2}
    while True:
        page = run(ddb, statement, **extra)
        pages.append(order_ids(page))
        if "NextToken" not in page:
            break
        extra = {"Limit": 2, "NextToken": page["NextToken"]}
    assert [n for page in pages for n in page] == [5, 4, 3, 2, 1]
    assert all(len(page) <= 2 for page in pages)
    assert order_ids(run(ddb, f'SELECT * FROM "{orders}" WHERE OrderID = 2 ORDER BY OrderID')) == [2]


def test_double_quoted_identifiers(ddb: Any, music: str) -> None:
    """Names in double quotes (a double quote doubled inside one), strings in single quotes."""
    ddb.put_item(TableName=music, Item={"Artist": S("Q"), "SongTitle": S("q"), 'say "hi"': S("x"), "a b": N(1)})
    found = run(ddb, f'SELECT "say ""hi""", "a b" FROM "{music}" WHERE "Artist" = \'Q\' AND "SongTitle" = \'q\'')
    assert found["Items"] == [{'say "hi"': S("x"), "a b": N(1)}]


def test_statement_length_limit(ddb: Any, music: str) -> None:
    """ExecuteStatement's Statement: length 1 to 8192."""
    padding = " " * 8192
    code, _ = error(ddb.execute_statement, Statement=f'SELECT * FROM "{music}"{padding}')
    assert code == "ValidationException"


def test_transaction_size_limit_and_one_item_once(ddb: Any, music: str) -> None:
    """A transaction's items may not exceed 4 MB together, and may not name one item twice."""
    big = "x" * 390_000
    statements = [{"Statement": f"INSERT INTO \"{music}\" VALUE {{'Artist': 'big', 'SongTitle': ?, 'p': ?}}",
                   "Parameters": [S(str(i)), S(big)]} for i in range(11)]
    code, message = error(ddb.execute_transaction, TransactStatements=statements)
    assert (code, message) == ("ValidationException", "Transaction size has exceeded the maximum allowed size")
    assert run(ddb, f"SELECT * FROM \"{music}\" WHERE Artist = 'big'")["Items"] == []
    ddb.execute_transaction(TransactStatements=statements[:10])
    twice = f"UPDATE \"{music}\" SET n = 1 WHERE Artist = 'Acme Band' AND SongTitle = 'PartiQL Rocks'"
    code, _ = error(ddb.execute_transaction, TransactStatements=[{"Statement": twice}, {"Statement": twice}])
    assert code == "ValidationException"


@pytest.fixture
def types_table(ddb: Any, table_name: str) -> Iterator[str]:
    """AWS's "TypesTable": ``primarykey`` (S) alone."""
    create = ddb.create_table
    create(TableName=table_name, BillingMode="PAY_PER_REQUEST",
           KeySchema=[{"AttributeName": "primarykey", "KeyType": "HASH"}],
           AttributeDefinitions=[{"AttributeName": "primarykey", "AttributeType": "S"}])
    yield table_name
    ddb.delete_table(TableName=table_name)


def test_data_types_page_examples(ddb: Any, types_table: str) -> None:
    """The data types page's three statements: an INSERT of every type, an UPDATE adding to each
    (LIST_APPEND, SET_ADD in capitals), and an UPDATE removing from each (SET_DELETE)."""
    table = f'"{types_table}"'
    run(ddb, f"INSERT INTO {table} value {{'primarykey':'1', 'NumberType':1, "
             "'MapType' : {'entryname1': 'value', 'entryname2': 4}, 'ListType': [1,'stringval'], "
             "'NumberSetType':<<1,34,32,4.5>>, 'StringSetType':<<'stringval','stringval2'>> }")
    run(ddb, f"UPDATE {table} SET NumberType=NumberType + 100 SET MapType.NewMapEntry=[2020, 'stringvalue', 2.4] "
             "SET ListType = LIST_APPEND(ListType, [4, <<'string1', 'string2'>>]) "
             "SET NumberSetType= SET_ADD(NumberSetType, <<345, 48.4>>) "
             "SET StringSetType = SET_ADD(StringSetType, <<'stringsetvalue1', 'stringsetvalue2'>>) WHERE primarykey='1'")
    item = ddb.get_item(TableName=types_table, Key={"primarykey": S("1")})["Item"]
    assert item["NumberType"] == N(101)
    assert item["MapType"]["M"]["NewMapEntry"] == {"L": [N(2020), S("stringvalue"), {"N": "2.4"}]}
    assert item["ListType"] == {"L": [N(1), S("stringval"), N(4), {"SS": ["string1", "string2"]}]}
    assert sorted(item["NumberSetType"]["NS"], key=float) == ["1", "4.5", "32", "34", "48.4", "345"]
    run(ddb, f"UPDATE {table} SET NumberType=NumberType - 1 REMOVE ListType[1] REMOVE MapType.NewMapEntry "
             "SET NumberSetType = SET_DELETE( NumberSetType, <<345>>) "
             "SET StringSetType = SET_DELETE( StringSetType, <<'stringsetvalue1'>>) WHERE primarykey='1'")
    item = ddb.get_item(TableName=types_table, Key={"primarykey": S("1")})["Item"]
    assert item["NumberType"] == N(100)
    assert "NewMapEntry" not in item["MapType"]["M"]
    assert item["ListType"]["L"][:2] == [N(1), N(4)]
    assert "345" not in item["NumberSetType"]["NS"]
    assert sorted(item["StringSetType"]["SS"]) == ["stringsetvalue2", "stringval", "stringval2"]


def test_numbers_have_up_to_38_digits(ddb: Any, types_table: str) -> None:
    """"Numbers can have up to 38 digits of precision." """
    table = f'"{types_table}"'
    run(ddb, f"INSERT INTO {table} VALUE {{'primarykey': 'n', 'v': {'9' * 38}}}")
    code, _ = error(ddb.execute_statement, Statement=f"INSERT INTO {table} VALUE {{'primarykey': 'm', 'v': {'9' * 39}}}")
    assert code == "ValidationException"


def test_in_list_limits(ddb: Any, orders: str) -> None:
    """IN takes "at max 50 hash attribute values or at max 100 non-key attribute values"."""
    table = f'"{orders}"'
    keys = ", ".join(str(n) for n in range(1, 51))
    assert len(run(ddb, f"SELECT * FROM {table} WHERE OrderID IN [{keys}]")["Items"]) == 5
    code, _ = error(ddb.execute_statement, Statement=f"SELECT * FROM {table} WHERE OrderID IN [{keys}, 51]")
    assert code == "ValidationException"
    totals = ", ".join(str(100 * n) for n in range(1, 101))
    assert len(run(ddb, f"SELECT * FROM {table} WHERE Total IN [{totals}]")["Items"]) == 5
    code, _ = error(ddb.execute_statement, Statement=f"SELECT * FROM {table} WHERE Total IN [{totals}, 0]")
    assert code == "ValidationException"


def test_item_size_limit(ddb: Any, music: str) -> None:
    """An INSERT is a PutItem: an item over 400 KB is refused."""
    code, _ = error(ddb.execute_statement, Statement=f"INSERT INTO \"{music}\" VALUE {{'Artist': 'a', 'SongTitle': 'b', 'p': ?}}",
                    Parameters=[S("x" * 410_000)])
    assert code == "ValidationException"


def test_order_by_another_attribute_is_refused(ddb: Any, music: str) -> None:
    """ORDER BY's key is "a hash key or a sort key": another attribute is refused (cellstore's words)."""
    code, message = error(ddb.execute_statement,
                          Statement=f"SELECT * FROM \"{music}\" WHERE Artist = 'Acme Band' ORDER BY Awards")
    assert (code, message) == ("ValidationException",
                               "ORDER BY takes only the partition key or the sort key of the table or index read")


def test_exists_only_in_transactions(ddb: Any, music: str) -> None:
    """"The EXISTS function can only be used in transactions." """
    exists = f"EXISTS(SELECT * FROM \"{music}\" WHERE \"Artist\" = 'Acme Band' AND \"SongTitle\" = 'PartiQL Rocks')"
    code, _ = error(ddb.execute_statement, Statement=exists)
    assert code == "ValidationException"
    answer = ddb.batch_execute_statement(Statements=[{"Statement": exists}])
    assert answer["Responses"][0]["Error"]["Code"] == "ValidationError"


def test_insert_attribute_names_are_case_sensitive(ddb: Any, music: str) -> None:
    """"each attribute name in the item is case-sensitive": 'artist' is not the key 'Artist'."""
    code, _ = error(ddb.execute_statement,
                    Statement=f"INSERT INTO \"{music}\" VALUE {{'artist': 'a', 'songtitle': 'b'}}")
    assert code == "ValidationException"


def test_request_member_limits(raw: Any, music: str) -> None:
    """The API references' member constraints (sent past botocore's own checks): Parameters has at
    least one value, Limit is at least 1, Statements and TransactStatements at least one entry,
    ClientRequestToken at most 36 characters."""
    code, _ = error(raw.execute_statement, Statement=f"SELECT * FROM \"{music}\"", Parameters=[])
    assert code == "ValidationException"
    code, _ = error(raw.execute_statement, Statement=f"SELECT * FROM \"{music}\"", Limit=0)
    assert code == "ValidationException"
    code, _ = error(raw.batch_execute_statement, Statements=[])
    assert code == "ValidationException"
    code, _ = error(raw.execute_transaction, TransactStatements=[])
    assert code == "ValidationException"
    code, _ = error(raw.execute_transaction, ClientRequestToken="t" * 37, TransactStatements=[
        {"Statement": f"UPDATE \"{music}\" SET n = 1 WHERE Artist = 'Acme Band' AND SongTitle = 'PartiQL Rocks'"}])
    assert code == "ValidationException"


def test_order_by_the_partition_key_ends_a_page_at_1_mb(ddb: Any, music: str) -> None:
    """"if the total number of processed items exceeds the maximum dataset size limit of 1 MB, the read
    stops" with a key to continue from — within a partition read for ORDER BY the partition key too."""
    for title in ("a", "b", "c"):
        ddb.put_item(TableName=music, Item={"Artist": S("big"), "SongTitle": S(title), "p": S("x" * 390_000)})
    statement = f"SELECT SongTitle FROM \"{music}\" WHERE Artist IN ['big', 'a0'] ORDER BY Artist"
    pages: list[list[str]] = []
    extra: dict[str, Any] = {}
    while True:
        page = run(ddb, statement, **extra)
        pages.append([item["SongTitle"]["S"] for item in page["Items"]])
        if "NextToken" not in page:
            break
        extra = {"NextToken": page["NextToken"]}
    assert len(pages) >= 2
    assert [title for page in pages for title in page] == ["a", "b", "c"]
