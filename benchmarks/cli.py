"""``python -m benchmarks``: plan the points, measure every row at each, report.

Rows are interleaved (every row measured once per repeat, the row order rotated between
repeats) so that the machine's drift hits every row alike, and each point is the median
of the repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import report
from .envs import BENCH_DIR, VENVS, SetupError, build_cpp, ensure_cert, ensure_venv
from .measure import MeasureError, Sample, measure_pair
from .rows import BASELINE, CPP, Row, all_rows

__all__ = ["Point", "main"]

BENCHES = ("rtt", "pipeline", "latency", "connections")
#: Seconds the connections benchmark may take to open its connections.
CONNECT_TIME_LIMIT = 120.0


@dataclass(frozen=True)
class Point:
    """One cell column of the table: a benchmark, the side under test, transport and size."""

    bench: str
    side: str  # "client": the row's client against the C++ server; "server": the reverse
    transport: str  # "tcp" or "tls"
    size: int

    @property
    def key(self) -> str:
        size = f"{self.size} B" if self.bench != "connections" else "idle"
        return f"{self.bench} {self.side} {self.transport} {size}"


def parse_sizes(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        mult = 1
        if part.endswith("k"):
            mult, part = 1024, part[:-1]
        elif part.endswith("kb"):
            mult, part = 1000, part[:-2]
        if not part.isdigit():
            raise SystemExit(f"--sizes: cannot read {part!r}; give bytes like 256,8k,100kb")
        out.append(int(part) * mult)
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="WebSocket round trips, throughput, latency and connections: picows against its peers.",
    )
    p.add_argument(
        "--quick", action="store_true", help="a few minutes: round trips over TCP only, uvloop only, 1 s per point"
    )
    p.add_argument("--rows", default="", help="comma-separated row names (see --list); default: all available")
    p.add_argument("--sizes", default="256,8k,100kb", help="round-trip message sizes (default 256,8k,100kb)")
    p.add_argument("--pipeline-sizes", default="64,1k", help="pipelined message sizes (default 64,1k)")
    p.add_argument("--benches", default="", help=f"comma-separated subset of {','.join(BENCHES)}")
    p.add_argument("--transports", default="", help="tcp,tls (default both; --quick: tcp)")
    p.add_argument("--sides", default="client,server", help="client,server (default both)")
    p.add_argument("--loops", default="", help="uvloop,asyncio (default both; asyncio rows run TCP round trips only)")
    p.add_argument("--duration", type=float, default=0.0, help="seconds per point (default 2, --quick 1)")
    p.add_argument("--repeats", type=int, default=3, help="repeats per point; the median is reported (default 3)")
    p.add_argument("--window", type=int, default=64, help="messages in flight for the pipelined benchmark")
    p.add_argument("--rate", type=float, default=1000.0, help="round trips per second for the latency benchmark")
    p.add_argument("--conns", type=int, default=0, help="idle connections to open (default 10000, --quick 1000)")
    p.add_argument(
        "--cpu",
        type=int,
        default=-2,
        help="core that client and server are pinned to (default: the last one; -1: no pinning)",
    )
    p.add_argument(
        "--out",
        default="",
        help="folder for the stamped JSON and PNG (default benchmarks/results/tmp; "
        "a full run also refreshes results/latest.*)",
    )
    p.add_argument("--no-chart", action="store_true", help="skip the PNG chart")
    p.add_argument("--list", action="store_true", help="list the rows and whether each can run, then exit")
    p.add_argument(
        "--report",
        default="",
        metavar="JSON",
        help="print the table of a results JSON again (medians and ratios recomputed) and redraw its chart",
    )
    return p


def row_versions(row: Row) -> dict[str, str]:
    """Ask the row's interpreter which versions it imports; raise if the row cannot run."""
    if row.is_cpp:
        out = subprocess.run(
            [str(BENCH_DIR / "build" / "echo_client"), "--version"], capture_output=True, text=True, timeout=30
        )
    else:
        out = subprocess.run(
            row.command("versions", []), capture_output=True, text=True, timeout=120, env=row.environ()
        )
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise MeasureError(last)
    versions: dict[str, str] = json.loads(out.stdout.strip().splitlines()[-1])
    return versions


