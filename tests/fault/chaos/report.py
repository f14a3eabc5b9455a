"""The figures of a chaos run, the verdict on them, and the report as JSON and markdown.

The verdict is what ``make chaos`` promises (docs/RELIABILITY.md): no lost,
duplicated, half-applied, resurrected or phantom write; no 5xx answer other
than PostgreSQL's retryable StorageUnavailable while it is down; a fresh
client answered during every pressure; memory under the bound and flat over
the soak.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .abuse import AbuseFigures
from .faults import FaultFigures
from .fuzz import FuzzFigures
from .sampler import Peak

#: The 500 PostgreSQL's outage is allowed to cause: errors.StorageUnavailable, which is AWS's
#: retryable InternalServerError on the wire (a client cannot tell it from another 500, so
#: during the PostgreSQL phase every InternalServerError is counted apart and listed).
RETRYABLE = "(InternalServerError)"
#: The sampler phase (and fault row) of the mixed soak, whose memory must stay flat.
SOAK = "soak (no fault)"


@dataclass
class Run:
    parameters: dict[str, Any]
    faults: list[FaultFigures] = field(default_factory=list)
    abuse: list[AbuseFigures] = field(default_factory=list)
    fuzz: list[FuzzFigures] = field(default_factory=list)
    peaks: dict[str, Peak] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    started: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
    seconds: float = 0.0

    def totals(self) -> dict[str, Any]:
        findings = [f.findings for f in self.faults]
        unexpected_5xx = sum(1 for f in self.faults for line in f.five_xx if not _retryable(f, line))
        soak = self.peaks.get(SOAK)
        first, last = soak.first_and_last_quarter() if soak else (0.0, 0.0)
        return {
            "cycles": sum(f.cycles for f in self.faults),
            "acknowledged": sum(f.acknowledged for f in self.faults),
            "unsure": sum(f.unsure for f in self.faults),
            "lost": sum(len(f.lost) for f in findings),
            "duplicated": sum(len(f.duplicated) for f in findings),
            "half_applied": sum(len(f.half_applied) for f in findings),
            "resurrected": sum(len(f.resurrected) for f in findings),
            "phantom": sum(len(f.phantom) for f in findings),
            "5xx": unexpected_5xx + sum(a.five_xx for a in self.abuse) + sum(z.five_xx for z in self.fuzz),
            "retryable_500_during_postgres_outage": sum(
                1 for f in self.faults for line in f.five_xx if _retryable(f, line)),
            "lockouts": sum(not a.probe_ok for a in self.abuse),
            "peak_rss_mib": round(max((p.rss_mib for p in self.peaks.values()), default=0.0), 1),
            "peak_fds": max((p.fds for p in self.peaks.values()), default=0),
            "soak_rss_first_quarter_mib": round(first, 1),
            "soak_rss_last_quarter_mib": round(last, 1),
        }

    def failures(self) -> list[str]:
        """Why the run fails its promise (empty: it passes)."""
        totals = self.totals()
        reasons = [f"{totals[name]} {name}" for name in ("lost", "duplicated", "half_applied", "resurrected",
                                                        "phantom", "5xx", "lockouts") if totals[name]]
        bound = self.parameters.get("rss_limit_mib", 0)
        if bound and totals["peak_rss_mib"] > bound:
            reasons.append(f"peak RSS {totals['peak_rss_mib']} MiB over the {bound} MiB bound")
        first, last = totals["soak_rss_first_quarter_mib"], totals["soak_rss_last_quarter_mib"]
        if first and last > first * 1.25 + 16:
            reasons.append(f"memory grew over the soak: {first} MiB -> {last} MiB")
        return reasons

    def as_json(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "seconds": round(self.seconds, 1),
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform()},
            "parameters": self.parameters,
            "totals": self.totals(),
            "failures": self.failures(),
            "skipped": self.skipped,
            "faults": [{
                "fault": f.fault, "cycles": f.cycles, "acknowledged": f.acknowledged, "unsure": f.unsure,
                "lost": f.findings.lost[:20], "duplicated": f.findings.duplicated[:20],
                "half_applied": f.findings.half_applied[:20], "resurrected": f.findings.resurrected[:20],
                "phantom": f.findings.phantom[:20], "items_checked": f.findings.items,
                "messages_drained": f.findings.drained,
                "consumed_by_cut_deletes": f.findings.consumed_by_cut_deletes, "five_xx": f.five_xx[:20], "rejected": f.rejected,
                "seconds": round(f.seconds, 1), **_peak(self.peaks.get(f.fault)),
            } for f in self.faults],
            "abuse": [{
                "name": a.name, "statuses": {str(k): v for k, v in sorted(a.statuses.items())}, "five_xx": a.five_xx,
                "fresh_client_answered": a.probe_ok, "fresh_client_seconds": round(a.probe_seconds, 3),
                "fresh_client_error": a.probe_error, "detail": a.detail, "seconds": round(a.seconds, 1),
                **_peak(self.peaks.get(a.name)),
            } for a in self.abuse],
            "fuzz": [{
                "auth": z.auth, "requests": z.requests, "statuses": {str(k): v for k, v in sorted(z.statuses.items())},
                "five_xx": z.five_xx, "five_xx_samples": z.five_xx_samples, "seconds": round(z.seconds, 1),
                **_peak(self.peaks.get(f"fuzz, auth {z.auth}")),
            } for z in self.fuzz],
            "phases": {name: {**_peak(peak), "samples": len(peak.samples)} for name, peak in self.peaks.items()},
        }

    def markdown(self) -> str:
        data = self.as_json()
        totals = data["totals"]
        verdict = "PASS" if not data["failures"] else "FAIL: " + "; ".join(data["failures"])
        lines = [
            f"# Chaos run, {data['started']}",
            "",
            f"{verdict}. {data['seconds']} s on {data['machine']['cpus']} CPUs, Python {data['machine']['python']}; "
            f"parameters: " + ", ".join(f"{k}={v}" for k, v in data["parameters"].items()) + ".",
            "",
            "| figure | value |",
            "|---|---|",
            *(f"| {name.replace('_', ' ')} | {value} |" for name, value in totals.items()),
            "",
            "## Faults",
            "",
            "| fault | cycles | acknowledged | unsure | lost | duplicated | half-applied | resurrected | 5xx | peak RSS MiB | peak fds | s |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
            *(f"| {f['fault']} | {f['cycles']} | {f['acknowledged']} | {f['unsure']} | {len(f['lost'])} | "
              f"{len(f['duplicated'])} | {len(f['half_applied'])} | {len(f['resurrected'])} | {len(f['five_xx'])} | "
              f"{f['peak_rss_mib']} | {f['peak_fds']} | {f['seconds']} |" for f in data["faults"]),
            "",
            "## Abuse",
            "",
            "| pressure | answers | 5xx | fresh client answered | in s | peak RSS MiB | peak fds | detail |",
            "|---|---|---|---|---|---|---|---|",
            *(f"| {a['name']} | {_statuses(a['statuses'])} | {a['five_xx']} | {'yes' if a['fresh_client_answered'] else 'NO'} | "
              f"{a['fresh_client_seconds']} | {a['peak_rss_mib']} | {a['peak_fds']} | {_detail(a['detail'])} |"
              for a in data["abuse"]),
            "",
            "## Fuzz",
            "",
            "| auth | requests | answers | 5xx | peak RSS MiB |",
            "|---|---|---|---|---|",
            *(f"| {z['auth']} | {z['requests']} | {_statuses(z['statuses'])} | {z['five_xx']} | {z['peak_rss_mib']} |"
              for z in data["fuzz"]),
        ]
        if data["skipped"]:
            lines += ["", "Skipped: " + "; ".join(data["skipped"]) + "."]
        samples = [s for z in data["fuzz"] for s in z["five_xx_samples"]] + [s for f in data["faults"] for s in f["five_xx"]]
        if samples:
            lines += ["", "## 5xx answers (those from the PostgreSQL phase are its outage's retryable 500s)", "",
                      *(f"- `{s[:400]}`" for s in samples[:20])]
        return "\n".join(lines) + "\n"

    def write(self, directory: Path) -> tuple[Path, Path]:
        """``chaos-<time>.json`` and ``.md`` in ``directory``, and ``latest.*`` copies; the two paths."""
        directory.mkdir(parents=True, exist_ok=True)
        stem = "chaos-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        paths = directory / f"{stem}.json", directory / f"{stem}.md"
        for path, text in zip(paths, (json.dumps(self.as_json(), indent=2) + "\n", self.markdown()), strict=True):
            path.write_text(text)
            (directory / f"latest{path.suffix}").write_text(text)
        return paths


def _retryable(figures: FaultFigures, line: str) -> bool:
    return figures.fault.startswith("PostgreSQL") and RETRYABLE in line


def _peak(peak: Peak | None) -> dict[str, Any]:
    return {"peak_rss_mib": round(peak.rss_mib, 1) if peak else None, "peak_fds": peak.fds if peak else None}


def _statuses(statuses: dict[str, int]) -> str:
    return ", ".join(f"{count}×{'closed' if status == '0' else status}" for status, count in statuses.items() if count)


def _detail(detail: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in detail.items() if k != "answers").replace("|", "/")
