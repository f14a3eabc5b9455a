"""progress.LoggedLines: a StatusLine inside a server writes log records, so --log-format json stays JSON."""

from __future__ import annotations

import logging

import pytest

from cellstore.progress import LoggedLines, StatusLine


def test_each_line_of_a_status_line_is_one_log_record(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("cellstore.test-progress")
    status = StatusLine(LoggedLines(logger), every=0)
    with caplog.at_level(logging.INFO, logger=logger.name):
        status.show("step 1 of 2")
        status.say("step 1 of 2 done")
        status.show("step 2 of 2")
    assert [record.getMessage() for record in caplog.records] == ["step 1 of 2", "step 1 of 2 done", "step 2 of 2"]
    assert all(record.name == logger.name for record in caplog.records)


def test_a_line_written_in_pieces_is_logged_once_whole(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("cellstore.test-progress")
    stream = LoggedLines(logger)
    with caplog.at_level(logging.INFO, logger=logger.name):
        stream.write("half a ")
        assert caplog.records == []
        stream.write("line\n\n")
    assert [record.getMessage() for record in caplog.records] == ["half a line"]
    assert not stream.isatty()
