"""The benchmark trend: one JSON line per run in bench/history.jsonl, and a plot of its ratios over commits.

A single run says where cellstore stands; only a series says whether a
change made it worse.  ``bench/run.py`` appends a line after every run
(``entry`` + ``append``) and ``bench/report.py`` redraws
docs/benchmarks-trend.png from the whole file (``read`` + ``plot``), so a
regression shows as a dip at the commit that caused it.

Only ratios within one run are plotted: on a shared machine absolute rates
move with the neighbours, ratios measured side by side much less.  The key
figures (rate, p99, CPU per request) are kept beside them for reading, not
plotted.

    python3 bench/history.py --plot                         # redraw the trend from bench/history.jsonl
    python3 bench/history.py --append bench/results/latest.json   # add a run by hand

A line is a JSON object: ``commit`` (40 hex digits), ``dirty`` (the
worktree had uncommitted changes to tracked files), ``date`` (UTC,
``YYYY-MM-DD HH:MM``), ``command``, ``write_path`` (``writer`` or ``flock``: how
the default configuration wrote), ``machine`` (cpu, cores, loadavg at start
and end), ``ratios`` (name → float, see RATIOS; a ratio the run could not
measure is left out) and ``figures`` (name → float).  ``source`` says where
a line came from when not from ``run.py`` itself (a backfilled run).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from report import HEADLINE, WORKLOADS, Results

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
HISTORY = BENCH / "history.jsonl"
TREND = REPO / "docs" / "benchmarks-trend.png"
_COMMIT = re.compile(r"[0-9a-f]{40}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")


class HistoryError(ValueError):
    """A line of the history file that is not a run: which line, and why."""

    def __init__(self, path: Path, line: int, why: str) -> None:
        super().__init__(f"{path}:{line}: {why}")
        self.path, self.line, self.why = path, line, why


def _inprocess(r: Results) -> float | None:
    inproc = r.data.get("inprocess") or {}
    ours, moto = inproc.get("cellstore", {}).get("total"), inproc.get("moto", {}).get("total")
    return moto / ours if ours and moto else None


def _ratio(workload: str, peer: str, ours: str = "cellstore") -> Callable[[Results], float | None]:
    return lambda r: r.ratio(workload, peer, ours=ours)


#: Every ratio a line can carry: name → (what it is, how to read it from a run's results).  The names are the
#: file's vocabulary: never rename one (old lines would lose their series); add new ones instead.
RATIOS: dict[str, tuple[str, Callable[[Results], float | None]]] = {
    **{f"{w} × dynalite-leveldb": (f"{WORKLOADS[w]}, default configuration ÷ dynalite (LevelDB)",
                                   _ratio(w, "dynalite-leveldb"))
       for w in ("put_item", "get_item", "query", "update_item", "batch_write")},
    **{f"{w} × moto": (f"{WORKLOADS[w]}, default configuration ÷ moto server", _ratio(w, "moto"))
       for w in ("put_item", "get_item", "query", "sqs_cycle")},
    **{f"{w} 1w × dynalite-leveldb-1c": (f"{WORKLOADS[w]}, one worker ÷ dynalite (LevelDB), one core each",
                                         _ratio(w, "dynalite-leveldb-1c", ours="cellstore-1w"))
       for w in ("put_item", "get_item", "query")},
    **{f"{w} default ÷ 1w": (f"{WORKLOADS[w]}, default configuration ÷ one worker",
                             _ratio(w, "cellstore-1w"))
       for w in ("put_item", "get_item", "query", "transact_write", "sqs_cycle")},
    "put_item 1w ÷ bare-http": ("PutItem, one worker ÷ the bare app on cellstore's HTTP server (ceiling share)",
                                _ratio("put_item", "bare-http", ours="cellstore-1w")),
    "inprocess × mock_aws": ("in-process boto3 scenario, moto mock_aws ÷ cellstore", _inprocess),
}


def figures(r: Results) -> dict[str, float]:
    """Rate, p99 and server CPU per unit of the default configuration and one worker, at the headline shape."""
    out: dict[str, float] = {}
    for target in ("cellstore", "cellstore-1w"):
        for workload in WORKLOADS:
            cell = r.cell(target, workload, HEADLINE)
            if cell is None:
                continue
            out[f"{target} {workload} rps"] = round(float(cell["rps"]), 1)
            out[f"{target} {workload} p99_ms"] = round(float(cell["p99_ms"]), 2)
            out[f"{target} {workload} cpu_us"] = round(float(cell["cpu_us_per_request"]), 1)
    return out


def git_commit(repo: Path = REPO) -> tuple[str, bool]:
    """HEAD's full hash and whether tracked files differ from it (a dirty run is not quite that commit)."""
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()
    status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                            check=True, capture_output=True, text=True).stdout
    return head, bool(status.strip())


