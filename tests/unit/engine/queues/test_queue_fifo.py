"""FIFO queues: order per group, blocked groups, deduplication, sequence numbers."""

from __future__ import annotations

import pytest

from cellstore.engine.queues import Queues, catalog, receive, send, visibility
from cellstore.engine.queues.clock import ManualClock
from cellstore.engine.queues.send import Outgoing
from cellstore.errors import InvalidParameterValue, MissingParameter


def make(queues: Queues, name: str = "q.fifo", **attributes: str) -> str:
    catalog.create(queues, name, {"FifoQueue": "true", **attributes}, {})
    return name


def put(queues: Queues, body: str, group: str = "g", dedup: str | None = None, name: str = "q.fifo") -> send.Sent:
    return send.send(queues, name, Outgoing(body, group=group, dedup_id=dedup or body), "me")


def bodies(received: list[receive.Received]) -> list[str]:
    return [r.message.body for r in received]


def test_a_group_is_served_in_order_and_blocked_while_in_flight(queues: Queues, clock: ManualClock) -> None:
    make(queues, VisibilityTimeout="30")
    for body in ("a1", "a2", "a3"):
        put(queues, body, "a")
    put(queues, "b1", "b")
    first = receive.receive(queues, "q.fifo", 1)
    assert bodies(first) == ["a1"]
    # group a is blocked while a1 is in flight; b is free
    assert bodies(receive.receive(queues, "q.fifo", 10)) == ["b1"]
    assert receive.receive(queues, "q.fifo", 10) == []
    visibility.delete_messages(queues, "q.fifo", [first[0].receipt])
    assert bodies(receive.receive(queues, "q.fifo", 10)) == ["a2", "a3"]


def test_an_expired_group_is_served_again_from_its_front(queues: Queues, clock: ManualClock) -> None:
    make(queues, VisibilityTimeout="10")
    for body in ("1", "2", "3"):
        put(queues, body)
    assert bodies(receive.receive(queues, "q.fifo", 2)) == ["1", "2"]
    clock.advance(10)
    again = receive.receive(queues, "q.fifo", 10)
    assert bodies(again) == ["1", "2", "3"]
    assert [r.message.receive_count for r in again] == [2, 2, 1]


def test_sequence_numbers_increase(queues: Queues) -> None:
    make(queues)
    numbers = [int(put(queues, str(i)).sequence_number or 0) for i in range(3)]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3


def test_dedup_within_five_minutes_even_after_delete(queues: Queues, clock: ManualClock) -> None:
    make(queues)
    first = put(queues, "x", dedup="d1")
    assert put(queues, "y", dedup="d1").message_id == first.message_id
    got = receive.receive(queues, "q.fifo", 10)
    assert bodies(got) == ["x"]
    visibility.delete_messages(queues, "q.fifo", [got[0].receipt])
    clock.advance(299)
    assert put(queues, "z", dedup="d1").message_id == first.message_id
    assert receive.receive(queues, "q.fifo", 10) == []
    clock.advance(1)
    fresh = put(queues, "z", dedup="d1")
    assert fresh.message_id != first.message_id
    assert bodies(receive.receive(queues, "q.fifo", 10)) == ["z"]


def test_content_based_dedup(queues: Queues) -> None:
    make(queues, ContentBasedDeduplication="true")
    a = send.send(queues, "q.fifo", Outgoing("same", group="g"), "me")
    b = send.send(queues, "q.fifo", Outgoing("same", group="g"), "me")
    c = send.send(queues, "q.fifo", Outgoing("other", group="g"), "me")
    assert a.message_id == b.message_id != c.message_id


def test_dedup_scope_per_group(queues: Queues) -> None:
    make(queues, DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId")
    a = put(queues, "x", "g1", dedup="d")
    b = put(queues, "x", "g2", dedup="d")
    assert a.message_id != b.message_id


def test_fifo_rules(queues: Queues) -> None:
    make(queues)
    with pytest.raises(MissingParameter):
        send.send(queues, "q.fifo", Outgoing("x", dedup_id="d"), "me")
    with pytest.raises(InvalidParameterValue, match="ContentBasedDeduplication"):
        send.send(queues, "q.fifo", Outgoing("x", group="g"), "me")
    with pytest.raises(InvalidParameterValue, match="DelaySeconds"):
        send.send(queues, "q.fifo", Outgoing("x", group="g", dedup_id="d", delay_s=5), "me")


def test_receive_request_attempt_id_returns_the_same_messages(queues: Queues) -> None:
    make(queues)
    put(queues, "1")
    put(queues, "2", "other")
    first = receive.receive(queues, "q.fifo", 1, attempt_id="try")
    again = receive.receive(queues, "q.fifo", 1, attempt_id="try")
    assert [r.receipt for r in again] == [r.receipt for r in first]


def test_dead_letter_redrive_keeps_group_order(queues: Queues, clock: ManualClock) -> None:
    dlq = make(queues, "dead.fifo")
    make(
        queues,
        VisibilityTimeout="1",
        RedrivePolicy=f'{{"deadLetterTargetArn": "{queues.arn(dlq)}", "maxReceiveCount": 2}}',
    )
    put(queues, "poison")
    put(queues, "next")
    for _ in range(2):
        assert bodies(receive.receive(queues, "q.fifo", 1)) == ["poison"]
        clock.advance(1)
    assert bodies(receive.receive(queues, "q.fifo", 1)) == ["next"]
    moved = receive.receive(queues, dlq, 10)
    assert bodies(moved) == ["poison"]
    assert moved[0].message.source_arn == queues.arn("q.fifo")
