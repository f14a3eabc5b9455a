"""After a restart: does the data agree with the ledger?

Run while no writer is active.  Each check also *settles* the ledger: an
unsure write is resolved by what the server now holds (applied or not), so
the next cycle's bounds start from the truth and a write is never counted
twice.  The queue is drained (received with a long visibility timeout and
deleted), so after every check each acknowledged send must have been
consumed exactly once — by an acknowledged delete, or by a delete the kill
cut (``Ledger.deletes_unsure``): a cut delete may have committed, and a body
it consumed is gone without being lost.  Only a body the workload received
(so its send is known to be stored) and then tried to delete is excused that
way; the drain finds it if the cut delete did not commit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .clients import client
from .workload import QUEUE, TABLE, VISIBILITY_SECONDS, Ledger


@dataclass
class Findings:
    """What a check found wrong (every list empty is a pass), and how much it looked at."""

    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    half_applied: list[str] = field(default_factory=list)
    resurrected: list[str] = field(default_factory=list)
    phantom: list[str] = field(default_factory=list)
    items: int = 0
    drained: int = 0
    #: acknowledged sends gone from the queue because a delete the kill cut had committed (not findings)
    consumed_by_cut_deletes: int = 0

    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.half_applied or self.resurrected or self.phantom)

    def merge(self, other: Findings) -> None:
        for name in ("lost", "duplicated", "half_applied", "resurrected", "phantom"):
            getattr(self, name).extend(getattr(other, name))
        self.items = other.items
        self.drained += other.drained
        self.consumed_by_cut_deletes += other.consumed_by_cut_deletes

    def summary(self) -> str:
        parts = [f"{name}: {len(values)} e.g. {values[:5]}" for name in ("lost", "duplicated", "half_applied",
                 "resurrected", "phantom") if (values := getattr(self, name))]
        return "; ".join(parts) or "ok"


def check(endpoint_url: str, ledger: Ledger) -> Findings:
    """Compare the table and the queue behind ``endpoint_url`` with ``ledger``, then settle the ledger."""
    findings = Findings()
    items = _scan(endpoint_url)
    findings.items = len(items)
    with ledger.lock:
        _check_puts(items, ledger, findings)
        _check_adds(items, ledger, findings)
        _check_txns(items, ledger, findings)
    _drain(endpoint_url, ledger, findings)
    with ledger.lock:
        findings.resurrected.extend(sorted(ledger.resurrected))
        ledger.resurrected.clear()
        missing = ledger.sends_acked - ledger.deleted
        consumed = missing & ledger.deletes_unsure  # a cut delete that had committed: consumed, not lost
        findings.lost.extend(sorted(missing - consumed))
        findings.consumed_by_cut_deletes += len(consumed)
        # settled: a cut delete either committed (the body is gone: consumed for good, and must never
        # come back) or did not (the drain found and deleted the body); whatever else was sent and not
        # yet consumed is gone for good (the queue is empty)
        ledger.deleted |= consumed
        ledger.deletes_unsure.clear()
        ledger.sends_acked &= ledger.deleted
        # a half-applied transaction stays half-applied: report it once, not after every restart
        findings.half_applied = [name for name in findings.half_applied if name not in ledger.reported]
        ledger.reported.update(findings.half_applied)
    return findings


def _scan(endpoint_url: str) -> dict[str, dict[str, Any]]:
    ddb = client("dynamodb", endpoint_url)
    items: dict[str, dict[str, Any]] = {}
    start: dict[str, Any] | None = None
    while True:
        page = ddb.scan(TableName=TABLE, ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {}))
        for item in page["Items"]:
            key = item["pk"]["S"]
            if key in items:
                raise RuntimeError(f"Scan returned {key} twice")
            items[key] = item
        start = page.get("LastEvaluatedKey")
        if start is None:
            return items


def _number(item: dict[str, Any] | None) -> int:
    return 0 if item is None else int(item["n"]["N"])


def _check_puts(items: dict[str, dict[str, Any]], ledger: Ledger, findings: Findings) -> None:
    found = {key for key in items if key.startswith("p")}
    findings.lost.extend(sorted(ledger.puts_acked - found))
    findings.phantom.extend(sorted(found - ledger.puts_tried))
    ledger.puts_acked = found
    ledger.puts_tried = set(found)


def _check_adds(items: dict[str, dict[str, Any]], ledger: Ledger, findings: Findings) -> None:
    for key in set(ledger.adds_acked) | set(ledger.adds_unsure) | {k for k in items if k.startswith("c")}:
        value = _number(items.get(key))
        low, high = ledger.adds_acked[key], ledger.adds_acked[key] + ledger.adds_unsure[key]
        if value < low:
            findings.lost.extend([f"{key} ADD"] * (low - value))
        elif value > high:
            findings.duplicated.extend([f"{key} ADD"] * (value - high))
        ledger.adds_acked[key] = value
        ledger.adds_unsure[key] = 0


def _check_txns(items: dict[str, dict[str, Any]], ledger: Ledger, findings: Findings) -> None:
    complete: dict[str, int] = {}
    applied = set()
    for name in ledger.txns_tried | {k[:-2] for k in items if k.startswith("t") and not k.startswith("tc")}:
        a, b = f"{name}-a" in items, f"{name}-b" in items
        writer = name.split("-")[0][1:]
        if a != b:
            findings.half_applied.append(name)
        if a and b:
            complete[writer] = complete.get(writer, 0) + 1
            applied.add(name)
            if name not in ledger.txns_tried:
                findings.phantom.append(name)
        elif name in ledger.txns_acked:
            findings.lost.append(name)
    writers = set(complete) | {k[2:] for k in items if k.startswith("tc")}
    for writer in writers:
        counter = _number(items.get(f"tc{writer}"))
        if counter != complete.get(writer, 0):
            findings.half_applied.append(f"tc{writer}={counter} but {complete.get(writer, 0)} complete transactions")
    ledger.txns_acked = applied
    ledger.txns_tried = set(applied)


def _drain(endpoint_url: str, ledger: Ledger, findings: Findings) -> None:
    """Consume every message, waiting for those a killed receiver held to become visible again."""
    sqs = client("sqs", endpoint_url)
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    seen: set[str] = set()
    deadline = time.monotonic() + VISIBILITY_SECONDS + 10
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600).get("Messages", [])
        if not got:
            hidden = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible",
                                                                             "ApproximateNumberOfMessages"])
            counts = hidden["Attributes"]
            if counts["ApproximateNumberOfMessagesNotVisible"] == "0" and counts["ApproximateNumberOfMessages"] == "0":
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the queue did not settle: {counts}")
            time.sleep(0.1)
            continue
        with ledger.lock:
            for message in got:
                body = message["Body"]
                if body in seen:
                    findings.duplicated.append(body)
                elif body in ledger.deleted:
                    findings.resurrected.append(body)
                elif body not in ledger.sends_tried:
                    findings.phantom.append(body)
                seen.add(body)
        findings.drained += len(got)
        answer = sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
        )
        if answer.get("Failed"):
            raise RuntimeError(f"the checker could not delete: {answer['Failed']}")
        with ledger.lock:
            ledger.deleted.update(m["Body"] for m in got)
