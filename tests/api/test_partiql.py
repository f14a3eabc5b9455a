"""PartiQL through boto3: ExecuteStatement, ExecuteTransaction and BatchExecuteStatement."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.api.client_errors import error
from tests.api.conftest import create


def S(text: str) -> dict[str, str]:
    return {"S": text}


def N(number: int) -> dict[str, str]:
    return {"N": str(number)}


@pytest.fixture
def songs(ddb: Any, range_table: str) -> str:
    """``pk`` artist, ``sk`` title; three songs by a, one by b."""
    for pk, sk, year in (("a", "s1", 2001), ("a", "s2", 2002), ("a", "t3", 2003), ("b", "s1", 1999)):
        ddb.put_item(TableName=range_table, Item={"pk": S(pk), "sk": S(sk), "year": N(year),
                                                  "info": {"M": {"tags": {"L": [S("x"), S("y")]}}}})
    return range_table


def run(ddb: Any, statement: str, *parameters: Any, **extra: Any) -> dict[str, Any]:
    if parameters:
        extra["Parameters"] = list(parameters)
    result: dict[str, Any] = ddb.execute_statement(Statement=statement, **extra)
    return result


def titles(response: dict[str, Any]) -> list[str]:
    return [item["sk"]["S"] for item in response["Items"]]


# --- SELECT -------------------------------------------------------------------


def test_select_by_partition_is_a_query_in_key_order(ddb: Any, songs: str) -> None:
    assert titles(run(ddb, f'SELECT * FROM "{songs}" WHERE pk = ?', S("a"))) == ["s1", "s2", "t3"]


def test_select_with_sort_key_conditions(ddb: Any, songs: str) -> None:
    table = f'"{songs}"'
    assert titles(run(ddb, f"SELECT * FROM {table} WHERE pk = 'a' AND sk > 's1'")) == ["s2", "t3"]
    assert titles(run(ddb, f"SELECT * FROM {table} WHERE pk = 'a' AND sk BETWEEN 's2' AND 't9'")) == ["s2", "t3"]
    assert titles(run(ddb, f"SELECT * FROM {table} WHERE pk = 'a' AND begins_with(sk, 's')")) == ["s1", "s2"]
    assert titles(run(ddb, f"SELECT * FROM {table} WHERE pk = 'a' ORDER BY sk DESC")) == ["t3", "s2", "s1"]


def test_select_without_the_key_scans_with_a_filter(ddb: Any, songs: str) -> None:
    found = run(ddb, f'SELECT pk, sk FROM "{songs}" WHERE "year" < 2002 OR sk IN [\'t3\']')
    assert sorted((item["pk"]["S"], item["sk"]["S"]) for item in found["Items"]) == [("a", "s1"), ("a", "t3"), ("b", "s1")]
    assert all(set(item) == {"pk", "sk"} for item in found["Items"])
    assert len(run(ddb, f'SELECT * FROM "{songs}"')["Items"]) == 4


def test_select_functions_and_nested_paths(ddb: Any, songs: str) -> None:
    ddb.put_item(TableName=songs, Item={"pk": S("c"), "sk": S("n"), "year": S("unknown")})
    table = f'"{songs}"'
    missing = run(ddb, f"SELECT sk FROM {table} WHERE info IS MISSING")
    assert missing["Items"] == [{"sk": S("n")}]
    typed = run(ddb, f"SELECT sk FROM {table} WHERE attribute_type(\"year\", 'S')")
    assert typed["Items"] == [{"sk": S("n")}]
    nested = run(ddb, f"SELECT info.tags[1] FROM {table} WHERE pk = 'b' AND contains(info.tags, 'x')")
    assert nested["Items"] == [{"info": {"M": {"tags": {"L": [S("y")]}}}}]
    sized = run(ddb, f"SELECT sk FROM {table} WHERE pk = 'a' AND size(info.tags) = 2 AND NOT sk = 's1'")
    assert [item["sk"]["S"] for item in sized["Items"]] == ["s2", "t3"]


def test_select_pages_with_limit_and_next_token(ddb: Any, songs: str) -> None:
    statement = f'SELECT * FROM "{songs}" WHERE pk = ?'
    first = run(ddb, statement, S("a"), Limit=2, ConsistentRead=True)
    assert titles(first) == ["s1", "s2"]
    second = run(ddb, statement, S("a"), Limit=2, NextToken=first["NextToken"])
    assert titles(second) == ["t3"]
    assert "NextToken" not in second
    code, _ = error(ddb.execute_statement, Statement=statement, Parameters=[S("b")], NextToken=first["NextToken"])
    assert code == "ValidationException"


def test_select_from_an_index(ddb: Any, table_name: str) -> None:
    ddb.create_table(
        TableName=table_name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "city", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-city", "KeySchema": [{"AttributeName": "city", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "KEYS_ONLY"}}],
    )
    try:
        for pk, city in (("1", "Oslo"), ("2", "Rome"), ("3", "Oslo")):
            ddb.put_item(TableName=table_name, Item={"pk": S(pk), "city": S(city), "extra": S("e")})
        found = run(ddb, f'SELECT * FROM "{table_name}"."by-city" WHERE city = ?', S("Oslo"))
        assert sorted(item["pk"]["S"] for item in found["Items"]) == ["1", "3"]
        assert all("extra" not in item for item in found["Items"])
        code, message = error(ddb.execute_statement, Statement=f'SELECT * FROM "{table_name}"."by-city"',
                              ConsistentRead=True)
        assert (code, message) == ("ValidationException", "Consistent reads are not supported on global secondary indexes")
    finally:
        ddb.delete_table(TableName=table_name)


def test_select_of_a_missing_table(ddb: Any) -> None:
    code, _ = error(ddb.execute_statement, Statement='SELECT * FROM "no-such-table"')
    assert code == "ResourceNotFoundException"


# --- INSERT, UPDATE, DELETE ---------------------------------------------------


def test_insert_then_duplicate(ddb: Any, range_table: str) -> None:
    statement = f"INSERT INTO \"{range_table}\" VALUE {{'pk': ?, 'sk': 'x', 'n': 1, 'tags': <<'a', 'b'>>, 'ok': TRUE}}"
    assert run(ddb, statement, S("p"))["Items"] == []
    item = ddb.get_item(TableName=range_table, Key={"pk": S("p"), "sk": S("x")})["Item"]
    assert item == {"pk": S("p"), "sk": S("x"), "n": N(1), "tags": {"SS": ["a", "b"]}, "ok": {"BOOL": True}}
    code, message = error(ddb.execute_statement, Statement=statement, Parameters=[S("p")])
    assert (code, message) == ("DuplicateItemException", "Duplicate primary key exists in table")


def test_update_set_remove_and_returning(ddb: Any, songs: str) -> None:
    table = f'"{songs}"'
    found = run(ddb, f"UPDATE {table} SET \"year\" = \"year\" + 1 SET info.tags[0] = 'z' REMOVE nope "
                     f"WHERE pk = 'a' AND sk = 's1' RETURNING MODIFIED NEW *")
    assert found["Items"] == [{"year": N(2002), "info": {"M": {"tags": {"L": [S("z")]}}}}]
    run(ddb, f"UPDATE {table} SET tags = ?, l = list_append(info.tags, ['w']) WHERE pk = 'a' AND sk = 's1'",
        {"SS": ["m"]})
    run(ddb, f"UPDATE {table} SET tags = set_add(tags, <<'n'>>) REMOVE info WHERE pk = 'a' AND sk = 's1'")
    item = ddb.get_item(TableName=songs, Key={"pk": S("a"), "sk": S("s1")})["Item"]
    assert item["tags"] == {"SS": ["m", "n"]}
    assert item["l"] == {"L": [S("z"), S("y"), S("w")]}
    assert "info" not in item


def test_update_condition_failure_and_missing_item(ddb: Any, songs: str) -> None:
    table = f'"{songs}"'
    code, message = error(ddb.execute_statement,
                          Statement=f"UPDATE {table} SET x = 1 WHERE pk = 'a' AND sk = 's1' AND \"year\" > 3000",
                          ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert (code, message) == ("ConditionalCheckFailedException", "The conditional request failed")
    with pytest.raises(ClientError) as caught:
        run(ddb, f"UPDATE {table} SET x = 1 WHERE pk = 'a' AND sk = 's1' AND \"year\" > 3000",
            ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert caught.value.response["Item"]["year"] == N(2001)
    code, _ = error(ddb.execute_statement, Statement=f"UPDATE {table} SET x = 1 WHERE pk = 'zz' AND sk = 's1'")
    assert code == "ConditionalCheckFailedException"
    code, message = error(ddb.execute_statement, Statement=f"UPDATE {table} SET x = 1 WHERE pk = 'a'")
    assert (code, message) == ("ValidationException",
                               "Where clause does not contain a mandatory equality on all key attributes")


def test_delete_with_condition_and_returning(ddb: Any, songs: str) -> None:
    table = f'"{songs}"'
    code, _ = error(ddb.execute_statement, Statement=f"DELETE FROM {table} WHERE pk = 'a' AND sk = 's2' AND \"year\" = 1")
    assert code == "ConditionalCheckFailedException"
    found = run(ddb, f"DELETE FROM {table} WHERE pk = 'a' AND sk = 's2' RETURNING ALL OLD *")
    assert found["Items"][0]["year"] == N(2002)
    assert "Item" not in ddb.get_item(TableName=songs, Key={"pk": S("a"), "sk": S("s2")})


def test_bad_statements(ddb: Any, hash_table: str) -> None:
    code, message = error(ddb.execute_statement, Statement="DROP TABLE x")
    assert (code, message) == ("ValidationException", "Statement wasn't well formed, can't be processed: Expected data manipulation")
    code, message = error(ddb.execute_statement, Statement=f'SELECT * FROM "{hash_table}" WHERE pk = ?')
    assert (code, message) == ("ValidationException", "Number of parameters in request and statement don't match.")
    code, message = error(ddb.execute_statement, Statement=f'SELECT * FROM "{hash_table}" WHERE')
    assert code == "ValidationException"
    assert message.startswith("Statement wasn't well formed, can't be processed: ")


def test_capacity_is_reported(ddb: Any, songs: str) -> None:
    found = run(ddb, f'SELECT * FROM "{songs}" WHERE pk = \'a\'', ReturnConsumedCapacity="TOTAL")
    assert found["ConsumedCapacity"]["TableName"] == songs
    assert found["ConsumedCapacity"]["CapacityUnits"] > 0


def test_concurrent_inserts_of_one_key_have_one_winner(ddb: Any, hash_table: str) -> None:
    outcomes: list[str] = []
    lock = threading.Lock()
    statement = f"INSERT INTO \"{hash_table}\" VALUE {{'pk': 'same', 'by': ?}}"

    def insert(number: int) -> None:
        try:
            run(ddb, statement, N(number))
            outcome = "ok"
        except ClientError as caught:
            outcome = caught.response["Error"]["Code"]
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=insert, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["DuplicateItemException"] * 7 + ["ok"]


# --- ExecuteTransaction -------------------------------------------------------


def test_transaction_writes_apply_together(ddb: Any, songs: str) -> None:
    table = f'"{songs}"'
    ddb.execute_transaction(TransactStatements=[
        {"Statement": f"INSERT INTO {table} VALUE {{'pk': 'c', 'sk': ?}}", "Parameters": [S("new")]},
        {"Statement": f"UPDATE {table} SET plays = 1 WHERE pk = 'a' AND sk = 's1'"},
        {"Statement": f"DELETE FROM {table} WHERE pk = 'b' AND sk = 's1'"},
        {"Statement": f"EXISTS(SELECT * FROM {table} WHERE pk = 'a' AND sk = 's2' AND \"year\" = 2002)"},
    ])
    assert "Item" in ddb.get_item(TableName=songs, Key={"pk": S("c"), "sk": S("new")})
    assert ddb.get_item(TableName=songs, Key={"pk": S("a"), "sk": S("s1")})["Item"]["plays"] == N(1)
    assert "Item" not in ddb.get_item(TableName=songs, Key={"pk": S("b"), "sk": S("s1")})


def test_transaction_cancelled_with_reasons(ddb: Any, songs: str) -> None:
    table = f'"{songs}"'
    statements = [
        {"Statement": f"UPDATE {table} SET plays = 1 WHERE pk = 'a' AND sk = 's1'"},
        {"Statement": f"INSERT INTO {table} VALUE {{'pk': 'a', 'sk': 's2'}}"},
        {"Statement": f"EXISTS(SELECT * FROM {table} WHERE pk = 'a' AND sk = 't3' AND \"year\" = 1)"},
    ]
    with pytest.raises(ClientError) as caught:
        ddb.execute_transaction(TransactStatements=statements)
    response = caught.value.response
    assert response["Error"]["Code"] == "TransactionCanceledException"
    assert response["Error"]["Message"] == ("Transaction cancelled, please refer cancellation reasons for specific "
                                            "reasons [None, DuplicateItem, ConditionalCheckFailed]")
    assert [reason["Code"] for reason in response["CancellationReasons"]] == ["None", "DuplicateItem", "ConditionalCheckFailed"]
    assert "plays" not in ddb.get_item(TableName=songs, Key={"pk": S("a"), "sk": S("s1")})["Item"]


def test_transaction_token_is_idempotent(ddb: Any, songs: str) -> None:
    table = f'"{songs}"'
    statements = [{"Statement": f"UPDATE {table} SET plays = plays + 1 WHERE pk = 'a' AND sk = 's1' AND plays >= 0"}]
    run(ddb, f"UPDATE {table} SET plays = 0 WHERE pk = 'a' AND sk = 's1'")
    for _ in range(2):
        ddb.execute_transaction(TransactStatements=statements, ClientRequestToken="tok-1")
    assert ddb.get_item(TableName=songs, Key={"pk": S("a"), "sk": S("s1")})["Item"]["plays"] == N(1)
    code, _ = error(ddb.execute_transaction, TransactStatements=statements[:0] + [
        {"Statement": f"DELETE FROM {table} WHERE pk = 'a' AND sk = 's1'"}], ClientRequestToken="tok-1")
    assert code == "IdempotentParameterMismatchException"


def test_transaction_reads_and_no_mixing(ddb: Any, songs: str) -> None:
    table = f'"{songs}"'
    found = ddb.execute_transaction(TransactStatements=[
        {"Statement": f"SELECT sk, \"year\" FROM {table} WHERE pk = 'a' AND sk = 's1'"},
        {"Statement": f"SELECT * FROM {table} WHERE pk = 'a' AND sk = 'none'"},
    ])
    assert found["Responses"] == [{"Item": {"sk": S("s1"), "year": N(2001)}}, {}]
    code, _ = error(ddb.execute_transaction, TransactStatements=[
        {"Statement": f"SELECT * FROM {table} WHERE pk = 'a' AND sk = 's1'"},
        {"Statement": f"DELETE FROM {table} WHERE pk = 'a' AND sk = 's2'"},
    ])
    assert code == "ValidationException"


# --- BatchExecuteStatement ----------------------------------------------------


def test_batch_reads(ddb: Any, songs: str) -> None:
    table = f'"{songs}"'
    found = ddb.batch_execute_statement(Statements=[
        {"Statement": f"SELECT * FROM {table} WHERE pk = ? AND sk = ?", "Parameters": [S("a"), S("s1")]},
        {"Statement": f"SELECT * FROM {table} WHERE pk = 'zz' AND sk = 's1'"},
        {"Statement": f"SELECT * FROM {table} WHERE pk = 'a'"},
    ])["Responses"]
    assert found[0]["Item"]["year"] == N(2001)
    assert found[0]["TableName"] == songs
    assert "Item" not in found[1] and "Error" not in found[1]
    assert found[2]["Error"]["Code"] == "ValidationError"


def test_batch_writes_report_each_statement(ddb: Any, songs: str) -> None:
    table = f'"{songs}"'
    found = ddb.batch_execute_statement(Statements=[
        {"Statement": f"INSERT INTO {table} VALUE {{'pk': 'a', 'sk': 's1'}}"},
        {"Statement": f"INSERT INTO {table} VALUE {{'pk': 'new', 'sk': 's1'}}"},
        {"Statement": f"UPDATE {table} SET x = 1 WHERE pk = 'a' AND sk = 's2' AND \"year\" = 0"},
        {"Statement": f"DELETE FROM {table} WHERE pk = 'b' AND sk = 's1'"},
    ])["Responses"]
    assert found[0]["Error"] == {"Code": "DuplicateItem", "Message": "Duplicate primary key exists in table"}
    assert "Error" not in found[1] and "Error" not in found[3]
    assert found[2]["Error"]["Code"] == "ConditionalCheckFailed"
    assert "Item" in ddb.get_item(TableName=songs, Key={"pk": S("new"), "sk": S("s1")})
    assert "Item" not in ddb.get_item(TableName=songs, Key={"pk": S("b"), "sk": S("s1")})


def test_batch_refuses_reads_with_writes(ddb: Any, songs: str) -> None:
    table = f'"{songs}"'
    code, _ = error(ddb.batch_execute_statement, Statements=[
        {"Statement": f"SELECT * FROM {table} WHERE pk = 'a' AND sk = 's1'"},
        {"Statement": f"DELETE FROM {table} WHERE pk = 'a' AND sk = 's2'"},
    ])
    assert code == "ValidationException"


@pytest.mark.slow
@pytest.mark.server
def test_workers_send_partiql_writes_to_the_writer(server_process: Any, tmp_path: Any) -> None:
    """With ``serve --workers 2`` a statement that writes reaches the writer and its result every worker reads."""
    server = server_process("--workers", "2", "--data-dir", str(tmp_path / "data"))
    ddb = server.client()
    table = create(ddb, "partiql-workers", range_key="sk")
    statement = f"INSERT INTO \"{table}\" VALUE {{'pk': 'k', 'sk': ?}}"
    for number in range(20):
        run(ddb, statement, S(str(number)))
    code, _ = error(ddb.execute_statement, Statement=statement, Parameters=[S("3")])
    assert code == "DuplicateItemException"
    for _ in range(4):  # several connections, so both workers answer
        assert len(run(ddb, f'SELECT * FROM "{table}" WHERE pk = \'k\'', ConsistentRead=True)["Items"]) == 20
    assert server.terminate() == 0
    served = [int(count) for count in re.findall(r"writer \d+ stopped: (\d+) requests", server.log_path.read_text())]
    assert served and served[0] >= 1 + 20 + 1  # CreateTable and every INSERT ran in the writer


def test_old_item_on_failure_in_transactions_and_batches(ddb: Any, songs: str) -> None:
    table = f'"{songs}"'
    failing = {"Statement": f"UPDATE {table} SET x = 1 WHERE pk = 'a' AND sk = 's1' AND \"year\" = 0",
               "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
    with pytest.raises(ClientError) as caught:
        ddb.execute_transaction(TransactStatements=[failing])
    reason = caught.value.response["CancellationReasons"][0]
    assert (reason["Code"], reason["Item"]["year"]) == ("ConditionalCheckFailed", N(2001))
    found = ddb.batch_execute_statement(Statements=[failing])["Responses"][0]
    assert (found["Error"]["Code"], found["Error"]["Item"]["year"]) == ("ConditionalCheckFailed", N(2001))


def test_partiql_writes_are_stream_records(ddb: Any, streams: Any, table_name: str) -> None:
    """Translated into the item API's engine calls, PartiQL writes reach the table's stream like any other."""
    arn = ddb.create_table(
        TableName=table_name, BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    try:
        table = f'"{table_name}"'
        run(ddb, f"INSERT INTO {table} VALUE {{'pk': 'k', 'n': 1}}")
        run(ddb, f"UPDATE {table} SET n = 2 WHERE pk = 'k'")
        run(ddb, f"DELETE FROM {table} WHERE pk = 'k'")
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
        assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
        assert records[1]["dynamodb"]["NewImage"]["n"] == N(2)
    finally:
        ddb.delete_table(TableName=table_name)


def sigv4_clients(server_process: Any, tmp_path: Any, policies: dict[str, dict[str, Any]]) -> Any:
    """A server under ``--auth sigv4`` with an ``admin`` allowed everything and a principal per policy;
    a function giving a principal's boto3 client (no retries: every refusal is seen)."""
    import json

    import boto3
    from botocore.config import Config

    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    lines = []
    for principal, policy in {"admin": everything, **policies}.items():
        lines += [f'[keys.AKID{principal.upper()}]', f'secret = "{principal}-secret"', f'principal = "{principal}"',
                  f"[principals.{principal}]", f"policies = ['{json.dumps(policy)}']"]
    credentials = tmp_path / "creds.toml"
    credentials.write_text("\n".join(lines) + "\n")
    server = server_process("--in-memory", "--auth", "sigv4", "--credentials", str(credentials))

    def client(principal: str) -> Any:
        return boto3.client("dynamodb", region_name="us-east-1", endpoint_url=server.endpoint_url,
                            aws_access_key_id=f"AKID{principal.upper()}", aws_secret_access_key=f"{principal}-secret",
                            config=Config(retries={"max_attempts": 1}))

    return client


