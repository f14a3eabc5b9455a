"""PartiQL's own cost: each statement against its item-API twin, in one process, interleaved round by round.

A statement is parsed (with its parameters bound) and translated on every
request; the engine call after that is the item API's.  This times pairs —
GetItem vs a SELECT by the full key, a Query vs a SELECT of one partition,
PutItem vs INSERT, UpdateItem vs UPDATE — through ``api.dispatch`` on one
SQLite file, alternating the two sides each round, and prints CPU per
request, the median and spread of the rounds, and the ratio.  Not a test: it
prints numbers and never fails on them.

    PYTHONPATH=src python bench/partiql.py [requests-per-round] [rounds]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cellstore.api import dispatch
from cellstore.engine.wiring import open_database
from cellstore.storage import open_store

TABLE = "bench-partiql"


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory(prefix="bench-partiql-") as directory:
        db = open_database(open_store(str(Path(directory) / "db.sqlite")), background=False)
        dispatch(db, "CreateTable", {
            "TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                     {"AttributeName": "sk", "AttributeType": "N"}],
        })
        for n in range(20):
            dispatch(db, "PutItem", {"TableName": TABLE, "Item": {"pk": {"S": "p"}, "sk": {"N": str(n)},
                                                                    "body": {"S": "x" * 200}, "n": {"N": "0"}}})
        key = {"pk": {"S": "p"}, "sk": {"N": "3"}}
        table = f'"{TABLE}"'
        inserted = iter(range(10**9))

        def item_api(operation: str, payload: Callable[[], dict[str, Any]]) -> Callable[[], Any]:
            return lambda: dispatch(db, operation, payload())

        def partiql(statement: str, parameters: Callable[[], list[Any]]) -> Callable[[], Any]:
            return lambda: dispatch(db, "ExecuteStatement", {"Statement": statement, "Parameters": parameters()})

        pairs: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
            "GetItem / SELECT by key": (
                item_api("GetItem", lambda: {"TableName": TABLE, "Key": key}),
                partiql(f"SELECT * FROM {table} WHERE pk = ? AND sk = ?", lambda: [key["pk"], key["sk"]]),
            ),
            "Query / SELECT partition": (
                item_api("Query", lambda: {"TableName": TABLE, "KeyConditionExpression": "pk = :p",
                                           "ExpressionAttributeValues": {":p": {"S": "p"}}}),
                partiql(f"SELECT * FROM {table} WHERE pk = ?", lambda: [{"S": "p"}]),
            ),
            "PutItem / INSERT": (
                item_api("PutItem", lambda: {"TableName": TABLE, "Item": {
                    "pk": {"S": "put"}, "sk": {"N": str(next(inserted))}, "body": {"S": "x" * 200}}}),
                partiql(f"INSERT INTO {table} VALUE {{'pk': 'ins', 'sk': ?, 'body': ?}}",
                        lambda: [{"N": str(next(inserted))}, {"S": "x" * 200}]),
            ),
            "UpdateItem / UPDATE": (
                item_api("UpdateItem", lambda: {"TableName": TABLE, "Key": key, "UpdateExpression": "SET n = n + :one",
                                                "ExpressionAttributeValues": {":one": {"N": "1"}}}),
                partiql(f"UPDATE {table} SET n = n + 1 WHERE pk = ? AND sk = ?", lambda: [key["pk"], key["sk"]]),
            ),
        }
        print(f"{count:,} requests per round, {rounds} interleaved rounds per side, one SQLite file, api.dispatch")
        for name, (twin, statement) in pairs.items():
            cpu: dict[str, list[float]] = {"item API": [], "PartiQL": []}
            for number in range(rounds * 2):
                side, call = ("item API", twin) if number % 2 == 0 else ("PartiQL", statement)
                started = time.process_time()
                for _ in range(count):
                    call()
                cpu[side].append((time.process_time() - started) / count * 1e6)
            ratios = [p / i for p, i in zip(cpu["PartiQL"], cpu["item API"], strict=True)]
            print(f"  {name:26} item API {statistics.median(cpu['item API']):6.1f} µs "
                  f"({min(cpu['item API']):.1f}-{max(cpu['item API']):.1f}), PartiQL "
                  f"{statistics.median(cpu['PartiQL']):6.1f} µs ({min(cpu['PartiQL']):.1f}-{max(cpu['PartiQL']):.1f}); "
                  f"PartiQL ÷ item API median {statistics.median(ratios):.2f}× ({min(ratios):.2f}-{max(ratios):.2f})")
        db.close()


if __name__ == "__main__":
    main()
