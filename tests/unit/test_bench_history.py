"""bench/history.py: the benchmark trend's file (one JSON line per run) and the parsing the plot reads it with."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import history  # bench/ is scripts, not a package: its directory goes on the path first
from history import HistoryError, Run

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def cell(target: str, workload: str, rps: float, *, p99: float = 5.0, cpu: float = 100.0) -> dict[str, Any]:
    return {"target": target, "workload": workload, "connections": 16, "item_bytes": 200, "rps": rps,
            "p50_ms": 1.0, "p99_ms": p99, "cpu_us_per_request": cpu, "server_processes": 3}


def results() -> dict[str, Any]:
    """A run's results as bench/run.py writes them, with a few cells and the in-process scenario."""
    return {
        "command": ".venv/bin/python bench/run.py --quick",
        "machine": {"cpu": "Test CPU", "cores": 2},
        "loadavg_start": ["0.10", "0.20", "0.30"],
        "loadavg_end": ["1.00", "1.10", "1.20"],
        "cells": [
            cell("cellstore", "put_item", 9000, p99=7.5, cpu=110),
            cell("dynalite-leveldb", "put_item", 4500),
            cell("moto", "put_item", 300),
            cell("cellstore-1w", "put_item", 6000),
            cell("bare-http", "put_item", 50000),
            cell("cellstore", "sqs_cycle", 2600),
            cell("cellstore-1w", "sqs_cycle", 1300),
        ],
        "inprocess": {"cellstore": {"total": 1.5}, "moto": {"total": 18.0}},
    }


def line(**changes: Any) -> str:
    base: dict[str, Any] = {"commit": COMMIT, "dirty": False, "date": "2026-12-05 02:00", "ratios": {"a": 1.5}}
    base.update(changes)
    return json.dumps(base)


def test_an_entry_has_the_ratios_measured_side_by_side_and_leaves_out_the_rest() -> None:
    entry = history.entry(results(), COMMIT, False, date="2026-12-05 02:00")
    assert entry["ratios"] == {
        "put_item × dynalite-leveldb": 2.0,
        "put_item × moto": 30.0,
        "put_item default ÷ 1w": 1.5,
        "sqs_cycle default ÷ 1w": 2.0,
        "put_item 1w ÷ bare-http": 0.12,
        "inprocess × mock_aws": 12.0,
    }
    assert entry["figures"]["cellstore put_item p99_ms"] == 7.5
    assert entry["figures"]["cellstore put_item cpu_us"] == 110
    assert entry["figures"]["cellstore-1w sqs_cycle rps"] == 1300
    assert entry["machine"] == {"cpu": "Test CPU", "cores": 2, "loadavg_start": ["0.10", "0.20", "0.30"],
                                "loadavg_end": ["1.00", "1.10", "1.20"]}
    assert (entry["commit"], entry["dirty"], entry["date"]) == (COMMIT, False, "2026-12-05 02:00")


def test_appended_runs_are_one_line_each_and_read_back_in_order(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    first = history.entry(results(), COMMIT, False, date="2026-12-05 02:00")
    second = history.entry(results(), "f" * 40, True, date="2026-12-06 03:00")
    history.append(path, first)
    history.append(path, second)
    assert len(path.read_text().splitlines()) == 2
    runs = history.read(path)
    assert [(r.commit, r.dirty, r.date) for r in runs] == [(COMMIT, False, "2026-12-05 02:00"),
                                                          ("f" * 40, True, "2026-12-06 03:00")]
    assert runs[1].ratios["put_item × dynalite-leveldb"] == 2.0


def test_an_append_after_a_line_without_its_newline_starts_a_new_line(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(line())  # e.g. edited by hand, no final newline
    history.append(path, history.entry(results(), "e" * 40, False, date="2026-12-06 03:00"))
    assert [r.commit for r in history.read(path)] == [COMMIT, "e" * 40]


def test_an_append_refuses_a_line_the_reader_would_reject(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    with pytest.raises(HistoryError, match="commit"):
        history.append(path, {"commit": "HEAD", "date": "2026-12-05 02:00", "ratios": {}})
    assert not path.exists()


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(f"{line()}\n\n   \n{line(commit='a' * 40)}\n")
    assert [r.commit for r in history.read(path)] == [COMMIT, "a" * 40]


@pytest.mark.parametrize(("text", "why"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    (line(commit="abc123"), "commit is not 40 hex digits"),
    (line(date="yesterday"), "date is not YYYY-MM-DD HH:MM"),
    (line(ratios=[1.5]), "ratios is not an object"),
    (line(ratios={"a": "fast"}), "ratio 'a' is not a positive number"),
    (line(ratios={"a": 0}), "ratio 'a' is not a positive number"),
    (line(ratios={"a": True}), "ratio 'a' is not a positive number"),
])
def test_a_bad_line_is_an_error_naming_its_line(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(f"{line()}\n{text}\n")
    with pytest.raises(HistoryError) as raised:
        history.read(path)
    assert raised.value.line == 2
    assert why in raised.value.why


def test_a_series_skips_runs_that_did_not_measure_the_ratio() -> None:
    runs = [Run(COMMIT, "2026-12-05 02:00", False, {"a": 1.0, "b": 2.0}),
            Run(COMMIT, "2026-12-06 02:00", False, {"b": 2.5}),
            Run(COMMIT, "2026-12-07 02:00", False, {"a": 1.2})]
    assert history.series(runs, "a") == ([0, 2], [1.0, 1.2])
    assert history.series(runs, "b") == ([0, 1], [2.0, 2.5])
    assert history.series(runs, "c") == ([], [])


def test_a_run_is_labelled_by_short_commit_and_day_with_a_mark_when_dirty() -> None:
    assert Run(COMMIT, "2026-12-05 02:00", False).label == "0123456\n2026-12-05"
    assert Run(COMMIT, "2026-12-05 02:00", True).label == "0123456+\n2026-12-05"


def test_every_plotted_ratio_is_one_an_entry_can_carry() -> None:
    plotted = {name for _, names in history.PANELS for name in names}
    assert plotted <= set(history.RATIOS)


def test_the_checked_in_history_parses() -> None:
    runs = history.read(history.HISTORY)
    assert runs, "bench/history.jsonl has at least one run"
    assert all(run.ratios for run in runs)


def test_the_commit_is_head_and_dirty_means_a_tracked_file_changed(tmp_path: Path) -> None:
    def git(*argv: str) -> str:
        return subprocess.run(["git", "-C", str(tmp_path), *argv], check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    (tmp_path / "f").write_text("1")
    git("add", "f")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "one")
    (tmp_path / "untracked").write_text("not counted")
    assert history.git_commit(tmp_path) == (git("rev-parse", "HEAD"), False)
    (tmp_path / "f").write_text("2")
    assert history.git_commit(tmp_path) == (git("rev-parse", "HEAD"), True)


def test_a_run_is_recorded_under_the_commit_it_started_on(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    started = dict(results(), git={"commit": "c" * 40, "dirty": True})
    line = history.record(started, path)
    assert (line["commit"], line["dirty"]) == ("c" * 40, True)
    assert [(r.commit, r.dirty) for r in history.read(path)] == [("c" * 40, True)]