@pytest.mark.slow
@pytest.mark.server
def test_sigv4_authorizes_each_statement_by_its_verb(server_process: Any, tmp_path: Any) -> None:
    """A principal allowed dynamodb:PartiQLSelect reads with SELECT and is refused an INSERT, naming PartiQLInsert."""
    reader = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "dynamodb:PartiQLSelect", "Resource": "arn:aws:dynamodb:*:*:table/partiql-auth"}]}
    client = sigv4_clients(server_process, tmp_path, {"reader": reader})
    owner, guest = client("admin"), client("reader")
    table = create(owner, "partiql-auth")
    run(owner, f"INSERT INTO \"{table}\" VALUE {{'pk': 'k'}}")
    assert run(guest, f"SELECT * FROM \"{table}\" WHERE pk = 'k'")["Items"] == [{"pk": S("k")}]
    code, message = error(guest.execute_statement, Statement=f"INSERT INTO \"{table}\" VALUE {{'pk': 'j'}}")
    assert code == "AccessDeniedException"
    assert "dynamodb:PartiQLInsert" in message and f"table/{table}" in message
    code, _ = error(guest.execute_transaction, TransactStatements=[
        {"Statement": f"SELECT * FROM \"{table}\" WHERE pk = 'k'"},
        {"Statement": "SELECT * FROM \"other\" WHERE pk = 'k'"}])
    assert code == "AccessDeniedException"


