"""Tests of the benchmark harness: the arithmetic it reports, and one real run end to end.

Run with ``pytest benchmarks/tests``. The end-to-end tests compile the C++ peer on first use
(about a minute) and are skipped where g++ or the Boost headers are missing.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks import cli, report
from benchmarks.measure import cpu_seconds, rss_kib
from benchmarks.peers import _common

HAVE_CPP = shutil.which("g++") is not None and Path("/usr/include/boost/beast.hpp").exists()


def test_parse_sizes_reads_bytes_kib_and_kb() -> None:
    assert cli.parse_sizes("256,8k,100kb") == [256, 8192, 100000]
    with pytest.raises(SystemExit, match="cannot read"):
        cli.parse_sizes("big")


def test_percentiles_use_nearest_rank() -> None:
    samples = [float(v) for v in range(1, 1001)]  # 1..1000 us
    p = _common.percentiles(list(reversed(samples)))
    assert p == {"p50_us": 500.0, "p99_us": 990.0, "p999_us": 999.0}
    assert _common.percentiles([]) == {"p50_us": 0.0, "p99_us": 0.0, "p999_us": 0.0}


def test_median_metrics_reports_the_median_and_the_spread() -> None:
    samples = [{"per_cpu_s": v, "rate": v / 2} for v in (90.0, 100.0, 120.0)]
    m = cli.median_metrics(samples)
    assert m["per_cpu_s"] == 100.0
    assert m["rate"] == 50.0
    assert m["spread"] == pytest.approx(0.30)


def _result(point: str, row: str, per_cpu: float, rate: float) -> dict[str, Any]:
    return {"point": point, "row": row, "bench": "rtt", "median": {"per_cpu_s": per_cpu, "rate": rate}}


def test_ratios_are_taken_against_the_baseline_on_the_same_loop() -> None:
    results = [
        _result("p", "picows231-ll", 100.0, 50.0),
        _result("p", "websockets", 40.0, 25.0),
        _result("p", "picows231-ll@asyncio", 80.0, 40.0),
        _result("p", "websockets@asyncio", 20.0, 10.0),
        _result("q", "websockets", 40.0, 25.0),  # no baseline at this point: no ratio
    ]
    report.add_ratios(results, "picows231-ll")
    assert results[1]["ratio"] == {"per_cpu": 0.4, "rate": 0.5}
    assert results[3]["ratio"] == {"per_cpu": 0.25, "rate": 0.25}
    assert "ratio" not in results[4]


def test_connections_ratio_compares_memory_per_connection() -> None:
    results = [
        {"point": "c", "row": "picows231-ll", "bench": "connections",
         "median": {"rss_per_conn_kib": 28.0, "conn_per_s": 2000.0}},
        {"point": "c", "row": "picows-ll", "bench": "connections",
         "median": {"rss_per_conn_kib": 7.0, "conn_per_s": 3000.0}},
    ]  # fmt: skip
    report.add_ratios(results, "picows231-ll")
    assert results[1]["ratio"] == {"rss": 0.25, "conn_rate": 1.5}


def test_plan_keeps_tls_for_round_trips_and_connections_on_the_server_side() -> None:
    ns = cli.build_parser().parse_args(["--sizes", "256,100kb"])
    points = cli.plan_points(ns, ["rtt", "pipeline", "connections"], ["tcp", "tls"], ["client", "server"])
    keys = {p.key for p in points}
    assert "rtt client tls 100000 B" in keys
    assert "pipeline client tcp 64 B" in keys
    assert not any(p.bench == "pipeline" and p.transport == "tls" for p in points)
    assert [p.key for p in points if p.bench == "connections"] == ["connections server tcp idle"]


def test_cpu_seconds_agree_with_the_process_clock_and_rss_is_read() -> None:
    # Spin until this process has used 0.1 s of CPU by its own clock (other work may share the
    # core, so wall time says nothing), then compare what /proc reports for the same span.
    before, own_before = cpu_seconds(os.getpid()), time.process_time()
    deadline = time.monotonic() + 10
    while time.process_time() - own_before < 0.1 and time.monotonic() < deadline:
        pass
    spent, own = cpu_seconds(os.getpid()) - before, time.process_time() - own_before
    assert own >= 0.1, "the process got no CPU time in 10 s"
    assert spent == pytest.approx(own, rel=0.2)
    assert rss_kib(os.getpid()) > 1000


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_CPP, reason="needs g++ and libboost-dev for the C++ peer")
def test_a_run_of_the_cpp_row_writes_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(
        ["--rows", "cpp", "--sizes", "256", "--benches", "rtt,latency", "--transports", "tcp", "--loops", "uvloop",
         "--repeats", "1", "--duration", "0.2", "--no-chart", "--out", str(tmp_path)]
    )  # fmt: skip
    assert rc == 0
    out = capsys.readouterr().out
    assert "== rtt client tcp 256 B" in out
    (path,) = tmp_path.glob("bench-*.json")
    doc = json.loads(path.read_text())
    rtt = [r for r in doc["results"] if r["point"] == "rtt client tcp 256 B"][0]
    assert rtt["median"]["count"] > 100
    assert rtt["median"]["per_cpu_s"] > 0
    latency = [r for r in doc["results"] if r["bench"] == "latency"][0]
    assert 0 < latency["median"]["p50_us"] <= latency["median"]["p99_us"]


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_CPP, reason="needs g++ and libboost-dev for the C++ peer")
def test_our_low_level_row_runs_both_sides(tmp_path: Path) -> None:
    rc = cli.main(
        ["--rows", "picows-ll", "--sizes", "8k", "--benches", "rtt", "--transports", "tcp", "--loops", "uvloop",
         "--repeats", "1", "--duration", "0.2", "--no-chart", "--out", str(tmp_path)]
    )  # fmt: skip
    assert rc == 0, "the picows-ll row could not run (is the engine built?)"
    (path,) = tmp_path.glob("bench-*.json")
    doc = json.loads(path.read_text())
    counts = {r["side"]: r.get("median", {}).get("count", 0) for r in doc["results"]}
    assert counts["client"] > 50 and counts["server"] > 50, doc["results"]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
