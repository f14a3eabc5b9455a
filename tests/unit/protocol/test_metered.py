"""The metered dispatchers (consumed capacity, iterator age) and the per-process figures of ``/metrics``, no server."""

from __future__ import annotations

import copy
import time
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cellstore.engine.database import Database
from cellstore.engine.wiring import open_database
from cellstore.handlers import runner
from cellstore.protocol import metrics
from cellstore.protocol.metered import Meters
from cellstore.protocol.process_figures import Figure, ProcessFigures
from cellstore.protocol.server import services_for
from cellstore.storage.sqlite import SqliteStore
from cellstore.waiting import Wait

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples_of(registry: CollectorRegistry) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode("utf-8"))
        for s in family.samples
    }


INDEXES_ANSWER = {
    "TableName": "t", "CapacityUnits": 3.0, "WriteCapacityUnits": 3.0,
    "Table": {"CapacityUnits": 1.0, "WriteCapacityUnits": 1.0},
    "GlobalSecondaryIndexes": {"g": {"CapacityUnits": 2.0, "WriteCapacityUnits": 2.0}},
}


class Recorder:
    """A DynamoDB dispatcher that records the payloads it got and answers INDEXES-mode capacity."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []

    def __call__(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.payloads.append(payload)
        if payload.get("ReturnConsumedCapacity") == "INDEXES":
            consumed: Any = {**INDEXES_ANSWER, "Table": dict(INDEXES_ANSWER["Table"])}  # type: ignore[dict-item]
            return {"ConsumedCapacity": [consumed] if operation == "BatchWriteItem" else consumed}
        return {}


def metered() -> tuple[Meters, CollectorRegistry, Recorder, Any]:
    registry = CollectorRegistry()
    meters = Meters(registry)
    recorder = Recorder()
    return meters, registry, recorder, meters.wrap(None, {"dynamodb": recorder})["dynamodb"]  # type: ignore[arg-type]


def test_capacity_is_asked_for_on_the_clients_behalf_and_answered_as_it_asked() -> None:
    _, registry, recorder, dispatch = metered()
    assert dispatch("PutItem", {"TableName": "t"}) == {}
    assert recorder.payloads[-1]["ReturnConsumedCapacity"] == "INDEXES"
    assert dispatch("PutItem", {"TableName": "t", "ReturnConsumedCapacity": "NONE"}) == {}
    total = dispatch("PutItem", {"TableName": "t", "ReturnConsumedCapacity": "TOTAL"})
    assert total == {"ConsumedCapacity": {"TableName": "t", "CapacityUnits": 3.0, "WriteCapacityUnits": 3.0}}
    assert dispatch("PutItem", {"TableName": "t", "ReturnConsumedCapacity": "INDEXES"})["ConsumedCapacity"]["Table"]
    batch = dispatch("BatchWriteItem", {"ReturnConsumedCapacity": "TOTAL"})
    assert batch == {"ConsumedCapacity": [{"TableName": "t", "CapacityUnits": 3.0, "WriteCapacityUnits": 3.0}]}
    found = samples_of(registry)
    assert found[("cellstore_consumed_write_capacity_units_total", (("index", ""), ("table", "t")))] == 5 * 1.0
    assert found[("cellstore_consumed_write_capacity_units_total", (("index", "g"), ("table", "t")))] == 5 * 2.0
    assert ("cellstore_consumed_read_capacity_units_total", (("index", ""), ("table", "t"))) not in found


def test_an_invalid_mode_and_other_operations_pass_through_untouched() -> None:
    _, registry, recorder, dispatch = metered()
    dispatch("GetItem", {"TableName": "t", "ReturnConsumedCapacity": "SOME"})
    assert recorder.payloads[-1]["ReturnConsumedCapacity"] == "SOME"  # the api's validation answers it
    payload = {"TableName": "t"}
    dispatch("DescribeTable", payload)
    assert recorder.payloads[-1] is payload
    assert not [k for k in samples_of(registry) if k[0].startswith("cellstore_consumed")]


def test_capacity_is_asked_for_in_the_payload_itself_and_per_index_only_where_an_index_can_be_touched() -> None:
    _, _, recorder, dispatch = metered()
    asked = {
        ("GetItem", None): "TOTAL", ("BatchGetItem", None): "TOTAL", ("TransactGetItems", None): "TOTAL",
        ("Query", None): "TOTAL", ("Scan", None): "TOTAL", ("Query", "g"): "INDEXES", ("Scan", "l"): "INDEXES",
        ("PutItem", None): "INDEXES", ("UpdateItem", None): "INDEXES", ("DeleteItem", None): "INDEXES",
        ("BatchWriteItem", None): "INDEXES", ("TransactWriteItems", None): "INDEXES",
    }
    for (operation, index), mode in asked.items():
        payload: dict[str, Any] = {"TableName": "t"} if index is None else {"TableName": "t", "IndexName": index}
        dispatch(operation, payload)
        assert recorder.payloads[-1] is payload, operation  # not a copy
        assert payload["ReturnConsumedCapacity"] == mode, (operation, index)
    total = {"TableName": "t", "ReturnConsumedCapacity": "TOTAL"}
    dispatch("GetItem", total)
    assert total["ReturnConsumedCapacity"] == "TOTAL"  # already what metering needs: left as it came


def _indexed_table(ddb: Any) -> None:
    ddb("CreateTable", {
        "TableName": "orders", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "status", "placed")],
        "GlobalSecondaryIndexes": [{
            "IndexName": "by-status", "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
        "LocalSecondaryIndexes": [{
            "IndexName": "by-placed",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "placed", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }],
    })


def _requests() -> list[tuple[str, dict[str, Any]]]:
    """Every capacity operation on a table with a GSI and an LSI: writes that touch both, one, or none of them, and reads."""
    big = "x" * 3000  # several write units, so a wrong share shows
    def item(sk: str, **more: str) -> dict[str, Any]:
        return {"pk": {"S": "p"}, "sk": {"S": sk}, **{k: {"S": v} for k, v in more.items()}}
    return [
        ("PutItem", {"TableName": "orders", "Item": item("1", status="new", placed="2026", note=big)}),
        ("PutItem", {"TableName": "orders", "Item": item("2", note="no index key")}),
        ("PutItem", {"TableName": "orders", "Item": item("3", placed="2025")}),
        ("UpdateItem", {"TableName": "orders", "Key": item("1"), "UpdateExpression": "SET #s = :s",
                        "ExpressionAttributeNames": {"#s": "status"}, "ExpressionAttributeValues": {":s": {"S": "paid"}}}),
        ("UpdateItem", {"TableName": "orders", "Key": item("2"), "UpdateExpression": "SET note = :n",
                        "ExpressionAttributeValues": {":n": {"S": big}}}),
        ("BatchWriteItem", {"RequestItems": {"orders": [
            {"PutRequest": {"Item": item("4", status="new", placed="2024")}},
            {"DeleteRequest": {"Key": item("3")}},
        ]}}),
        ("TransactWriteItems", {"TransactItems": [
            {"Put": {"TableName": "orders", "Item": item("5", status="new", note=big)}},
            {"Update": {"TableName": "orders", "Key": item("4"), "UpdateExpression": "REMOVE placed"}},
        ]}),
        ("DeleteItem", {"TableName": "orders", "Key": item("5")}),
        ("GetItem", {"TableName": "orders", "Key": item("1")}),
        ("GetItem", {"TableName": "orders", "Key": item("1"), "ConsistentRead": True}),
        ("BatchGetItem", {"RequestItems": {"orders": {"Keys": [item("1"), item("2"), item("9")]}}}),
        ("TransactGetItems", {"TransactItems": [{"Get": {"TableName": "orders", "Key": item("2")}}]}),
        ("Query", {"TableName": "orders", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p"}}}),
        ("Query", {"TableName": "orders", "IndexName": "by-status", "KeyConditionExpression": "#s = :s",
                   "ExpressionAttributeNames": {"#s": "status"}, "ExpressionAttributeValues": {":s": {"S": "new"}}}),
        ("Query", {"TableName": "orders", "IndexName": "by-placed", "KeyConditionExpression": "pk = :p",
                   "ExpressionAttributeValues": {":p": {"S": "p"}}, "ConsistentRead": True}),
        ("Scan", {"TableName": "orders"}),
        ("Scan", {"TableName": "orders", "IndexName": "by-status"}),
        ("Scan", {"TableName": "orders", "IndexName": "by-placed"}),
    ]


def test_counted_capacity_is_what_indexes_reports_for_a_table_with_a_gsi_and_an_lsi() -> None:
    """The same requests on two databases: metered without asking, and asking for INDEXES; the units match."""
    reported: dict[tuple[str, str, str], float] = {}
    registry = CollectorRegistry()
    meters = Meters(registry)
    counted_db = open_database(SqliteStore(None), background=False)
    asking_db = open_database(SqliteStore(None), background=False)
    try:
        counted = meters.wrap(counted_db, {"dynamodb": services_for(counted_db)["dynamodb"].dispatch})["dynamodb"]
        asking = services_for(asking_db)["dynamodb"].dispatch
        _indexed_table(counted)
        _indexed_table(asking)
        for operation, payload in _requests():
            unasked = counted(operation, copy.deepcopy(payload))
            assert "ConsumedCapacity" not in unasked, operation  # metering asked, the client did not
            answer = asking(operation, {**payload, "ReturnConsumedCapacity": "INDEXES"})
            entries = answer["ConsumedCapacity"]
            for entry in entries if isinstance(entries, list) else [entries]:
                kind = "read" if operation in ("GetItem", "BatchGetItem", "TransactGetItems", "Query", "Scan") else "write"
                parts = [("", entry["Table"])]
                parts += [(name, units) for group in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes")
                          for name, units in entry.get(group, {}).items()]
                for index, units in parts:
                    key = (kind, entry["TableName"], index)
                    reported[key] = reported.get(key, 0.0) + units["CapacityUnits"]
    finally:
        counted_db.close()
        asking_db.close()
    found: dict[tuple[str, str, str], float] = {}
    for (name, labels), value in samples_of(registry).items():
        if name.startswith("cellstore_consumed_") and name.endswith("_total") and value:
            kind = "read" if name.startswith("cellstore_consumed_read_") else "write"
            found[(kind, dict(labels)["table"], dict(labels)["index"])] = value
    assert {key for key, units in reported.items() if units} >= {
        ("write", "orders", "by-status"), ("write", "orders", "by-placed"), ("read", "orders", "by-status"),
        ("read", "orders", "by-placed"), ("read", "orders", ""), ("write", "orders", ""),
    }  # the requests touched both indexes, for reads and writes
    assert found == {key: units for key, units in reported.items() if units}


class Hub:
    def generation(self, queue_id: int) -> int:
        return 0


def test_a_write_handed_to_the_writer_is_counted_when_it_settles() -> None:
    registry = CollectorRegistry()
    meters = Meters(registry)
    settled = {"ConsumedCapacity": dict(INDEXES_ANSWER)}

    def writer(operation: str, payload: dict[str, Any]) -> Wait:
        return Wait(Hub(), 1, 0, time.monotonic() + 5, lambda: settled)  # type: ignore[arg-type]

    dispatch = meters.wrap(None, {"dynamodb": writer})["dynamodb"]  # type: ignore[arg-type]
    wait = dispatch("DeleteItem", {"TableName": "t"})
    assert isinstance(wait, Wait)
    key = ("cellstore_consumed_write_capacity_units_total", (("index", ""), ("table", "t")))
    assert samples_of(registry).get(key, 0.0) == 0
    assert wait.retry() == {}  # not asked for: taken out of the answer
    assert samples_of(registry)[key] == 1.0


def test_get_records_sets_the_tables_iterator_age() -> None:
    registry = CollectorRegistry()
    meters = Meters(registry)
    answers = [{"Records": [{"dynamodb": {"ApproximateCreationDateTime": time.time() - 30}}]}, {"Records": []}, {"Records": []}]
    dispatch = meters.wrap(None, {"streams": lambda op, payload: answers.pop(0)})["streams"]  # type: ignore[arg-type]
    iterator = "arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/2026-01-01T00:00:00.000|1|2|3"
    key = ("cellstore_stream_iterator_age_seconds", (("table", "orders"),))
    dispatch("GetRecords", {"ShardIterator": iterator})
    assert 29 < samples_of(registry)[key] < 40
    dispatch("GetRecords", {"ShardIterator": iterator})
    assert samples_of(registry)[key] == 0  # caught up
    dispatch("GetRecords", {"ShardIterator": "not an iterator"})
    assert [k for k in samples_of(registry) if k[0] == "cellstore_stream_iterator_age_seconds"] == [key]


def test_process_figures_are_collected_as_families_in_one_process() -> None:
    registry = CollectorRegistry()
    figures = ProcessFigures(registry, multiprocess=False)
    registry.register(figures)
    figures.add(lambda: [
        Figure("cellstore_cell_requests", "counter", "h", (("cell", "a"),), 3),
        Figure("cellstore_cell_requests", "counter", "h", (("cell", "b"),), 4),
        Figure("cellstore_cell_up", "gauge", "h", (("cell", "a"),), 1, "livemin"),
    ])
    figures.add(lambda: 1 / 0)  # type: ignore[arg-type,return-value]  # a failing reader is skipped
    found = samples_of(registry)
    assert found[("cellstore_cell_requests_total", (("cell", "a"),))] == 3
    assert found[("cellstore_cell_requests_total", (("cell", "b"),))] == 4
    assert found[("cellstore_cell_up", (("cell", "a"),))] == 1


def test_cell_and_cache_readers_turn_status_into_figures() -> None:
    status = {"cells": [
        {"name": "a", "health": "ok", "requests": 5, "refused": 1, "rejected": 0, "timed_out": 0, "queued": 2, "busy": 1,
         "tenants": 3},
        {"name": "b", "health": "unhealthy", "requests": 0, "refused": 4, "rejected": 4, "timed_out": 0, "queued": 0,
         "busy": 0, "tenants": 0},
    ]}
    cells = {(f.name, f.labels): f for f in metrics._cell_figures(lambda directory: status, object())}
    assert cells[("cellstore_cell_requests", (("cell", "a"),))].value == 5
    assert cells[("cellstore_cell_queue_depth", (("cell", "a"),))].kind == "gauge"
    assert cells[("cellstore_cell_up", (("cell", "b"),))].value == 0
    assert cells[("cellstore_cell_up", (("cell", "b"),))].merge == "livemin"
    assert list(metrics._cell_figures(lambda directory: None, object())) == []
    client = {"zones": {"z1": {"hits": 7, "misses": 2, "errors": 0, "fallbacks": 1, "repairs": 1, "queued": 0, "replayed": 0}}}
    zones = {(f.name, f.labels): f.value for f in metrics._cache_figures(lambda: [client, client])}
    assert zones[("cellstore_cache_hits", (("zone", "z1"),))] == 14  # summed over the process's clients
    assert zones[("cellstore_cache_misses", (("zone", "z1"),))] == 4


def test_the_batch_buckets_are_the_runners() -> None:
    assert metrics.BATCH_BUCKETS == runner.BATCH_BUCKETS
    assert metrics._cumulative([1, 0, 2, *[0] * (len(runner.BATCH_BUCKETS) - 2)])[-1] == ("+Inf", 3)


def test_scrape_reads_queue_age_stream_records_and_storage_through_the_api(db: Database) -> None:
    """``Metrics.bind`` over a real database: the gauges that no AWS operation answers."""
    services = services_for(db)
    ddb, sqs = services["dynamodb"].dispatch, services["sqs"].dispatch
    ddb("CreateTable", {
        "TableName": "orders", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    })
    for n in range(3):
        ddb("PutItem", {"TableName": "orders", "Item": {"pk": {"S": str(n)}}})
    url = sqs("CreateQueue", {"QueueName": "jobs"}, "http://localhost")["QueueUrl"]
    sqs("SendMessage", {"QueueUrl": url, "MessageBody": "x"}, "http://localhost")
    sqs("CreateQueue", {"QueueName": "empty"}, "http://localhost")
    collected = metrics.Metrics()
    collected.bind(services, db)
    found = samples_of(collected.registry)
    assert found[("cellstore_stream_records_total", (("table", "orders"),))] == 3
    assert 0 <= found[("cellstore_queue_oldest_message_age_seconds", (("queue", "jobs"),))] < 10
    assert found[("cellstore_queue_oldest_message_age_seconds", (("queue", "empty"),))] == 0
    assert not [k for k in found if k[0].startswith(("cellstore_sqlite", "cellstore_postgres"))]  # in memory: none
