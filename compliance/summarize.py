#!/usr/bin/env python3
"""Condense an Autobahn|Testsuite report (``index.json``) into counts and case ids.

    python3 compliance/summarize.py compliance/reports/picows-lowlevel-server
    python3 compliance/summarize.py DIR --details      # why each FAILED/NON-STRICT case failed

Per agent it prints the ``behavior`` counts (OK, NON-STRICT, INFORMATIONAL,
UNIMPLEMENTED, FAILED), the ``behaviorClose`` counts, and the ids of the
FAILED, NON-STRICT and unclean-close cases.  The last line is one summary line.

A case fails when ``behavior`` or ``behaviorClose`` is FAILED.  NON-STRICT and
UNCLEAN / WRONG CODE closes are allowed unless ``--strict``.  UNIMPLEMENTED
(permessage-deflate cases against a testee without it) is not a failure.

Exit status: 0 all good; 1 a case failed or an expected case is missing from
the report (the run stopped early); 2 no usable report.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BEHAVIORS = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED")
CLOSE_BEHAVIORS = ("OK", "INFORMATIONAL", "WRONG CODE", "UNCLEAN", "FAILED BY CLIENT", "FAILED")
#: behaviorClose values that wstest itself does not count as a failure.
CLOSE_ALLOWED = frozenset({"OK", "INFORMATIONAL", "WRONG CODE", "UNCLEAN", "FAILED BY CLIENT"})
BEHAVIOR_ALLOWED = frozenset({"OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED"})

CaseReport = dict[str, Any]


def case_key(case_id: str) -> tuple[int, ...]:
    """Sort key for case ids: 9.10.1 after 9.2.1."""
    return tuple(int(part) for part in case_id.split(".") if part.isdigit())


@dataclass
class AgentSummary:
    """The condensed results of one agent (one testee) in a report."""

    agent: str
    cases: dict[str, CaseReport]
    expected: list[str] = field(default_factory=list)
    strict: bool = False

    @property
    def ids(self) -> list[str]:
        """The reported case ids, in suite order."""
        return sorted(self.cases, key=case_key)

    def with_behavior(self, *values: str) -> list[str]:
        """Ids whose ``behavior`` is one of values."""
        return [c for c in self.ids if self.cases[c].get("behavior") in values]

    def with_close(self, *values: str) -> list[str]:
        """Ids whose ``behaviorClose`` is one of values."""
        return [c for c in self.ids if self.cases[c].get("behaviorClose") in values]

    @property
    def failed(self) -> list[str]:
        """Ids that count as failures (behavior or close; more of them with strict)."""
        out = []
        for c in self.ids:
            beh = self.cases[c].get("behavior")
            close = self.cases[c].get("behaviorClose")
            if beh not in BEHAVIOR_ALLOWED or close not in CLOSE_ALLOWED:
                out.append(c)
            elif self.strict and (beh == "NON-STRICT" or close in ("UNCLEAN", "WRONG CODE")):
                out.append(c)
        return out

    @property
    def missing(self) -> list[str]:
        """Expected ids the report does not have (the run stopped early)."""
        return [c for c in self.expected if c not in self.cases]

    @property
    def seconds(self) -> float:
        """Summed case durations as the suite measured them."""
        return sum(float(r.get("duration") or 0) for r in self.cases.values()) / 1000.0


def count_line(counter: Counter[str], order: tuple[str, ...]) -> str:
    """'OK 3, FAILED 1' in a fixed order, plus any value not in order."""
    keys = list(order) + sorted(k for k in counter if k not in order)
    return ", ".join(f"{k} {counter[k]}" for k in keys if k in order or counter[k])


def id_lines(label: str, ids: list[str], width: int = 100) -> list[str]:
    """A labelled, wrapped list of case ids (nothing when ids is empty)."""
    if not ids:
        return []
    lines, cur = [], f"  {label} ({len(ids)}):"
    for case_id in ids:
        if len(cur) + 1 + len(case_id) > width:
            lines.append(cur)
            cur = "    "
        cur += " " + case_id
    lines.append(cur)
    return lines


def case_details(report_dir: Path, report: CaseReport) -> list[str]:
    """What the case's own JSON report says: expectation, result, close codes."""
    name = report.get("reportfile")
    if not name:
        return ["      (no per-case report file)"]
    try:
        data: dict[str, Any] = json.loads((report_dir / name).read_text())
    except (OSError, ValueError) as exc:
        return [f"      (cannot read {name}: {exc})"]
    expected_close = data.get("expectedClose") or {}
    return [
        f"      description: {data.get('description', '')}",
        f"      expectation: {data.get('expectation', '')}",
        f"      result:      {data.get('result', '')}",
        f"      close:       {data.get('resultClose', '')}",
        "      codes:       testee sent {}, suite sent {}, expected {}, clean={}, dropped by suite={}".format(
            data.get("remoteCloseCode"),
            data.get("localCloseCode"),
            expected_close.get("closeCode"),
            data.get("wasClean"),
            data.get("droppedByMe"),
        ),
        f"      events:      observed {brief(data.get('received'))}; expected {brief(data.get('expected'))}",
        f"      report:      {report_dir / name}",
    ]


