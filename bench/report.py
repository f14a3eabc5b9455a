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
ANALYSIS_START, ANALYSIS_END = "<!-- analysis -->", "<!-- /analysis -->"

LABELS = {
    "cellstore": "cellstore (SQLite file)",
    "cellstore-mem": "cellstore (in memory)",
    "dynalite-leveldb": "dynalite (LevelDB)",
    "dynalite-mem": "dynalite (in memory)",
    "moto": "moto server",
    "bare-asgi": "bare ASGI app",
}
WORKLOADS = {
    "put_item": "PutItem",
    "get_item": "GetItem",
    "query": "Query (10 items)",
    "update_item": "UpdateItem (condition + ADD)",
    "batch_write": "BatchWriteItem (25 puts)",
    "transact_write": "TransactWriteItems (4 puts)",
}
PEERS = ["dynalite-leveldb", "dynalite-mem", "moto"]
HEADLINE = (16, 200)
NOISY_PCT = 25
#: The issue's targets at 16 connections: ratio to dynalite (LevelDB), ratio to moto, p99.
TARGET_DYNALITE, TARGET_MOTO, TARGET_P99_MS, TARGET_INPROCESS = 1.5, 20.0, 10.0, 5.0


class Results:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.cells = {(c["target"], c["workload"], c["connections"], c["item_bytes"]): c for c in data["cells"]}
        self.shapes = sorted({(c["connections"], c["item_bytes"]) for c in data["cells"]}, key=lambda s: (s[1], s[0]))
        self.targets = [t for t in LABELS if any(c["target"] == t for c in data["cells"])]

    def cell(self, target: str, workload: str, shape: tuple[int, int] = HEADLINE) -> dict[str, Any] | None:
        return self.cells.get((target, workload, *shape))

    def ratio(self, workload: str, peer: str, shape: tuple[int, int] = HEADLINE) -> float | None:
        """cellstore's req/s over the peer's."""
        ours, theirs = self.cell("cellstore", workload, shape), self.cell(peer, workload, shape)
        if ours is None or theirs is None or not theirs["rps"]:
            return None
        return ours["rps"] / theirs["rps"]

    def cpu_ratio(self, workload: str, peer: str, shape: tuple[int, int] = HEADLINE) -> float | None:
        """The peer's server CPU per request over cellstore's: how many times less CPU cellstore needs."""
        ours, theirs = self.cell("cellstore", workload, shape), self.cell(peer, workload, shape)
        if ours is None or theirs is None or not ours["cpu_us_per_request"] or not theirs["requests"]:
            return None
        return theirs["cpu_us_per_request"] / ours["cpu_us_per_request"]


def _x(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}×" if value < 10 else f"{value:.0f}×"


def _pair(speed: float | None, cpu: float | None) -> str:
    return "—" if speed is None else f"{_x(speed)} ({_x(cpu)})"


def _rps(value: float) -> str:
    return f"{value:,.0f}"


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