@pytest.mark.slow
@pytest.mark.server
def test_sigv4_policies_see_full_table_scans_and_leading_keys(server_process: Any, tmp_path: Any) -> None:
    """AWS's example policy (PartiQLSelect denied where ``dynamodb:FullTableScan`` is true), and a tenant's
    policy restricting ``dynamodb:LeadingKeys``, which a statement on another partition must not pass."""
    keyed = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "dynamodb:PartiQLSelect", "Resource": "*",
         "Condition": {"Bool": {"dynamodb:FullTableScan": "true"}}},
        {"Effect": "Allow", "Action": "dynamodb:PartiQLSelect", "Resource": "*"}]}
    tenant = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["dynamodb:PartiQLSelect", "dynamodb:PartiQLInsert"], "Resource": "*",
         "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["k"]}}}]}
    client = sigv4_clients(server_process, tmp_path, {"keyed": keyed, "tenant": tenant})
    owner, guest = client("admin"), client("keyed")
    table = create(owner, "partiql-scan")
    run(owner, f"INSERT INTO \"{table}\" VALUE {{'pk': 'k', 'a': 1}}")
    assert run(guest, f"SELECT * FROM \"{table}\" WHERE pk = 'k'")["Items"] == [{"pk": S("k"), "a": {"N": "1"}}]
    got = guest.execute_statement(Statement=f"SELECT * FROM \"{table}\" WHERE pk = ?", Parameters=[S("k")])
    assert len(got["Items"]) == 1
    for scanning in (f"SELECT * FROM \"{table}\"", f"SELECT * FROM \"{table}\" WHERE a = 1"):
        code, message = error(guest.execute_statement, Statement=scanning)
        assert code == "AccessDeniedException" and "dynamodb:PartiQLSelect" in message

    own = client("tenant")
    assert len(own.execute_statement(Statement=f"SELECT * FROM \"{table}\" WHERE pk = 'k'")["Items"]) == 1
    for elsewhere in (f"SELECT * FROM \"{table}\" WHERE pk = 'j'", f"SELECT * FROM \"{table}\" WHERE pk IN ['k', 'j']",
                      f"INSERT INTO \"{table}\" VALUE {{'pk': 'j'}}"):
        code, _ = error(own.execute_statement, Statement=elsewhere)
        assert code == "AccessDeniedException", elsewhere


