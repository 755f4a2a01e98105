#!/usr/bin/env python3
"""Run the Autobahn|Testsuite against picows' testees (see compliance/README.md).

    compliance/run server lowlevel --cases "1.*,2.*"
    compliance/run all --quick                      # what CI runs
    compliance/run all --full --python /opt/venvs/picows-ref/bin/python --label picows-2.3.1

Roles: ``server`` runs ``wstest -m fuzzingclient`` against our echo server,
``client`` runs our client against ``wstest -m fuzzingserver``, ``all`` both.
The testee is started on 127.0.0.1 with a free port and stopped afterwards;
everything is bounded by ``--timeout``.  Reports go to
``compliance/reports/<agent>/`` with agent = ``<label>-<api>-<role>``.

Exit status: 0 no case failed; 1 failed or missing cases, or a testee broke;
2 the run itself could not be set up.
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import summarize

HERE = Path(__file__).resolve().parent
TESTEES = HERE / "testees"
AUTOBAHN_HOME = Path(os.environ.get("AUTOBAHN_HOME", "/opt/autobahn"))
HOST = "127.0.0.1"

QUICK = "1,2,3,4,5,6,7,10"
FULL = "1,2,3,4,5,6,7,9,10"
DEFLATE = "12,13"
#: Overall time budget per role when --timeout is not given (seconds).
BUDGET = {"quick": 180.0, "full": 600.0, "custom": 900.0}


class SetupError(Exception):
    """The run cannot start (no wstest, bad case pattern, testee does not import...)."""


def log(message: str) -> None:
    """Progress message (stdout, so it stays in order with the summary)."""
    print(f"compliance: {message}", flush=True)


# ---------------------------------------------------------------- suite and cases


def ensure_wstest() -> Path:
    """Install the suite if needed (compliance/setup is a quick no-op once installed)."""
    wstest = AUTOBAHN_HOME / "bin" / "wstest"
    result = subprocess.run([str(HERE / "setup")], stdout=subprocess.DEVNULL, check=False)
    if result.returncode != 0 or not wstest.exists():
        raise SetupError(f"compliance/setup failed (exit {result.returncode}); run it by hand to see why")
    return wstest


def all_case_ids() -> list[str]:
    """Every case id the installed suite knows, in suite order."""
    code = (
        "from autobahntestsuite.case import Cases\n"
        "from autobahntestsuite.caseset import CaseSet\n"
        "from autobahntestsuite.case import CaseCategories, CaseSubCategories, CaseBasename\n"
        "cs = CaseSet('fuzzing', CaseBasename, Cases, CaseCategories, CaseSubCategories)\n"
        "print(' '.join(cs.CasesById))\n"
    )
    out = subprocess.run(
        [str(AUTOBAHN_HOME / "bin" / "python2.7"), "-c", code],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SetupError(f"cannot list the suite's cases: {out.stderr.strip()[-500:]}")
    return sorted(out.stdout.split(), key=summarize.case_key)


def resolve(patterns: str, known: list[str]) -> list[str]:
    """Expand '1.*,7.1.6,9' (a bare section or subsection means all of it) to case ids."""
    chosen: set[str] = set()
    for token in patterns.replace(" ", ",").split(","):
        if not token:
            continue
        if "*" not in token and token not in known:
            token += ".*"
        matches = [c for c in known if fnmatch.fnmatchcase(c, token)]
        if not matches:
            raise SetupError(f"case pattern {token!r} matches no case (use e.g. 9.*, 6.4, 7.1.6 or *)")
        chosen.update(matches)
    return sorted(chosen, key=summarize.case_key)


# ---------------------------------------------------------------- processes and sockets


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_tcp(port: int, deadline: float, proc: subprocess.Popen[bytes]) -> None:
    """Wait until 127.0.0.1:port accepts; fail early if proc exits."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SetupError(f"{proc.args!r} exited with {proc.returncode} before listening")
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SetupError(f"nothing listens on {HOST}:{port} after waiting")


