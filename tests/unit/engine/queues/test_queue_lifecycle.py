"""Standard queues: visibility timeouts, stale receipts, delays, retention, purge."""

from __future__ import annotations

import pytest

from cellstore.engine.queues import Queues, catalog, receive, send, visibility
from cellstore.engine.queues.clock import ManualClock
from cellstore.engine.queues.send import Outgoing
from cellstore.errors import (
    InvalidParameterValue,
    MessageNotInflight,
    PurgeQueueInProgress,
    QueueNameExists,
    ReceiptHandleIsInvalid,
)


def make(queues: Queues, name: str = "q", **attributes: str) -> str:
    catalog.create(queues, name, attributes, {})
    return name


def put(queues: Queues, name: str, body: str, **kwargs: object) -> send.Sent:
    return send.send(queues, name, Outgoing(body, **kwargs), "me")  # type: ignore[arg-type]


def bodies(received: list[receive.Received]) -> list[str]:
    return [r.message.body for r in received]


def counts(queues: Queues, name: str) -> tuple[int, int, int]:
    attrs = catalog.read_attributes(queues, name, ["All"])
    return (
        int(attrs["ApproximateNumberOfMessages"]),
        int(attrs["ApproximateNumberOfMessagesNotVisible"]),
        int(attrs["ApproximateNumberOfMessagesDelayed"]),
    )


def test_visibility_timeout_expiry_makes_a_message_receivable_again(queues: Queues, clock: ManualClock) -> None:
    make(queues, VisibilityTimeout="30")
    put(queues, "q", "a")
    first = receive.receive(queues, "q", 10)
    assert bodies(first) == ["a"]
    assert receive.receive(queues, "q", 10) == []
    assert counts(queues, "q") == (0, 1, 0)
    clock.advance(29.999)
    assert receive.receive(queues, "q", 10) == []
    clock.advance(0.001)
    again = receive.receive(queues, "q", 10)
    assert bodies(again) == ["a"]
    assert again[0].message.receive_count == 2
    assert again[0].receipt != first[0].receipt


def test_a_stale_receipt_deletes_nothing(queues: Queues, clock: ManualClock) -> None:
    make(queues, VisibilityTimeout="5")
    put(queues, "q", "a")
    stale = receive.receive(queues, "q", 1)[0].receipt
    clock.advance(5)
    fresh = receive.receive(queues, "q", 1)[0].receipt
    assert visibility.delete_messages(queues, "q", [stale]) == [None]
    assert counts(queues, "q") == (0, 1, 0)
    (error,) = visibility.change_visibility(queues, "q", [(stale, 0)])
    assert isinstance(error, InvalidParameterValue)
    assert visibility.delete_messages(queues, "q", [fresh]) == [None]
    assert counts(queues, "q") == (0, 0, 0)
    assert visibility.delete_messages(queues, "q", [fresh]) == [None]  # twice is fine


def test_malformed_receipt(queues: Queues) -> None:
    make(queues)
    (error,) = visibility.delete_messages(queues, "q", ["garbage"])
    assert isinstance(error, ReceiptHandleIsInvalid)


def test_change_visibility(queues: Queues, clock: ManualClock) -> None:
    make(queues, VisibilityTimeout="30")
    put(queues, "q", "a")
    receipt = receive.receive(queues, "q", 1)[0].receipt
    assert visibility.change_visibility(queues, "q", [(receipt, 100)]) == [None]
    clock.advance(99)
    assert receive.receive(queues, "q", 1) == []
    clock.advance(1)
    receipt = receive.receive(queues, "q", 1)[0].receipt
    assert visibility.change_visibility(queues, "q", [(receipt, 0)]) == [None]
    (error,) = visibility.change_visibility(queues, "q", [(receipt, 10)])
    assert isinstance(error, MessageNotInflight)
    assert bodies(receive.receive(queues, "q", 1)) == ["a"]


def test_receive_visibility_timeout_overrides_the_queue(queues: Queues, clock: ManualClock) -> None:
    make(queues, VisibilityTimeout="300")
    put(queues, "q", "a")
    receive.receive(queues, "q", 1, visibility_s=2)
    clock.advance(2)
    assert bodies(receive.receive(queues, "q", 1)) == ["a"]


def test_delays_per_queue_and_per_message(queues: Queues, clock: ManualClock) -> None:
    make(queues, DelaySeconds="10")
    put(queues, "q", "queue-delay")
    put(queues, "q", "own-delay", delay_s=3)
    put(queues, "q", "no-delay", delay_s=0)
    assert counts(queues, "q") == (1, 0, 2)
    assert bodies(receive.receive(queues, "q", 10)) == ["no-delay"]
    clock.advance(3)
    assert bodies(receive.receive(queues, "q", 10)) == ["own-delay"]
    clock.advance(7)
    assert bodies(receive.receive(queues, "q", 10)) == ["queue-delay"]


def test_retention_expires_messages(queues: Queues, clock: ManualClock) -> None:
    make(queues, MessageRetentionPeriod="60", VisibilityTimeout="10")
    put(queues, "q", "old")
    clock.advance(30)
    put(queues, "q", "young")
    clock.advance(30)
    assert bodies(receive.receive(queues, "q", 10)) == ["young"]
    assert counts(queues, "q") == (0, 1, 0)


def test_order_is_roughly_first_in_first_out(queues: Queues) -> None:
    make(queues)
    for i in range(25):
        put(queues, "q", str(i))
    got = bodies(receive.receive(queues, "q", 10)) + bodies(receive.receive(queues, "q", 10))
    assert got == [str(i) for i in range(20)]


def test_purge_once_a_minute(queues: Queues, clock: ManualClock) -> None:
    make(queues)
    put(queues, "q", "a")
    catalog.purge(queues, "q")
    assert counts(queues, "q") == (0, 0, 0)
    with pytest.raises(PurgeQueueInProgress):
        catalog.purge(queues, "q")
    clock.advance(60)
    catalog.purge(queues, "q")


def test_create_is_idempotent_only_with_equal_attributes(queues: Queues) -> None:
    first = catalog.create(queues, "q", {"VisibilityTimeout": "60"}, {})
    assert catalog.create(queues, "q", {"VisibilityTimeout": "060"}, {}).id == first.id
    assert catalog.create(queues, "q", {}, {}).id == first.id
    with pytest.raises(QueueNameExists):
        catalog.create(queues, "q", {"VisibilityTimeout": "61"}, {})


def test_a_recreated_queue_starts_empty(queues: Queues) -> None:
    make(queues)
    put(queues, "q", "a")
    catalog.delete(queues, "q")
    make(queues)
    assert receive.receive(queues, "q", 10) == []


@pytest.mark.parametrize(
    "tags", [{"a#b": "v"}, {"k": "it's"}, {"k": "semi;colon"}, {"aws:team": "x"}, {"k": "AWS:x"}]
)
def test_tag_characters_outside_sqs_set_are_refused(queues: Queues, tags: dict[str, str]) -> None:
    make(queues)
    with pytest.raises(InvalidParameterValue, match="Invalid tag"):
        catalog.tag(queues, "q", tags)
    with pytest.raises(InvalidParameterValue, match="Invalid tag"):
        catalog.create(queues, "other", {}, tags)
    assert catalog.list_names(queues) == ["q"]


def test_tag_characters_sqs_allows(queues: Queues) -> None:
    make(queues)
    catalog.tag(queues, "q", {"owner@team": "Ünïcode 1 _.:/=+-@"})
    assert catalog.get(queues, "q").tags == {"owner@team": "Ünïcode 1 _.:/=+-@"}


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({"": "v"}, "Tag keys must be between 1 and 128 characters long: "),
        ({"k" * 129: "v"}, "Tag keys must be between 1 and 128 characters long: " + "k" * 129),
        ({"k": "v" * 257}, "Tag values may be at most 256 characters long: " + "v" * 257),
    ],
)
def test_tag_lengths(queues: Queues, tags: dict[str, str], message: str) -> None:
    make(queues)
    with pytest.raises(InvalidParameterValue) as caught:
        catalog.tag(queues, "q", tags)
    assert caught.value.message == message
    catalog.tag(queues, "q", {"k" * 128: "v" * 256, "e": ""})