@pytest.mark.slow
@pytest.mark.server
def test_sigv4_policies_see_the_attributes_a_statement_names(server_process: Any, tmp_path: Any) -> None:
    """AWS's attribute-restricting policy (``ForAllValues:StringEquals`` on ``dynamodb:Attributes`` and
    ``StringEqualsIfExists`` on ``dynamodb:Select``) holds for PartiQL: a statement naming another attribute,
    or reading the whole item, is refused, and one within the allowed attributes passes."""
    columns = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["dynamodb:PartiQLSelect", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate"],
         "Resource": "*", "Condition": {"ForAllValues:StringEquals": {"dynamodb:Attributes": ["pk", "a"]},
                                        "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}}}]}
    client = sigv4_clients(server_process, tmp_path, {"columns": columns})
    owner, guest = client("admin"), client("columns")
    table = create(owner, "partiql-columns")
    run(owner, f"INSERT INTO \"{table}\" VALUE {{'pk': 'k', 'a': 1, 'b': 2}}")
    assert run(guest, f"SELECT pk, a FROM \"{table}\" WHERE pk = 'k'")["Items"] == [{"pk": S("k"), "a": N(1)}]
    run(guest, f"INSERT INTO \"{table}\" VALUE {{'pk': 'j', 'a': ?}}", N(3))
    run(guest, f"UPDATE \"{table}\" SET a = 4 WHERE pk = 'j'")
    assert owner.get_item(TableName=table, Key={"pk": S("j")})["Item"] == {"pk": S("j"), "a": N(4)}
    for refused, action in ((f"SELECT * FROM \"{table}\" WHERE pk = 'k'", "PartiQLSelect"),
                            (f"SELECT b FROM \"{table}\" WHERE pk = 'k'", "PartiQLSelect"),
                            (f"INSERT INTO \"{table}\" VALUE {{'pk': 'i', 'a': 1, 'b': 2}}", "PartiQLInsert"),
                            (f"UPDATE \"{table}\" SET b = 5 WHERE pk = 'k'", "PartiQLUpdate")):
        code, message = error(guest.execute_statement, Statement=refused)
        assert code == "AccessDeniedException" and f"dynamodb:{action}" in message, refused
    code, _ = error(guest.batch_execute_statement, Statements=[
        {"Statement": f"SELECT a FROM \"{table}\" WHERE pk = 'k'"},
        {"Statement": f"SELECT b FROM \"{table}\" WHERE pk = 'k'"}])
    assert code == "AccessDeniedException"
    assert owner.get_item(TableName=table, Key={"pk": S("k")})["Item"] == {"pk": S("k"), "a": N(1), "b": N(2)}
    assert "Item" not in owner.get_item(TableName=table, Key={"pk": S("i")})


@pytest.mark.slow
@pytest.mark.server
def test_on_postgresql_selects_run_on_the_reader_threads_and_writes_on_the_writer_thread(
    new_postgres_database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """protocol/storage_threads.py: a PartiQL request of SELECTs only is a read, any other one goes to the writer."""
    import boto3

    from cellstore.embedded import serve
    from cellstore.protocol.storage_threads import StorageThreads

    ran: list[str] = []  # the storage thread each request ran on
    submit = StorageThreads.submit

    def traced(self: StorageThreads, work: Any, *args: Any, **kwargs: Any) -> Any:
        def work_traced() -> Any:
            ran.append(threading.current_thread().name)
            return work()
        return submit(self, work_traced, *args, **kwargs)

    monkeypatch.setattr(StorageThreads, "submit", traced)
    with serve(storage=new_postgres_database()) as server:
        ddb = boto3.client("dynamodb", endpoint_url=server.endpoint_url, region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
        create(ddb, "pgstmts")
        ran.clear()
        run(ddb, "INSERT INTO pgstmts VALUE {'pk': 'a', 'n': 1}")
        run(ddb, "INSERT INTO pgstmts VALUE {'pk': 'b', 'n': 1}")
        assert run(ddb, "SELECT n FROM pgstmts WHERE pk = 'a'")["Items"] == [{"n": N(1)}]
        ddb.batch_execute_statement(Statements=[{"Statement": "SELECT * FROM pgstmts WHERE pk = 'a'"}] * 2)
        ddb.execute_transaction(TransactStatements=[{"Statement": "SELECT * FROM pgstmts WHERE pk = 'a'"}])
        ddb.execute_transaction(TransactStatements=[
            {"Statement": "EXISTS(SELECT * FROM pgstmts WHERE pk = 'b')"},
            {"Statement": "UPDATE pgstmts SET n = 2 WHERE pk = 'a'"},
        ])
    writer = "cellstore-storage-writer"
    assert [name == writer for name in ran] == [True, True, False, False, False, True], ran
