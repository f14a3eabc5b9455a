"""The chaos checker finds each kind of broken promise: a suite whose checker cannot fail proves nothing.

The ledger is doctored (or the data written behind its back) so that each
finding the kill -9 loop relies on — lost, phantom, duplicated, half-applied,
resurrected — must show up, and a clean run beside them must show none.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from chaos.clients import client
from chaos.invariants import check
from chaos.workload import QUEUE, TABLE, Ledger, Workload, create_resources

pytestmark = [pytest.mark.slow, pytest.mark.server]


def test_a_clean_workload_passes_and_every_broken_promise_is_found(server_process: Callable[..., Any]) -> None:
    server = server_process("--in-memory")
    create_resources(server.endpoint_url)
    ledger = Ledger()
    workload = Workload(server.endpoint_url, ledger).start()
    time.sleep(1.0)
    workload.stop()
    clean = check(server.endpoint_url, ledger)
    assert clean.ok(), clean.summary()
    assert ledger.acknowledged > 0 and clean.items > 0

    ddb = client("dynamodb", server.endpoint_url)
    sqs = client("sqs", server.endpoint_url)
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]

    def put(key: str, **attributes: Any) -> None:
        ddb.put_item(TableName=TABLE, Item={"pk": {"S": key}, **attributes})

    ledger.puts_tried.add("p90-1")
    ledger.puts_acked.add("p90-1")  # acknowledged, never written: lost
    put("p90-2")  # written, never tried: phantom
    ledger.txns_tried.add("t90-1")
    put("t90-1-a")  # one half of a transaction
    put("tc90", n={"N": "1"})  # and its counter, which no complete pair backs
    put("c90", n={"N": "3"})
    ledger.adds_acked["c90"], ledger.adds_unsure["c90"] = 1, 1  # at most 2 applied, 3 found: duplicated
    put("c91", n={"N": "1"})
    ledger.adds_acked["c91"] = 2  # 2 acknowledged, 1 found: lost
    for body in ("m90-1", "m90-3", "m90-3"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    ledger.sends_tried.update({"m90-1", "m90-2", "m90-3"})
    ledger.sends_acked.update({"m90-1", "m90-2", "m90-3"})
    ledger.deleted.add("m90-1")  # deleted (acknowledged) and still there: resurrected
    # m90-2 acknowledged and never in the queue: lost; m90-3 twice in the queue: duplicated
    # A delete the kill cut is unsure: m90-4's had committed (gone: consumed, not lost), m90-5's had not
    # (still there: drained), m90-6 was never in the queue and no delete of it was tried (lost).
    sqs.send_message(QueueUrl=url, MessageBody="m90-5")
    ledger.sends_tried.update({"m90-4", "m90-5", "m90-6"})
    ledger.sends_acked.update({"m90-4", "m90-5", "m90-6"})
    ledger.deletes_unsure.update({"m90-4", "m90-5"})

    found = check(server.endpoint_url, ledger)
    assert sorted(found.lost) == ["c91 ADD", "m90-2", "m90-6", "p90-1"]
    assert found.consumed_by_cut_deletes == 1
    assert "m90-4" in ledger.deleted and not ledger.deletes_unsure  # settled: consumed for good
    assert found.phantom == ["p90-2"]
    assert found.duplicated == ["c90 ADD", "m90-3"]
    assert found.half_applied == ["t90-1", "tc90=1 but 0 complete transactions"]
    assert found.resurrected == ["m90-1"]

    settled = check(server.endpoint_url, ledger)  # the ledger now matches the data: nothing is reported twice
    assert settled.ok(), settled.summary()

    sqs.send_message(QueueUrl=url, MessageBody="m90-4")  # a body a cut delete consumed comes back: resurrected
    assert check(server.endpoint_url, ledger).resurrected == ["m90-4"]
    assert server.terminate() == 0
