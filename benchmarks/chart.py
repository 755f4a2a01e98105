"""Draw the round-trip chart of a results JSON (run by the suite in the venv that has matplotlib).

    python benchmarks/chart.py results.json out.png

One panel per transport; a group of bars per (side, size); one bar per row: round trips
per CPU-second of client plus server, relative to picows 2.3.1 low-level. The machine,
CPU, kernel and versions are written under the chart.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib  # type: ignore[import-not-found, unused-ignore]

matplotlib.use("Agg")
# The backend must be chosen before pyplot is imported.
import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]  # noqa: E402


def size_label(size: int) -> str:
    if size >= 1000 and size % 1000 == 0 and size % 1024:
        return f"{size // 1000} KB"
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} B"


def footer(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    cfg = doc["config"]
    # Two picows versions (ours and 2.3.1) share the name: collect every version per name.
    versions: dict[str, set[str]] = {}
    for v in doc["versions"].values():
        for k, val in v.items():
            versions.setdefault(k, set()).add(val)
    vtext = ", ".join(f"{k} {' / '.join(sorted(v))}" for k, v in sorted(versions.items()))
    return (
        f"{m['cpu']} ({m['cores']} cores), Linux {m['kernel']}, {m['date']}\n"
        f"{vtext}\n"
        f"client and server pinned to one core; median of {cfg['repeats']} x {cfg['duration_s']:g} s; "
        "bars: round trips per CPU-second of client+server / picows 2.3.1 low-level"
    )


def main(src: str, dst: str) -> None:
    doc = json.loads(Path(src).read_text())
    # uvloop rows and the C++ row only: asyncio rows are compared to picows 2.3.1 on asyncio (see the table).
    results = [
        r for r in doc["results"] if r["bench"] == "rtt" and r["loop"] != "asyncio" and "per_cpu" in r.get("ratio", {})
    ]
    transports = [t for t in ("tcp", "tls") if any(r["transport"] == t for r in results)]
    if not transports:
        raise SystemExit("no round-trip results with ratios to draw")
    rows: list[str] = []
    labels: dict[str, str] = {}
    for r in results:
        if r["row"] not in rows:
            rows.append(r["row"])
            labels[r["row"]] = r["label"] + (" (asyncio)" if r["loop"] == "asyncio" else "")
    fig, axes = plt.subplots(len(transports), 1, figsize=(12, 4.2 * len(transports) + 1.2), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, transport in zip(axes[:, 0], transports, strict=True):
        groups: list[tuple[str, int]] = []
        for r in results:
            g = (r["side"], r["size"])
            if r["transport"] == transport and g not in groups:
                groups.append(g)
        width = 0.8 / max(1, len(rows))
        for i, row in enumerate(rows):
            xs, ys = [], []
            for gi, (side, size) in enumerate(groups):
                hit = [
                    r
                    for r in results
                    if r["row"] == row and r["transport"] == transport and r["side"] == side and r["size"] == size
                ]
                if hit:
                    xs.append(gi + (i - (len(rows) - 1) / 2) * width)
                    ys.append(hit[0]["ratio"]["per_cpu"])
            ax.bar(xs, ys, width=width, label=labels[row], color=cmap(i % 10))
        ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([f"{side} side\n{size_label(size)}" for side, size in groups])
        ax.set_ylabel("x picows 2.3.1 (round trips / CPU-s)")
        ax.set_title(f"WebSocket echo round trips over {transport.upper()} on 127.0.0.1 (Python rows on uvloop)")
        ax.grid(axis="y", alpha=0.3)
    # One legend for all panels, between the last panel and the footer.
    handles, names = axes[0, 0].get_legend_handles_labels()
    bottom = 0.6 / fig.get_figheight()  # the footer's three lines, in figure fraction
    fig.legend(handles, names, ncol=4, fontsize=8, loc="lower center", bbox_to_anchor=(0.5, bottom))
    fig.text(0.01, 0.005, footer(doc), fontsize=7, va="bottom", family="monospace")
    fig.tight_layout(rect=(0, bottom + 0.7 / fig.get_figheight(), 1, 1))
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: chart.py RESULTS.json OUT.png")
    main(sys.argv[1], sys.argv[2])
