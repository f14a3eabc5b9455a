"""engine.reads pages end where DynamoDB's 1 MB rule says, though items are sized lazily."""

from __future__ import annotations

import base64
import random

import orjson

from cellstore.engine import reads
from cellstore.engine.tables import Table
from cellstore.engine.values import Item, item_size


def table() -> Table:
    return Table.from_record({
        "id": 1,
        "description": {
            "TableName": "t",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        },
    })


def reference(items: list[Item], limit: int | None) -> tuple[int, int, bool]:
    """(scanned, exact bytes, stopped early) by the plain rule: size every item, stop at 1 MB."""
    total = scanned = 0
    for item in items:
        scanned += 1
        total += item_size(item)
        if (limit is not None and scanned >= limit) or total >= reads.PAGE_BYTES:
            return scanned, total, True
    return scanned, total, False


def test_pages_end_on_the_exact_item_whatever_the_json_overhead() -> None:
    rng = random.Random(7)
    for trial in range(40):
        items: list[Item] = []
        for n in range(rng.randint(1, 400)):
            kind = rng.choice(["S", "U", "B", "N", "many"])
            size = rng.randint(1, 12_000)
            if kind == "S":
                value = {"S": "x" * size}
            elif kind == "U":  # 3 UTF-8 bytes a character; JSON may escape or not
                value = {"S": "€" * (size // 3)}
            elif kind == "B":  # base64 is 4/3 of the bytes counted
                value = {"B": base64.b64encode(b"\x00" * size).decode()}
            elif kind == "N":
                value = {"N": "1" * min(38, size)}
            else:  # JSON overhead per attribute dominates
                value = {"M": {f"k{i}": {"N": "1"} for i in range(size // 20)}}
            items.append({"pk": {"S": f"p{n:04d}"}, "v": value})
        limit = rng.choice([None, None, 50, 300])
        rows = [(b"", orjson.dumps(item)) for item in items]
        page = reads._collect(table(), iter(rows), limit, None)
        scanned, total, stopped = reference(items, limit)
        assert page.scanned == scanned, trial
        assert page.bytes_read == total, trial
        assert (page.last_key is not None) == stopped
        if stopped:
            assert page.last_key == {"pk": items[scanned - 1]["pk"]}


def test_a_page_of_small_items_is_sized_only_when_asked() -> None:
    items = [{"pk": {"S": f"p{n}"}, "é": {"S": "ü" * n}} for n in range(10)]
    page = reads._collect(table(), iter([(b"", orjson.dumps(i)) for i in items]), None, None)
    assert page.scanned == 10 and page.last_key is None
    assert page.bytes_read == sum(map(item_size, items))
    assert page.bytes_read == sum(map(item_size, items))  # asking twice counts once
