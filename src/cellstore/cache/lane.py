"""A lane: one worker thread that runs the writes of a share of the keys of one zone, in order.

Writes to one key must reach a zone in the order they were made, replays and
repairs included, so each (zone, key) always uses the same lane.  A lane
differs from a one-thread executor in one way: :meth:`run` executes the task
in the caller's own thread when the lane is idle (no task queued, none
running), and only queues it otherwise.  The write a caller waits for (its
own zone's, under a latch) thus costs no thread handoff in the common case,
and order is kept because an idle lane has nothing the task could overtake.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class LaneClosed(RuntimeError):
    """The lane was shut down: the client is closing."""


class Lane:
    def __init__(self, name: str) -> None:
        self._cond = threading.Condition()
        self._tasks: deque[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = deque()
        self._busy = False
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Queue ``fn(*args)`` behind the lane's earlier tasks; its future."""
        future: Future[T] = Future()
        with self._cond:
            if self._closed:
                raise LaneClosed("the cache client is closed")
            self._tasks.append((future, fn, args))
            self._cond.notify()
        return future

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in order with the lane's other tasks: right here if the lane is idle, else after them."""
        with self._cond:
            inline = not self._busy and not self._tasks and not self._closed
            if inline:
                self._busy = True
        if not inline:
            return self.submit(fn, *args).result()
        try:
            return fn(*args)
        finally:
            with self._cond:
                self._busy = False
                if self._tasks or self._closed:  # waking the worker for nothing would cost a thread switch
                    self._cond.notify()

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: (self._tasks and not self._busy) or (self._closed and not self._tasks))
                if not self._tasks:
                    return
                future, fn, args = self._tasks.popleft()
                self._busy = True
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn(*args))
                    except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on it, as an executor does
                        future.set_exception(exc)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def shutdown(self) -> None:
        """Run what is queued, then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