def brief(value: object, limit: int = 160) -> str:
    """Compact JSON of value, cut to limit characters (payload echoes can be 16 MiB)."""
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def render(summary: AgentSummary, report_dir: Path, details: bool) -> list[str]:
    """Human-readable lines for one agent."""
    beh: Counter[str] = Counter(str(r.get("behavior")) for r in summary.cases.values())
    close: Counter[str] = Counter(str(r.get("behaviorClose")) for r in summary.cases.values())
    lines = [
        f"{summary.agent}: {len(summary.cases)} cases, {summary.seconds:.1f} s in cases",
        f"  behavior: {count_line(beh, BEHAVIORS)}",
        f"  close:    {count_line(close, CLOSE_BEHAVIORS)}",
    ]
    failed_beh = [c for c in summary.ids if summary.cases[c].get("behavior") not in BEHAVIOR_ALLOWED]
    failed_close = [c for c in summary.ids if summary.cases[c].get("behaviorClose") not in CLOSE_ALLOWED]
    lines += id_lines("FAILED", failed_beh)
    lines += id_lines("close FAILED", failed_close)
    lines += id_lines("NON-STRICT", summary.with_behavior("NON-STRICT"))
    lines += id_lines("INFORMATIONAL", summary.with_behavior("INFORMATIONAL"))
    unclean = [f"{c}({summary.cases[c].get('behaviorClose')})" for c in summary.with_close("UNCLEAN", "WRONG CODE")]
    lines += id_lines("close UNCLEAN/WRONG CODE", unclean)
    unimplemented = summary.with_behavior("UNIMPLEMENTED")
    if unimplemented:
        sections = sorted({c.split(".")[0] for c in unimplemented}, key=int)
        listed = ", ".join(s + ".*" for s in sections)
        lines.append(f"  UNIMPLEMENTED ({len(unimplemented)}): sections {listed}")
    if summary.missing:
        lines += id_lines("MISSING (not in the report: the run stopped early?)", summary.missing)
    slowest = sorted(summary.ids, key=lambda c: -float(summary.cases[c].get("duration") or 0))[:5]
    lines.append(
        "  slowest: " + ", ".join(f"{c} {float(summary.cases[c].get('duration') or 0) / 1000:.1f}s" for c in slowest)
    )
    if details:
        explain = sorted(
            set(
                failed_beh
                + failed_close
                + summary.with_behavior("NON-STRICT", "INFORMATIONAL")
                + summary.with_close("UNCLEAN", "WRONG CODE")
            ),
            key=case_key,
        )
        for c in explain:
            r = summary.cases[c]
            lines.append(f"  case {c}: behavior {r.get('behavior')}, close {r.get('behaviorClose')}")
            lines += case_details(report_dir, r)
    return lines


def load_index(path: Path) -> dict[str, dict[str, CaseReport]]:
    """Read index.json (path may be the file or its directory)."""
    if path.is_dir():
        path = path / "index.json"
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of agents")
    return data


def summarize(
    report_dir: Path,
    *,
    expected: list[str] | None = None,
    agents: list[str] | None = None,
    strict: bool = False,
    details: bool = False,
    out: Any = None,
) -> int:
    """Print the summary of report_dir; return the exit status (0, 1 or 2).

    expected: case ids every agent should have; absent ones count as missing.
    agents: agents that must be in the report (an absent agent has every expected case missing).
    """
    out = out or sys.stdout
    index_dir = report_dir if report_dir.is_dir() else report_dir.parent
    try:
        index = load_index(report_dir)
    except (OSError, ValueError) as exc:
        print(f"autobahn: no usable report in {report_dir}: {exc}", file=out)
        return 2
    names = sorted(set(index) | set(agents or []))
    if not names:
        print(f"autobahn: {report_dir} lists no agent (did any case run?)", file=out)
        return 2
    total: Counter[str] = Counter()
    for agent in names:
        summary = AgentSummary(agent, index.get(agent, {}), list(expected or []), strict)
        for line in render(summary, index_dir, details):
            print(line, file=out)
        beh = Counter(str(r.get("behavior")) for r in summary.cases.values())
        total["cases"] += len(summary.cases)
        total["failed"] += len(summary.failed)
        total["missing"] += len(summary.missing)
        for key in ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED"):
            total[key] += beh[key]
        total["unclean"] += len(summary.with_close("UNCLEAN", "WRONG CODE"))
    line = (
        f"autobahn: {total['cases']} cases, {total['OK']} ok, {total['failed']} failed, "
        f"{total['NON-STRICT']} non-strict, {total['INFORMATIONAL']} informational, "
        f"{total['UNIMPLEMENTED']} unimplemented, {total['unclean']} unclean/wrong-code close"
    )
    if total["missing"]:
        line += f", {total['missing']} MISSING"
    if len(names) > 1:
        line += f" ({len(names)} agents)"
    print(line, file=out)
    return 1 if total["failed"] or total["missing"] else 0


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path, help="report directory (or its index.json)")
    parser.add_argument("--expect", default="", help="comma-separated case ids each agent must have")
    parser.add_argument("--strict", action="store_true", help="also fail NON-STRICT and UNCLEAN/WRONG CODE")
    parser.add_argument("--details", action="store_true", help="explain each non-OK case from its JSON report")
    args = parser.parse_args(argv)
    expected = [c for c in args.expect.split(",") if c]
    return summarize(args.report, expected=expected, strict=args.strict, details=args.details)


if __name__ == "__main__":
    sys.exit(main())
