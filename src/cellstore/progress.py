"""Progress of long work for a person or a log: one status line, rewritten in place only on a terminal.

``cellstore import``, ``cellstore cells move``/``drain``, ``cellstore
cache warm``, data migrations (``cellstore migrate``, ``serve``'s start) and
``make bench`` report as they go.  On a terminal the status is one line
redrawn at most ten times a second; in a log or CI, where a redrawn line is
noise, it is a plain line every ``every`` seconds (and on the first call).
Lines that must stay (a phase ending, a summary) go through ``say``, which
first finishes a line being redrawn.  Neutral like ``errors``: any layer
may use it, and it uses none.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from typing import Protocol

#: Seconds between redraws of a terminal's status line.
REDRAW_SECONDS = 0.1


class TextSink(Protocol):
    """Where a status line is written: a terminal, a log file, or log records (``LoggedLines``)."""

    def write(self, text: str, /) -> int: ...
    def flush(self) -> None: ...
    def isatty(self) -> bool: ...


class StatusLine:
    """One status line on ``stream``; safe to call from several threads (a parallel scan's workers)."""

    def __init__(self, stream: TextSink, *, every: float = 2.0, tty: bool | None = None) -> None:
        self._stream = stream
        self._tty = stream.isatty() if tty is None else tty
        self._every = every
        self._last = float("-inf")
        self._open = False  # a redrawn line is on the terminal, not yet ended
        self._lock = threading.Lock()

    def show(self, text: str) -> None:
        """The status now; shown unless the last one was shown too recently."""
        now = time.monotonic()
        with self._lock:
            if now - self._last < (REDRAW_SECONDS if self._tty else self._every):
                return
            self._last = now
            if self._tty:
                self._stream.write(f"\r\x1b[K{text}")
                self._open = True
            else:
                self._stream.write(f"{text}\n")
            self._stream.flush()

    def say(self, text: str) -> None:
        """A line that stays (a phase ended, a summary); the next ``show`` is drawn at once."""
        with self._lock:
            if self._open:
                self._stream.write("\r\x1b[K")
                self._open = False
            self._stream.write(f"{text}\n")
            self._stream.flush()
            self._last = float("-inf")

    def clear(self) -> None:
        """Erase a line being redrawn, so that output written by other means starts on a clean line."""
        with self._lock:
            if self._open:
                self._stream.write("\r\x1b[K")
                self._stream.flush()
                self._open = False
            self._last = float("-inf")

    def end(self) -> None:
        """Leave the line being redrawn as it is, and start the next status on a line of its own."""
        with self._lock:
            if self._open:
                self._stream.write("\n")
                self._stream.flush()
                self._open = False
            self._last = float("-inf")


class LoggedLines(io.TextIOBase):
    """A text stream whose every line is a log record: a ``StatusLine`` inside a server, under its log format.

    ``serve`` reports its start-up work (data migrations) this way, so that with
    ``--log-format json`` every line the server writes is still JSON.
    """

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self._logger = logger
        self._partial = ""

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            if line.strip():
                self._logger.info("%s", line)
        return len(text)