def start(cmd: list[str], logfile: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start cmd in its own process group, output to logfile."""
    with logfile.open("wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)


def stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> int:
    """SIGTERM proc's process group, SIGKILL it after grace seconds; return the exit status."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass
    return proc.wait()


def wait_bounded(proc: subprocess.Popen[bytes], deadline: float, progress: Path, total: int) -> bool:
    """Wait for proc until deadline, logging progress every 30 s; False on timeout."""
    next_note = time.monotonic() + 30
    while proc.poll() is None:
        now = time.monotonic()
        if now >= deadline:
            return False
        if now >= next_note:
            started = progress.read_text(errors="replace").count("Running test case")
            log(f"... {started}/{total} cases started")
            next_note = now + 30
        time.sleep(0.2)
    return True


def ws_control(port: int, path: str, timeout: float = 120.0) -> None:
    """Open ws://127.0.0.1:port/path with a minimal client and wait for the suite to close it.

    Used for /updateReports when the client testee died before asking for the reports.
    """
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                head, _, rest = data.partition(b"\r\n\r\n")
                # the suite closes after writing the reports: look for its close frame
                if b" 101 " in head.split(b"\r\n")[0] and len(rest) >= 2 and rest[0] & 0x0F == 0x8:
                    mask = os.urandom(4)
                    sock.sendall(struct.pack("!BB", 0x88, 0x80) + mask)
                    break


# ---------------------------------------------------------------- one role


def write_spec(path: Path, mode: str, url: str, outdir: Path, agent: str, cases: list[str]) -> None:
    """Write the wstest spec file for fuzzingclient (tests a server) or fuzzingserver."""
    spec: dict[str, object] = {
        "outdir": str(outdir),
        "cases": cases,
        "exclude-cases": [],
        "exclude-agent-cases": {},
    }
    if mode == "fuzzingclient":
        spec["servers"] = [{"agent": agent, "url": url}]
    else:
        spec["url"] = url
    path.write_text(json.dumps(spec, indent=1) + "\n")


def clean_reports(outdir: Path) -> None:
    """Remove the previous run's report files (only the ones this runner and wstest write)."""
    outdir.mkdir(parents=True, exist_ok=True)
    for item in outdir.iterdir():
        if item.is_file() and (
            item.name in ("index.json", "index.html", "wstest.log", "testee.log", "spec.json") or "_case_" in item.name
        ):
            item.unlink()


def run_role(role: str, args: argparse.Namespace, wstest: Path, cases: list[str]) -> int:
    """Run one role (server or client) and summarize it; return the exit status."""
    agent = f"{args.label}-{args.api}-{role}"
    outdir = (args.reports / agent).resolve()
    clean_reports(outdir)
    spec, wslog, testee_log = outdir / "spec.json", outdir / "wstest.log", outdir / "testee.log"
    port = free_port()
    url = f"ws://{HOST}:{port}"
    script = TESTEES / (f"{args.api}_echo_server.py" if role == "server" else f"{args.api}_client.py")
    testee_cmd = [args.python, str(script), "--loop", args.loop]
    if args.api == "lowlevel" and (args.deflate or any(c.split(".")[0] in ("12", "13") for c in cases)):
        # The low-level testees negotiate permessage-deflate only when asked to (it is opt-in there).
        testee_cmd.append("--deflate")
    t0 = time.monotonic()
    deadline = t0 + args.timeout
    log(f"{agent}: {len(cases)} cases, {args.python} {script.name} --loop {args.loop}, budget {args.timeout:.0f} s")
    broken = ""
    testee: subprocess.Popen[bytes] | None = None
    suite: subprocess.Popen[bytes] | None = None
    try:
        if role == "server":
            write_spec(spec, "fuzzingclient", url, outdir, agent, cases)
            testee = start(testee_cmd + ["--host", HOST, "--port", str(port)], testee_log)
            wait_tcp(port, time.monotonic() + 20, testee)
            suite = start([str(wstest), "-m", "fuzzingclient", "-s", str(spec)], wslog, cwd=outdir)
            if not wait_bounded(suite, deadline, wslog, len(cases)):
                broken = f"time budget of {args.timeout:.0f} s exceeded; wstest stopped"
            if testee.poll() is not None:
                broken = f"the server testee exited with {testee.returncode} during the run"
        else:
            write_spec(spec, "fuzzingserver", url, outdir, agent, cases)
            suite = start([str(wstest), "-m", "fuzzingserver", "-s", str(spec), "-u", "0"], wslog, cwd=outdir)
            wait_tcp(port, time.monotonic() + 30, suite)
            testee = start(testee_cmd + ["--url", url, "--agent", agent], testee_log)
            if not wait_bounded(testee, deadline, wslog, len(cases)):
                broken = f"time budget of {args.timeout:.0f} s exceeded; client testee stopped"
            stop(testee)
            if testee.returncode != 0 and not broken:
                broken = f"the client testee exited with {testee.returncode}"
            if broken or not (outdir / "index.json").exists():
                log(f"{agent}: asking the suite for the reports of the cases that ran")
                try:
                    ws_control(port, f"/updateReports?agent={agent}")
                except OSError as exc:
                    log(f"{agent}: /updateReports failed: {exc}")
    except SetupError as exc:
        broken = str(exc)
    finally:
        for proc in (testee, suite):
            if proc is not None:
                stop(proc)
    elapsed = time.monotonic() - t0
    if args.verbose or broken:
        for name, path in (("testee", testee_log), ("wstest", wslog)):
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-15:]
                log(f"{agent}: last lines of {name} log ({path}):\n    " + "\n    ".join(tail))
    log(f"{agent}: finished in {elapsed:.1f} s; reports in {outdir}")
    status = summarize.summarize(outdir, expected=cases, agents=[agent], strict=args.strict, details=args.details)
    if broken:
        log(f"{agent}: BROKEN RUN: {broken}")
        return max(status, 1)
    return status


