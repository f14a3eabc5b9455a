"""``cellstore.progress.StatusLine``: redrawn on a terminal, plain and sparse in a log."""

from __future__ import annotations

import io

import pytest

from cellstore import progress
from cellstore.progress import StatusLine


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(progress.time, "monotonic", fake)
    return fake


def test_a_log_gets_a_plain_line_every_interval(clock: Clock) -> None:
    out = io.StringIO()
    status = StatusLine(out, every=2.0, tty=False)
    status.show("1 done")  # the first is always shown
    clock.now += 1.0
    status.show("2 done")  # too soon
    clock.now += 1.5
    status.show("3 done")
    status.say("finished")
    assert out.getvalue() == "1 done\n3 done\nfinished\n"


def test_a_terminal_line_is_redrawn_in_place_and_ended_by_say(clock: Clock) -> None:
    out = io.StringIO()
    status = StatusLine(out, tty=True)
    status.show("copy: 1")
    clock.now += 0.05
    status.show("copy: 2")  # within a redraw interval: skipped
    clock.now += 0.2
    status.show("copy: 3")
    status.end()
    status.show("catch-up: 0")  # drawn at once after end()
    status.say("imported")
    assert out.getvalue() == "\r\x1b[Kcopy: 1\r\x1b[Kcopy: 3\n\r\x1b[Kcatch-up: 0\r\x1b[Kimported\n"


def test_clear_erases_a_redrawn_line_and_writes_nothing_to_a_log(clock: Clock) -> None:
    terminal, log = io.StringIO(), io.StringIO()
    for out, tty in ((terminal, True), (log, False)):
        status = StatusLine(out, tty=tty)
        status.show("cell 1 of 8")
        status.clear()  # someone else prints now: on a terminal, on a clean line
        out.write("get_item 1234 req/s\n")
        status.show("cell 2 of 8")  # drawn at once after clear()
        status.clear()
        status.clear()  # nothing open: nothing written
    assert terminal.getvalue() == "\r\x1b[Kcell 1 of 8\r\x1b[Kget_item 1234 req/s\n\r\x1b[Kcell 2 of 8\r\x1b[K"
    assert log.getvalue() == "cell 1 of 8\nget_item 1234 req/s\ncell 2 of 8\n"