def _shape(shape: tuple[int, int]) -> str:
    connections, size = shape
    return f"{connections} conn, {'4 KB' if size == 4096 else f'{size} B'}"


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def headline(r: Results) -> list[str]:
    lines = [
        f"## Headline: served, {_shape(HEADLINE)} items",
        "",
        "cellstore (SQLite file, one process) against each peer on the same workload. "
        "Each ratio is cellstore's requests/s divided by the peer's (above 1× cellstore is faster), then, "
        "in brackets, the peer's server CPU per request divided by cellstore's (above 1× cellstore needs less CPU "
        "per request). The CPU ratio is the steadier of the two on a shared machine.",
        "",
        "| Workload | cellstore req/s | p50 / p99 ms | server CPU µs/req | × dynalite (LevelDB) | × dynalite (memory) | × moto |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for workload, name in WORKLOADS.items():
        c = r.cell("cellstore", workload)
        if c is None:
            continue
        ratios = " | ".join(_pair(r.ratio(workload, peer), r.cpu_ratio(workload, peer)) for peer in PEERS)
        lines.append(f"| {name} | {_rps(c['rps'])} | {_ms(c['p50_ms'])} / {_ms(c['p99_ms'])} | "
                     f"{c['cpu_us_per_request']:.0f} | {ratios} |")
    lines += ["", "— : the peer does not implement the operation (dynalite has no transactions) or it was not run.", ""]
    return lines


def targets(r: Results) -> list[str]:
    lines = [
        "## Against the issue's targets",
        "",
        f"At {_shape(HEADLINE)}: ≥ {TARGET_DYNALITE}× dynalite (LevelDB), ≥ {TARGET_MOTO:.0f}× moto, "
        f"p99 ≤ {TARGET_P99_MS:.0f} ms; in-process ≥ {TARGET_INPROCESS:.0f}× mock_aws.",
        "",
        "| Workload | × dynalite (LevelDB) | met | × moto | met | p99 ms | met |",
        "| --- | ---: | :---: | ---: | :---: | ---: | :---: |",
        # ratios as in the headline: req/s, then (CPU per request)
    ]
    for workload in ("put_item", "get_item", "query"):
        c = r.cell("cellstore", workload)
        d, m = r.ratio(workload, "dynalite-leveldb"), r.ratio(workload, "moto")
        if c is None:
            continue
        lines.append(
            f"| {WORKLOADS[workload]} | {_pair(d, r.cpu_ratio(workload, 'dynalite-leveldb'))} | "
            f"{_yes(d is not None and d >= TARGET_DYNALITE)} | {_pair(m, r.cpu_ratio(workload, 'moto'))} | "
            f"{_yes(m is not None and m >= TARGET_MOTO)} | {_ms(c['p99_ms'])} | {_yes(c['p99_ms'] <= TARGET_P99_MS)} |"
        )
    inproc = r.data.get("inprocess")
    if inproc and "moto" in inproc and "cellstore" in inproc:
        ratio = inproc["moto"]["total"] / inproc["cellstore"]["total"]
        lines += ["", f"In-process scenario: cellstore is {_x(ratio)} faster than moto's mock_aws "
                  f"(target {TARGET_INPROCESS:.0f}×: {_yes(ratio >= TARGET_INPROCESS)})."]
    return lines + [""]


def ceilings(r: Results) -> list[str]:
    lines = [
        "## Against the ceilings",
        "",
        "**HTTP ceiling** — the bare ASGI app on cellstore's own stack (uvicorn + uvloop + httptools), "
        "driven by the PutItem script; it reads the body and answers `{}`. "
        "The share is how much of that ceiling cellstore's PutItem reaches.",
        "",
        "| Shape | bare ASGI req/s | p50 / p99 ms | CPU µs/req | cellstore PutItem req/s | share |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for shape in r.shapes:
        bare, ours = r.cell("bare-asgi", "put_item", shape), r.cell("cellstore", "put_item", shape)
        if bare is None or ours is None:
            continue
        lines.append(f"| {_shape(shape)} | {_rps(bare['rps'])} | {_ms(bare['p50_ms'])} / {_ms(bare['p99_ms'])} | "
                     f"{bare['cpu_us_per_request']:.0f} | {_rps(ours['rps'])} | {100 * ours['rps'] / bare['rps']:.0f}% |")
    lines += [
        "",
        "**Storage ceiling** — raw SQLite from Python in one thread, no network: the same `kv` table and "
        "pragmas as cellstore, one statement per operation in its own transaction. Compared with cellstore's "
        "server CPU per request at 16 connections, the storage share is the part of cellstore's CPU that "
        "SQLite alone would need.",
        "",
        "| Operation | item | raw SQLite ops/s | p50 / p99 ms | CPU µs/op | cellstore CPU µs/req | storage share |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for raw in r.data.get("raw_sqlite", []):
        ours = r.cell("cellstore", raw["workload"], (16, raw["item_bytes"]))
        mine = f"{ours['cpu_us_per_request']:.0f}" if ours else "—"
        share = f"{100 * raw['cpu_us_per_request'] / ours['cpu_us_per_request']:.0f}%" if ours else "—"
        size = "4 KB" if raw["item_bytes"] == 4096 else f"{raw['item_bytes']} B"
        lines.append(f"| {WORKLOADS[raw['workload']]} | {size} | {_rps(raw['rps'])} | "
                     f"{raw['p50_ms']:.3f} / {raw['p99_ms']:.3f} | {raw['cpu_us_per_request']:.0f} | {mine} | {share} |")
    return lines + [""]


def matrix(r: Results) -> list[str]:
    lines = [
        "## Every cell",
        "",
        "req/s, then p50 / p99 in ms, then server CPU in µs per request. "
        "Batch and transaction rows count requests, not items (25 and 4 items per request). "
        f"† : other processes on the machine used more than {NOISY_PCT}% of a core during the cell "
        "(the machine is shared; such a cell may read low).",
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
        "`bench/inprocess.py`: create a table, 2,000 PutItem, 2,000 GetItem, 200 Query, delete the table, "
        "through a boto3 client. cellstore's `in_process()` fast path (botocore `before-call` hook), its "
        "wire path (`fast=False`: botocore signs and serializes, cellstore parses the HTTP request), and "
        "moto's `mock_aws`. Best of the runs, seconds.",
        "",
        "| Phase | cellstore | cellstore (wire path) | moto mock_aws | moto ÷ cellstore |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for phase in phases:
        ours, wire, moto = (data.get(i, {}).get(phase) for i in ("cellstore", "cellstore-wire", "moto"))
        ratio = _x(moto / ours) if ours and moto else "—"
        fmt = (lambda v: "—" if v is None else f"{v:.3f}")
        lines.append(f"| {names[phase]} | {fmt(ours)} | {fmt(wire)} | {fmt(moto)} | {ratio} |")
    ours = data.get("cellstore", {})
    if ours.get("put_item"):
        lines += ["", f"Per call on the fast path: PutItem {1e6 * ours['put_item'] / 2000:.0f} µs, "
                  f"GetItem {1e6 * ours['get_item'] / 2000:.0f} µs, Query {1e6 * ours['query'] / 200:.0f} µs."]
    return lines + [""]


def profile(r: Results) -> list[str]:
    data = r.data.get("hotspots")
    if not data:
        return []
    lines = [
        "### Measured profile",
        "",
        "py-spy (`--nonblocking --function`, 500 Hz) on the cellstore server (SQLite file) while wrk drives "
        "16 connections of 200-byte items. *Self* is the share of samples whose innermost Python frame is the "
        "function; time inside C (sqlite3, orjson, httptools) counts against the Python function that called it.",
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


def method(r: Results) -> list[str]:
    m = r.data["machine"]
    return [
        "## How these numbers were made",
        "",
        f"- Command: `{r.data['command']}` (from the repository root; {r.data.get('elapsed_s', '?')} s in all), "
        f"{r.data['date']}. Raw results: `bench/results/latest.json`; re-render with `python3 bench/run.py --render-only`.",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['os']}; {m['python']}, SQLite {m['sqlite']}, "
        f"node {m['node']}, {m['wrk']}; {m['cellstore']}, moto {m['moto']}, dynalite 4.0.0.",
        f"- All servers run at once{', pinned to core 0, with wrk (one thread) on core 1' if r.data['pinned'] else ''}; "
        f"each cell is measured on every server back to back, {r.data.get('rounds', 1)} rounds of "
        f"{r.data['duration_s']} s of wrk, and each server's best round counts (the rounds' req/s are in the JSON). "
        "Each server gets a 1 s warm-up first. Server CPU is utime+stime of the server process (all threads) "
        "from `/proc/<pid>/stat`, before and after each round.",
        "- Requests are real DynamoDB JSON 1.0 with `X-Amz-Target`, a well-formed SigV4 `Authorization` "
        "header and `X-Amz-Date` (bench/lua/). Write workloads write a new key per item; GetItem, Query and "
        f"UpdateItem pick a random one of {r.data['partitions']} preloaded partitions of 10 items. Items are "
        "~200 bytes or ~4 KB (a padding attribute).",
        "- cellstore: `python -m cellstore serve --data-dir <tmp>` (one process; WAL, synchronous=NORMAL) and "
        "`--in-memory`. dynalite: `node cli.js --path <tmp>` (LevelDB) and without `--path` (memory), "
        "`--createTableMs 0`. moto: `moto_server` (Flask/werkzeug, threaded). All peers live under bench/.peers/.",
        f"- Load average {' '.join(r.data.get('loadavg_start', []))} at the start, "
        f"{' '.join(r.data.get('loadavg_end', []))} at the end: other engineers' test runs share these two cores. "
        "Each round first waits briefly (--quiet-wait, 0.5 s by default) for the machine to go quiet and records the CPU other "
        "processes used meanwhile (the † marks above); ratios within one run are more trustworthy than absolute numbers.",
        "- Latency percentiles are wrk's (closed loop: at 64 connections they include queueing). "
        "Raw SQLite and in-process numbers are single-threaded, in one process, no network.",
        "",
    ]


def chart(r: Results) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    targets = [t for t in ("cellstore", "cellstore-mem", "dynalite-leveldb", "dynalite-mem", "moto") if t in r.targets]
    workloads = [w for w in WORKLOADS if r.cell("cellstore", w)]
    fig, axes = plt.subplots(2, 1, figsize=(11, 8), sharex=True)
    width = 0.8 / len(targets)
    for i, target in enumerate(targets):
        xs = [k + i * width for k in range(len(workloads))]
        cells = [r.cell(target, w) for w in workloads]
        axes[0].bar(xs, [c["rps"] if c else 0 for c in cells], width, label=LABELS[target])
        axes[1].bar(xs, [c["p99_ms"] if c else 0 for c in cells], width, label=LABELS[target])
    bare = r.cell("bare-asgi", "put_item")
    if bare:
        axes[0].axhline(bare["rps"], color="grey", linestyle="--", linewidth=1, label="bare ASGI (HTTP ceiling)")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("requests / s (log)")
    axes[0].set_title(f"Served, {_shape(HEADLINE)} items (higher is better)")
    axes[0].legend(fontsize=8, ncol=3)
    axes[1].set_yscale("log")
    axes[1].set_ylabel("p99 latency, ms (log)")
    axes[1].axhline(TARGET_P99_MS, color="red", linestyle=":", linewidth=1)
    axes[1].set_title("p99 latency (lower is better; dotted: 10 ms target)")
    axes[1].set_xticks([k + 0.4 - width / 2 for k in range(len(workloads))])
    axes[1].set_xticklabels([WORKLOADS[w] for w in workloads], rotation=15, fontsize=8)
    fig.tight_layout()
    fig.savefig(CHART, dpi=100)
    plt.close(fig)
    return True


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
        "cellstore served over HTTP against dynalite (LevelDB and in-memory), moto's server, a bare ASGI app "
        "on the same HTTP stack and raw SQLite, all in one run on one machine; then cellstore's in-process "
        "mode against moto's `mock_aws`. Generated by `bench/run.py` "
        f"(`{data['command']}`) on {data['date']}; only the *Where the time goes* analysis is written by hand.",
        "",
    ]
    if has_chart:
        lines += [f"![requests/s and p99 per workload]({CHART.name})", ""]
    lines += headline(r) + targets(r) + ceilings(r) + inprocess(r)
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
