"""engine/keyspace.py: one map of the keyspace, and no two kinds of record share a range."""

from __future__ import annotations

import ast
from pathlib import Path

from cellstore.engine import keycodec, keyspace, mappings
from cellstore.engine.queues import keys as queue_keys
from cellstore.engine.streams import keys as stream_keys

ROOT = Path(__file__).resolve().parents[3] / "src" / "cellstore"


def test_no_two_top_level_prefixes_overlap() -> None:
    assert keyspace.overlaps(keyspace.TOP_LEVEL) == []
    assert len(set(keyspace.TOP_LEVEL.values())) == len(keyspace.TOP_LEVEL)


def test_no_two_record_kinds_of_a_sub_layout_overlap() -> None:
    for parent, layout in keyspace.SUB_LAYOUTS.items():
        assert parent in keyspace.TOP_LEVEL.values()
        assert all(prefix.startswith(parent) and prefix != parent for prefix in layout.values())
        assert keyspace.overlaps(layout) == [], parent


def test_the_overlap_check_finds_an_overlap() -> None:
    assert keyspace.overlaps({"a": b"\x01t", "b": b"\x01table/", "c": b"\x02"}) == [("a", "b")]


def test_the_key_builders_use_the_map() -> None:
    assert keycodec.table_prefix(7).startswith(keyspace.ITEMS)
    assert keycodec.index_prefix(7, 1).startswith(keyspace.INDEXES)
    assert keycodec.expiry_prefix(7).startswith(keyspace.EXPIRIES)
    assert keycodec.table_name_key("t").startswith(keyspace.TABLES)
    assert queue_keys.queue_record("q").startswith(keyspace.QUEUE_RECORDS)
    assert queue_keys.data(3).startswith(keyspace.QUEUE_DATA)
    assert stream_keys.stream("t", "label").startswith(keyspace.STREAM_RECORDS)
    assert stream_keys.shard(1, 2).startswith(keyspace.STREAM_SHARDS)
    assert stream_keys.record(1, 2, 3).startswith(keyspace.STREAM_CHANGES)
    assert mappings._key(keyspace.HANDLER_LEASES, "m").startswith(keyspace.HANDLERS)


def test_no_other_module_invents_a_top_level_prefix() -> None:
    """A module-level constant that is one byte 0x01..0x0f is a keyspace prefix: only keyspace.py may assign one."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        if path.name == "keyspace.py":
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, bytes)
                and len(node.value.value) == 1
                and 0 < node.value.value[0] < 0x10
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []
