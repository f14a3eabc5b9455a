"""ReceiveMessage inside a group commit (the writer process): the same answers, without the read-only peek."""

from __future__ import annotations

import pytest

from cellstore.engine.queues import Queues, catalog, receive, send, visible
from cellstore.engine.queues.clock import ManualClock
from cellstore.engine.queues.send import Outgoing


@pytest.fixture
def peeks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times a receive peeked (``visible.anything_due`` before its write transaction)."""
    calls: list[int] = []
    real = visible.anything_due

    def counted(*args: object) -> bool:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(visible, "anything_due", counted)
    return calls


def test_grouped_receives_answer_as_ungrouped_ones_and_skip_the_peek(
    queues: Queues, clock: ManualClock, peeks: list[int]
) -> None:
    catalog.create(queues, "q", {"VisibilityTimeout": "30"}, {})
    for body in ("a", "b"):
        send.send(queues, "q", Outgoing(body), "me")
    with queues.db.store.group():
        first = receive.receive(queues, "q", 1)
        second = receive.receive(queues, "q", 5)
        empty = receive.receive(queues, "q", 5)
    assert [r.message.body for r in first] == ["a"]
    assert [r.message.body for r in second] == ["b"]
    assert empty == []
    assert peeks == []  # the group holds the write lock already: nothing to spare an empty poll
    clock.advance(30)
    again = receive.receive(queues, "q", 5)  # outside a group: the peek first, then the claim
    assert sorted(r.message.body for r in again) == ["a", "b"]
    assert all(r.message.receive_count == 2 for r in again)
    assert receive.receive(queues, "q", 5) == []
    assert len(peeks) == 2
