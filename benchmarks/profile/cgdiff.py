"""User-space instructions per round trip from two callgrind runs of N1 and N2 round trips.

    valgrind --tool=callgrind --callgrind-out-file=cg.NAME.1000 python client_n.py URL 256 1000
    valgrind --tool=callgrind --callgrind-out-file=cg.NAME.11000 python client_n.py URL 256 11000
    python cgdiff.py NAME [TOP]

The difference removes start-up; divided by 10,000 it is one round trip, with the top functions by self cost.
"""

from __future__ import annotations

import re
import subprocess
import sys


def load(path: str) -> tuple[int, dict[str, int]]:
    """Total and per-function self cost of one callgrind output file."""
    out = subprocess.run(
        ["callgrind_annotate", "--threshold=100", "--inclusive=no", path], capture_output=True, text=True, check=True
    ).stdout
    total = 0
    costs: dict[str, int] = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(.*)", line)
        if not m:
            continue
        value = int(m.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in line:
            total = value
        elif not re.search(r"\([\d,]+x\)", line) and "events annotated" not in line:
            name = re.sub(r".*/", "", m.group(2).split(" [")[0])
            costs[name] = costs.get(name, 0) + value
    return total, costs


def main() -> None:
    name = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    total_a, a = load(f"cg.{name}.1000")
    total_b, b = load(f"cg.{name}.11000")
    print(f"{name}: {(total_b - total_a) / 10000:.0f} instructions per round trip")
    diff = {k: (b.get(k, 0) - a.get(k, 0)) / 10000 for k in set(a) | set(b)}
    for key, value in sorted(diff.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{value:8.0f}  {key[:120]}")


if __name__ == "__main__":
    main()
