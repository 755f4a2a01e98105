"""Turn the medians into ratios, a text table and a chart."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from .envs import BENCH_DIR, VENVS, SetupError, ensure_venv

__all__ = ["add_ratios", "chart", "one_line", "summary", "table"]


def one_line(bench: str, m: dict[str, float]) -> str:
    """A progress line for one sample."""
    if bench == "connections":
        return f"{m['conn_per_s']:9.0f} conn/s {m['rss_per_conn_kib']:7.1f} KiB/conn"
    line = f"{m['rate']:9.0f} /s {m['per_cpu_s']:9.0f} /CPU-s {m['cpu_us_per_msg']:7.1f} us CPU/msg"
    if bench == "latency":
        line += f"  p50 {m['p50_us']:.0f} us p99 {m['p99_us']:.0f} us p99.9 {m['p999_us']:.0f} us"
    return line


def _baseline_key(row: str, baseline: str) -> str:
    return baseline + row[row.index("@") :] if "@" in row else baseline


def add_ratios(results: list[dict[str, Any]], baseline: str) -> None:
    """Add each row's ratios to the baseline row at the same point and on the same loop."""
    by_key = {(r["point"], r["row"]): r for r in results if "median" in r}
    for r in results:
        if "median" not in r:
            continue
        base = by_key.get((r["point"], _baseline_key(r["row"], baseline)))
        if base is None:
            continue
        m, b = r["median"], base["median"]
        ratios: dict[str, float] = {}
        if r["bench"] == "connections":
            if b["rss_per_conn_kib"] > 0:
                ratios["rss"] = m["rss_per_conn_kib"] / b["rss_per_conn_kib"]
            if b["conn_per_s"] > 0:
                ratios["conn_rate"] = m["conn_per_s"] / b["conn_per_s"]
        else:
            if b["per_cpu_s"] > 0:
                ratios["per_cpu"] = m["per_cpu_s"] / b["per_cpu_s"]
            if b["rate"] > 0:
                ratios["rate"] = m["rate"] / b["rate"]
        r["ratio"] = ratios


def _pct(m: dict[str, float]) -> str:
    spread = m.get("spread")
    return f"{spread * 100:.0f}%" if spread is not None else "-"


def _fmt_x(r: dict[str, Any], key: str) -> str:
    value = r.get("ratio", {}).get(key)
    return f"{value:.2f}" if value is not None else "-"


def table(doc: dict[str, Any]) -> str:
    """The full text table: one block per point, then the round-trip summary."""
    lines: list[str] = []
    cfg = doc["config"]
    lines.append(
        f"median of {cfg['repeats']} x {cfg['duration_s']:g} s per point; client and server pinned to CPU "
        f"{cfg['pinned_cpu']}; x = ratio to picows 2.3.1 low-level on the same loop"
    )
    points: list[str] = []
    for r in doc["results"]:
        if r["point"] not in points:
            points.append(r["point"])
    for point in points:
        rs = [r for r in doc["results"] if r["point"] == point]
        bench = rs[0]["bench"]
        lines.append("")
        under = (
            "the row's client vs the C++ server" if rs[0]["side"] == "client" else "the C++ client vs the row's server"
        )
        lines.append(f"== {point}  ({under})")
        if bench == "connections":
            lines.append(
                f"{'row':26}{'opened':>8}{'in s':>7}{'conn/s':>9}{'KiB/conn':>10}{'x KiB':>7}{'srv CPU us/conn':>17}"
            )
        elif bench == "latency":
            lines.append(f"{'row':26}{'p50 us':>9}{'p99 us':>9}{'p99.9 us':>10}{'CPU us/msg':>12}")
        else:
            unit = "msg" if bench == "pipeline" else "rt"
            head = f"{unit + '/s':>10}{unit + '/CPU-s':>12}{'x CPU':>7}{'x rate':>8}{'CPU us/' + unit:>12}{'spread':>8}"
            lines.append(f"{'row':26}{head}")
        for r in rs:
            if "median" not in r:
                lines.append(f"{r['row']:26}  failed: {r['error'].splitlines()[0][:90]}")
                continue
            m = r["median"]
            if bench == "connections":
                lines.append(
                    f"{r['row']:26}{m['count']:8.0f}{m['elapsed_s']:7.1f}{m['conn_per_s']:9.0f}"
                    f"{m['rss_per_conn_kib']:10.1f}{_fmt_x(r, 'rss'):>7}{m['server_cpu_us_per_conn']:17.0f}"
                )
            elif bench == "latency":
                lines.append(
                    f"{r['row']:26}{m['p50_us']:9.0f}{m['p99_us']:9.0f}{m['p999_us']:10.0f}{m['cpu_us_per_msg']:12.1f}"
                )
            else:
                lines.append(
                    f"{r['row']:26}{m['rate']:10.0f}{m['per_cpu_s']:12.0f}{_fmt_x(r, 'per_cpu'):>7}"
                    f"{_fmt_x(r, 'rate'):>8}{m['cpu_us_per_msg']:12.1f}{_pct(m):>8}"
                )
    extra = summary(doc)
    if extra:
        lines += ["", extra]
    return "\n".join(lines)


def _short(point: str) -> str:
    """``rtt client tcp 102400 B`` -> ``client tcp 100K``: narrow summary columns."""
    bench, side, transport, size = point.split()[:4]
    n = int(size)
    text = (
        f"{n // 1024}K" if n >= 1024 and n % 1024 == 0 else f"{n // 1000}KB" if n >= 1000 and n % 1000 == 0 else str(n)
    )
    return f"{side} {transport} {text}"


def summary(doc: dict[str, Any]) -> str:
    """Round trips per CPU-second relative to picows 2.3.1, one line per row (x CPU)."""
    cols: list[str] = []
    for r in doc["results"]:
        if r["bench"] == "rtt" and r["point"] not in cols:
            cols.append(r["point"])
    if not cols:
        return ""
    short = [_short(c) for c in cols]
    width = max(len(s) for s in short) + 1
    head = f"{'x CPU (round trips)':26}" + "".join(f"{s:>{width}}" for s in short)
    out = [head]
    rows: list[str] = []
    for r in doc["results"]:
        if r["bench"] == "rtt" and r["row"] not in rows:
            rows.append(r["row"])
    for row in rows:
        cells = []
        for col in cols:
            hit = [r for r in doc["results"] if r["point"] == col and r["row"] == row]
            cells.append(_fmt_x(hit[0], "per_cpu") if hit and "median" in hit[0] else "-")
        out.append(f"{row:26}" + "".join(f"{c:>{width}}" for c in cells))
    return "\n".join(out)


def chart(json_path: Path, png_path: Path) -> Path | None:
    """Draw the chart with matplotlib from the peers venv (the suite's own venv has none)."""
    try:
        python = ensure_venv(VENVS["peers"])
    except SetupError:
        return None
    proc = subprocess.run(
        [str(python), str(BENCH_DIR / "chart.py"), str(json_path), str(png_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        print(f"chart failed: {proc.stderr.strip().splitlines()[-1:]}")
        return None
    return png_path
