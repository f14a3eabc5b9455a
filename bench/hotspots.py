"""Where a served cellstore spends its time: py-spy samples, folded into tables.

py-spy (from bench/.peers/) samples the server process while wrk drives one
workload, and writes folded stacks (``frame;frame;... count``, frames as
``function (file:line)``).  ``summarize`` turns those into self time per
function (the leaf frame: time in C code such as sqlite3 or orjson is charged
to the Python function that called it), inclusive time per cellstore function,
and self time per layer.

    bench/.peers/venv/bin/python bench/hotspots.py /tmp/put.folded
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from targets import PEERS

PY_SPY = PEERS / "venv" / "bin" / "py-spy"
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

#: File prefixes -> layer, first match wins.
LAYERS = [
    ("cellstore/protocol/", "cellstore protocol"),
    ("cellstore/api/", "cellstore api"),
    ("cellstore/engine/", "cellstore engine"),
    ("cellstore/storage/", "cellstore storage (SQLite calls)"),
    ("cellstore/", "cellstore other"),
    ("uvicorn/", "uvicorn"),
    ("asyncio/", "asyncio"),
]


def record(pid: int, seconds: float, out: Path, rate: int = 500) -> None:
    """Sample ``pid`` for ``seconds`` into folded stacks at ``out``.

    Non-blocking sampling leaves the server's speed alone at the price of a few
    torn stacks, which py-spy counts as errors and leaves out.
    """
    subprocess.run(
        [str(PY_SPY), "record", "--pid", str(pid), "--duration", str(int(seconds)),
         "--rate", str(rate), "--nonblocking", "--function", "--format", "raw",
         "--output", str(out)],
        check=True, capture_output=True,
    )


def _frame(text: str) -> tuple[str, str]:
    """(function, file) of one folded frame."""
    match = _FRAME.match(text.strip())
    if match is None:
        return text.strip(), ""
    return match["func"], match["file"]


def _layer(file: str) -> str:
    for prefix, name in LAYERS:
        if file.startswith(prefix) or f"/{prefix}" in file:
            return name
    return "other Python"


def summarize(folded: Path, top: int = 12) -> dict[str, Any]:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";")]
        total += count
        func, file = frames[-1]
        self_time[f"{func} ({file})"] += count
        layers[_layer(file)] += count
        for name in {f"{f} ({p})" for f, p in frames if p.startswith("cellstore/")}:
            inclusive[name] += count

    def share(counter: Counter[str], n: int) -> list[tuple[str, float]]:
        return [(name, round(100 * c / total, 1)) for name, c in counter.most_common(n)]

    return {
        "samples": total,
        "self": share(self_time, top),
        "inclusive": share(inclusive, top),
        "layers": share(layers, len(layers)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folded", type=Path)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    print(json.dumps(summarize(args.folded, args.top), indent=2))


if __name__ == "__main__":
    main()