def check_python(python: str) -> None:
    """Make sure the interpreter exists and its picows imports."""
    probe = "import picows; picows.ws_connect; print(getattr(picows, '__version__', '?'), picows.__file__)"
    try:
        out = subprocess.run(
            [python, "-c", probe],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            cwd=TESTEES,
        )  # as the testee sees it: not the cwd's picows
    except OSError as exc:
        raise SetupError(f"--python {python}: {exc}") from exc
    if out.returncode != 0:
        raise SetupError(f"picows does not import in {python}: {out.stderr.strip()[-400:]}")
    log(f"picows {out.stdout.strip()}")


def default_python() -> str:
    """$PICOWS_PYTHON, else the shared dev venv, else the python3 on PATH."""
    if os.environ.get("PICOWS_PYTHON"):
        return os.environ["PICOWS_PYTHON"]
    if Path("/work/venv/bin/python").exists():
        return "/work/venv/bin/python"
    return shutil.which("python3") or sys.executable


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        prog="compliance/run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("role", choices=("server", "client", "all"))
    parser.add_argument("api", nargs="?", choices=("lowlevel", "highlevel"), default="lowlevel")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help=f"sections {QUICK} (the default; CI on every change)")
    mode.add_argument("--full", action="store_true", help=f"sections {FULL} (+ {DEFLATE} with --deflate)")
    mode.add_argument("--cases", help="comma-separated patterns: '*', '9.*', '9' (= 9.*), '6.4', '7.1.6'")
    parser.add_argument("--exclude", default="", help="patterns to leave out")
    parser.add_argument("--deflate", action="store_true", help=f"add sections {DEFLATE} (permessage-deflate)")
    parser.add_argument(
        "--python",
        default=default_python(),
        help="interpreter that runs the testee (default: $PICOWS_PYTHON, else /work/venv/bin/python, else python3)",
    )
    parser.add_argument("--loop", choices=("auto", "uvloop", "asyncio"), default="auto")
    parser.add_argument("--label", default="picows", help="agent name prefix (default: picows)")
    parser.add_argument(
        "--timeout",
        type=float,
        help=f"time budget per role in seconds (default: quick {BUDGET['quick']:.0f}, full {BUDGET['full']:.0f})",
    )
    parser.add_argument("--reports", type=Path, default=HERE / "reports", help="report root directory")
    parser.add_argument("--strict", action="store_true", help="also fail NON-STRICT and UNCLEAN/WRONG CODE")
    parser.add_argument("--details", action="store_true", help="explain every non-OK case")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the testee's and wstest's log tails")
    args = parser.parse_args(argv)
    kind = "custom" if args.cases else "full" if args.full else "quick"
    patterns = args.cases or (FULL if args.full else QUICK)
    if args.deflate:
        patterns += "," + DEFLATE
    if args.timeout is None:
        args.timeout = BUDGET[kind] * (2.0 if args.deflate else 1.0)
    try:
        check_python(args.python)
        wstest = ensure_wstest()
        known = all_case_ids()
        cases = resolve(patterns, known)
        if args.exclude:
            excluded = set(resolve(args.exclude, known))
            cases = [c for c in cases if c not in excluded]
        if not cases:
            raise SetupError("the case selection is empty")
    except SetupError as exc:
        log(f"ERROR: {exc}")
        return 2
    roles = ["server", "client"] if args.role == "all" else [args.role]
    status = 0
    for role in roles:
        status = max(status, run_role(role, args, wstest, cases))
    return status


if __name__ == "__main__":
    sys.exit(main())
