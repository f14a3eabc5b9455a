"""docs/BENCHMARKS.md and docs/benchmarks.png from a run's results JSON.

Everything in the doc is generated except the text between the
``<!-- analysis -->`` and ``<!-- /analysis -->`` markers, which is written by
hand and kept across re-renders.

    bench/.peers/venv/bin/python bench/report.py bench/results/latest.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
DOC = BENCH.parent / "docs" / "BENCHMARKS.md"
CHART = BENCH.parent / "docs" / "benchmarks.png"
TREND = BENCH.parent / "docs" / "benchmarks-trend.png"  # drawn by bench/history.py
ANALYSIS_START, ANALYSIS_END = "<!-- analysis -->", "<!-- /analysis -->"

LABELS = {
    "cellstore": "cellstore (default configuration, SQLite file)",
    "cellstore-mem": "cellstore (in memory)",
    "dynalite-leveldb": "dynalite (LevelDB)",
    "dynalite-mem": "dynalite (in memory)",
    "moto": "moto server",
    "cellstore-1w": "cellstore, one worker (1 core)",
    "dynalite-leveldb-1c": "dynalite (LevelDB, 1 core)",
    "bare-http": "bare app, cellstore's HTTP server (1 core)",
    "bare-asgi": "bare ASGI app, uvicorn (1 core)",
}
#: The one-core group (bench/targets.py: pinned=True), compared only among themselves.
ONE_CORE = ("cellstore-1w", "dynalite-leveldb-1c", "bare-http", "bare-asgi")
WORKLOADS = {
    "put_item": "PutItem",
    "get_item": "GetItem",
    "query": "Query (10 items)",
    "update_item": "UpdateItem (condition + ADD)",
    "batch_write": "BatchWriteItem (25 puts)",
    "transact_write": "TransactWriteItems (4 puts)",
    "sqs_cycle": "SQS send + receive + delete",
}
SQS = "sqs_cycle"
TARGETED = ("put_item", "get_item", "query")
PEERS = ["dynalite-leveldb", "dynalite-mem", "moto"]
HEADLINE = (16, 200)
NOISY_PCT = 25
#: The targets, as ratios within one run at 16 connections, 200-byte items: issue 16's (the write path and the
#: hot path), and those of the benchmarks issue before it that issue 16 did not raise.
TARGET_DYNALITE = {  # default configuration ÷ dynalite (LevelDB), issue 16
    "put_item": 2.0, "get_item": 2.5, "query": 3.0, "update_item": 2.0, "batch_write": 2.0,
}
TARGET_MOTO = 20.0  # default configuration ÷ moto server, PutItem/GetItem/Query
TARGET_P99_MS = 10.0  # default configuration, PutItem/GetItem/Query
TARGET_ONE_WORKER = 1.0  # one worker ÷ dynalite (LevelDB), one core each
TARGET_SCALE = {"put_item": 1.5, "sqs_cycle": 1.3}  # default configuration ÷ one worker, issue 16
TARGET_CEILING_SHARE = 0.20  # one worker's PutItem ÷ the bare app on cellstore's HTTP server, issue 16
TARGET_INPROCESS = 15.0  # moto mock_aws ÷ cellstore in_process, the boto3 scenario, issue 16
TARGET_SQS = 10.0  # default configuration ÷ moto server, send+receive+delete cycles
#: How the default configuration wrote, by the results' ``write_path`` (absent: a run from before it was recorded).
WRITE_PATHS = {
    "writer": ("the writer process, one process that owns the write connection and commits each round's handed-off "
               "requests together — docs/ARCHITECTURE.md, *Write path*"),
    "flock": "every worker writing for itself, taking turns on an flock (the default before 2026-12-04)",
}


class Results:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.cells = {(c["target"], c["workload"], c["connections"], c["item_bytes"]): c for c in data["cells"]}
        self.shapes = sorted({(c["connections"], c["item_bytes"]) for c in data["cells"]}, key=lambda s: (s[1], s[0]))
        self.targets = [t for t in LABELS if any(c["target"] == t for c in data["cells"])]

    def cell(self, target: str, workload: str, shape: tuple[int, int] = HEADLINE) -> dict[str, Any] | None:
        return self.cells.get((target, workload, *shape))

    def ratio(self, workload: str, peer: str, shape: tuple[int, int] = HEADLINE, ours: str = "cellstore") -> float | None:
        """``ours``'s rate (req/s, or cycles/s) over the peer's."""
        mine, theirs = self.cell(ours, workload, shape), self.cell(peer, workload, shape)
        if mine is None or theirs is None or not theirs["rps"]:
            return None
        return mine["rps"] / theirs["rps"]

    def cpu_ratio(self, workload: str, peer: str, shape: tuple[int, int] = HEADLINE,
                  ours: str = "cellstore") -> float | None:
        """The peer's server CPU per request (or cycle) over ``ours``'s: how many times less CPU ``ours`` needs."""
        mine, theirs = self.cell(ours, workload, shape), self.cell(peer, workload, shape)
        if mine is None or theirs is None or not mine["cpu_us_per_request"] or not theirs["rps"]:
            return None
        return theirs["cpu_us_per_request"] / mine["cpu_us_per_request"]

    def workers(self, target: str = "cellstore") -> int | None:
        """How many request-serving processes the target ran: a supervisor with N workers is N + 1 processes."""
        counts = {c.get("server_processes") for c in self.data["cells"] if c["target"] == target}
        counts.discard(None)
        if not counts:
            return None
        most = max(counts)
        if most == 1:
            return 1
        helpers = 2 if target == "cellstore" and self.write_path == "writer" else 1  # the supervisor, the writer
        return max(1, most - helpers)

    @property
    def write_path(self) -> str:
        """``writer`` or ``flock``: how the default configuration wrote in this run."""
        return str(self.data.get("write_path", "flock"))


def _x(value: float | None) -> str:
    """A ratio, with enough digits that one just under a target (19.6× against 20×) does not read as met."""
    if value is None:
        return "—"
    return f"{value:.2f}×" if value < 10 else f"{value:.1f}×" if value < 100 else f"{value:.0f}×"


def _pair(speed: float | None, cpu: float | None) -> str:
    return "—" if speed is None else f"{_x(speed)} ({_x(cpu)})"


def _rps(value: float) -> str:
    return f"{value:,.0f}"


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


def _shape(shape: tuple[int, int]) -> str:
    connections, size = shape
    return f"{connections} conn, {'4 KB' if size == 4096 else f'{size} B'}"


def _yes(ok: bool | None) -> str:
    return "—" if ok is None else "yes" if ok else "**no**"


def _at_least(value: float | None, target: float) -> bool | None:
    return None if value is None else value >= target


def _workers_text(r: Results) -> str:
    n = r.workers("cellstore")
    if n is None:
        return "the server's default number of workers"
    helpers = " plus a supervisor" + (" and the writer process" if r.write_path == "writer" else "")
    return f"{n} worker process{'es' if n != 1 else ''} in this run" + (helpers if n > 1 else "")


def headline(r: Results) -> list[str]:
    lines = [
        f"## Headline: served, default configuration, {_shape(HEADLINE)} items",
        "",
        (f"cellstore as `cellstore serve --data-dir` starts it (no `--workers`: {_workers_text(r)}; "
        f"durable SQLite file; writes through {WRITE_PATHS.get(r.write_path, r.write_path)}) against each peer on "
        "the same workload, every server unpinned. "
        "Each ratio is cellstore's rate divided by the peer's (above 1× cellstore is faster), then, "
        "in brackets, the peer's server CPU per request divided by cellstore's (above 1× cellstore needs less CPU "
        "per request). The CPU ratio is the steadier of the two on a shared machine. The SQS row counts whole "
        "send + receive + delete cycles (three requests each), not requests."),
        "",
        "| Workload | cellstore rate | p50 / p99 ms | server CPU µs/unit | × dynalite (LevelDB) | × dynalite (memory) | × moto |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for workload, name in WORKLOADS.items():
        c = r.cell("cellstore", workload)
        if c is None:
            continue
        unit = "cycles/s" if workload == SQS else "req/s"
        ratios = " | ".join(_pair(r.ratio(workload, peer), r.cpu_ratio(workload, peer)) for peer in PEERS)
        lines.append(f"| {name} | {_rps(c['rps'])} {unit} | {_ms(c['p50_ms'])} / {_ms(c['p99_ms'])} | "
                     f"{c['cpu_us_per_request']:.0f} | {ratios} |")
    lines += ["", ("— : the peer does not implement the operation (dynalite has no transactions and no SQS) "
              "or it was not run."), ""]
    return lines


def targets(r: Results) -> list[str]:
    """One met/no table per target of the issue, then how many are met."""
    verdicts: list[bool | None] = []
    lines = [
        "## Against the targets",
        "",
        (f"Issue 16's targets and the benchmarks issue's it left as they were; ratios within this run, "
        f"{_shape(HEADLINE)} items; rate ratio first, CPU-per-request ratio in brackets (the verdict is on the rate)."),
        "",
        (f"**Served, default configuration, durable SQLite** (unpinned, as above): dynalite (LevelDB) by the "
        f"ratio in the table, ≥ {TARGET_MOTO:.0f}× moto server and p99 ≤ {TARGET_P99_MS:.0f} ms for PutItem, GetItem "
        "and Query."),
        "",
        (f"| Workload | × dynalite (LevelDB) | target | met | × moto | ≥ {TARGET_MOTO:.0f}× | p99 ms "
        f"| ≤ {TARGET_P99_MS:.0f} ms |"),
        "| --- | ---: | ---: | :---: | ---: | :---: | ---: | :---: |",
    ]
    for workload, target in TARGET_DYNALITE.items():
        c = r.cell("cellstore", workload)
        d = r.ratio(workload, "dynalite-leveldb")
        ok_d = _at_least(d, target)
        verdicts.append(ok_d)
        moto = p99_cells = "— | —"
        if workload in TARGETED:
            m = r.ratio(workload, "moto")
            p99 = None if c is None else c["p99_ms"]
            ok = [_at_least(m, TARGET_MOTO), None if p99 is None else p99 <= TARGET_P99_MS]
            verdicts += ok
            moto = f"{_pair(m, r.cpu_ratio(workload, 'moto'))} | {_yes(ok[0])}"
            p99_cells = f"{'—' if p99 is None else _ms(p99)} | {_yes(ok[1])}"
        lines.append(
            f"| {WORKLOADS[workload]} | {_pair(d, r.cpu_ratio(workload, 'dynalite-leveldb'))} | {target:.1f}× | "
            f"{_yes(ok_d)} | {moto} | {p99_cells} |")
    lines += [
        "",
        ("**What the workers buy**: the default configuration's rate (unpinned) over one worker's (pinned, the "
        "one-core group), conditions differing."),
        "",
        "| Workload | default | one worker | default ÷ one worker | target | met |",
        "| --- | ---: | ---: | ---: | ---: | :---: |",
    ]
    for workload, target in TARGET_SCALE.items():
        ours, one = r.cell("cellstore", workload), r.cell("cellstore-1w", workload)
        scale = r.ratio(workload, "cellstore-1w")
        ok = _at_least(scale, target)
        verdicts.append(ok)
        lines.append(f"| {WORKLOADS[workload]} | {_rps(ours['rps']) if ours else '—'} | "
                     f"{_rps(one['rps']) if one else '—'} | {_x(scale)} | {target:.1f}× | {_yes(ok)} |")
    share = r.ratio("put_item", "bare-http", ours="cellstore-1w")
    ok = _at_least(share, TARGET_CEILING_SHARE)
    verdicts.append(ok)
    lines += [
        "",
        (f"**One worker, one core, against the HTTP ceiling**: PutItem ≥ {TARGET_CEILING_SHARE:.0%} of the bare app "
        "on cellstore's own HTTP server, both in the one-core group: "
        f"{'—' if share is None else f'{share:.0%}'} ({_yes(ok)})."),
    ]
    pinned = r.data.get("pinned", True)
    lines += [
        "",
        f"**One worker**: `--workers 1` against dynalite (LevelDB), ≥ {TARGET_ONE_WORKER:.1f}×, "
        + ("each server pinned to one core and wrk to the other." if pinned else "unpinned (`--no-pin`)."),
        "",
        ("| Workload | one worker req/s | dynalite (LevelDB) req/s | × dynalite (LevelDB) "
        f"| ≥ {TARGET_ONE_WORKER:.1f}× |"),
        "| --- | ---: | ---: | ---: | :---: |",
    ]
    for workload in TARGETED:
        ours, theirs = r.cell("cellstore-1w", workload), r.cell("dynalite-leveldb-1c", workload)
        ratio = r.ratio(workload, "dynalite-leveldb-1c", ours="cellstore-1w")
        ok = _at_least(ratio, TARGET_ONE_WORKER)
        verdicts.append(ok)
        lines.append(f"| {WORKLOADS[workload]} | {_rps(ours['rps']) if ours else '—'} | "
                     f"{_rps(theirs['rps']) if theirs else '—'} | "
                     f"{_pair(ratio, r.cpu_ratio(workload, 'dynalite-leveldb-1c', ours='cellstore-1w'))} | {_yes(ok)} |")
    inproc = r.data.get("inprocess") or {}
    ours_s, moto_s = inproc.get("cellstore", {}).get("total"), inproc.get("moto", {}).get("total")
    ratio = moto_s / ours_s if ours_s and moto_s else None
    ok = _at_least(ratio, TARGET_INPROCESS)
    verdicts.append(ok)
    lines += [
        "",
        f"**In-process via boto3**: the scenario below, ≥ {TARGET_INPROCESS:.0f}× moto's `mock_aws`.",
        "",
        f"| Scenario | cellstore s | moto mock_aws s | moto ÷ cellstore | ≥ {TARGET_INPROCESS:.0f}× |",
        "| --- | ---: | ---: | ---: | :---: |",
        (f"| create, 2,000 PutItem, 2,000 GetItem, 200 Query, delete | {'—' if ours_s is None else f'{ours_s:.2f}'} | "
        f"{'—' if moto_s is None else f'{moto_s:.2f}'} | {_x(ratio)} | {_yes(ok)} |"),
    ]
    ours, theirs = r.cell("cellstore", SQS), r.cell("moto", SQS)
    ratio = r.ratio(SQS, "moto")
    ok = _at_least(ratio, TARGET_SQS)
    verdicts.append(ok)
    lines += [
        "",
        (f"**SQS send + receive + delete**, default configuration against moto server (unpinned), "
        f"≥ {TARGET_SQS:.0f}×; complete cycles per second."),
        "",
        f"| Workload | cellstore cycles/s | moto cycles/s | × moto | ≥ {TARGET_SQS:.0f}× |",
        "| --- | ---: | ---: | ---: | :---: |",
        (f"| {WORKLOADS[SQS]} | {_rps(ours['rps']) if ours else '—'} | {_rps(theirs['rps']) if theirs else '—'} | "
        f"{_pair(ratio, r.cpu_ratio(SQS, 'moto'))} | {_yes(ok)} |"),
    ]
    met = sum(1 for v in verdicts if v)
    lines += ["", (f"Met: {met} of {len(verdicts)}. — : not measured in this run (a peer failed, or the run left "
              "the cell out), which counts as not met.")]
    return lines + [""]


def one_worker(r: Results) -> list[str]:
    """Every workload of the one-core group side by side, and what the default configuration adds."""
    rows = [w for w in WORKLOADS if r.cell("cellstore-1w", w)]
    if not rows:
        return []
    lines = [
        f"## One worker, one core each: {_shape(HEADLINE)} items",
        "",
        "cellstore with `--workers 1` against dynalite (LevelDB), "
        + ("each pinned to core 0 with wrk on core 1" if r.data.get("pinned", True) else "unpinned (`--no-pin`)")
        + ": the per-core comparison. The last column is the default configuration's rate (unpinned, from the "
        "headline) over one worker's (pinned): what the extra workers buy on this machine, conditions differing.",
        "",
        ("| Workload | one worker rate | p50 / p99 ms | CPU µs/unit | × dynalite (LevelDB, 1 core) "
        "| default ÷ one worker |"),
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for workload in rows:
        c = r.cell("cellstore-1w", workload)
        assert c is not None
        unit = "cycles/s" if workload == SQS else "req/s"
        ratio = r.ratio(workload, "dynalite-leveldb-1c", ours="cellstore-1w")
        cpu = r.cpu_ratio(workload, "dynalite-leveldb-1c", ours="cellstore-1w")
        scale = r.ratio(workload, "cellstore-1w")
        lines.append(f"| {WORKLOADS[workload]} | {_rps(c['rps'])} {unit} | {_ms(c['p50_ms'])} / {_ms(c['p99_ms'])} | "
                     f"{c['cpu_us_per_request']:.0f} | {_pair(ratio, cpu)} | {_x(scale)} |")
    return lines + [""]


def ceilings(r: Results) -> list[str]:
    lines = [
        "## Against the ceilings",
        "",
        ("**HTTP ceiling** — a bare app on cellstore's own HTTP server (`protocol/http.py`: uvloop + httptools), "
        "one process, driven by the PutItem script; it reads the body and answers `{}`. For reference, the "
        "same fixed answer from a bare ASGI app on uvicorn (uvloop + httptools), cellstore's stack before it "
        "had its own server. The share is how much of its own server's ceiling cellstore's PutItem reaches "
        "with one worker; all are in the one-core group."),
        "",
        ("| Shape | bare app req/s | p50 / p99 ms | CPU µs/req | bare ASGI on uvicorn req/s | CPU µs/req "
        "| cellstore PutItem req/s (one worker) | share |"),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for shape in r.shapes:
        bare, ours = r.cell("bare-http", "put_item", shape), r.cell("cellstore-1w", "put_item", shape)
        if bare is None or ours is None:
            continue
        asgi = r.cell("bare-asgi", "put_item", shape)
        asgi_cells = (f"{_rps(asgi['rps'])} | {asgi['cpu_us_per_request']:.0f}" if asgi else "— | —")
        lines.append(f"| {_shape(shape)} | {_rps(bare['rps'])} | {_ms(bare['p50_ms'])} / {_ms(bare['p99_ms'])} | "
                     f"{bare['cpu_us_per_request']:.0f} | {asgi_cells} | {_rps(ours['rps'])} | "
                     f"{100 * ours['rps'] / bare['rps']:.0f}% |")
    lines += [
        "",
        ("**Storage ceiling** — raw SQLite from Python in one thread, no network: the same `kv` table and "
        "pragmas as cellstore, one statement per operation in its own transaction. Compared with cellstore's "
        "server CPU per request at 16 connections (one worker; ‡ : the default configuration, where the "
        "one-worker cell was not run), the storage share is the part of cellstore's CPU that SQLite alone "
        "would need."),
        "",
        "| Operation | item | raw SQLite ops/s | p50 / p99 ms | CPU µs/op | cellstore CPU µs/req | storage share |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for raw in r.data.get("raw_sqlite", []):
        shape = (16, raw["item_bytes"])
        ours = r.cell("cellstore-1w", raw["workload"], shape)
        mark = ""
        if ours is None:
            ours, mark = r.cell("cellstore", raw["workload"], shape), " ‡"
        mine = f"{ours['cpu_us_per_request']:.0f}{mark}" if ours else "—"
        share = f"{100 * raw['cpu_us_per_request'] / ours['cpu_us_per_request']:.0f}%" if ours else "—"
        size = "4 KB" if raw["item_bytes"] == 4096 else f"{raw['item_bytes']} B"
        lines.append(f"| {WORKLOADS[raw['workload']]} | {size} | {_rps(raw['rps'])} | "
                     f"{raw['p50_ms']:.3f} / {raw['p99_ms']:.3f} | {raw['cpu_us_per_request']:.0f} | {mine} | {share} |")
    return lines + [""]


def matrix(r: Results) -> list[str]:
    lines = [
        "## Every cell",
        "",
        ("req/s, then p50 / p99 in ms, then server CPU in µs per request. "
        "Batch and transaction rows count requests, not items (25 and 4 items per request); SQS rows count "
        "send + receive + delete cycles (three requests; latency per request, CPU per cycle). "
        "Servers marked *1 core* are the one-core group (pinned); the others ran unpinned. "
        f"† : other processes on the machine used more than {NOISY_PCT}% of a core during the cell "
        "(the machine is shared; such a cell may read low)."),
        "",
    ]
    for workload, name in WORKLOADS.items():
        rows = [t for t in r.targets if any(r.cell(t, workload, s) for s in r.shapes)]
        if not rows:
            continue
        lines += [f"### {name}", "", "| Server | " + " | ".join(_shape(s) for s in r.shapes) + " |",
                  "| --- |" + " ---: |" * len(r.shapes)]
        for target in rows:
            cells = []
            for shape in r.shapes:
                c = r.cell(target, workload, shape)
                cells.append("—" if c is None else
                             f"{_rps(c['rps'])} · {_ms(c['p50_ms'])}/{_ms(c['p99_ms'])} · {c['cpu_us_per_request']:.0f}"
                             + (f" · {c['errors']} err" if c["errors"] else "")
                             + (" †" if c.get("other_cpu_pct", 0) > NOISY_PCT else ""))
            lines.append(f"| {LABELS[target]} | " + " | ".join(cells) + " |")
        lines.append("")
    failures = r.data.get("failures", [])
    if failures:
        lines += ["Not measured or failing:", ""]
        lines += [f"- {LABELS.get(f['target'], f['target'])}, {WORKLOADS.get(f['workload'], f['workload'])}: {f['error']}"
                  for f in failures]
        lines.append("")
    return lines


def inprocess(r: Results) -> list[str]:
    data = r.data.get("inprocess")
    if not data:
        return []
    phases = ["create_table", "put_item", "get_item", "query", "delete_table", "total"]
    names = {"create_table": "CreateTable", "put_item": "2,000 PutItem", "get_item": "2,000 GetItem",
             "query": "200 Query (10 items)", "delete_table": "DeleteTable",
             "total": "total (with client creation)"}
    lines = [
        "## In-process: a test suite's calls through boto3, no server",
        "",
        ("`bench/inprocess.py`: create a table, 2,000 PutItem, 2,000 GetItem, 200 Query, delete the table, "
        "through a boto3 client. cellstore's `in_process()` fast path (botocore `before-call` hook), its "
        "wire path (`fast=False`: botocore signs and serializes, cellstore parses the HTTP request), and "
        "moto's `mock_aws`. Best of the runs, seconds."),
        "",
        "| Phase | cellstore | cellstore (wire path) | moto mock_aws | moto ÷ cellstore |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    def fmt(v: float | None) -> str:
        return "—" if v is None else f"{v:.3f}"

    for phase in phases:
        ours, wire, moto = (data.get(i, {}).get(phase) for i in ("cellstore", "cellstore-wire", "moto"))
        ratio = _x(moto / ours) if ours and moto else "—"
        lines.append(f"| {names[phase]} | {fmt(ours)} | {fmt(wire)} | {fmt(moto)} | {ratio} |")
    ours = data.get("cellstore", {})
    if ours.get("put_item"):
        lines += ["", (f"Per call on the fast path: PutItem {1e6 * ours['put_item'] / 2000:.0f} µs, "
                  f"GetItem {1e6 * ours['get_item'] / 2000:.0f} µs, Query {1e6 * ours['query'] / 200:.0f} µs.")]
    return lines + [""]


def profile(r: Results) -> list[str]:
    data = r.data.get("hotspots")
    if not data:
        return []
    lines = [
        "### Measured profile",
        "",
        ("py-spy (`--nonblocking --function`, 500 Hz) on the cellstore server (SQLite file, `--workers 1`: py-spy "
        "samples one process) while wrk drives "
        "16 connections of 200-byte items. *Self* is the share of samples whose innermost Python frame is the "
        "function; time inside C (sqlite3, orjson, httptools) counts against the Python function that called it."),
        "",
    ]
    for workload, summary in data.items():
        lines += [f"**{WORKLOADS[workload]}** ({summary['samples']} samples). By layer: "
                  + ", ".join(f"{name} {pct}%" for name, pct in summary["layers"]) + ".", "",
                  "| Function (self) | % | Function (inclusive, cellstore only) | % |", "| --- | ---: | --- | ---: |"]
        inclusive = [i for i in summary["inclusive"] if not i[0].startswith(("main (", "_serve (", "serve (", "run_on (", "<module>"))]
        for k in range(12):
            s = summary["self"][k] if k < len(summary["self"]) else ("", "")
            i = inclusive[k] if k < len(inclusive) else ("", "")
            lines.append(f"| `{s[0]}` | {s[1]} | `{i[0]}` | {i[1]} |".replace("``", ""))
        lines.append("")
    return lines


def _results_option(r: Results) -> str:
    path = r.data.get("results_file", "bench/results/latest.json")
    return "" if path == "bench/results/latest.json" else f" --results {path}"


def method(r: Results) -> list[str]:
    m = r.data["machine"]
    pinned = r.data.get("pinned", True)
    one_core = ("each server pinned to core 0 and wrk (one thread) to core 1" if pinned
                else "unpinned too (`--no-pin`)")
    return [
        "## How these numbers were made",
        "",
        (f"- Command: `{r.data['command']}` (from the repository root; {r.data.get('elapsed_s', '?')} s in all), "
        f"{r.data['date']}. Raw results: `{r.data.get('results_file', 'bench/results/latest.json')}`; re-render with "
        f"`python3 bench/run.py --render-only{_results_option(r)}`."),
        (f"- Machine: {m['cpu']}, {m['cores']} cores, {m['os']}; {m['python']}, SQLite {m['sqlite']}, "
        f"node {m['node']}, {m['wrk']}; {m['cellstore']}, moto {m['moto']}, dynalite 4.0.0."),
        ("- Two groups of servers, one after the other. The headline group — cellstore in its default "
        "configuration, cellstore in memory, dynalite on LevelDB and in memory, moto server — runs with nothing "
        "pinned, neither the servers nor wrk: a multi-process server cannot be held to one core, so for the same "
        "conditions no server is, and the scheduler places everything. The one-core group — cellstore "
        f"`--workers 1`, dynalite on LevelDB again, the two bare apps — runs with {one_core}. "
        "Within a group all servers run at once; "
        f"each cell is measured on every server back to back, {r.data.get('rounds', 1)} rounds of "
        f"{r.data['duration_s']} s of wrk, and each server's best round counts (the rounds' rates are in the JSON). "
        "Each server gets a 1 s warm-up per kind of workload first. Server CPU is utime+stime of the server's "
        "process tree — the process (all threads), its live child processes and the children it reaped, from "
        "`/proc/<pid>/stat` — before and after each round, so a multi-worker cellstore's workers count."),
        ("- DynamoDB requests are real DynamoDB JSON 1.0 with `X-Amz-Target`, a well-formed SigV4 `Authorization` "
        "header and `X-Amz-Date` (bench/lua/). Write workloads write a new key per item; GetItem, Query and "
        f"UpdateItem pick a random one of {r.data['partitions']} preloaded partitions of 10 items. Items are "
        "~200 bytes or ~4 KB (a padding attribute). The headline group runs every DynamoDB workload at every "
        "shape (cellstore in memory at 16 connections, 200 B only); the one-core group runs each at 16 "
        "connections, 200 B, and one worker's and the bare apps' PutItem at every shape."),
        ("- SQS (`bench/lua/sqs_cycle.lua`): AWS JSON 1.0 (`X-Amz-Target: AmazonSQS.*`, the credential scope naming "
        "`sqs`) on one standard queue per server, created before the load with a backlog of 100 messages. "
        "One state machine per wrk thread steps SendMessage (a 200-byte body), ReceiveMessage (one message, "
        "`WaitTimeSeconds` 0) and DeleteMessage of the oldest receipt handle received (a send instead when none "
        "is pending). The rate is complete cycles per second: DeleteMessage requests answered 2xx. Latency "
        "percentiles are over all three operations' requests; CPU is per cycle. 16 connections only."),
        (f"- cellstore: `python -m cellstore serve --data-dir <tmp>` with no `--workers` ({_workers_text(r)}; "
        "WAL, synchronous=NORMAL), the same with `--workers 1`, and `--in-memory`. dynalite: `node cli.js --path "
        "<tmp>` (LevelDB) and without `--path` (memory), `--createTableMs 0`. moto: `moto_server` (Flask/werkzeug, "
        "threaded). All peers live under bench/.peers/."),
        (f"- Load average {' '.join(r.data.get('loadavg_start', []))} at the start, "
        f"{' '.join(r.data.get('loadavg_end', []))} at the end: other engineers' test runs share these two cores. "
        "Each round first waits briefly (--quiet-wait, 0.5 s by default) for the machine to go quiet and records the CPU other "
        "processes used meanwhile (the † marks above); ratios within one run are more trustworthy than absolute numbers."),
        ("- Latency percentiles are wrk's (closed loop: at 64 connections they include queueing). "
        "Raw SQLite and in-process numbers are single-threaded, in one process, no network."),
        "",
    ]


def chart(r: Results) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    order = ("cellstore", "cellstore-1w", "cellstore-mem", "dynalite-leveldb", "dynalite-leveldb-1c",
             "dynalite-mem", "moto")
    targets = [t for t in order if t in r.targets]
    workloads = [w for w in WORKLOADS if r.cell("cellstore", w) or r.cell("cellstore-1w", w)]
    if not targets or not workloads:
        return False
    fig, axes = plt.subplots(2, 1, figsize=(13, 8.5), sharex=True)
    width = 0.84 / len(targets)
    colours = {"cellstore": "C0", "cellstore-1w": "C0", "cellstore-mem": "C9", "dynalite-leveldb": "C1",
               "dynalite-leveldb-1c": "C1", "dynalite-mem": "C2", "moto": "C3"}
    for i, target in enumerate(targets):
        xs = [k + i * width for k in range(len(workloads))]
        cells = [r.cell(target, w) for w in workloads]
        style = {"color": colours.get(target), "label": LABELS[target], "edgecolor": "black", "linewidth": 0.4}
        if target in ONE_CORE:
            style["hatch"] = "//"
        axes[0].bar(xs, [c["rps"] if c else 0 for c in cells], width, **style)
        style.pop("label")
        axes[1].bar(xs, [c["p99_ms"] if c else 0 for c in cells], width, **style)
    bare = r.cell("bare-http", "put_item")
    if bare:
        axes[0].axhline(bare["rps"], color="grey", linestyle="--", linewidth=1,
                        label="bare app on cellstore's HTTP server, 1 core (HTTP ceiling)")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("requests / s; SQS: cycles / s (log)")
    axes[0].set_title(f"Served, {_shape(HEADLINE)} items (higher is better); hatched: one core each, "
                      "pinned; plain: unpinned")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=4, fontsize=8, frameon=False)
    axes[1].set_yscale("log")
    axes[1].set_ylabel("p99 latency per request, ms (log)")
    axes[1].axhline(TARGET_P99_MS, color="red", linestyle=":", linewidth=1)
    axes[1].set_title(f"p99 latency (lower is better; dotted: {TARGET_P99_MS:.0f} ms target)")
    axes[1].set_xticks([k + (len(targets) - 1) * width / 2 for k in range(len(workloads))])
    names = [WORKLOADS[w].replace("SQS send + receive + delete", "SQS send+receive+delete\n(cycles)")
             for w in workloads]
    axes[1].set_xticklabels(names, rotation=12, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.93))  # room for the legend above
    fig.savefig(CHART, dpi=100)
    plt.close(fig)
    return True


def trend() -> list[str]:
    """The trend section: ratios over commits from bench/history.jsonl, drawn by bench/history.py."""
    if not TREND.exists():
        return []
    return [
        "## Trend",
        "",
        ("Ratios within each run over the commits they measured, one point per `make bench` "
        "(`bench/history.jsonl`, one JSON line per run: commit, date, machine, ratios and key figures; "
        "redrawn by `bench/history.py --plot`). Dotted lines are issue 16's targets; a `+` after a commit "
        "means the worktree had uncommitted changes. Runs on a shared machine are noisy: read a dip "
        "that lasts, not one point."),
        "",
        f"![benchmark ratios over commits]({TREND.name})",
        "",
    ]


def _analysis(existing: str) -> str:
    if ANALYSIS_START in existing and ANALYSIS_END in existing:
        start = existing.index(ANALYSIS_START)
        return existing[start : existing.index(ANALYSIS_END) + len(ANALYSIS_END)]
    return f"{ANALYSIS_START}\n(Hand-written findings go here; re-rendering keeps them.)\n{ANALYSIS_END}"


def render(data: dict[str, Any]) -> str:
    r = Results(data)
    existing = DOC.read_text() if DOC.exists() else ""
    has_chart = chart(r)
    lines = [
        "# Benchmarks",
        "",
        ("cellstore served over HTTP — in its default configuration and with one worker — against dynalite "
        "(LevelDB and in-memory), moto's server, a bare app on the same HTTP server (and one on uvicorn) and raw SQLite, "
        "DynamoDB operations and an SQS send + receive + delete cycle, all in one run on one machine; then "
        "cellstore's in-process mode against moto's `mock_aws`. Generated by `bench/run.py` with "
        f"`{data['command']}` (from the repository root) on {data['date']}; only the *Where the time goes* "
        "analysis is written by hand."),
        "",
    ]
    if has_chart:
        lines += [f"![requests/s and p99 per workload]({CHART.name})", ""]
    lines += trend()
    lines += headline(r) + targets(r) + one_worker(r) + ceilings(r) + inprocess(r)
    lines += ["## Where the time goes", "", _analysis(existing), ""] + profile(r)
    lines += matrix(r) + method(r)
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    args = parser.parse_args()
    DOC.write_text(render(json.loads(args.results.read_text())))
    print(f"wrote {DOC} and {CHART}")


if __name__ == "__main__":
    main()
