"""Query and Scan through boto3: key conditions, order, paging, filters, segments."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError


def error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"]


def fill_numbers(ddb: Any, table: str, pk: str, values: list[str]) -> None:
    for value in values:
        ddb.put_item(TableName=table, Item={"pk": {"S": pk}, "n": {"N": value}, "even": {"BOOL": float(value) % 2 == 0}})


NUMBERS = ["-10", "-2.5", "0", "0.001", "1", "2", "10", "100", "1E+20"]


class TestQuery:
    def test_numbers_sort_numerically(self, ddb: Any, number_range_table: str) -> None:
        fill_numbers(ddb, number_range_table, "p", list(reversed(NUMBERS)))
        fill_numbers(ddb, number_range_table, "other", ["5"])
        items = ddb.query(TableName=number_range_table, KeyConditionExpression="pk = :p",
                          ExpressionAttributeValues={":p": {"S": "p"}})["Items"]
        assert [i["n"]["N"] for i in items] == ["-10", "-2.5", "0", "0.001", "1", "2", "10", "100", "100000000000000000000"]
        backwards = ddb.query(TableName=number_range_table, KeyConditionExpression="pk = :p",
                              ExpressionAttributeValues={":p": {"S": "p"}}, ScanIndexForward=False)["Items"]
        assert backwards == list(reversed(items))

    @pytest.mark.parametrize(
        ("condition", "values", "expected"),
        [
            ("n < :a", ["0"], ["-10", "-2.5"]),
            ("n <= :a", ["0"], ["-10", "-2.5", "0"]),
            ("n > :a", ["10"], ["100", "100000000000000000000"]),
            ("n >= :a", ["10"], ["10", "100", "100000000000000000000"]),
            ("n = :a", ["2"], ["2"]),
            ("n BETWEEN :a AND :b", ["0", "2"], ["0", "0.001", "1", "2"]),
        ],
    )
    def test_sort_key_conditions(self, ddb: Any, number_range_table: str, condition: str, values: list[str], expected: list[str]) -> None:
        fill_numbers(ddb, number_range_table, "p", NUMBERS)
        attribute_values = {":p": {"S": "p"}}
        for name, value in zip((":a", ":b"), values, strict=False):
            attribute_values[name] = {"N": value}
        items = ddb.query(TableName=number_range_table, KeyConditionExpression=f"pk = :p AND {condition}",
                          ExpressionAttributeValues=attribute_values)["Items"]
        assert [i["n"]["N"] for i in items] == expected

    def test_begins_with_and_utf8_order(self, ddb: Any, range_table: str) -> None:
        for sk in ["b", "a\u00e9", "ab", "a", "a\U0001f600", "az", "\uffff"]:
            ddb.put_item(TableName=range_table, Item={"pk": {"S": "p"}, "sk": {"S": sk}})
        items = ddb.query(TableName=range_table, KeyConditionExpression="pk = :p",
                          ExpressionAttributeValues={":p": {"S": "p"}})["Items"]
        keys = [i["sk"]["S"] for i in items]
        assert keys == sorted(keys, key=lambda s: s.encode("utf-8"))
        prefixed = ddb.query(TableName=range_table, KeyConditionExpression="pk = :p AND begins_with(sk, :a)",
                             ExpressionAttributeValues={":p": {"S": "p"}, ":a": {"S": "a"}})["Items"]
        assert [i["sk"]["S"] for i in prefixed] == ["a", "ab", "az", "a\u00e9", "a\U0001f600"]

    def test_pagination_with_limit_and_filter(self, ddb: Any, number_range_table: str) -> None:
        fill_numbers(ddb, number_range_table, "p", [str(i) for i in range(10)])
        seen: list[str] = []
        scanned = 0
        kwargs: dict[str, Any] = {
            "TableName": number_range_table, "KeyConditionExpression": "pk = :p",
            "FilterExpression": "even = :t", "ExpressionAttributeValues": {":p": {"S": "p"}, ":t": {"BOOL": True}},
            "Limit": 3,
        }
        while True:
            page = ddb.query(**kwargs)
            assert page["ScannedCount"] <= 3
            scanned += page["ScannedCount"]
            seen += [i["n"]["N"] for i in page["Items"]]
            if "LastEvaluatedKey" not in page:
                break
            assert set(page["LastEvaluatedKey"]) == {"pk", "n"}
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        assert seen == ["0", "2", "4", "6", "8"]
        assert scanned == 10

    def test_boto3_paginator(self, ddb: Any, range_table: str) -> None:
        for i in range(25):
            ddb.put_item(TableName=range_table, Item={"pk": {"S": "p"}, "sk": {"S": f"{i:03}"}})
        pages = ddb.get_paginator("query").paginate(
            TableName=range_table, KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "p"}}, PaginationConfig={"PageSize": 10})
        assert [i["sk"]["S"] for page in pages for i in page["Items"]] == [f"{i:03}" for i in range(25)]

    def test_select_count_and_projection(self, ddb: Any, number_range_table: str) -> None:
        fill_numbers(ddb, number_range_table, "p", ["1", "2", "3"])
        counted = ddb.query(TableName=number_range_table, KeyConditionExpression="pk = :p",
                            ExpressionAttributeValues={":p": {"S": "p"}}, Select="COUNT")
        assert counted["Count"] == 3 and "Items" not in counted
        projected = ddb.query(TableName=number_range_table, KeyConditionExpression="pk = :p",
                              ExpressionAttributeValues={":p": {"S": "p"}}, ProjectionExpression="n")
        assert projected["Items"][0] == {"n": {"N": "1"}}

    def test_one_megabyte_page_limit(self, ddb: Any, range_table: str) -> None:
        blob = "x" * (100 * 1024)
        for i in range(15):
            ddb.put_item(TableName=range_table, Item={"pk": {"S": "big"}, "sk": {"S": f"{i:02}"}, "v": {"S": blob}})
        page = ddb.query(TableName=range_table, KeyConditionExpression="pk = :p",
                         ExpressionAttributeValues={":p": {"S": "big"}})
        assert 9 <= page["Count"] <= 11
        assert "LastEvaluatedKey" in page

    def test_legacy_key_conditions(self, ddb: Any, number_range_table: str) -> None:
        fill_numbers(ddb, number_range_table, "p", ["1", "2", "3"])
        items = ddb.query(TableName=number_range_table, KeyConditions={
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
            "n": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "1"}]},
        })["Items"]
        assert [i["n"]["N"] for i in items] == ["2", "3"]

    def test_key_condition_errors(self, ddb: Any, range_table: str) -> None:
        with pytest.raises(ClientError) as excinfo:
            ddb.query(TableName=range_table, KeyConditionExpression="sk = :s", ExpressionAttributeValues={":s": {"S": "a"}})
        assert error(excinfo) == ("ValidationException", "Query condition missed key schema element: pk")
        with pytest.raises(ClientError) as excinfo:
            ddb.query(TableName=range_table, IndexName="nope", KeyConditionExpression="pk = :s",
                      ExpressionAttributeValues={":s": {"S": "a"}})
        assert error(excinfo) == ("ValidationException", "The table does not have the specified index: nope")


class TestScan:
    def test_scan_all_and_filter(self, ddb: Any, hash_table: str) -> None:
        for i in range(20):
            ddb.put_item(TableName=hash_table, Item={"pk": {"S": f"k{i}"}, "i": {"N": str(i)}})
        everything = ddb.scan(TableName=hash_table)
        assert everything["Count"] == 20 and everything["ScannedCount"] == 20
        filtered = ddb.scan(TableName=hash_table, FilterExpression="i >= :x", ExpressionAttributeValues={":x": {"N": "15"}})
        assert sorted(int(i["i"]["N"]) for i in filtered["Items"]) == [15, 16, 17, 18, 19]
        assert filtered["ScannedCount"] == 20

    def test_parallel_segments_are_disjoint_and_complete(self, ddb: Any, hash_table: str) -> None:
        for i in range(100):
            ddb.put_item(TableName=hash_table, Item={"pk": {"S": f"k{i}"}})
        seen: list[str] = []
        for segment in range(4):
            kwargs: dict[str, Any] = {"TableName": hash_table, "Segment": segment, "TotalSegments": 4, "Limit": 7}
            while True:
                page = ddb.scan(**kwargs)
                seen += [i["pk"]["S"] for i in page["Items"]]
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        assert sorted(seen) == sorted(f"k{i}" for i in range(100))

    def test_segment_errors(self, ddb: Any, hash_table: str) -> None:
        with pytest.raises(ClientError) as excinfo:
            ddb.scan(TableName=hash_table, Segment=2, TotalSegments=2)
        assert error(excinfo)[1] == (
            "The Segment parameter is zero-based and must be less than parameter TotalSegments: "
            "Segment: 2 is not less than TotalSegments: 2")
        with pytest.raises(ClientError) as excinfo:
            ddb.scan(TableName=hash_table, Segment=0)
        assert error(excinfo)[0] == "ValidationException"

    def test_legacy_scan_filter(self, ddb: Any, hash_table: str) -> None:
        for i in range(5):
            ddb.put_item(TableName=hash_table, Item={"pk": {"S": f"k{i}"}, "i": {"N": str(i)}})
        page = ddb.scan(TableName=hash_table, ScanFilter={"i": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"N": "3"}]}})
        assert sorted(int(i["i"]["N"]) for i in page["Items"]) == [1, 2, 3]