def machine_info() -> dict[str, str]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "host": platform.node(),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "kernel": platform.release(),
        "os": platform.platform(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def plan_points(ns: argparse.Namespace, benches: list[str], transports: list[str], sides: list[str]) -> list[Point]:
    points: list[Point] = []
    for bench in benches:
        for transport in transports:
            if bench in ("pipeline", "latency", "connections") and transport != "tcp":
                continue  # TLS costs the same per byte for every row: round trips show it
            for side in sides:
                if bench == "connections":
                    if side == "server":
                        points.append(Point(bench, side, transport, 0))
                    continue
                if bench == "rtt":
                    sizes = parse_sizes(ns.sizes)
                elif bench == "pipeline":
                    sizes = parse_sizes(ns.pipeline_sizes)
                else:
                    sizes = [256]
                points.extend(Point(bench, side, transport, size) for size in sizes)
    return points


def applies(row: Row, point: Point) -> bool:
    """asyncio variants run the TCP round trips only: enough to show the loop's share."""
    if row.loop != "uvloop" and not row.is_cpp:
        return point.bench == "rtt" and point.transport == "tcp"
    return True


def client_args(point: Point, ns: argparse.Namespace, duration: float, port: int) -> list[str]:
    if point.bench == "connections":
        # Bounded by count; the time limit only guards against a server that stalls.
        args = [
            "--port",
            str(port),
            "--mode",
            "connect",
            "--conns",
            str(ns.conns),
            "--warmup",
            "10",
            "--duration",
            str(CONNECT_TIME_LIMIT),
        ]
        return [*args, "--tls"] if point.transport == "tls" else args
    args = ["--port", str(port), "--size", str(point.size), "--duration", str(duration)]
    if point.transport == "tls":
        args.append("--tls")
    args += ["--mode", point.bench, "--window", str(ns.window), "--rate", str(ns.rate)]
    # A few hundred round trips warm up caches, JITless interpreters' free lists and TCP windows.
    args += ["--warmup", "300" if point.size <= 16384 else "100"]
    return args


def measure(
    row: Row,
    point: Point,
    ns: argparse.Namespace,
    duration: float,
    cert: tuple[Path, Path] | None,
    cpp: dict[str, Path],
) -> Sample:
    """Measure ``row`` at ``point`` once."""
    server_args = ["--port", "0"]
    if point.transport == "tls":
        assert cert is not None
        server_args += ["--tls", "--cert", str(cert[0]), "--key", str(cert[1])]
    under_test_is_client = point.side == "client"
    if row.is_cpp or under_test_is_client:
        server_cmd = [str(cpp["echo_server"]), *server_args]
        server_env = dict(os.environ)
    else:
        server_cmd = row.command("server", server_args)
        server_env = row.environ()
    if row.is_cpp or not under_test_is_client:

        def client_cmd(port: int) -> list[str]:
            return [str(cpp["echo_client"]), *client_args(point, ns, duration, port)]

        client_env = dict(os.environ)
    else:

        def client_cmd(port: int) -> list[str]:
            return row.command("client", client_args(point, ns, duration, port))

        client_env = row.environ()
    timeout = duration + 60 if point.bench != "connections" else CONNECT_TIME_LIMIT + 60
    names = (row.key if under_test_is_client else CPP, row.key if not under_test_is_client else CPP)
    return measure_pair(names, server_cmd, server_env, client_cmd, client_env, ns.cpu_pin, timeout)


def sample_metrics(point: Point, s: Sample) -> dict[str, float]:
    """The numbers reported for one sample."""
    under_test_cpu = s.client_cpu if point.side == "client" else s.server_cpu
    total_cpu = s.client_cpu + s.server_cpu
    m: dict[str, float] = {
        "count": s.count,
        "elapsed_s": s.elapsed,
        "client_cpu_s": s.client_cpu,
        "server_cpu_s": s.server_cpu,
    }
    if point.bench == "connections":
        m["conn_per_s"] = s.count / s.elapsed if s.elapsed else 0.0
        m["rss_per_conn_kib"] = s.server_rss_delta_kib / s.count if s.count else 0.0
        m["server_cpu_us_per_conn"] = s.server_cpu / s.count * 1e6 if s.count else 0.0
        return m
    m["rate"] = s.count / s.elapsed if s.elapsed else 0.0
    m["per_cpu_s"] = s.count / total_cpu if total_cpu > 0 else 0.0
    m["cpu_us_per_msg"] = under_test_cpu / s.count * 1e6 if s.count else 0.0
    m.update(s.extra)
    return m


def median_metrics(samples: list[dict[str, float]]) -> dict[str, float]:
    """The median of each metric over the repeats, plus ``spread``: (max - min) / median of the
    headline metric (per CPU-second, or memory per connection), to show how repeatable it was."""
    keys = samples[0].keys()
    out = {k: statistics.median(s[k] for s in samples) for k in keys}
    head = "per_cpu_s" if "per_cpu_s" in out else "rss_per_conn_kib"
    values = [s[head] for s in samples]
    out["spread"] = (max(values) - min(values)) / out[head] if out[head] else 0.0
    return out


def rereport(path: Path, chart: bool) -> int:
    """Recompute the medians and ratios of a results JSON from its samples; print and redraw."""
    doc = json.loads(path.read_text())
    for r in doc["results"]:
        if r.get("samples"):
            r["median"] = median_metrics(r["samples"])
    report.add_ratios(doc["results"], BASELINE)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(report.table(doc))
    if chart:
        png = report.chart(path, path.with_suffix(".png"))
        print(f"chart: {png}" if png else "chart: skipped (matplotlib venv unavailable)")
    return 0


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    if ns.report:
        return rereport(Path(ns.report), chart=not ns.no_chart)
    duration = ns.duration or (1.0 if ns.quick else 2.0)
    benches = [b for b in (ns.benches or ("rtt" if ns.quick else ",".join(BENCHES))).split(",") if b]
    for b in benches:
        if b not in BENCHES:
            raise SystemExit(f"--benches: unknown {b!r}; choose from {', '.join(BENCHES)}")
    transports = (ns.transports or ("tcp" if ns.quick else "tcp,tls")).split(",")
    sides = ns.sides.split(",")
    loops = (ns.loops or ("uvloop" if ns.quick else "uvloop,asyncio")).split(",")
    ns.conns = ns.conns or (1000 if ns.quick else 10000)
    cpus = sorted(os.sched_getaffinity(0))
    ns.cpu_pin = None if ns.cpu == -1 else (cpus[-1] if ns.cpu == -2 else ns.cpu)
    if ns.cpu_pin is not None and len(cpus) > 1:
        # Keep the harness itself off the measured core.
        os.sched_setaffinity(0, [c for c in cpus if c != ns.cpu_pin])

    try:
        cpp = build_cpp()
        cert = ensure_cert() if "tls" in transports else None
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    wanted = [r for r in ns.rows.split(",") if r]
    known = {r.name for r in all_rows()}
    for name in wanted:
        if name.split("@")[0] not in known:
            raise SystemExit(f"--rows: unknown row {name!r}; known rows: {', '.join(sorted(known))}")
    rows: list[Row] = []
    for loop in loops:
        for base in all_rows():
            if base.is_cpp and loop != loops[0]:
                continue
            row = base if base.is_cpp else base.with_loop(loop)
            if wanted and base.name not in wanted and row.key not in wanted:
                continue
            rows.append(row)

    versions: dict[str, dict[str, str]] = {}
    unavailable: dict[str, str] = {}
    for venv_name in sorted({r.venv for r in rows if r.venv}):
        try:
            ensure_venv(VENVS[venv_name])
        except SetupError as exc:
            for r in rows:
                if r.venv == venv_name:
                    unavailable[r.key] = str(exc).splitlines()[0]
    for row in rows:
        if row.key in unavailable:
            continue
        try:
            versions[row.key] = row_versions(row)
        except (MeasureError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
            unavailable[row.key] = f"cannot run: {exc}"
    for key, why in unavailable.items():
        print(f"[skip] {key}: {why}", flush=True)
    if ns.list:
        for row in rows:
            state = "unavailable: " + unavailable[row.key] if row.key in unavailable else json.dumps(versions[row.key])
            print(f"{row.key:24} {row.label:34} {state}")
        return 0
    rows = [r for r in rows if r.key not in unavailable]
    if not rows:
        print("error: no row can run (see the [skip] lines above)", file=sys.stderr)
        return 2

    points = plan_points(ns, benches, transports, sides)
    total = sum(1 for p in points for r in rows if applies(r, p)) * ns.repeats
    print(
        f"[plan] {len(rows)} rows, {len(points)} points, {ns.repeats} repeats: {total} runs of ~{duration:g} s; "
        f"pinned to CPU {ns.cpu_pin if ns.cpu_pin is not None else 'none'}",
        flush=True,
    )
    samples: dict[tuple[str, str], list[dict[str, float]]] = {}
    errors: dict[tuple[str, str], str] = {}
    started = time.monotonic()
    done = 0
    for rep in range(ns.repeats):
        order = rows[rep % len(rows) :] + rows[: rep % len(rows)]
        for point in points:
            for row in order:
                if not applies(row, point) or (point.key, row.key) in errors:
                    continue
                done += 1
                try:
                    s = measure(row, point, ns, duration, cert, cpp)
                except MeasureError as exc:
                    errors[(point.key, row.key)] = str(exc)
                    print(f"[{done}/{total}] {point.key:28} {row.key:24} FAILED: {exc}", flush=True)
                    continue
                m = sample_metrics(point, s)
                samples.setdefault((point.key, row.key), []).append(m)
                print(f"[{done}/{total}] {point.key:28} {row.key:24} {report.one_line(point.bench, m)}", flush=True)
    elapsed = time.monotonic() - started

    results: list[dict[str, Any]] = []
    for point in points:
        for row in rows:
            pair = (point.key, row.key)
            if pair not in samples and pair not in errors:
                continue
            entry: dict[str, Any] = {
                **asdict(point),
                "point": point.key,
                "row": row.key,
                "label": row.label,
                "loop": "native" if row.is_cpp else row.loop,
            }
            if pair in samples:
                entry["median"] = median_metrics(samples[pair])
                entry["samples"] = samples[pair]
            else:
                entry["error"] = errors[pair]
            results.append(entry)
    report.add_ratios(results, BASELINE)
    doc: dict[str, Any] = {
        "machine": machine_info(),
        "versions": versions,
        "config": {
            "duration_s": duration,
            "repeats": ns.repeats,
            "pinned_cpu": ns.cpu_pin,
            "window": ns.window,
            "latency_rate": ns.rate,
            "conns": ns.conns,
            "loops": loops,
            "quick": ns.quick,
            "command": " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]),
            "wall_time_s": round(elapsed, 1),
        },
        "unavailable": unavailable,
        "results": results,
    }
    print()
    print(report.table(doc))
    # Quick runs and runs into --out keep stamped files; a full run also refreshes results/latest.*,
    # the files the docs and the README show.
    out_dir = Path(ns.out) if ns.out else BENCH_DIR / "results" / "tmp"
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    json_path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"\nJSON: {json_path}")
    png = None if ns.no_chart else report.chart(json_path, json_path.with_suffix(".png"))
    if not ns.no_chart:
        print(f"chart: {png}" if png else "chart: skipped (matplotlib venv unavailable)")
    if not ns.quick and not ns.out:
        latest = BENCH_DIR / "results" / "latest.json"
        latest.write_text(json_path.read_text())
        if png is not None:
            latest.with_suffix(".png").write_bytes(png.read_bytes())
        print(f"latest: {latest} (and latest.png)")
    print(f"wall time of the measurements: {elapsed:.0f} s")
    return 0