def entry(results: dict[str, Any], commit: str, dirty: bool, *, date: str | None = None) -> dict[str, Any]:
    """The history line for one run's results (bench/results/latest.json's shape)."""
    r = Results(results)
    ratios = {}
    for name, (_, read) in RATIOS.items():
        value = read(r)
        if value is not None:
            ratios[name] = round(value, 4)
    machine = results.get("machine", {})
    return {
        "commit": commit,
        "dirty": dirty,
        "date": date or time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "command": results.get("command", ""),
        # How the default configuration wrote: results from before run.py recorded it were the flock's.
        "write_path": results.get("write_path", "flock"),
        "machine": {
            "cpu": machine.get("cpu", "?"),
            "cores": machine.get("cores"),
            "loadavg_start": results.get("loadavg_start"),
            "loadavg_end": results.get("loadavg_end"),
        },
        "ratios": ratios,
        "figures": figures(r),
    }


def append(path: Path, line: dict[str, Any]) -> None:
    """Add one run as one line, so the file stays valid whatever was appended before it."""
    check(line, path, 0)
    text = json.dumps(line, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    before = path.read_bytes() if path.exists() else b""
    with path.open("a", encoding="utf-8") as out:
        if before and not before.endswith(b"\n"):
            out.write("\n")
        out.write(text + "\n")


@dataclass(frozen=True)
class Run:
    """One line of the history, as the plot needs it."""

    commit: str
    date: str
    dirty: bool
    ratios: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """What the x axis shows: the short commit (``+`` if the worktree was dirty) and the day."""
        return f"{self.commit[:7]}{'+' if self.dirty else ''}\n{self.date[:10]}"


def check(line: Any, path: Path, number: int) -> Run:
    """A parsed line as a Run, or HistoryError saying what is wrong with it."""
    if not isinstance(line, dict):
        raise HistoryError(path, number, "not a JSON object")
    commit, date, ratios = line.get("commit"), line.get("date"), line.get("ratios")
    if not isinstance(commit, str) or not _COMMIT.fullmatch(commit):
        raise HistoryError(path, number, f"commit is not 40 hex digits: {commit!r}")
    if not isinstance(date, str) or not _DATE.match(date):
        raise HistoryError(path, number, f"date is not YYYY-MM-DD HH:MM: {date!r}")
    if not isinstance(ratios, dict):
        raise HistoryError(path, number, "ratios is not an object")
    for name, value in ratios.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise HistoryError(path, number, f"ratio {name!r} is not a positive number: {value!r}")
    return Run(commit=commit, date=date, dirty=bool(line.get("dirty", False)),
               ratios={name: float(value) for name, value in ratios.items()})


def read(path: Path) -> list[Run]:
    """Every run in the file, oldest first (file order); blank lines are skipped, a bad line is an error."""
    runs = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
        except json.JSONDecodeError as err:
            raise HistoryError(path, number, f"not JSON ({err.msg})") from err
        runs.append(check(line, path, number))
    return runs


def series(runs: Iterable[Run], name: str) -> tuple[list[int], list[float]]:
    """One ratio's points: the run's position in the history (x) and its value, skipping runs without it."""
    xs, ys = [], []
    for x, run in enumerate(runs):
        if name in run.ratios:
            xs.append(x)
            ys.append(run.ratios[name])
    return xs, ys


#: The plot's panels: a title, the ratios drawn in it, and issue 16's target for each (None: no target).
PANELS: list[tuple[str, dict[str, float | None]]] = [
    ("default configuration ÷ dynalite (LevelDB)", {
        "put_item × dynalite-leveldb": 2.0, "get_item × dynalite-leveldb": 2.5, "query × dynalite-leveldb": 3.0,
        "update_item × dynalite-leveldb": 2.0, "batch_write × dynalite-leveldb": 2.0}),
    ("what the workers buy: default ÷ one worker", {
        "put_item default ÷ 1w": 1.5, "sqs_cycle default ÷ 1w": 1.3, "get_item default ÷ 1w": None,
        "transact_write default ÷ 1w": None}),
    ("one worker ÷ dynalite (LevelDB), one core each; ceiling share", {
        "put_item 1w × dynalite-leveldb-1c": None, "get_item 1w × dynalite-leveldb-1c": None,
        "query 1w × dynalite-leveldb-1c": None, "put_item 1w ÷ bare-http": 0.2}),
    ("in-process: mock_aws ÷ cellstore", {"inprocess × mock_aws": 15.0}),
]


def plot(runs: list[Run], png: Path) -> bool:
    """Draw every panel's ratios over the runs; False when there is nothing to draw (or no matplotlib)."""
    if not runs:
        return False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(11, 3.2 * len(PANELS)), sharex=True)
    for axis, (title, names) in zip(axes, PANELS, strict=True):
        for k, (name, target) in enumerate(names.items()):
            xs, ys = series(runs, name)
            if not xs:
                continue
            colour = f"C{k}"
            axis.plot(xs, ys, marker="o", color=colour, label=name)
            if target is not None:
                axis.axhline(target, color=colour, linestyle=":", linewidth=1)
        axis.set_title(f"{title} (dotted: issue 16's targets)", fontsize=9)
        axis.grid(True, axis="y", linewidth=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=7, loc="upper left", frameon=False)
    axes[-1].set_xticks(range(len(runs)))
    axes[-1].set_xticklabels([run.label for run in runs], fontsize=7)
    axes[-1].set_xlim(-0.5, max(len(runs) - 0.5, 0.5))
    fig.suptitle("cellstore benchmark ratios over commits (bench/history.jsonl; higher is better)", fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)
    return True


def record(results: dict[str, Any], path: Path = HISTORY) -> dict[str, Any]:
    """Append a run to the history and return the line (what run.py calls after a run).

    The commit is the one the run started on (``results["git"]``, recorded by
    run.py before any server starts): a commit made while a run is going is
    not what it measured.  Results without it take the checkout as it is now.
    """
    started = results.get("git") or {}
    if "commit" in started:
        commit, dirty = str(started["commit"]), bool(started.get("dirty", False))
    else:
        commit, dirty = git_commit()
    line = entry(results, commit, dirty)
    append(path, line)
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=Path, default=HISTORY)
    parser.add_argument("--append", type=Path, metavar="RESULTS_JSON", help="add this run's results as a line")
    parser.add_argument("--plot", action="store_true", help=f"redraw {TREND.relative_to(REPO)}")
    args = parser.parse_args()
    if args.append:
        line = record(json.loads(args.append.read_text()), args.history)
        print(f"{args.history}: appended {line['commit'][:7]} with {len(line['ratios'])} ratios")
    if args.plot:
        drawn = plot(read(args.history), TREND)
        print(f"wrote {TREND}" if drawn else "nothing drawn (empty history, or no matplotlib)")


if __name__ == "__main__":
    main()
